package playbooks_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/playbooks/webrig"
)

// TestUnprivilegedUserWithSudo: the managed host's user is an unprivileged
// system user whose only right is sudo to root (as an AWX machine credential
// on a web host); nginx runs as root on ports below 1024, its docroot,
// deploy path and PID file belong to root. The playbooks reach all of it
// through become: deploy and rollback under load with zero failed requests.
// The L4 is observed from the web host over HAProxy's stats URL (HTTP), not
// a local socket. Without become the same deploy fails before any host
// leaves the load balancer.
func TestUnprivilegedUserWithSudo(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root: it creates a user and a sudoers drop-in")
		}
		t.Skip("this test needs root: it creates a user and a sudoers drop-in")
	}
	var used []int
	r := newRigWith(t, fastCheck, func(n *webrig.Nginx) {
		p := webrig.FreePrivilegedPort(t, used...)
		used = append(used, p)
		n.SetPort(t, p)
	})
	u := webrig.NewSudoUser(t)
	r.book.As = u
	r.book.WorkDir = u.Home
	for _, n := range r.hosts {
		// The test's temp dir is the root user's own (0700): the deploy
		// user cannot even look into it, let alone write the docroot.
		if err := os.MkdirAll(n.DeployPath, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// Without become: refused in the preparation, every host still serves.
	vars := r.extraVars("R1100", "2.0.0")
	vars["deploy_become"] = false
	run := r.book.Run(r.ctx, "web_deploy.yml", r.inventory(nil), vars)
	if run.Err == nil {
		t.Fatalf("deploy without become as %s succeeded:\n%s", u.Name, run.Output)
	}
	if strings.Contains(run.Output, "L4 out") {
		t.Errorf("a host left the load balancer without become:\n%s", run.Output)
	}
	if !strings.Contains(strings.ToLower(run.Output), "permission denied") {
		t.Errorf("the failure without become does not say permission denied:\n%s", run.Output)
	}
	r.serves(all("1.0.0"))
	r.allUp()

	load := r.startLoad("1.0.0", "2.0.0")
	// -v shows l4.py's output: what it saw of HAProxy.
	run = r.book.Run(r.ctx, "web_deploy.yml", r.inventory(nil), r.extraVars("R1101", "2.0.0"), "-v")
	res := load.Stop()
	mustSucceed(t, run)
	r.zeroFailures("deploy as an unprivileged user with sudo", res)
	r.serves(all("2.0.0"))
	r.noFlags()
	r.allUp()
	for _, n := range r.hosts {
		want := "load balancer marked " + app + "/" + n.Name + " DOWN after"
		if !strings.Contains(run.Output, want) || !strings.Contains(run.Output, "load balancer marked "+app+"/"+n.Name+" UP after") {
			t.Errorf("the L4 was not observed over the stats URL for %s (no %q):\n%s", n.Name, want, run.Output)
		}
		for _, path := range []string{n.Docroot, filepath.Join(n.DeployPath, "current.json"), filepath.Join(n.DeployPath, "backups", "R1101")} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Errorf("%s: %v", n.Name, err)
				continue
			}
			if uid := ownerUID(fi); uid != 0 {
				t.Errorf("%s: %s belongs to uid %d, want root", n.Name, path, uid)
			}
		}
	}

	load = r.startLoad("1.0.0", "2.0.0")
	vars = r.extraVars("R1102", "")
	vars["rollback_release_id"] = "R1101"
	run = r.book.Run(r.ctx, "rollback.yml", r.inventory(nil), vars)
	res = load.Stop()
	mustSucceed(t, run)
	r.zeroFailures("rollback as an unprivileged user with sudo", res)
	r.serves(all("1.0.0"))
	r.noFlags()
	r.allUp()
}
