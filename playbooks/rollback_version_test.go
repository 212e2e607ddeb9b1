package playbooks_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestPartialReleaseThenVersionRollback: after 2.0.0 went out everywhere,
// 3.0.0 fails on web2 (web1 on 3.0.0, web2 down and out, web3 still on
// 2.0.0). Restoring each host's newest backup would leave web3 on 1.0.0
// and the others on 2.0.0; rollback_version=2.0.0 (the newest release that
// was live on every host, which the bot names) ends with every host on
// 2.0.0 and leaves web3 alone. A version a host has no backup of is
// refused before any host is touched.
func TestPartialReleaseThenVersionRollback(t *testing.T) {
	r := newRig(t, fastCheck)
	mustSucceed(t, r.book.Run(r.ctx, "web_deploy.yml", r.inventory(nil), r.extraVars("R1000", "2.0.0")))
	r.serves(all("2.0.0"))

	broken := map[string]map[string]any{"web2": {"web_server_start_command": "/bin/false"}}
	run := r.book.Run(r.ctx, "web_deploy.yml", r.inventory(broken), r.extraVars("R1001", "3.0.0"))
	if run.Err == nil {
		t.Fatalf("deploy with a broken start command succeeded:\n%s", run.Output)
	}
	r.serves(map[string]string{"web1": page("3.0.0"), "web2": "", "web3": page("2.0.0")})
	web3PID, err := r.hosts[2].PID()
	if err != nil {
		t.Fatal(err)
	}

	// A version no host can be brought to: refused, nothing touched.
	vars := r.extraVars("R1002", "")
	vars["rollback_version"] = "9.9.9"
	run = r.book.Run(r.ctx, "rollback.yml", r.inventory(nil), vars)
	if run.Err == nil {
		t.Fatalf("rollback to a version without backups succeeded:\n%s", run.Output)
	}
	for _, want := range []string{"web1 has no backup of version 9.9.9 and does not serve it", "Nothing was changed on any host"} {
		if !strings.Contains(run.Output, want) {
			t.Errorf("output lacks %q:\n%s", want, run.Output)
		}
	}
	if strings.Contains(run.Output, "L4 out") {
		t.Errorf("a host left the load balancer:\n%s", run.Output)
	}
	r.serves(map[string]string{"web1": page("3.0.0"), "web2": "", "web3": page("2.0.0")})

	// Check mode shows the plan per host.
	vars = r.extraVars("R1002", "")
	vars["rollback_version"] = "2.0.0"
	run = r.book.Run(r.ctx, "rollback.yml", r.inventory(nil), vars, "--check")
	mustSucceed(t, run)
	// web2's current.json names 3.0.0: it failed after the install.
	if n := strings.Count(run.Output, `"restores R1001 (version 2.0.0, live: 3.0.0)"`); n != 2 {
		t.Errorf("check mode shows the restore of R1001 on %d hosts, want web1 and web2:\n%s", n, run.Output)
	}
	if !strings.Contains(run.Output, "2.0.0 is live and healthy already: left alone") {
		t.Errorf("check mode does not show web3 left alone:\n%s", run.Output)
	}

	load := r.startLoad("2.0.0", "3.0.0")
	run = r.book.Run(r.ctx, "rollback.yml", r.inventory(nil), vars)
	res := load.Stop()
	mustSucceed(t, run)
	r.zeroFailures("rollback to 2.0.0 after a partly failed release", res)
	r.serves(all("2.0.0"))
	r.noFlags()
	r.allUp()
	if pid, _ := r.hosts[2].PID(); pid != web3PID {
		t.Errorf("web3 already served 2.0.0 but was restarted")
	}
	if rc := run.Recap()["web3"]; rc[0] != 0 {
		t.Errorf("rollback changed %d things on web3", rc[0])
	}
	// Each host's current.json names 2.0.0 now.
	for _, n := range r.hosts {
		got, err := n.Get(r.ctx, "/version.txt")
		if err != nil || strings.TrimSpace(got) != "2.0.0" {
			t.Errorf("%s: /version.txt %q (%v), want 2.0.0", n.Name, got, err)
		}
	}
	t.Logf("per host after the rollback: %s", fmt.Sprint(run.Recap()))
}
