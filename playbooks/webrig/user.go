package webrig

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// User is a system user made for one test.
type User struct {
	Name     string
	UID, GID uint32
	// Home is a directory of the user's own (0755), for its Ansible work
	// files.
	Home string
}

// NewSudoUser creates a system user (useradd) whose only sudo right is to
// run /bin/sh as root without a password, the way Ansible's become runs
// every module (`sudo -H -S -n -u root /bin/sh -c '...'`), through a
// sudoers drop-in checked with visudo first. The user, its directory and
// the drop-in are removed when the test ends. The test must run as root.
func NewSudoUser(tb testing.TB) *User {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Fatal("NewSudoUser needs root (useradd, /etc/sudoers.d)")
	}
	RequireTools(tb, "sudo", "useradd", "userdel", "visudo")
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	name := "dbt-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
		"--shell", "/bin/sh", "--comment", "deploybot playbook test", name).CombinedOutput(); err != nil {
		tb.Fatalf("useradd %s: %v: %s", name, err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			tb.Errorf("userdel %s: %v: %s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		tb.Fatal(err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	home, err := os.MkdirTemp("", name+"-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(home) })
	if err := os.Chmod(home, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chown(home, int(uid), int(gid)); err != nil {
		tb.Fatal(err)
	}
	// A drop-in's name holds no dot (sudo skips such files); a broken one
	// would break sudo for everyone, so visudo checks it before it is
	// moved into place.
	rule := fmt.Sprintf("# deploybot playbook test: Ansible's become runs modules through /bin/sh\n"+
		"%s ALL=(root) NOPASSWD: /bin/sh\n", name)
	tmp := filepath.Join(home, "sudoers")
	if err := os.WriteFile(tmp, []byte(rule), 0o440); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command("visudo", "-c", "-q", "-f", tmp).CombinedOutput(); err != nil {
		tb.Fatalf("visudo: %v: %s", err, out)
	}
	dropIn := "/etc/sudoers.d/" + name
	if err := os.Chown(tmp, 0, 0); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, dropIn); err != nil {
		// /tmp and /etc may be different file systems.
		if err := os.WriteFile(dropIn, []byte(rule), 0o440); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		if err := os.Remove(dropIn); err != nil {
			tb.Errorf("remove %s: %v", dropIn, err)
		}
	})
	return &User{Name: name, UID: uint32(uid), GID: uint32(gid), Home: home}
}
