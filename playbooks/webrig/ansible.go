package webrig

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// Playbook runs ansible-playbook from the playbooks directory against an
// inventory written by the caller.
type Playbook struct {
	Dir     string // the playbooks directory (holds web_deploy.yml, roles/)
	WorkDir string // where inventories, extra vars and Ansible's temp files go
	// As, when set, runs ansible-playbook as that user (the test must run
	// as root); WorkDir must then be that user's. With ansible_connection
	// local the managed host's user is that user too.
	As *User
}

// Run is the outcome of one ansible-playbook run.
type Run struct {
	Output  string
	Elapsed time.Duration
	Err     error // nil when ansible-playbook exited 0
}

// Inventory maps host names to their variables; all hosts are in group all.
type Inventory map[string]map[string]any

// Run runs the playbook with the extra vars (passed as a JSON file, the way
// AWX passes them) and extra command-line args such as "--check".
func (p Playbook) Run(ctx context.Context, playbook string, inv Inventory, extraVars map[string]any, args ...string) Run {
	invPath, err := writeJSON(p.WorkDir, "inventory-*.json", map[string]any{"all": map[string]any{"hosts": inv}})
	if err != nil {
		return Run{Err: err}
	}
	varsPath, err := writeJSON(p.WorkDir, "extra-vars-*.json", extraVars)
	if err != nil {
		return Run{Err: err}
	}
	if p.As != nil {
		for _, f := range []string{invPath, varsPath} {
			if err := os.Chown(f, int(p.As.UID), int(p.As.GID)); err != nil {
				return Run{Err: fmt.Errorf("hand %s to %s: %w", f, p.As.Name, err)}
			}
		}
	}
	tmp := filepath.Join(p.WorkDir, "ansible-tmp")
	cmdArgs := append([]string{"-i", invPath, "-e", "@" + varsPath, playbook}, args...)
	cmd := exec.CommandContext(ctx, "ansible-playbook", cmdArgs...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(),
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_RETRY_FILES_ENABLED=false",
		"ANSIBLE_LOCAL_TEMP="+tmp,
		"ANSIBLE_REMOTE_TMP="+tmp,
		"ANSIBLE_PIPELINING=true",
		"ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3",
	)
	if p.As != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: p.As.UID, Gid: p.As.GID}}
		cmd.Env = append(cmd.Env, "HOME="+p.WorkDir, "USER="+p.As.Name, "LOGNAME="+p.As.Name)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	if err = cmd.Start(); err == nil {
		// The test process may run at the request path's priority
		// (Prioritize); Ansible competes for the CPU like anything else.
		_ = normalPriority(cmd.Process.Pid)
		err = cmd.Wait()
	}
	r := Run{Output: out.String(), Elapsed: time.Since(start)}
	if err != nil {
		r.Err = fmt.Errorf("ansible-playbook %s: %w", playbook, err)
	}
	return r
}

var recapLine = regexp.MustCompile(`(?m)^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// Recap returns, per host, the changed and failed counts of the PLAY RECAP.
func (r Run) Recap() map[string][2]int {
	out := map[string][2]int{}
	for _, m := range recapLine.FindAllStringSubmatch(r.Output, -1) {
		changed, _ := strconv.Atoi(m[3])
		failed, _ := strconv.Atoi(m[5])
		out[m[1]] = [2]int{changed, failed}
	}
	return out
}

func writeJSON(dir, pattern string, v any) (string, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", pattern, err)
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", pattern, err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return "", fmt.Errorf("write %s: %w", pattern, err)
	}
	return f.Name(), nil
}
