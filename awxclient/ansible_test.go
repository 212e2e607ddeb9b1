package awxclient_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/awxclient/awxtest"
)

// requireAnsible skips without ansible-core, except in CI where it fails.
func requireAnsible(t *testing.T) {
	t.Helper()
	if err := awxtest.AnsibleAvailable(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs ansible-core: %v", err)
		}
		t.Skipf("ansible not installed: %v", err)
	}
}

const playbooks = "awxtest/testdata/playbooks"

func TestAnsibleJobEndToEnd(t *testing.T) {
	t.Parallel()
	requireAnsible(t)
	srv, c := setup(t, awxtest.WithAnsible(playbooks), awxtest.WithEventLag(4, 11))
	ctx := t.Context()
	out := t.TempDir()
	local := map[string]any{"ansible_connection": "local", "greeting": "deploybot"}
	inv, err := c.ReconcileInventory(ctx, 1, awxclient.InventorySpec{Name: "deploybot-tiny-test",
		Hosts: map[string]map[string]any{"app1": local, "app2": local}})
	if err != nil {
		t.Fatal(err)
	}
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "tiny", Playbook: "tiny.yml", AskInventory: true, AskVariables: true, AskLimit: true})
	if _, err := c.CheckJobTemplate(ctx, "tiny"); err != nil {
		t.Fatal(err)
	}
	id, err := c.LaunchJobTemplate(ctx, jt, awxclient.LaunchOptions{Inventory: inv.Inventory.ID,
		ExtraVars: map[string]any{"out_dir": out, "marker": "release-1.4.2", "deploybot_request_id": "r-1"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	taskStarts := map[string]int{}
	results := map[string]string{} // "task/host" → event
	job, err := c.FollowJob(ctx, id, 20*time.Millisecond, func(ev awxclient.Event) error {
		seen[ev.Counter]++
		switch {
		case ev.Event == "playbook_on_task_start":
			taskStarts[ev.Task]++
		case strings.HasPrefix(ev.Event, "runner_on_") && ev.Event != "runner_on_start":
			key := ev.Task + "/" + ev.HostName
			if _, dup := results[key]; dup {
				t.Errorf("second result for %s", key)
			}
			results[key] = ev.Event
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != "successful" || job.Failed || !job.EventProcessingFinished {
		t.Fatalf("job %s failed=%v epf=%v traceback=%q", job.Status, job.Failed, job.EventProcessingFinished, job.ResultTraceback)
	}
	emitted, saved := srv.EventCount(id)
	if emitted != saved || len(seen) != emitted {
		t.Fatalf("emitted %d, saved %d, seen %d", emitted, saved, len(seen))
	}
	for counter, n := range seen {
		if n != 1 {
			t.Errorf("event %d seen %d times", counter, n)
		}
	}
	for _, task := range []string{"say hello", "write a file", "maybe fail"} {
		if taskStarts[task] != 1 {
			t.Errorf("task %q started %d times", task, taskStarts[task])
		}
	}
	want := map[string]string{"say hello/app1": "runner_on_ok", "say hello/app2": "runner_on_ok",
		"write a file/app1": "runner_on_ok", "write a file/app2": "runner_on_ok",
		"maybe fail/app1": "runner_on_skipped", "maybe fail/app2": "runner_on_skipped"}
	for k, v := range want {
		if results[k] != v {
			t.Errorf("%s = %q, want %q", k, results[k], v)
		}
	}
	// The playbook really ran, with the launch's extra vars.
	for _, h := range []string{"app1", "app2"} {
		b, err := os.ReadFile(filepath.Join(out, h+".txt"))
		if err != nil || string(b) != "release-1.4.2\n" {
			t.Errorf("%s.txt = %q, %v", h, b, err)
		}
	}
	sums, err := c.JobHostSummaries(ctx, id)
	if err != nil || len(sums) != 2 || sums[0].Changed != 1 || sums[0].Skipped != 1 || sums[0].Failed {
		t.Fatalf("summaries = %+v, %v", sums, err)
	}
	var stdout bytes.Buffer
	if _, err := c.JobStdout(ctx, id, &stdout); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"PLAY [tiny]", "TASK [say hello]", `"msg": "hello deploybot from app1"`, "changed: [app2]", "PLAY RECAP"} {
		if !strings.Contains(stdout.String(), w) {
			t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
		}
	}

	// A failing host makes the job "failed", with the module's message.
	id, err = c.LaunchJobTemplate(ctx, jt, awxclient.LaunchOptions{Inventory: inv.Inventory.ID, Limit: "",
		ExtraVars: map[string]any{"fail_host": "app2"}})
	if err != nil {
		t.Fatal(err)
	}
	var failure awxclient.Event
	job, err = c.FollowJob(ctx, id, 20*time.Millisecond, func(ev awxclient.Event) error {
		if ev.Event == "runner_on_failed" {
			failure = ev
		}
		return nil
	})
	if err != nil || job.Status != "failed" || job.HostStatusCounts["failures"] != 1 {
		t.Fatalf("failing job = %s %v, %v", job.Status, job.HostStatusCounts, err)
	}
	if failure.HostName != "app2" || failure.Task != "maybe fail" || failure.EventData.Msg() != "non-zero return code" {
		t.Fatalf("failure event = %s %s %q", failure.HostName, failure.Task, failure.EventData.Msg())
	}
}

func TestAnsibleAdHocAndCheckMode(t *testing.T) {
	t.Parallel()
	requireAnsible(t)
	srv, c := setup(t, awxtest.WithAnsible(playbooks))
	ctx := t.Context()
	inv := srv.AddInventory("inv", map[string]map[string]any{"app1": {"ansible_connection": "local"},
		"app2": {"ansible_connection": "local"}})
	a, err := c.CreateAdHocCommand(ctx, awxclient.AdHocOptions{Inventory: inv, ModuleName: "shell", Limit: "app1",
		ModuleArgs: "echo restarted shop-web", ExtraVars: map[string]any{"svc": "shop-web"}})
	if err != nil {
		t.Fatal(err)
	}
	var ok awxclient.Event
	job, err := c.FollowAdHocCommand(ctx, a.ID, 20*time.Millisecond, func(ev awxclient.Event) error {
		if ev.Event == "runner_on_ok" {
			ok = ev
		}
		return nil
	})
	if err != nil || job.Status != "successful" {
		t.Fatalf("ad hoc = %s, %v", job.Status, err)
	}
	if ok.HostName != "app1" || ok.EventData.Res()["stdout"] != "restarted shop-web" {
		t.Fatalf("ad hoc result = %s %v", ok.HostName, ok.EventData.Res())
	}
	var out bytes.Buffer
	if _, err := c.AdHocCommandStdout(ctx, a.ID, &out); err != nil || !strings.Contains(out.String(), "restarted shop-web") {
		t.Fatalf("ad hoc stdout = %q, %v", out.String(), err)
	}

	// Check mode, diff and limit reach ansible-playbook: the file is not
	// written, app2 is left alone.
	dir := t.TempDir()
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "tiny", Playbook: "tiny.yml", AskInventory: true,
		AskVariables: true, AskJobType: true, AskDiffMode: true, AskLimit: true})
	id, err := c.LaunchJobTemplate(ctx, jt, awxclient.LaunchOptions{Inventory: inv, JobType: "check", DiffMode: true,
		Limit: "app1", ExtraVars: map[string]any{"out_dir": dir, "marker": "m"}})
	if err != nil {
		t.Fatal(err)
	}
	var diffs int
	job2, err := c.FollowJob(ctx, id, 20*time.Millisecond, func(ev awxclient.Event) error {
		if ev.Task == "write a file" && ev.Event == "runner_on_ok" && ev.Changed {
			diffs++
		}
		if ev.HostName == "app2" {
			t.Errorf("limit ignored: event %s for app2", ev.Event)
		}
		return nil
	})
	if err != nil || job2.Status != "successful" || diffs != 1 {
		t.Fatalf("check run = %s, %d changed, %v", job2.Status, diffs, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "app1.txt")); !os.IsNotExist(err) {
		t.Errorf("check mode wrote the file: %v", err)
	}
}

func TestAnsibleCancel(t *testing.T) {
	t.Parallel()
	requireAnsible(t)
	srv, c := setup(t, awxtest.WithAnsible(playbooks))
	ctx := t.Context()
	inv := srv.AddInventory("inv", map[string]map[string]any{"app1": {"ansible_connection": "local"}})
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "slow", Playbook: "slow.yml", AskInventory: true})
	id, err := c.LaunchJobTemplate(ctx, jt, awxclient.LaunchOptions{Inventory: inv})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	canceled := false
	job, err := c.FollowJob(ctx, id, 20*time.Millisecond, func(ev awxclient.Event) error {
		if ev.Event == "runner_on_start" && !canceled {
			canceled = true
			return c.CancelJob(ctx, id)
		}
		return nil
	})
	if err != nil || !canceled || job.Status != "canceled" || !job.Failed {
		t.Fatalf("canceled job = %s (cancel sent %v), %v", job.Status, canceled, err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("cancel took %s", d)
	}
}
