package playbooks_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/playbooks/webrig"
)

const app = "shop-web"

// fastCheck is HAProxy's health-check timing in the tests: short, so that
// a rolling deploy of three hosts takes seconds.
var fastCheck = webrig.Check{Inter: 200 * time.Millisecond, Fall: 2, Rise: 2}

// rig is three nginx instances serving version 1.0.0 behind HAProxy, an
// artifact server with builds 2.0.0 and 3.0.0, and the playbooks.
type rig struct {
	t         testing.TB
	check     webrig.Check
	ctx       context.Context
	hosts     []*webrig.Nginx
	lb        *webrig.HAProxy
	artifacts string // base URL
	checksums map[string]string
	book      webrig.Playbook
}

func page(version string) string { return app + " " + version }

func build(version string) map[string]string {
	return map[string]string{"index.html": page(version) + "\n", "version.txt": version + "\n"}
}

func newRig(t testing.TB, check webrig.Check) *rig {
	t.Helper()
	return newRigWith(t, check, nil)
}

// newRigWith is newRig with setup called on each nginx instance before it
// starts.
func newRigWith(t testing.TB, check webrig.Check, setup func(n *webrig.Nginx)) *rig {
	t.Helper()
	// The playbooks run their server steps with become (sudo), as root too.
	webrig.RequireTools(t, "ansible-playbook", "nginx", "haproxy", "sudo")
	ctx := t.Context()
	dir := t.TempDir()
	r := &rig{t: t, check: check, ctx: ctx, checksums: map[string]string{}}
	for i := 1; i <= 3; i++ {
		n := webrig.NewNginx(t, dir, fmt.Sprintf("web%d", i), build("1.0.0"))
		if setup != nil {
			setup(n)
		}
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		r.hosts = append(r.hosts, n)
	}
	r.lb = webrig.StartHAProxy(ctx, t, dir, app, check, r.hosts)
	blobs := map[string][]byte{"/garbage.tar.gz": []byte("this is not a tar archive")}
	for _, v := range []string{"2.0.0", "3.0.0"} {
		b := webrig.TarGz(t, build(v))
		sum := sha256.Sum256(b)
		r.checksums[v] = hex.EncodeToString(sum[:])
		blobs[artifactPath(v)] = b
	}
	r.artifacts = webrig.ServeArtifacts(t, blobs).URL
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	r.book = webrig.Playbook{Dir: wd, WorkDir: dir}
	return r
}

func artifactPath(v string) string { return fmt.Sprintf("/%s/%s/%s-%s.tar.gz", app, v, app, v) }

// inventory gives each host the variables that point at its instance;
// override adds or replaces host variables.
func (r *rig) inventory(override map[string]map[string]any) webrig.Inventory {
	inv := webrig.Inventory{}
	for _, n := range r.hosts {
		vars := n.HostVars()
		for k, v := range override[n.Name] {
			vars[k] = v
		}
		inv[n.Name] = vars
	}
	return inv
}

// extraVars are the extra vars the bot sends (README.md, "Extra vars"). The app-wide
// docroot, deploy_path, pid_file and web_port point nowhere: the loopback
// hosts override them with host_* inventory variables.
func (r *rig) extraVars(requestID, version string) map[string]any {
	return map[string]any{
		"deploybot_request_id": requestID,
		"deploy_app":           app,
		"deploy_env":           "test",
		"deploy_version":       version,
		"artifact_url":         r.artifacts + artifactPath(version),
		"docroot":              "/nonexistent/docroot",
		"deploy_path":          "/nonexistent/deploy",
		"web_server":           "nginx",
		"pid_file":             "/nonexistent/nginx.pid",
		"web_port":             1,
		"healthcheck_path":     "/healthcheck",
		"healthcheck_ok_body":  "skp_healthcheck_ok",
		"l4_out_path":          "/healthcheck/l4out",
		"l4_interval":          r.check.Inter.Seconds(),
		"l4_fall":              r.check.Fall,
		"l4_rise":              r.check.Rise,
		"deploy_serial":        1,
		"l4_stats_url":         r.lb.StatsURL(),
		"l4_backend":           app,
		"version_check_path":   "/version.txt",
	}
}

// startLoad sends 100 requests per second through HAProxy; a body other
// than one of the versions' pages, or an answer slower than 500 ms, fails.
func (r *rig) startLoad(versions ...string) *webrig.Load {
	ok := map[string]bool{}
	for _, v := range versions {
		ok[page(v)] = true
	}
	return webrig.StartLoad(r.ctx, webrig.LoadConfig{
		URL: r.lb.URL() + "/", Rate: 100, Workers: 4, Slow: 500 * time.Millisecond,
		Accept: func(body string) bool { return ok[body] },
	})
}

func (r *rig) pids() map[string]int {
	r.t.Helper()
	out := map[string]int{}
	for _, n := range r.hosts {
		pid, err := n.PID()
		if err != nil {
			r.t.Fatalf("%s: %v", n.Name, err)
		}
		out[n.Name] = pid
	}
	return out
}

// serves checks what each host answers directly ("" for a stopped host).
func (r *rig) serves(want map[string]string) {
	r.t.Helper()
	for _, n := range r.hosts {
		got, err := n.Get(r.ctx, "/")
		if err != nil {
			got = ""
		}
		if strings.TrimSpace(got) != want[n.Name] {
			r.t.Errorf("%s serves %q, want %q", n.Name, strings.TrimSpace(got), want[n.Name])
		}
	}
}

func all(v string) map[string]string {
	return map[string]string{"web1": page(v), "web2": page(v), "web3": page(v)}
}

func (r *rig) noFlags() {
	r.t.Helper()
	for _, n := range r.hosts {
		if _, err := os.Stat(n.FlagFile); err == nil {
			r.t.Errorf("%s: out-of-service flag %s is still there", n.Name, n.FlagFile)
		}
	}
}

func (r *rig) allUp() {
	r.t.Helper()
	st, err := r.lb.Statuses(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, n := range r.hosts {
		if st[n.Name] != "UP" {
			r.t.Errorf("haproxy has %s %q, want UP", n.Name, st[n.Name])
		}
	}
}

func mustSucceed(t testing.TB, run webrig.Run) {
	t.Helper()
	if run.Err != nil {
		t.Fatalf("%v\n%s", run.Err, run.Output)
	}
}

func (r *rig) zeroFailures(what string, res webrig.LoadResult) {
	t := r.t
	t.Helper()
	t.Logf("%s under load: %s", what, res)
	if res.Total < 100 {
		t.Errorf("%s: only %d requests were sent", what, res.Total)
	}
	if res.Failed != 0 {
		t.Errorf("%s: %d of %d requests failed: %s\nHAProxy's view (requests not 200 or slow there, server state changes):\n%s",
			what, res.Failed, res.Total, strings.Join(res.Failures, "; "), strings.Join(r.lb.BadRequests(500*time.Millisecond), "\n"))
	}
}

// restartFloor measures a bare nginx stop (SIGQUIT through the PID file,
// as the playbook does) and start until it answers, on a spare instance.
func restartFloor(t testing.TB) time.Duration {
	t.Helper()
	n := webrig.NewNginx(t, t.TempDir(), "spare", build("1.0.0"))
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := n.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// floorRatio is the rolling deploy's wall time against its floor: per host,
// fall×inter to drain, the bare restart, rise×inter to return.
func (r *rig) floorRatio(elapsed, restart time.Duration) (time.Duration, float64) {
	perHost := time.Duration(r.check.Fall+r.check.Rise)*r.check.Inter + restart
	floor := time.Duration(len(r.hosts)) * perHost
	return floor, elapsed.Seconds() / floor.Seconds()
}

func (r *rig) figure(elapsed, restart time.Duration) string {
	floor, ratio := r.floorRatio(elapsed, restart)
	return fmt.Sprintf("rolling deploy of %d hosts (inter %v, fall %d, rise %d) took %v; floor %v (per host: fall×inter %v + restart %v + rise×inter %v); ratio %.2f",
		len(r.hosts), r.check.Inter, r.check.Fall, r.check.Rise, elapsed.Round(time.Millisecond), floor.Round(time.Millisecond),
		time.Duration(r.check.Fall)*r.check.Inter, restart.Round(time.Millisecond), time.Duration(r.check.Rise)*r.check.Inter, ratio)
}

func TestWebDeployRollingThenRollback(t *testing.T) {
	r := newRig(t, fastCheck)
	restart := restartFloor(t)

	// Rolling deploy of 2.0.0 under load.
	load := r.startLoad("1.0.0", "2.0.0")
	vars := r.extraVars("R100", "2.0.0")
	vars["deploy_serial"] = "34%" // one host of three at a time
	run := r.book.Run(r.ctx, "web_deploy.yml", r.inventory(nil), vars)
	res := load.Stop()
	mustSucceed(t, run)
	r.zeroFailures("deploy 2.0.0", res)

	if res.Bodies[page("1.0.0")] == 0 || res.Bodies[page("2.0.0")] == 0 {
		t.Errorf("load saw %v, want both versions during the rollout", res.Bodies)
	}
	r.serves(all("2.0.0"))
	r.noFlags()
	r.allUp()

	t.Logf("figure: %s", r.figure(run.Elapsed, restart))

	for _, n := range r.hosts {
		b, err := os.ReadFile(filepath.Join(n.DeployPath, "backups", "R100", "manifest.json"))
		if err != nil {
			t.Fatalf("%s: backup manifest: %v", n.Name, err)
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: backup manifest: %v", n.Name, err)
		}
		if m["release_id"] != "R100" || m["replaced_by_version"] != "2.0.0" || m["backed_up_at"] == "" {
			t.Errorf("%s: backup manifest %v", n.Name, m)
		}
		if got, err := os.ReadFile(filepath.Join(n.DeployPath, "backups", "R100", "content", "index.html")); err != nil || strings.TrimSpace(string(got)) != page("1.0.0") {
			t.Errorf("%s: backup holds %q (%v), want the 1.0.0 page", n.Name, got, err)
		}
	}

	// The same release again changes nothing and restarts nothing.
	before := r.pids()
	run = r.book.Run(r.ctx, "web_deploy.yml", r.inventory(nil), r.extraVars("R100", "2.0.0"))
	mustSucceed(t, run)
	for host, rc := range run.Recap() {
		if rc[0] != 0 {
			t.Errorf("re-run changed %d things on %s\n%s", rc[0], host, run.Output)
		}
	}
	if after := r.pids(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("re-run restarted nginx: pids %v, then %v", before, after)
	}

	// Check mode announces 3.0.0 and touches nothing.
	run = r.book.Run(r.ctx, "web_deploy.yml", r.inventory(nil), r.extraVars("R101", "3.0.0"), "--check", "--diff")
	mustSucceed(t, run)
	if !strings.Contains(run.Output, "deploys 3.0.0 (live: 2.0.0)") {
		t.Errorf("check mode does not show the plan:\n%s", run.Output)
	}
	if after := r.pids(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("check mode restarted nginx: pids %v, then %v", before, after)
	}
	r.serves(all("2.0.0"))
	r.noFlags()

	// Rollback in check mode announces the restore and touches nothing.
	run = r.book.Run(r.ctx, "rollback.yml", r.inventory(nil), r.extraVars("R102", ""), "--check")
	mustSucceed(t, run)
	if !strings.Contains(run.Output, "restores R100 (version unknown, live: 2.0.0)") {
		t.Errorf("rollback check mode does not show the plan:\n%s", run.Output)
	}
	if after := r.pids(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("rollback check mode restarted nginx: pids %v, then %v", before, after)
	}
	r.serves(all("2.0.0"))

	// Rollback to the newest backup under load.
	load = r.startLoad("1.0.0", "2.0.0")
	run = r.book.Run(r.ctx, "rollback.yml", r.inventory(nil), r.extraVars("R102", ""))
	res = load.Stop()
	mustSucceed(t, run)
	r.zeroFailures("rollback", res)
	r.serves(all("1.0.0"))
	r.noFlags()
	r.allUp()
	for _, n := range r.hosts {
		if _, err := os.Stat(filepath.Join(n.DeployPath, "backups", "R100")); !os.IsNotExist(err) {
			t.Errorf("%s: the restored backup R100 is still there (%v)", n.Name, err)
		}
	}
}

// TestWebDeployWithoutDrainFails is the negative control: the same deploy
// with the L4 out skipped must show failed requests, or the load test
// could not see downtime at all.
func TestWebDeployWithoutDrainFails(t *testing.T) {
	r := newRig(t, fastCheck)
	load := r.startLoad("1.0.0", "2.0.0")
	vars := r.extraVars("R300", "2.0.0")
	vars["deploy_skip_l4_out"] = true
	run := r.book.Run(r.ctx, "web_deploy.yml", r.inventory(nil), vars)
	res := load.Stop()
	mustSucceed(t, run)
	t.Logf("deploy without drain under load: %s; first failures: %s", res, strings.Join(res.Failures, "; "))
	if res.Failed == 0 {
		t.Errorf("no request failed while nginx restarted in service: the load test cannot see downtime")
	}
	r.serves(all("2.0.0"))
}

// TestBadArtifactFailsBeforeAnyHostLeaves: a build that cannot be
// downloaded or verified stops the release while every host still serves.
func TestBadArtifactFailsBeforeAnyHostLeaves(t *testing.T) {
	cases := []struct {
		name string
		vars func(r *rig, v map[string]any)
		want string
	}{
		{"not found", func(r *rig, v map[string]any) { v["artifact_url"] = r.artifacts + "/missing.tar.gz" }, "404"},
		{"checksum mismatch", func(r *rig, v map[string]any) { v["artifact_checksum"] = "sha256:" + r.checksums["3.0.0"] }, "checksum"},
		{"not an archive", func(r *rig, v map[string]any) { v["artifact_url"] = r.artifacts + "/garbage.tar.gz" }, "Verify and unpack the build"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, fastCheck)
			before := r.pids()
			load := r.startLoad("1.0.0")
			vars := r.extraVars("R400", "2.0.0")
			tc.vars(r, vars)
			run := r.book.Run(r.ctx, "web_deploy.yml", r.inventory(nil), vars)
			res := load.Stop()
			if run.Err == nil {
				t.Fatalf("deploy with a bad artifact succeeded:\n%s", run.Output)
			}
			if !strings.Contains(run.Output, tc.want) {
				t.Errorf("output does not mention %q:\n%s", tc.want, run.Output)
			}
			if strings.Contains(run.Output, "L4 out") {
				t.Errorf("a host left the load balancer:\n%s", run.Output)
			}
			if res.Failed != 0 {
				t.Errorf("%d requests failed: %s", res.Failed, strings.Join(res.Failures, "; "))
			}
			if after := r.pids(); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("nginx restarted: pids %v, then %v", before, after)
			}
			r.serves(all("1.0.0"))
			r.noFlags()
			r.allUp()
		})
	}
}

// TestPartialReleaseThenNamedRollback: web2 cannot start, so the release
// stops there with web2 out of the load balancer and named, web3 untouched;
// the rollback of that release restores web1 and web2 only.
func TestPartialReleaseThenNamedRollback(t *testing.T) {
	r := newRig(t, fastCheck)
	before := r.pids()
	load := r.startLoad("1.0.0", "2.0.0")
	broken := map[string]map[string]any{"web2": {"web_server_start_command": "/bin/false"}}
	run := r.book.Run(r.ctx, "web_deploy.yml", r.inventory(broken), r.extraVars("R500", "2.0.0"))
	res := load.Stop()
	if run.Err == nil {
		t.Fatalf("deploy with a broken start command succeeded:\n%s", run.Output)
	}
	r.zeroFailures("partial deploy", res)
	if !strings.Contains(run.Output, `web2 failed at 'Start the web server' and stays out of the load balancer`) {
		t.Errorf("the failure does not name web2 as out of the load balancer:\n%s", run.Output)
	}
	r.serves(map[string]string{"web1": page("2.0.0"), "web2": "", "web3": page("1.0.0")})
	if _, err := os.Stat(r.hosts[1].FlagFile); err != nil {
		t.Errorf("web2's out-of-service flag is gone: %v", err)
	}
	if pid, _ := r.hosts[2].PID(); pid != before["web3"] {
		t.Errorf("web3 was restarted")
	}
	st, err := r.lb.Statuses(r.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st["web1"] != "UP" || !strings.HasPrefix(st["web2"], "DOWN") || st["web3"] != "UP" {
		t.Errorf("haproxy statuses %v, want web2 down and the others up", st)
	}

	load = r.startLoad("1.0.0", "2.0.0")
	vars := r.extraVars("R501", "")
	vars["rollback_release_id"] = "R500"
	delete(vars, "l4_stats_url")
	vars["l4_stats_socket"] = r.lb.StatsSocket
	run = r.book.Run(r.ctx, "rollback.yml", r.inventory(nil), vars)
	res = load.Stop()
	mustSucceed(t, run)
	r.zeroFailures("named rollback", res)
	r.serves(all("1.0.0"))
	r.noFlags()
	r.allUp()
	if pid, _ := r.hosts[2].PID(); pid != before["web3"] {
		t.Errorf("web3 has no backup of R500 but was restarted")
	}
	if rc := run.Recap()["web3"]; rc[0] != 0 {
		t.Errorf("rollback changed %d things on web3", rc[0])
	}
}

// BenchmarkRollingDeployRatio measures the figure of issue 6 with a
// production-like L4 timing (inter 1s, fall 3, rise 2), where the fixed cost
// of Ansible's tasks weighs less than with the tests' 200 ms checks. Run it
// with: go test -run '^$' -bench RollingDeployRatio -benchtime 1x ./playbooks/
func BenchmarkRollingDeployRatio(b *testing.B) {
	r := newRig(b, webrig.Check{Inter: time.Second, Fall: 3, Rise: 2})
	restart := restartFloor(b)
	versions := []string{"2.0.0", "3.0.0"}
	var elapsed time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v := versions[i%2]
		run := r.book.Run(r.ctx, "web_deploy.yml", r.inventory(nil), r.extraVars(fmt.Sprintf("B%d", i), v))
		mustSucceed(b, run)
		elapsed += run.Elapsed
		b.Logf("figure: %s", r.figure(run.Elapsed, restart))
	}
	_, ratio := r.floorRatio(elapsed/time.Duration(b.N), restart)
	b.ReportMetric(ratio, "wall/floor")
}

func TestLintAndSyntax(t *testing.T) {
	webrig.RequireTools(t, "ansible-playbook", "ansible-lint")
	t.Run("ansible-lint production", func(t *testing.T) {
		cmd := exec.CommandContext(t.Context(), "ansible-lint", "--offline", "--nocolor", "--profile", "production",
			"web_deploy.yml", "custom_deploy.yml", "rollback.yml", "roles/web_release", "tasks")
		cmd.Env = append(os.Environ(), "ANSIBLE_LOCAL_TEMP="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ansible-lint: %v\n%s", err, out)
		}
	})
	for _, book := range []string{"web_deploy.yml", "custom_deploy.yml", "rollback.yml"} {
		t.Run("syntax "+book, func(t *testing.T) {
			out, err := exec.CommandContext(t.Context(), "ansible-playbook", "-i", "localhost,", "--syntax-check", book).CombinedOutput()
			if err != nil {
				t.Fatalf("syntax check: %v\n%s", err, out)
			}
		})
	}
}

func TestCustomDeploy(t *testing.T) {
	webrig.RequireTools(t, "ansible-playbook", "sudo")
	cases := []struct {
		name       string
		deploy     string
		wantErr    bool
		wantLog    []string
		wantOutput []string
	}{
		{
			name:   "commands run in order, one host after the other",
			deploy: `echo "deploy $DEPLOY_VERSION $DEPLOYBOT_HOST" >> STEPS`,
			wantLog: []string{
				"pre1 app1", "pre2 app1", "deploy 1.2.3 app1", "post app1",
				"pre1 app2", "pre2 app2", "deploy 1.2.3 app2", "post app2",
			},
		},
		{
			name:       "a failing command stops its host and the rollout and shows its output",
			deploy:     `echo boom-out; echo boom-err >&2; exit 3`,
			wantErr:    true,
			wantLog:    []string{"pre1 app1", "pre2 app1"},
			wantOutput: []string{"app1: deploy command 3 failed with exit code 3", "stdout: boom-out", "stderr: boom-err"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			steps := filepath.Join(dir, "steps.log")
			host := map[string]any{
				"ansible_connection":         "local",
				"ansible_python_interpreter": "/usr/bin/python3",
			}
			wd, err := os.Getwd()
			if err != nil {
				t.Fatal(err)
			}
			book := webrig.Playbook{Dir: wd, WorkDir: dir}
			// sudo (become) resets the environment: the commands name the
			// log file themselves.
			q := "'" + steps + "'"
			run := book.Run(t.Context(), "custom_deploy.yml", webrig.Inventory{"app1": host, "app2": host}, map[string]any{
				"deploybot_request_id": "R600",
				"deploy_app":           "batch-api",
				"deploy_env":           "test",
				"deploy_version":       "1.2.3",
				"deploy_serial":        1,
				"pre_commands":         []string{`echo "pre1 $DEPLOYBOT_HOST" >> ` + q, `echo "pre2 $DEPLOYBOT_HOST" >> ` + q},
				"deploy_command":       strings.ReplaceAll(tc.deploy, "STEPS", q),
				"post_commands":        `echo "post $DEPLOYBOT_HOST" >> ` + q,
			})
			if (run.Err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v\n%s", run.Err, tc.wantErr, run.Output)
			}
			b, _ := os.ReadFile(steps)
			if got := strings.TrimSpace(string(b)); got != strings.Join(tc.wantLog, "\n") {
				t.Errorf("steps ran:\n%s\nwant:\n%s", b, strings.Join(tc.wantLog, "\n"))
			}
			for _, want := range tc.wantOutput {
				if !strings.Contains(run.Output, want) {
					t.Errorf("output lacks %q:\n%s", want, run.Output)
				}
			}
		})
	}
}

// TestDeployStartsAStoppedHost: web3 is down and its PID file is empty (as
// `nginx -t` leaves it when nginx is stopped); the deploy tolerates that,
// starts web3 with the new build and puts it into service. The playbook does
// not observe HAProxy here and relies on the L4's timing.
func TestDeployStartsAStoppedHost(t *testing.T) {
	r := newRig(t, fastCheck)
	web3 := r.hosts[2]
	if err := web3.Stop(r.ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(web3.PIDFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.lb.WaitStatus(r.ctx, "web3", "DOWN", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	load := r.startLoad("1.0.0", "2.0.0")
	// No view of HAProxy here: the playbook waits interval × fall (or
	// rise) plus the margin.
	vars := r.extraVars("R700", "2.0.0")
	delete(vars, "l4_stats_url")
	vars["l4_margin"] = 0.3
	run := r.book.Run(r.ctx, "web_deploy.yml", r.inventory(nil), vars)
	res := load.Stop()
	mustSucceed(t, run)
	r.zeroFailures("deploy with web3 stopped", res)
	if !web3.Running() {
		t.Errorf("web3 does not run after the deploy")
	}
	r.serves(all("2.0.0"))
	r.noFlags()
	r.allUp()
}

// TestRollbackWithoutBackupFails: nothing to restore anywhere fails before
// any host leaves the load balancer.
func TestRollbackWithoutBackupFails(t *testing.T) {
	r := newRig(t, fastCheck)
	before := r.pids()
	vars := r.extraVars("R800", "")
	vars["rollback_release_id"] = "R799"
	run := r.book.Run(r.ctx, "rollback.yml", r.inventory(nil), vars)
	if run.Err == nil {
		t.Fatalf("rollback without backups succeeded:\n%s", run.Output)
	}
	if !strings.Contains(run.Output, "no host has a backup of release R799") {
		t.Errorf("output does not say why:\n%s", run.Output)
	}
	if after := r.pids(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("nginx restarted: pids %v, then %v", before, after)
	}
	r.noFlags()
}

// TestFailureInABatchLetsTheBatchFinish: with deploy_serial 2, web1 cannot
// start; web2, in the same batch, still finishes and returns to service, the
// rollout stops before web3, and web1 stays out and is named.
func TestFailureInABatchLetsTheBatchFinish(t *testing.T) {
	r := newRig(t, fastCheck)
	before := r.pids()
	load := r.startLoad("1.0.0", "2.0.0")
	vars := r.extraVars("R900", "2.0.0")
	vars["deploy_serial"] = 2
	broken := map[string]map[string]any{"web1": {"web_server_start_command": "/bin/false"}}
	run := r.book.Run(r.ctx, "web_deploy.yml", r.inventory(broken), vars)
	res := load.Stop()
	if run.Err == nil {
		t.Fatalf("deploy with a broken start command succeeded:\n%s", run.Output)
	}
	r.zeroFailures("deploy with a failure in a batch of two", res)
	if !strings.Contains(run.Output, `web1 failed at 'Start the web server' and stays out of the load balancer`) {
		t.Errorf("the failure does not name web1 as out of the load balancer:\n%s", run.Output)
	}
	r.serves(map[string]string{"web1": "", "web2": page("2.0.0"), "web3": page("1.0.0")})
	if pid, _ := r.hosts[2].PID(); pid != before["web3"] {
		t.Errorf("web3 was restarted")
	}
	if _, err := os.Stat(r.hosts[1].FlagFile); err == nil {
		t.Errorf("web2 is still out of the load balancer")
	}
	if err := r.lb.WaitStatus(r.ctx, "web2", "UP", 2*time.Second); err != nil {
		t.Error(err)
	}
}
