package awxclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/awxclient/awxtest"
)

func TestJobTemplateLookup(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := t.Context()
	other := srv.AddOrganization("Other")
	one := srv.AddJobTemplate(awxtest.JobTemplate{Name: "deploy-web", Playbook: "web.yml", AskInventory: true, AskVariables: true})
	srv.AddJobTemplate(awxtest.JobTemplate{Name: "twice", Playbook: "a.yml"})
	srv.AddJobTemplate(awxtest.JobTemplate{Name: "twice", Playbook: "b.yml", Organization: other})

	jt, err := c.GetJobTemplateByName(ctx, 0, "deploy-web")
	if err != nil || jt.ID != one || jt.Playbook != "web.yml" || !jt.AskInventoryOnLaunch {
		t.Fatalf("GetJobTemplateByName = %+v, %v", jt, err)
	}
	_, err = c.GetJobTemplateByName(ctx, 0, "missing")
	var le *awxclient.LookupError
	if !errors.Is(err, awxclient.ErrNotFound) || !errors.As(err, &le) || le.Name != "missing" {
		t.Fatalf("missing template error = %v", err)
	}
	_, err = c.GetJobTemplateByName(ctx, 0, "twice")
	if !errors.Is(err, awxclient.ErrAmbiguous) || errors.Is(err, awxclient.ErrNotFound) {
		t.Fatalf("ambiguous template error = %v", err)
	}
	if !strings.Contains(err.Error(), `"twice"`) || !strings.Contains(err.Error(), "2 match") {
		t.Errorf("ambiguous message = %q", err)
	}
	jt, err = c.GetJobTemplateByName(ctx, other, "twice")
	if err != nil || jt.Playbook != "b.yml" {
		t.Fatalf("template by org = %+v, %v", jt, err)
	}
	org, err := c.GetOrganizationByName(ctx, "Default")
	if err != nil || org.ID != 1 {
		t.Fatalf("GetOrganizationByName = %+v, %v", org, err)
	}
}

// TestFindCredential: credentials are found by name whether they belong to
// the organization or to none (AWX's preloaded "Demo Credential" has no
// organization); the organization's own wins; a name that is missing,
// ambiguous, of another kind or only in other organizations says so.
func TestFindCredential(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := t.Context()
	other := srv.AddOrganization("Other")
	srv.AddCredential("deploy-ssh", 0, "ssh")
	own := srv.AddCredential("deploy-ssh", 1, "ssh")
	srv.AddCredential("twice", 0, "ssh")
	srv.AddCredential("twice", 0, "ssh")
	srv.AddCredential("git", 1, "scm")
	srv.AddCredential("theirs", other, "ssh")
	tests := []struct {
		name, kind string
		wantID     int
		wantErr    error
		wantMsg    string
	}{
		{"Demo Credential", "ssh", 1, nil, ""},
		{"deploy-ssh", "ssh", own, nil, ""},
		{"git", "scm", 0, nil, ""},
		{"twice", "ssh", 0, awxclient.ErrAmbiguous, "rename all but one"},
		{"nope", "ssh", 0, awxclient.ErrNotFound, "create it in AWX"},
		{"git", "ssh", 0, awxclient.ErrNotFound, `not of kind "ssh"`},
		{"theirs", "ssh", 0, awxclient.ErrNotFound, "only other organizations"},
	}
	for _, tt := range tests {
		cr, err := c.FindCredential(ctx, 1, tt.name, tt.kind)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), tt.name) {
				t.Errorf("%s/%s: err = %v, want %v saying %q", tt.name, tt.kind, err, tt.wantErr, tt.wantMsg)
			}
			continue
		}
		if err != nil || cr.Kind != tt.kind || (tt.wantID != 0 && cr.ID != tt.wantID) {
			t.Errorf("%s/%s = %+v, %v", tt.name, tt.kind, cr, err)
		}
	}
}

func TestCheckJobTemplate(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := t.Context()
	good := srv.AddJobTemplate(awxtest.JobTemplate{Name: "good", Playbook: "p.yml", AskInventory: true, AskVariables: true, AskLimit: true})
	srv.AddJobTemplate(awxtest.JobTemplate{Name: "no-vars", Playbook: "p.yml", AskInventory: true, AskLimit: true})
	srv.AddJobTemplate(awxtest.JobTemplate{Name: "no-limit", Playbook: "p.yml", AskInventory: true, AskVariables: true})
	srv.AddJobTemplate(awxtest.JobTemplate{Name: "none", Playbook: "p.yml"})
	tests := []struct {
		name    string
		arg     string
		missing []string
	}{
		{"good", "good", nil},
		{"by id", fmt.Sprint(good), nil},
		{"no vars", "no-vars", []string{"ask_variables_on_launch"}},
		{"no limit", "no-limit", []string{"ask_limit_on_launch"}},
		{"none", "none", []string{"ask_inventory_on_launch", "ask_variables_on_launch", "ask_limit_on_launch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jt, err := c.CheckJobTemplate(ctx, tt.arg)
			if tt.missing == nil {
				if err != nil || jt.ID == 0 {
					t.Fatalf("CheckJobTemplate = %+v, %v", jt, err)
				}
				return
			}
			var se *awxclient.TemplateSettingsError
			if !errors.As(err, &se) || !reflect.DeepEqual(se.Missing, tt.missing) {
				t.Fatalf("error = %v, want missing %v", err, tt.missing)
			}
			for _, m := range tt.missing {
				if !strings.Contains(err.Error(), m) || !strings.Contains(err.Error(), tt.arg) {
					t.Errorf("message %q does not name %s and the template", err, m)
				}
			}
		})
	}
	if _, err := c.CheckJobTemplate(ctx, "absent"); !errors.Is(err, awxclient.ErrNotFound) {
		t.Fatalf("absent template error = %v", err)
	}
}

func TestLaunch(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := t.Context()
	inv := srv.AddInventory("shop-web-prod", map[string]map[string]any{"web1": {}})
	full := srv.AddJobTemplate(awxtest.JobTemplate{Name: "full", Playbook: "p.yml", AskInventory: true, AskVariables: true,
		AskLimit: true, AskJobType: true, AskDiffMode: true})
	strict := srv.AddJobTemplate(awxtest.JobTemplate{Name: "strict", Playbook: "p.yml", Inventory: inv})
	noInv := srv.AddJobTemplate(awxtest.JobTemplate{Name: "noinv", Playbook: "p.yml", AskVariables: true})

	opts := awxclient.LaunchOptions{Inventory: inv, ExtraVars: map[string]any{"deploybot_request_id": "r-1", "n": 3},
		Limit: "web1", JobType: "check", DiffMode: true}
	id, err := c.LaunchJobTemplate(ctx, full, opts)
	if err != nil || id == 0 {
		t.Fatalf("launch = %d, %v", id, err)
	}
	l := srv.Launches()
	if len(l) != 1 || l[0].Job != id {
		t.Fatalf("launches = %+v", l)
	}
	if _, isObj := l[0].Body["extra_vars"].(map[string]any); !isObj {
		t.Errorf("extra_vars sent as %T, want an object", l[0].Body["extra_vars"])
	}
	job, err := c.GetJob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	vars, err := job.ExtraVarsMap()
	if err != nil || vars["deploybot_request_id"] != "r-1" || job.Limit != "web1" || job.JobType != "check" ||
		!job.DiffMode || job.Inventory != inv {
		t.Fatalf("job = %+v (vars %v, %v)", job, vars, err)
	}

	// Unprompted fields: AWX launches anyway and reports them.
	id, err = c.LaunchJobTemplate(ctx, strict, awxclient.LaunchOptions{Inventory: inv + 100,
		ExtraVars: map[string]any{"x": 1}, Limit: "web1"})
	var ie *awxclient.IgnoredFieldsError
	if !errors.As(err, &ie) || !errors.Is(err, awxclient.ErrIgnoredFields) || ie.JobID != id || id == 0 {
		t.Fatalf("ignored fields error = %v (job %d)", err, id)
	}
	if got := ie.FieldNames(); !reflect.DeepEqual(got, []string{"extra_vars", "inventory", "limit"}) {
		t.Errorf("ignored fields = %v", got)
	}
	if !strings.Contains(err.Error(), "extra_vars, inventory, limit") {
		t.Errorf("message = %q", err)
	}

	// A template without inventory and none given.
	_, err = c.LaunchJobTemplate(ctx, noInv, awxclient.LaunchOptions{ExtraVars: map[string]any{"a": 1}})
	var e *awxclient.Error
	if !errors.As(err, &e) || e.StatusCode != 400 || len(e.Fields["resources_needed_to_start"]) != 1 {
		t.Fatalf("launch without inventory = %v", err)
	}
}

func TestListJobsAndFindByRequestID(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := t.Context()
	inv := srv.AddInventory("inv", nil)
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "deploy", Playbook: "p.yml", AskInventory: true, AskVariables: true})
	other := srv.AddJobTemplate(awxtest.JobTemplate{Name: "other", Playbook: "p.yml", AskInventory: true, AskVariables: true})
	since := time.Now().Add(-time.Second)
	var ids []int
	for i, tmpl := range []int{jt, jt, other, jt} {
		id, err := c.LaunchJobTemplate(ctx, tmpl, awxclient.LaunchOptions{Inventory: inv,
			ExtraVars: map[string]any{"deploybot_request_id": fmt.Sprintf("req-%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.AwaitJob(ctx, id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	jobs, err := c.ListJobs(ctx, awxclient.ListJobsOptions{JobTemplate: jt, CreatedSince: since, Status: []string{"successful"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, j := range jobs {
		got = append(got, j.ID)
		if j.ExtraVars == "" {
			t.Errorf("job %d listed without extra_vars", j.ID)
		}
	}
	if want := []int{ids[3], ids[1], ids[0]}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ListJobs = %v, want %v (newest first)", got, want)
	}
	if jobs, _ := c.ListJobs(ctx, awxclient.ListJobsOptions{Status: []string{"running"}}); len(jobs) != 0 {
		t.Errorf("running jobs = %d", len(jobs))
	}
	if jobs, _ := c.ListJobs(ctx, awxclient.ListJobsOptions{CreatedSince: time.Now().Add(time.Hour)}); len(jobs) != 0 {
		t.Errorf("future jobs = %d", len(jobs))
	}
	if jobs, _ := c.ListJobs(ctx, awxclient.ListJobsOptions{Max: 2}); len(jobs) != 2 || jobs[0].ID != ids[3] {
		t.Errorf("Max 2 = %+v", jobs)
	}
	j, err := c.FindJobByExtraVar(ctx, awxclient.ListJobsOptions{JobTemplate: jt, CreatedSince: since}, "deploybot_request_id", "req-1")
	if err != nil || j.ID != ids[1] {
		t.Fatalf("FindJobByExtraVar = %d, %v; want %d", j.ID, err, ids[1])
	}
	_, err = c.FindJobByExtraVar(ctx, awxclient.ListJobsOptions{JobTemplate: jt}, "deploybot_request_id", "req-2")
	if !errors.Is(err, awxclient.ErrNotFound) {
		t.Fatalf("request of another template: %v", err)
	}
}

// followAll follows a job with a fresh follower and checks that each event
// arrives once, in counter order.
func followAll(t *testing.T, c *awxclient.Client, f *awxclient.EventFollower, first int) []awxclient.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var all []awxclient.Event
	for {
		evs, done, err := f.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
		if done {
			break
		}
	}
	for i, ev := range all {
		if ev.Counter != first+i {
			t.Fatalf("event %d has counter %d, want %d (every event once, in order)", i, ev.Counter, first+i)
		}
	}
	return all
}

func bigPlaybook(hosts, tasks int) *awxtest.Playbook {
	pb := awxtest.NewPlaybook("deploy.yml").Play("web")
	for i := 0; i < tasks; i++ {
		pb.Task(fmt.Sprintf("task %d", i), "command")
		for h := 0; h < hosts; h++ {
			host := fmt.Sprintf("web%d", h)
			switch {
			case i == tasks-1 && h == 0:
				pb.Failed(host, "disk full")
			case i%3 == 0:
				pb.Changed(host, "")
			default:
				pb.OK(host, "")
			}
		}
	}
	return pb
}

func TestFollowLateOutOfOrderEvents(t *testing.T) {
	t.Parallel()
	for _, lag := range []int{0, 1, 7, 40} {
		t.Run(fmt.Sprintf("lag %d", lag), func(t *testing.T) {
			t.Parallel()
			srv, c := setup(t, awxtest.WithEventLag(lag, uint64(lag)+1))
			inv := srv.AddInventory("inv", map[string]map[string]any{"web0": {}, "web1": {}, "web2": {}})
			pb := bigPlaybook(3, 30)
			want := len(pb.Events())
			jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "deploy", Playbook: "deploy.yml", AskInventory: true,
				Behavior: pb.Behavior(awxtest.ScriptOptions{BatchSize: 9}), PacePerPoll: true})
			id, err := c.LaunchJobTemplate(t.Context(), jt, awxclient.LaunchOptions{Inventory: inv})
			if err != nil {
				t.Fatal(err)
			}
			f := c.FollowJobEvents(id, awxclient.FollowOptions{PageSize: 50})
			all := followAll(t, c, f, 1)
			if len(all) != want {
				t.Fatalf("got %d events, want %d", len(all), want)
			}
			last := all[len(all)-1]
			if last.Event != "playbook_on_stats" {
				t.Fatalf("last event = %s", last.Event)
			}
			st, err := last.Stats()
			if err != nil || st.Failures["web0"] != 1 || st.Processed["web2"] != 1 {
				t.Fatalf("stats = %+v, %v", st, err)
			}
			job := f.Job()
			if job.Status != "failed" || !job.Failed || !job.EventProcessingFinished ||
				!reflect.DeepEqual(job.HostStatusCounts, map[string]int{"failures": 1, "changed": 2}) {
				t.Fatalf("final job = %s failed=%v epf=%v counts=%v", job.Status, job.Failed, job.EventProcessingFinished, job.HostStatusCounts)
			}
			if f.Cursor() != want {
				t.Errorf("cursor = %d, want %d", f.Cursor(), want)
			}
			var failedMsg string
			for _, ev := range all {
				if ev.Event == "runner_on_failed" {
					failedMsg = ev.EventData.Msg()
				}
			}
			if failedMsg != "disk full" {
				t.Errorf("failure message = %q", failedMsg)
			}
		})
	}
}

func TestFollowResumesFromCursor(t *testing.T) {
	t.Parallel()
	srv, c := setup(t, awxtest.WithEventLag(5, 3))
	inv := srv.AddInventory("inv", map[string]map[string]any{"web0": {}, "web1": {}})
	pb := bigPlaybook(2, 20)
	total := len(pb.Events())
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "deploy", Playbook: "deploy.yml", AskInventory: true,
		Behavior: pb.Behavior(awxtest.ScriptOptions{BatchSize: 10}), PacePerPoll: true})
	ctx := t.Context()
	id, err := c.LaunchJobTemplate(ctx, jt, awxclient.LaunchOptions{Inventory: inv})
	if err != nil {
		t.Fatal(err)
	}
	f := c.FollowJobEvents(id, awxclient.FollowOptions{})
	var seen []awxclient.Event
	for len(seen) < total/2 {
		evs, done, err := f.Poll(ctx)
		if err != nil || done {
			t.Fatalf("poll: done=%v err=%v", done, err)
		}
		seen = append(seen, evs...)
	}
	// The process restarts: a new follower starts from the stored cursor.
	cursor := f.Cursor()
	if cursor != len(seen) {
		t.Fatalf("cursor %d after %d events", cursor, len(seen))
	}
	g := c.FollowJobEvents(id, awxclient.FollowOptions{After: cursor, NoTruncate: true})
	rest := followAll(t, c, g, cursor+1)
	if len(seen)+len(rest) != total {
		t.Fatalf("%d + %d events, want %d", len(seen), len(rest), total)
	}
}

func TestFollowJobCallback(t *testing.T) {
	t.Parallel()
	srv, c := setup(t, awxtest.WithEventLag(3, 9))
	inv := srv.AddInventory("inv", map[string]map[string]any{"web0": {}})
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "deploy", Playbook: "deploy.yml", AskInventory: true})
	ctx := t.Context()
	id, err := c.LaunchJobTemplate(ctx, jt, awxclient.LaunchOptions{Inventory: inv})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	job, err := c.FollowJob(ctx, id, time.Millisecond, func(ev awxclient.Event) error { n++; return nil })
	if err != nil || job.Status != "successful" || !job.Done() || n != 6 {
		t.Fatalf("FollowJob = %s done=%v, %d events, %v", job.Status, job.Done(), n, err)
	}
	// An error from the callback stops the follow.
	stop := errors.New("stop")
	id, _ = c.LaunchJobTemplate(ctx, jt, awxclient.LaunchOptions{Inventory: inv})
	if _, err := c.FollowJob(ctx, id, time.Millisecond, func(awxclient.Event) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("callback error = %v", err)
	}
	// So does the context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.FollowJob(cctx, id, time.Millisecond, func(awxclient.Event) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled follow error = %v", err)
	}
	if _, _, err := c.FollowJobEvents(999, awxclient.FollowOptions{}).Poll(ctx); !errors.Is(err, awxclient.ErrNotFound) {
		t.Fatalf("unknown job follow error = %v", err)
	}
}

func TestHostSummariesStdoutRelaunch(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := t.Context()
	inv := srv.AddInventory("inv", map[string]map[string]any{"web0": {}, "web1": {}})
	pb := awxtest.NewPlaybook("deploy.yml").Play("web").Task("copy", "copy").Changed("web0", "").Failed("web1", "boom")
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "deploy", Playbook: "deploy.yml", AskInventory: true,
		Behavior: pb.Behavior(awxtest.ScriptOptions{})})
	id, err := c.LaunchJobTemplate(ctx, jt, awxclient.LaunchOptions{Inventory: inv})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.FollowJob(ctx, id, time.Millisecond, func(awxclient.Event) error { return nil }); err != nil {
		t.Fatal(err)
	}
	sums, err := c.JobHostSummaries(ctx, id)
	if err != nil || len(sums) != 2 {
		t.Fatalf("summaries = %+v, %v", sums, err)
	}
	if s := sums[1]; s.HostName != "web1" || s.Failures != 1 || !s.Failed || sums[0].Changed != 1 || sums[0].Failed {
		t.Fatalf("summaries = %+v", sums)
	}
	var out bytes.Buffer
	n, err := c.JobStdout(ctx, id, &out)
	if err != nil || n != int64(out.Len()) {
		t.Fatalf("JobStdout = %d, %v", n, err)
	}
	text := out.String()
	for _, want := range []string{"PLAY [web] ***", "TASK [copy] ***", "changed: [web0]", `fatal: [web1]: FAILED! => {"changed":false,"msg":"boom"}`, "PLAY RECAP"} {
		if !strings.Contains(text, want) {
			t.Errorf("stdout lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "\x1b[") {
		t.Error("txt_download stdout has ANSI codes")
	}
	if text != strings.Map(func(r rune) rune { return r }, srv.JobStdout(id)) && !strings.Contains(srv.JobStdout(id), "\x1b[") {
		t.Error("stdout differs from the server's")
	}

	newID, err := c.RelaunchJob(ctx, id, awxclient.RelaunchOptions{Hosts: "failed"})
	if err != nil || newID == id {
		t.Fatalf("relaunch = %d, %v", newID, err)
	}
	nj, err := c.GetJob(ctx, newID)
	if err != nil || nj.LaunchType != "relaunch" || nj.Limit != "web1" {
		t.Fatalf("relaunched job = %+v, %v", nj, err)
	}
	_, err = c.RelaunchJob(ctx, id, awxclient.RelaunchOptions{Hosts: "bogus"})
	var e *awxclient.Error
	if !errors.As(err, &e) || e.StatusCode != 400 || len(e.Fields["hosts"]) != 1 {
		t.Fatalf("bad relaunch = %v", err)
	}
	if _, err := c.JobStdout(ctx, 999, &out); !errors.Is(err, awxclient.ErrNotFound) {
		t.Fatalf("stdout of unknown job = %v", err)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := t.Context()
	inv := srv.AddInventory("inv", map[string]map[string]any{"web0": {}})
	pb := awxtest.NewPlaybook("deploy.yml").Play("web").Task("wait", "pause").OK("web0", "")
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "slow", Playbook: "deploy.yml", AskInventory: true,
		Behavior: pb.Behavior(awxtest.ScriptOptions{HoldRunning: true})})
	id, err := c.LaunchJobTemplate(ctx, jt, awxclient.LaunchOptions{Inventory: inv})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AwaitJob(ctx, id, "running"); err != nil {
		t.Fatal(err)
	}
	if err := c.CancelJob(ctx, id); err != nil {
		t.Fatalf("CancelJob: %v", err)
	}
	job, err := c.FollowJob(ctx, id, time.Millisecond, func(awxclient.Event) error { return nil })
	if err != nil || job.Status != "canceled" || !job.Failed || job.CanceledOn == nil {
		t.Fatalf("canceled job = %s failed=%v canceled_on=%v, %v", job.Status, job.Failed, job.CanceledOn, err)
	}
	// Superuser: 405; normal user: 403 with can_cancel false. Both mean
	// "cannot cancel".
	err = c.CancelJob(ctx, id)
	var e *awxclient.Error
	if !errors.Is(err, awxclient.ErrCannotCancel) || !errors.As(err, &e) || e.StatusCode != 405 {
		t.Fatalf("second cancel (superuser) = %v", err)
	}
	user, _ := awxclient.NewClient(srv.URL, awxclient.WithToken(srv.UserToken))
	err = user.CancelJob(ctx, id)
	if !errors.Is(err, awxclient.ErrCannotCancel) || !errors.Is(err, awxclient.ErrForbidden) {
		t.Fatalf("second cancel (user) = %v", err)
	}
	// A 403 for a job that can still be canceled is a plain permission error.
	srv.FailNext(1, "POST", fmt.Sprintf("/api/v2/jobs/%d/cancel/", id), 403)
	id2, _ := c.LaunchJobTemplate(ctx, jt, awxclient.LaunchOptions{Inventory: inv})
	srv.FailNext(1, "POST", fmt.Sprintf("/api/v2/jobs/%d/cancel/", id2), 403)
	if err := srv.AwaitJob(ctx, id2, "running"); err != nil {
		t.Fatal(err)
	}
	err = c.CancelJob(ctx, id2)
	if !errors.Is(err, awxclient.ErrForbidden) || errors.Is(err, awxclient.ErrCannotCancel) {
		t.Fatalf("forbidden cancel = %v", err)
	}
	if err := c.CancelJob(ctx, id2); err != nil {
		t.Fatal(err)
	}
	if err := srv.AwaitJob(ctx, id2, "canceled"); err != nil {
		t.Fatal(err)
	}
}

func TestAdHocCommand(t *testing.T) {
	t.Parallel()
	srv, c := setup(t, awxtest.WithEventLag(2, 5))
	ctx := t.Context()
	inv := srv.AddInventory("inv", map[string]map[string]any{"app1": {}, "app2": {}})
	a, err := c.CreateAdHocCommand(ctx, awxclient.AdHocOptions{Inventory: inv, Credential: 1, ModuleName: "shell",
		ModuleArgs: "systemctl restart app", ExtraVars: map[string]any{"deploybot_request_id": "r-9"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != "new" || a.ModuleName != "shell" || a.ExtraVars == "" {
		t.Fatalf("created = %+v", a)
	}
	var body map[string]any
	for _, r := range srv.Requests() {
		if r.Method == "POST" && r.Path == "/api/v2/ad_hoc_commands/" {
			_ = json.Unmarshal(r.Body, &body)
		}
	}
	if _, isString := body["extra_vars"].(string); !isString {
		t.Fatalf("extra_vars sent as %T, want a string", body["extra_vars"])
	}
	var hosts []string
	job, err := c.FollowAdHocCommand(ctx, a.ID, time.Millisecond, func(ev awxclient.Event) error {
		if ev.AdHocCommand != a.ID {
			t.Errorf("event of ad hoc %d", ev.AdHocCommand)
		}
		if ev.HostName != "" {
			hosts = append(hosts, ev.HostName)
		}
		return nil
	})
	if err != nil || job.Status != "successful" || len(hosts) != 2 {
		t.Fatalf("ad hoc = %s, hosts %v, %v", job.Status, hosts, err)
	}
	got, err := c.GetAdHocCommand(ctx, a.ID)
	if err != nil || !got.Done() || got.HostStatusCounts["changed"] != 2 {
		t.Fatalf("GetAdHocCommand = %+v, %v", got, err)
	}
	var out bytes.Buffer
	if _, err := c.AdHocCommandStdout(ctx, a.ID, &out); err != nil || !strings.Contains(out.String(), "app2 | CHANGED | rc=0 >>") {
		t.Fatalf("ad hoc stdout = %q, %v", out.String(), err)
	}
	if err := c.CancelAdHocCommand(ctx, a.ID); !errors.Is(err, awxclient.ErrCannotCancel) {
		t.Fatalf("cancel finished ad hoc = %v", err)
	}
	// AWX refuses ansible_ variables and unknown modules.
	_, err = c.CreateAdHocCommand(ctx, awxclient.AdHocOptions{Inventory: inv, ModuleName: "raw", ModuleArgs: "x",
		ExtraVars: map[string]any{"ansible_user": "root"}})
	var e *awxclient.Error
	if !errors.As(err, &e) || len(e.Fields["module_name"]) != 1 || len(e.Fields["extra_vars"]) != 1 {
		t.Fatalf("bad ad hoc = %v", err)
	}
	// Cancel while running.
	srv.SetAdHocBehavior(awxtest.Script(nil, awxtest.ScriptOptions{HoldRunning: true}))
	b, err := c.CreateAdHocCommand(ctx, awxclient.AdHocOptions{Inventory: inv, ModuleName: "shell", ModuleArgs: "sleep 100"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AwaitJob(ctx, b.ID, "running"); err != nil {
		t.Fatal(err)
	}
	if err := c.CancelAdHocCommand(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := srv.AwaitJob(ctx, b.ID, "canceled"); err != nil {
		t.Fatal(err)
	}
}

// TestJobSlicingRefused: a template that slices its jobs answers a launch
// with a workflow job, which deploybot cannot follow; the start-up check
// and the pre-launch check refuse it, and a launch that gets a workflow
// job back says so instead of claiming success.
func TestJobSlicingRefused(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := t.Context()
	inv := srv.AddInventory("inv", map[string]map[string]any{"web1": {}, "web2": {}})
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "sliced", Playbook: "p.yml", AskInventory: true, AskVariables: true,
		AskLimit: true, AskJobType: true, AskDiffMode: true, JobSliceCount: 2})
	if _, err := c.CheckJobTemplate(ctx, "sliced"); !errors.Is(err, awxclient.ErrJobSlicing) || !strings.Contains(err.Error(), "Job Slicing") {
		t.Errorf("CheckJobTemplate = %v, want ErrJobSlicing", err)
	}
	opts := awxclient.LaunchOptions{Inventory: inv, ExtraVars: map[string]any{"a": 1}}
	if err := c.CheckLaunch(ctx, jt, opts); !errors.Is(err, awxclient.ErrJobSlicing) {
		t.Errorf("CheckLaunch = %v, want ErrJobSlicing", err)
	}
	if _, err := c.LaunchJobTemplate(ctx, jt, opts); !errors.Is(err, awxclient.ErrJobSlicing) || !strings.Contains(err.Error(), "workflow job") {
		t.Errorf("LaunchJobTemplate = %v, want ErrJobSlicing naming the workflow job", err)
	}
}
