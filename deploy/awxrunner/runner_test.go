package awxrunner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/awxclient/awxtest"
	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/deploy/awxrunner"
)

const (
	invName = "deploybot-shop-web-staging"
	host1   = "stg-web-01.example.com"
	host2   = "stg-web-02.example.com"
)

type fixture struct {
	awx    *awxtest.Server
	runner *awxrunner.Runner
	tmpl   int
}

func setup(t *testing.T, jt awxtest.JobTemplate) *fixture {
	t.Helper()
	awx := awxtest.NewServer(t)
	awx.AddInventory(invName, map[string]map[string]any{host1: {}, host2: {}})
	if jt.Name == "" {
		jt = awxtest.JobTemplate{Name: "deploybot-web-deploy", Playbook: "web_deploy.yml",
			AskInventory: true, AskVariables: true, AskLimit: true, AskJobType: true, AskDiffMode: true}
	}
	jt.Project = awx.AddProject("deploybot", "https://git.example.com/ops/deploybot.git", jt.Playbook)
	tid := awx.AddJobTemplate(jt)
	c, err := awxclient.NewClient(awx.URL, awxclient.WithToken(awx.Token), awxclient.WithRetry(2, time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{awx: awx, runner: awxrunner.New(c, "Default", "Demo Credential"), tmpl: tid}
}

func request(id int64, mod func(*deploy.Plan)) *deploy.Request {
	r := &deploy.Request{ID: id, App: "shop-web", Env: "staging", Version: "1.4.2", CreatedAt: time.Now(),
		Plan: deploy.Plan{Kind: deploy.KindDeploy, App: "shop-web", Env: "staging", Version: "1.4.2",
			Hosts: []string{host1, host2}, Inventory: invName, JobTemplate: "deploybot-web-deploy",
			ExtraVars: map[string]any{"deploy_version": "1.4.2", "deploy_serial": "1"}}}
	if mod != nil {
		mod(&r.Plan)
	}
	return r
}

// follow polls until the job is done and returns every update.
func follow(t *testing.T, r *awxrunner.Runner, job deploy.JobRef, cursor string) []deploy.Update {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var ups []deploy.Update
	for {
		u, err := r.Poll(ctx, job, cursor)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		ups = append(ups, u)
		cursor = u.Cursor
		if u.Done {
			return ups
		}
		select {
		case <-ctx.Done():
			t.Fatal("job never finished")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestLaunchAndFollow(t *testing.T) {
	f := setup(t, awxtest.JobTemplate{})
	pb := awxtest.NewPlaybook("web_deploy.yml").Play("Roll out").
		Task("Stop nginx", "shell").Changed(host1, "").Changed(host2, "").
		Task("Health check", "uri").OK(host1, "").Failed(host2, "Status code was 503 and not [200]")
	f.awx.SetBehavior(f.tmpl, pb.Behavior(awxtest.ScriptOptions{BatchSize: 3}), false)

	req := request(41, nil)
	job, err := f.runner.Launch(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if job.Kind != deploy.JobTemplateRun || job.ID == 0 {
		t.Fatalf("job = %+v", job)
	}
	launches := f.awx.Launches()
	if len(launches) != 1 {
		t.Fatalf("launches = %d, want 1", len(launches))
	}
	vars, _ := launches[0].Body["extra_vars"].(map[string]any)
	if vars["deploybot_request_id"] != "41" || vars["deploy_version"] != "1.4.2" {
		t.Errorf("extra_vars = %v: want the plan's vars plus deploybot_request_id", vars)
	}
	if _, ok := launches[0].Body["job_type"]; ok && launches[0].Body["job_type"] != "run" {
		t.Errorf("job_type = %v for a real run", launches[0].Body["job_type"])
	}

	ups := follow(t, f.runner, job, "")
	last := ups[len(ups)-1]
	if last.State != deploy.JobFailed {
		t.Errorf("final state = %s, want failed", last.State)
	}
	seen := map[int64]int{}
	var types []string
	var failure deploy.Event
	for _, u := range ups {
		for _, e := range u.Events {
			seen[e.Counter]++
			types = append(types, e.Type)
			if e.Type == "host_failed" {
				failure = e
			}
		}
	}
	for c, n := range seen {
		if n != 1 {
			t.Errorf("event %d delivered %d times", c, n)
		}
	}
	if failure.Host != host2 || failure.Task != "Health check" || !strings.Contains(failure.Message, "Status code was 503") {
		t.Errorf("failure event = %+v", failure)
	}
	for _, want := range []string{"playbook_start", "play_start", "task_start", "host_changed", "host_ok", "host_failed", "stats"} {
		if !strings.Contains(strings.Join(types, " "), want) {
			t.Errorf("no %s event among %v", want, types)
		}
	}
	var recap map[string]deploy.HostProgress
	for _, u := range ups {
		if u.Recap != nil {
			recap = u.Recap
		}
	}
	if recap[host2].State != "failed" || recap[host1].State != "changed" || recap[host1].Change != 1 {
		t.Errorf("recap = %+v", recap)
	}

	var out strings.Builder
	if err := f.runner.Output(t.Context(), job, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Health check") || strings.Contains(out.String(), "\x1b[") {
		t.Errorf("output is not the plain playbook text:\n%s", out.String())
	}
}

// TestResumeFromCursor: a runner restarted with the stored cursor delivers
// only the events after it.
func TestResumeFromCursor(t *testing.T) {
	f := setup(t, awxtest.JobTemplate{})
	job, err := f.runner.Launch(t.Context(), request(7, nil))
	if err != nil {
		t.Fatal(err)
	}
	all := follow(t, f.runner, job, "")
	var counters []int64
	for _, u := range all {
		for _, e := range u.Events {
			counters = append(counters, e.Counter)
		}
	}
	if len(counters) < 4 {
		t.Fatalf("too few events to test resuming: %v", counters)
	}
	cut := counters[len(counters)/2]
	fresh := awxrunner.New(mustClient(t, f.awx), "Default", "")
	again := follow(t, fresh, job, fmt.Sprint(cut))
	var rest []int64
	for _, u := range again {
		for _, e := range u.Events {
			rest = append(rest, e.Counter)
		}
	}
	if len(rest) == 0 || rest[0] != cut+1 || rest[len(rest)-1] != counters[len(counters)-1] {
		t.Errorf("resumed after %d: got %v, want %d..%d", cut, rest, cut+1, counters[len(counters)-1])
	}
}

func mustClient(t *testing.T, awx *awxtest.Server) *awxclient.Client {
	c, err := awxclient.NewClient(awx.URL, awxclient.WithToken(awx.Token))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckModeLaunch(t *testing.T) {
	f := setup(t, awxtest.JobTemplate{})
	if _, err := f.runner.Launch(t.Context(), request(8, func(p *deploy.Plan) { p.Check = true })); err != nil {
		t.Fatal(err)
	}
	b := f.awx.Launches()[0].Body
	if b["job_type"] != "check" || b["diff_mode"] != true {
		t.Errorf("a check plan must launch job_type=check with diff_mode: %v", b)
	}
}

// TestTemplateNotPrompting: a template that does not prompt for the
// inventory is refused before anything is launched; so is one whose prompt
// is switched off after the bot checked it (the launch info is read before
// every launch), and a dry run on a template that does not prompt for the
// job type, which AWX would otherwise run for real.
func TestTemplateNotPrompting(t *testing.T) {
	f := setup(t, awxtest.JobTemplate{Name: "deploybot-web-deploy", Playbook: "web_deploy.yml", AskVariables: true})
	_, err := f.runner.Launch(t.Context(), request(9, nil))
	if err == nil || !strings.Contains(err.Error(), "ask_inventory_on_launch") || errors.Is(err, deploy.ErrOutcomeUnknown) {
		t.Fatalf("err = %v, want a definite refusal naming ask_inventory_on_launch", err)
	}
	if n := len(f.awx.Launches()); n != 0 {
		t.Fatalf("%d launches for a template that would ignore the inventory", n)
	}

	g := setup(t, awxtest.JobTemplate{})
	g.awx.SetBehavior(g.tmpl, awxtest.NewPlaybook("web_deploy.yml").Task("t", "ping").OK(host1, "").
		Behavior(awxtest.ScriptOptions{HoldRunning: true}), false)
	if _, err := g.runner.Launch(t.Context(), request(10, nil)); err != nil {
		t.Fatal(err)
	}
	own := g.awx.AddInventory("template-own", map[string]map[string]any{"prod-db-01.example.com": {}})
	patch := func(body string) {
		req, _ := http.NewRequest(http.MethodPatch, fmt.Sprintf("%s/api/v2/job_templates/%d/", g.awx.URL, g.tmpl), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+g.awx.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("patch template: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	patch(fmt.Sprintf(`{"ask_inventory_on_launch": false, "inventory": %d}`, own))
	_, err = g.runner.Launch(t.Context(), request(11, nil))
	if deploy.ErrorCode(err) != deploy.EINVALID || !strings.Contains(err.Error(), "ask_inventory_on_launch") {
		t.Fatalf("err = %v, want a refusal naming ask_inventory_on_launch", err)
	}
	if n := len(g.awx.Launches()); n != 1 {
		t.Fatalf("%d launches, want only the first (the second refused before launch)", n)
	}

	for _, tc := range []struct {
		name    string
		jt      awxtest.JobTemplate
		setting string
	}{
		{"no job type prompt", awxtest.JobTemplate{Name: "deploybot-web-deploy", Playbook: "web_deploy.yml",
			AskInventory: true, AskVariables: true, AskLimit: true, AskDiffMode: true}, "ask_job_type_on_launch"},
		{"no diff mode prompt", awxtest.JobTemplate{Name: "deploybot-web-deploy", Playbook: "web_deploy.yml",
			AskInventory: true, AskVariables: true, AskLimit: true, AskJobType: true}, "ask_diff_mode_on_launch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := setup(t, tc.jt)
			_, err := h.runner.Launch(t.Context(), request(12, func(p *deploy.Plan) { p.Check = true }))
			if deploy.ErrorCode(err) != deploy.EINVALID || !strings.Contains(err.Error(), tc.setting) ||
				!strings.Contains(err.Error(), "deploybot-web-deploy") || !strings.Contains(err.Error(), "Nothing ran") {
				t.Fatalf("dry run err = %v, want a refusal naming the template and %s", err, tc.setting)
			}
			if n := len(h.awx.Launches()); n != 0 {
				t.Fatalf("%d launches for a dry run the template would run for real", n)
			}
			// A real run needs neither prompt.
			if _, err := h.runner.Launch(t.Context(), request(13, nil)); err != nil {
				t.Fatalf("real run: %v", err)
			}
		})
	}
}

// TestLaunchOutcome: a 5xx or a dropped connection leaves the outcome
// unknown (the request stays launching and is reconciled); a 4xx is a
// definite refusal. Either way the POST is sent once.
func TestLaunchOutcome(t *testing.T) {
	tests := []struct {
		name    string
		fault   func(*awxtest.Server)
		unknown bool
	}{
		{"500", func(s *awxtest.Server) { s.FailNext(1, "POST", "/api/v2/job_templates/", 500) }, true},
		{"dropped", func(s *awxtest.Server) { s.DropNext(1, "POST", "/api/v2/job_templates/") }, true},
		{"400", func(s *awxtest.Server) { s.FailNext(1, "POST", "/api/v2/job_templates/", 400) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, awxtest.JobTemplate{})
			tt.fault(f.awx)
			_, err := f.runner.Launch(t.Context(), request(10, nil))
			if err == nil {
				t.Fatal("launch succeeded through a fault")
			}
			if got := errors.Is(err, deploy.ErrOutcomeUnknown); got != tt.unknown {
				t.Errorf("outcome unknown = %v, want %v (%v)", got, tt.unknown, err)
			}
			posts := 0
			for _, r := range f.awx.Requests() {
				if r.Method == "POST" && strings.HasSuffix(r.Path, "/launch/") {
					posts++
				}
			}
			if posts != 1 {
				t.Errorf("launch POSTs = %d, want exactly 1 (never retried)", posts)
			}
		})
	}
}

// TestFindLaunched: after a crash between the launch and storing its id,
// the job is found again by its request id; another request's job is not.
func TestFindLaunched(t *testing.T) {
	f := setup(t, awxtest.JobTemplate{})
	req := request(21, nil)
	job, err := f.runner.Launch(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := f.runner.FindLaunched(t.Context(), req)
	if err != nil || !ok || got != job {
		t.Fatalf("FindLaunched = %+v, %v, %v; want %+v", got, ok, err, job)
	}
	if _, ok, err := f.runner.FindLaunched(t.Context(), request(22, nil)); err != nil || ok {
		t.Errorf("request 22 was never launched: found = %v, err = %v", ok, err)
	}

	adhoc := request(23, func(p *deploy.Plan) {
		p.AdHoc, p.ModuleArgs, p.JobTemplate = true, "/usr/local/bin/warm --release '1.4.2'", ""
	})
	cmd, err := f.runner.Launch(t.Context(), adhoc)
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Kind != deploy.AdHocCommand {
		t.Fatalf("ad-hoc plan launched %+v", cmd)
	}
	got, ok, err = f.runner.FindLaunched(t.Context(), adhoc)
	if err != nil || !ok || got != cmd {
		t.Errorf("FindLaunched(ad hoc) = %+v, %v, %v; want %+v", got, ok, err, cmd)
	}
}

func TestAdHocCommand(t *testing.T) {
	f := setup(t, awxtest.JobTemplate{})
	job, err := f.runner.Launch(t.Context(), request(31, func(p *deploy.Plan) {
		p.AdHoc, p.ModuleArgs, p.JobTemplate = true, "/usr/local/bin/warm-cache --release '1.4.2'", ""
	}))
	if err != nil {
		t.Fatal(err)
	}
	ups := follow(t, f.runner, job, "")
	if st := ups[len(ups)-1].State; !st.Final() {
		t.Errorf("ad-hoc command ended in %s", st)
	}
	var body map[string]any
	for _, r := range f.awx.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/ad_hoc_commands/") {
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if body["module_name"] != "shell" || body["module_args"] != "/usr/local/bin/warm-cache --release '1.4.2'" {
		t.Errorf("ad-hoc body = %v", body)
	}
	if s, ok := body["extra_vars"].(string); !ok || !strings.Contains(s, "deploybot_request_id") {
		t.Errorf("ad-hoc extra_vars must be a JSON string carrying the request id, got %#v", body["extra_vars"])
	}
	if body["credential"] == nil {
		t.Error("ad-hoc command sent without the machine credential")
	}
}

// TestAdHocBecome: an app's become setting reaches AWX as the ad-hoc
// command's become_enabled, so a single command runs as root exactly when
// the same command would through the custom playbook.
func TestAdHocBecome(t *testing.T) {
	for _, become := range []bool{true, false} {
		t.Run(fmt.Sprint(become), func(t *testing.T) {
			f := setup(t, awxtest.JobTemplate{})
			job, err := f.runner.Launch(t.Context(), request(32, func(p *deploy.Plan) {
				p.AdHoc, p.ModuleArgs, p.JobTemplate, p.Become = true, "systemctl restart cache-warmer", "", become
			}))
			if err != nil {
				t.Fatal(err)
			}
			c, err := awxclient.NewClient(f.awx.URL, awxclient.WithToken(f.awx.Token))
			if err != nil {
				t.Fatal(err)
			}
			cmd, err := c.GetAdHocCommand(t.Context(), int(job.ID))
			if err != nil {
				t.Fatal(err)
			}
			if cmd.BecomeEnabled != become {
				t.Errorf("AWX holds become_enabled %v, want %v", cmd.BecomeEnabled, become)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	f := setup(t, awxtest.JobTemplate{})
	f.awx.SetBehavior(f.tmpl, awxtest.NewPlaybook("web_deploy.yml").Task("t", "ping").OK(host1, "").
		Behavior(awxtest.ScriptOptions{HoldRunning: true}), false)
	job, err := f.runner.Launch(t.Context(), request(51, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.runner.Cancel(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	ups := follow(t, f.runner, job, "")
	if st := ups[len(ups)-1].State; st != deploy.JobCanceled {
		t.Errorf("state after cancel = %s", st)
	}
	// AWX answers 405 to the cancel of a job that has ended: the service
	// tells the user that the cancel came too late.
	if err := f.runner.Cancel(t.Context(), job); !errors.Is(err, deploy.ErrJobEnded) {
		t.Errorf("canceling a finished job: err = %v, want deploy.ErrJobEnded", err)
	}
}

func TestCheckBuild(t *testing.T) {
	const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	builds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/app/1.0.0.tar.gz":
			w.Header().Set("Content-Length", "2048")
		case "/app/1.0.0.tar.gz.sha256":
			fmt.Fprintf(w, "%s  1.0.0.tar.gz\n", sum)
		case "/app/2.0.0.tar.gz":
			w.Header().Set("X-Checksum-Sha256", strings.ToUpper(sum))
			w.Header().Set("Content-Length", "10")
		case "/app/3.0.0.tar.gz":
			w.Header().Set("Content-Length", "5")
		case "/app/500.tar.gz":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer builds.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	r := awxrunner.New(nil, "Default", "")
	tests := []struct {
		url      string
		want     deploy.Build
		wantCode string
		wantMsg  string
	}{
		{builds.URL + "/app/1.0.0.tar.gz", deploy.Build{Size: 2048, Checksum: sum}, "", ""},
		{builds.URL + "/app/2.0.0.tar.gz", deploy.Build{Size: 10, Checksum: sum}, "", ""},
		{builds.URL + "/app/3.0.0.tar.gz", deploy.Build{Size: 5}, "", ""},
		{builds.URL + "/app/9.9.9.tar.gz", deploy.Build{}, deploy.EINVALID, "No build at"},
		{builds.URL + "/app/500.tar.gz", deploy.Build{}, deploy.EINVALID, "HTTP 500"},
		{dead.URL + "/app/1.0.0.tar.gz", deploy.Build{}, deploy.EINVALID, "Could not reach the build server"},
	}
	for _, tt := range tests {
		got, err := r.CheckBuild(t.Context(), tt.url)
		if deploy.ErrorCode(err) != tt.wantCode || !strings.Contains(deploy.ErrorMessage(err), tt.wantMsg) {
			t.Errorf("CheckBuild(%s) err = %v, want code %q with %q", tt.url, err, tt.wantCode, tt.wantMsg)
		}
		if got != tt.want {
			t.Errorf("CheckBuild(%s) = %+v, want %+v", tt.url, got, tt.want)
		}
	}
}

func TestStateMapping(t *testing.T) {
	tests := map[string]deploy.JobState{
		"new": deploy.JobPending, "pending": deploy.JobPending, "waiting": deploy.JobPending,
		"running": deploy.JobRunning, "successful": deploy.JobSucceeded,
		"failed": deploy.JobFailed, "error": deploy.JobFailed, "canceled": deploy.JobCanceled,
	}
	for in, want := range tests {
		if got := awxrunner.State(in); got != want {
			t.Errorf("State(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestLaunchLimitsToApprovedHosts: the launch carries limit = the approved
// hosts; a host added to the AWX inventory after approval stays out of the
// run and the first poll says so; an approved host gone from the inventory
// refuses the launch, naming it, before anything starts.
func TestLaunchLimitsToApprovedHosts(t *testing.T) {
	f := setup(t, awxtest.JobTemplate{})
	// Someone added a host to the inventory in AWX after the approval.
	f.awx.AddInventory("other", nil)
	intruder := "prod-db-01.example.com"
	c, err := awxclient.NewClient(f.awx.URL, awxclient.WithToken(f.awx.Token))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := c.GetInventoryByName(t.Context(), 1, invName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateHost(t.Context(), inv.ID, awxclient.HostRequest{Name: intruder}); err != nil {
		t.Fatal(err)
	}
	job, err := f.runner.Launch(t.Context(), request(51, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.awx.Launches()[0].Body["limit"]; got != host1+","+host2 {
		t.Fatalf("launch limit = %v, want the approved hosts %s,%s", got, host1, host2)
	}
	ups := follow(t, f.runner, job, "")
	if len(ups[0].Notes) != 1 || !strings.Contains(ups[0].Notes[0], intruder) || !strings.Contains(ups[0].Notes[0], "limit") {
		t.Errorf("first update notes = %q, want one naming %s and the limit", ups[0].Notes, intruder)
	}
	for i, u := range ups {
		for _, e := range u.Events {
			if e.Host == intruder {
				t.Fatalf("the job ran on %s, which nobody approved", intruder)
			}
		}
		if i > 0 && len(u.Notes) > 0 {
			t.Errorf("notes repeated: %q", u.Notes)
		}
	}

	// An approved host no longer in the inventory: refused, named.
	gone := "stg-web-03.example.com"
	_, err = f.runner.Launch(t.Context(), request(52, func(p *deploy.Plan) { p.Hosts = []string{host1, gone} }))
	if deploy.ErrorCode(err) != deploy.EINVALID || !strings.Contains(err.Error(), gone) || !strings.Contains(err.Error(), "nothing ran") {
		t.Fatalf("err = %v, want a refusal naming %s", err, gone)
	}
	// Host names Ansible would read as patterns, and an empty host list
	// (no limit: the whole inventory), are refused too.
	for _, hosts := range [][]string{{"stg-web-*"}, {host1 + "," + intruder}, {"!" + host1}, nil} {
		_, err := f.runner.Launch(t.Context(), request(53, func(p *deploy.Plan) { p.Hosts = hosts }))
		if deploy.ErrorCode(err) != deploy.EINVALID {
			t.Errorf("hosts %q: err = %v, want a refusal", hosts, err)
		}
	}
	if n := len(f.awx.Launches()); n != 1 {
		t.Fatalf("%d launches, want 1", n)
	}
}

// TestEventProcessingNeverFinishes: AWX can leave event_processing_finished
// false for good after a job ends; the follow ends after EventWait with a
// note that the output may be incomplete, instead of holding the release
// (and its lock) for ever.
func TestEventProcessingNeverFinishes(t *testing.T) {
	f := setup(t, awxtest.JobTemplate{Name: "deploybot-web-deploy", Playbook: "web_deploy.yml",
		AskInventory: true, AskVariables: true, AskLimit: true, AskJobType: true, AskDiffMode: true, EventsNeverProcessed: true})
	f.runner.EventWait = 300 * time.Millisecond
	job, err := f.runner.Launch(t.Context(), request(61, nil))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ups := follow(t, f.runner, job, "")
	last := ups[len(ups)-1]
	if !last.Done || last.State != deploy.JobSucceeded {
		t.Fatalf("last update = %+v", last)
	}
	if time.Since(start) < f.runner.EventWait {
		t.Errorf("follow ended after %s, before EventWait", time.Since(start))
	}
	if len(last.Notes) != 1 || !strings.Contains(last.Notes[0], "may be incomplete") {
		t.Errorf("final notes = %q, want one saying the output may be incomplete", last.Notes)
	}
	events := 0
	for _, u := range ups {
		events += len(u.Events)
	}
	if events == 0 {
		t.Error("no events delivered")
	}
}

// TestOtherJobEndings: each way a job can end or stall in AWX besides a
// playbook's own outcome ends the follow, or says why it waits, in words
// the requester can act on.
func TestOtherJobEndings(t *testing.T) {
	awxDo := func(t *testing.T, f *fixture, method, path string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, f.awx.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+f.awx.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	hold := awxtest.NewPlaybook("web_deploy.yml").Task("t", "ping").OK(host1, "").Behavior(awxtest.ScriptOptions{HoldRunning: true})

	t.Run("error with an explanation and no events", func(t *testing.T) {
		f := setup(t, awxtest.JobTemplate{})
		f.awx.SetBehavior(f.tmpl, awxtest.BehaviorFunc(func(context.Context, *awxtest.Run) error {
			return &awxtest.JobError{Explanation: "Job terminated due to error",
				Traceback: "Traceback...\nError: initializing source docker://quay.io/ansible/awx-ee:bad: reading manifest bad: manifest unknown"}
		}), false)
		job, err := f.runner.Launch(t.Context(), request(71, nil))
		if err != nil {
			t.Fatal(err)
		}
		last := follow(t, f.runner, job, "")
		u := last[len(last)-1]
		if u.State != deploy.JobFailed || !strings.Contains(u.Explanation, "manifest unknown") ||
			!strings.Contains(u.Explanation, "execution environment") {
			t.Errorf("final = %s %q, want failed with AWX's words and what to do", u.State, u.Explanation)
		}
	})

	t.Run("canceled in the AWX UI", func(t *testing.T) {
		f := setup(t, awxtest.JobTemplate{})
		f.awx.SetBehavior(f.tmpl, hold, false)
		job, err := f.runner.Launch(t.Context(), request(72, nil))
		if err != nil {
			t.Fatal(err)
		}
		if code := awxDo(t, f, http.MethodPost, fmt.Sprintf("/api/v2/jobs/%d/cancel/", job.ID)); code != http.StatusAccepted {
			t.Fatalf("cancel = %d", code)
		}
		ups := follow(t, f.runner, job, "")
		u := ups[len(ups)-1]
		if u.State != deploy.JobCanceled || len(u.Notes) != 1 || !strings.Contains(u.Notes[0], "not from Slack") {
			t.Errorf("final = %s %q, want canceled with a note that it was not from Slack", u.State, u.Notes)
		}
		// Canceled by the bot: no such note.
		job2, err := f.runner.Launch(t.Context(), request(73, nil))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.runner.Cancel(t.Context(), job2); err != nil {
			t.Fatal(err)
		}
		ups = follow(t, f.runner, job2, "")
		if u := ups[len(ups)-1]; u.State != deploy.JobCanceled || len(u.Notes) != 0 {
			t.Errorf("bot cancel final = %s %q", u.State, u.Notes)
		}
	})

	t.Run("deleted while followed", func(t *testing.T) {
		f := setup(t, awxtest.JobTemplate{})
		job, err := f.runner.Launch(t.Context(), request(74, nil))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.awx.AwaitJob(t.Context(), int(job.ID)); err != nil {
			t.Fatal(err)
		}
		if code := awxDo(t, f, http.MethodDelete, fmt.Sprintf("/api/v2/jobs/%d/", job.ID)); code != http.StatusNoContent {
			t.Fatalf("delete = %d", code)
		}
		for i := 0; i < 3; i++ {
			if _, err := f.runner.Poll(t.Context(), job, ""); deploy.ErrorCode(err) != deploy.ENOTFOUND {
				t.Fatalf("poll of a deleted job = %v, want ENOTFOUND (the follower ends the request on it)", err)
			}
		}
	})

	t.Run("stuck pending", func(t *testing.T) {
		f := setup(t, awxtest.JobTemplate{})
		f.runner.PendingNote = 150 * time.Millisecond
		f.awx.SetBehavior(f.tmpl, awxtest.BehaviorFunc(func(ctx context.Context, r *awxtest.Run) error {
			r.SetStatus("pending") // no capacity: AWX's task manager does not start it
			<-ctx.Done()
			return ctx.Err()
		}), false)
		job, err := f.runner.Launch(t.Context(), request(75, nil))
		if err != nil {
			t.Fatal(err)
		}
		var notes []string
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && len(notes) == 0 {
			u, err := f.runner.Poll(t.Context(), job, "")
			if err != nil {
				t.Fatal(err)
			}
			if u.State != deploy.JobPending || u.Done {
				t.Fatalf("update = %+v, want pending", u)
			}
			notes = u.Notes
			time.Sleep(20 * time.Millisecond)
		}
		if len(notes) != 1 || !strings.Contains(notes[0], "pending") || !strings.Contains(notes[0], "capacity") {
			t.Fatalf("notes = %q, want one saying why the job waits", notes)
		}
		if u, _ := f.runner.Poll(t.Context(), job, ""); len(u.Notes) != 0 {
			t.Errorf("pending note repeated: %q", u.Notes)
		}
		if err := f.runner.Cancel(t.Context(), job); err != nil {
			t.Fatal(err)
		}
		ups := follow(t, f.runner, job, "")
		if u := ups[len(ups)-1]; u.State != deploy.JobCanceled {
			t.Errorf("after cancel: %s", u.State)
		}
	})
}

// TestAdHocBraces: a custom command with literal braces runs as written;
// one with Jinja markup ends as AWX ends it (an error before anything
// runs), with AWX's reason on the card. check-config refuses the latter
// up front (config tests).
func TestAdHocBraces(t *testing.T) {
	f := setup(t, awxtest.JobTemplate{})
	for _, tc := range []struct {
		args      string
		state     deploy.JobState
		inExplain string
	}{
		{`echo '{"release": {"version": "1.4.2"}}' > /tmp/release.json`, deploy.JobSucceeded, ""},
		{`echo {{ deploy_version }}`, deploy.JobFailed, "Inline Jinja variables are not allowed"},
	} {
		job, err := f.runner.Launch(t.Context(), request(81, func(p *deploy.Plan) {
			p.AdHoc, p.JobTemplate, p.ModuleArgs = true, "", tc.args
		}))
		if err != nil {
			t.Fatalf("%s: %v", tc.args, err)
		}
		ups := follow(t, f.runner, job, "")
		u := ups[len(ups)-1]
		if u.State != tc.state || !strings.Contains(u.Explanation, tc.inExplain) {
			t.Errorf("%s: final %s %q, want %s with %q", tc.args, u.State, u.Explanation, tc.state, tc.inExplain)
		}
	}
}
