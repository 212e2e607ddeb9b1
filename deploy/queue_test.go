package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/deploy/deploytest"
)

// jobOf waits for the job launched for request id.
func (h *harness) jobOf(id int64) int64 {
	h.t.Helper()
	var job int64
	waitFor(h.t, func() bool {
		j, ok := h.runner.Job(id)
		job = j.Ref.ID
		return ok
	}, "job of #%d", id)
	return job
}

func TestQueueFIFO(t *testing.T) {
	h := newHarness(t)
	h.runner.HoldJobs = true
	var ids []int64
	for _, v := range []string{"1.0.1", "1.0.2", "1.0.3"} {
		ids = append(ids, h.deploy(dev, "shop-web", "staging", v).ID)
	}
	h.waitStatus(ids[0], deploy.StatusRunning)
	for i, id := range ids[1:] {
		r := h.request(id)
		if r.Status != deploy.StatusQueued {
			t.Fatalf("#%d = %s, want queued", id, r.Status)
		}
		card, _ := h.notifier.LastCard(id)
		if card.Info.QueuePosition != i+1 || !strings.Contains(bot.RenderNote(card.Info.Blocker), fmt.Sprintf("#%d (running, 1.0.1", ids[0])) {
			t.Errorf("card of #%d: position %d, blocker %q; want position %d behind #%d", id, card.Info.QueuePosition, bot.RenderNote(card.Info.Blocker), i+1, ids[0])
		}
	}
	st, err := h.svc.Status(context.Background(), "shop-web", "staging")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Active) != 1 || len(st.Queued) != 2 || st.Queued[0].ID != ids[1] || st.Queued[1].ID != ids[2] {
		t.Errorf("status = %d active, queued %v", len(st.Active), st.Queued)
	}

	if d := h.metrics.Depth("shop-web", "staging"); d != 2 {
		t.Errorf("queue depth metric = %d, want 2", d)
	}
	h.runner.Release(h.jobOf(ids[0]))
	h.waitStatus(ids[0], deploy.StatusSucceeded)
	h.waitStatus(ids[1], deploy.StatusRunning)
	waitFor(t, func() bool {
		card, _ := h.notifier.LastCard(ids[2])
		return card.Info.QueuePosition == 1 && strings.Contains(bot.RenderNote(card.Info.Blocker), fmt.Sprintf("#%d", ids[1]))
	}, "#%d to move up to position 1", ids[2])

	h.runner.Release(h.jobOf(ids[1]))
	h.waitStatus(ids[2], deploy.StatusRunning)
	h.runner.Release(h.jobOf(ids[2]))
	h.waitStatus(ids[2], deploy.StatusSucceeded)

	waitFor(t, func() bool { return len(h.metrics.Finished()) == 3 }, "3 finished metrics")
	if d := h.metrics.Depth("shop-web", "staging"); d != 0 {
		t.Errorf("queue depth metric = %d, want 0", d)
	}
	var order []int64
	for _, l := range h.runner.Launches() {
		order = append(order, l.ID)
	}
	if fmt.Sprint(order) != fmt.Sprint(ids) {
		t.Errorf("launch order %v, want %v", order, ids)
	}
}

func TestManualLock(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	l, err := h.svc.Lock(ctx, dev, "shop-web", "staging", "hotfix freeze")
	if err != nil {
		t.Fatal(err)
	}
	if l.By != dev || l.Reason != "hotfix freeze" || !l.Since.Equal(t0) {
		t.Errorf("lock = %+v", l)
	}
	_, err = h.svc.Lock(ctx, alice, "shop-web", "staging", "mine")
	wantCode(t, err, deploy.ECONFLICT)
	_, err = h.svc.Lock(ctx, eve, "shop-web", "production", "")
	wantCode(t, err, deploy.EFORBIDDEN)

	req := h.deploy(dev, "shop-web", "staging", "1.0.1")
	if req.Status != deploy.StatusQueued {
		t.Fatalf("request under a lock = %s", req.Status)
	}
	card, _ := h.notifier.LastCard(req.ID)
	if card.Info.QueuePosition != 1 || !strings.Contains(bot.RenderNote(card.Info.Blocker), "locked by <@"+dev+"> since 09:00 UTC: hotfix freeze") {
		t.Errorf("queued card: position %d, blocker %q", card.Info.QueuePosition, bot.RenderNote(card.Info.Blocker))
	}
	h.tick() // the Run loop does not start a held queue
	if got := h.request(req.ID).Status; got != deploy.StatusQueued || h.runner.LaunchCount() != 0 {
		t.Fatalf("held request = %s, %d launches", got, h.runner.LaunchCount())
	}
	st, err := h.svc.Status(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Locks) != 1 || len(st.Queued) != 1 {
		t.Errorf("status: %d locks, %d queued", len(st.Locks), len(st.Queued))
	}

	_, err = h.svc.Unlock(ctx, eve, "shop-web", "staging")
	wantCode(t, err, deploy.EFORBIDDEN)
	if _, err := h.svc.Unlock(ctx, alice, "shop-web", "staging"); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(req.ID, deploy.StatusSucceeded)
	_, err = h.svc.Unlock(ctx, alice, "shop-web", "staging")
	wantCode(t, err, deploy.ENOTFOUND)
}

func TestCancel(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *harness) *deploy.Request
		user  string
		code  string
		// launches is how many launches the runner saw in the end.
		launches int
		outcome  string
	}{
		{"pending", func(h *harness) *deploy.Request {
			return h.deploy(alice, "shop-web", "production", "1.0.0")
		}, alice, "", 0, "before it started"},
		{"queued", func(h *harness) *deploy.Request {
			if _, err := h.svc.Lock(context.Background(), dev, "shop-web", "staging", ""); err != nil {
				h.t.Fatal(err)
			}
			return h.deploy(dev, "shop-web", "staging", "1.0.0")
		}, alice, "", 0, "before it started"},
		{"launching", func(h *harness) *deploy.Request {
			h.runner.FailNextLaunch(fmt.Errorf("post job: %w", deploy.ErrOutcomeUnknown), true)
			r := h.deploy(dev, "shop-web", "staging", "1.0.0")
			if r.Status != deploy.StatusLaunching {
				h.t.Fatalf("status = %s, want launching", r.Status)
			}
			return r
		}, dev, "", 1, "Canceled by"},
		{"running", func(h *harness) *deploy.Request {
			h.runner.HoldJobs = true
			r := h.deploy(dev, "shop-web", "staging", "1.0.0")
			h.waitStatus(r.ID, deploy.StatusRunning)
			return r
		}, alice, "", 1, "Canceled by"},
		{"stranger", func(h *harness) *deploy.Request {
			h.runner.HoldJobs = true
			return h.deploy(dev, "shop-web", "staging", "1.0.0")
		}, eve, deploy.EFORBIDDEN, 1, ""},
		{"finished", func(h *harness) *deploy.Request {
			r := h.deploy(dev, "shop-web", "staging", "1.0.0")
			return h.waitStatus(r.ID, deploy.StatusSucceeded)
		}, dev, deploy.ECONFLICT, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			req := tt.setup(h)
			_, err := h.svc.Cancel(context.Background(), req.ID, tt.user)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				if got := h.request(req.ID).Status; got == deploy.StatusCanceled {
					t.Errorf("refused cancel canceled it")
				}
				return
			}
			if req.Status == deploy.StatusLaunching {
				h.tick() // reconcile: the job is found, then canceled
			}
			r := h.waitStatus(req.ID, deploy.StatusCanceled)
			if !strings.Contains(r.Outcome, tt.outcome) || !strings.Contains(r.Outcome, tt.user) {
				t.Errorf("outcome = %q", r.Outcome)
			}
			if n := h.runner.LaunchCount(); n != tt.launches {
				t.Errorf("launches = %d, want %d", n, tt.launches)
			}
			if tt.launches > 0 && len(h.runner.Cancels()) != 1 {
				t.Errorf("AWX cancels = %v, want 1", h.runner.Cancels())
			}
			h.waitCard(req.ID, deploy.StatusCanceled)
		})
	}
}

func TestFailureDigest(t *testing.T) {
	h := newHarness(t)
	h.runner.Script = deploytest.FailScript("stg-web-02.example.com", "Wait for the health check", "Status code was 503 and not [200]")
	req := h.deploy(dev, "shop-web", "staging", "1.4.3")
	r := h.waitStatus(req.ID, deploy.StatusFailed)
	if want := `Failed on stg-web-02.example.com at task "Wait for the health check": Status code was 503`; !strings.HasPrefix(r.Outcome, want) {
		t.Errorf("outcome = %q, want prefix %q", r.Outcome, want)
	}
	if f := r.Progress.Failure; f == nil || f.Host != "stg-web-02.example.com" {
		t.Errorf("stored failure = %+v", f)
	}
	h.waitThread(req.ID, "Failure digest")
	thread := h.notifier.ThreadText(req.ID)
	for _, want := range []string{
		"• Host: `stg-web-02.example.com`",
		"• Task: Wait for the health check",
		"• Message: Status code was 503 and not [200]",
		"Last 15 lines of output:",
		`fatal: [stg-web-02.example.com]: FAILED!`,
		":x: stg-web-02.example.com failed at task",
	} {
		if !strings.Contains(thread, want) {
			t.Errorf("thread lacks %q:\n%s", want, thread)
		}
	}
	if strings.Contains(thread, "stg-web-02.example.com done") {
		t.Error("the failed host is reported done")
	}
	card, _ := h.notifier.LastCard(req.ID)
	if hp := card.Req.Progress.Hosts["stg-web-02.example.com"]; hp.State != "failed" || !hp.Done {
		t.Errorf("final card host = %+v", hp)
	}
	// The output is uploaded after the digest, from the outbox.
	waitFor(t, func() bool { return len(h.notifier.Uploads(req.ID)) > 0 }, "the output of #%d", req.ID)
	if ups := h.notifier.Uploads(req.ID); len(ups) != 1 {
		t.Errorf("uploads = %d, want the full output", len(ups))
	}

	// /deploy log uploads the output again, on request.
	if _, err := h.svc.SendLog(context.Background(), req.ID, dev); err != nil {
		t.Fatal(err)
	}
	ups := h.notifier.Uploads(req.ID)
	if len(ups) != 2 || ups[1].Filename != fmt.Sprintf("shop-web-staging-%d.log", req.ID) {
		t.Errorf("uploads after SendLog = %+v", ups)
	}
	_, err := h.svc.SendLog(context.Background(), req.ID, eve)
	wantCode(t, err, deploy.EFORBIDDEN)
}

func TestFollowerLateEventsAndPollErrors(t *testing.T) {
	h := newHarness(t)
	h.runner.FailPolls(3)
	h.runner.Script = func(req *deploy.Request) []deploy.Update {
		host := req.Plan.Hosts[0]
		return []deploy.Update{
			{State: deploy.JobRunning, Events: []deploy.Event{
				{Counter: 1, Type: "play_start", Play: "Prepare"},
				{Counter: 2, Type: "play_start", Play: "Roll"},
			}},
			// AWX says failed before every event is in.
			{State: deploy.JobFailed},
			// Replayed events are not applied twice; the late failure is.
			{State: deploy.JobFailed, Done: true, Events: []deploy.Event{
				{Counter: 1, Type: "play_start", Play: "Prepare"},
				{Counter: 2, Type: "play_start", Play: "Roll"},
				{Counter: 3, Type: "host_failed", Host: host, Task: "Stop nginx", Message: "pid file missing"},
			}},
		}
	}
	req := h.deploy(dev, "shop-web", "staging", "1.4.4")
	r := h.waitStatus(req.ID, deploy.StatusFailed)
	if !strings.Contains(r.Outcome, `at task "Stop nginx": pid file missing`) {
		t.Errorf("outcome = %q: the late event was not awaited", r.Outcome)
	}
	thread := h.notifier.ThreadText(req.ID)
	for _, play := range []string{"Play: Prepare", "Play: Roll"} {
		if n := strings.Count(thread, play); n != 1 {
			t.Errorf("%q posted %d times:\n%s", play, n, thread)
		}
	}
}

func TestJobGoneFromAWX(t *testing.T) {
	h := newHarness(t)
	h.runner.HoldJobs = true
	req := h.deploy(dev, "shop-web", "staging", "1.4.2")
	next := h.deploy(dev, "shop-web", "staging", "1.4.3")
	h.runner.Forget(h.jobOf(req.ID))
	r := h.waitStatus(req.ID, deploy.StatusFailed)
	if !strings.Contains(r.Outcome, "AWX no longer has job") {
		t.Errorf("outcome = %q", r.Outcome)
	}
	h.waitStatus(next.ID, deploy.StatusRunning)
}

func TestHistoryAndStatusScope(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := h.deploy(dev, "shop-web", "staging", "1.0.1")
	h.waitStatus(a.ID, deploy.StatusSucceeded)
	b := h.deploy(alice, "shop-web", "production", "1.0.1")
	c := h.deploy(plat, "cache-warmer", "production", "7")
	h.waitStatus(c.ID, deploy.StatusSucceeded)

	tests := []struct {
		app, env string
		limit    int
		want     []int64
		code     string
	}{
		{"", "", 0, []int64{c.ID, b.ID, a.ID}, ""},
		{"shop-web", "", 0, []int64{b.ID, a.ID}, ""},
		{"shop-web", "staging", 0, []int64{a.ID}, ""},
		{"", "", 1, []int64{c.ID}, ""},
		{"nope", "", 0, nil, deploy.ENOTFOUND},
		{"shop-web", "qa", 0, nil, deploy.ENOTFOUND},
		{"", "staging", 0, nil, deploy.EINVALID},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%d", tt.app, tt.env, tt.limit), func(t *testing.T) {
			got, err := h.svc.History(ctx, tt.app, tt.env, tt.limit)
			wantCode(t, err, tt.code)
			var ids []int64
			for _, r := range got {
				ids = append(ids, r.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
				t.Errorf("history = %v, want %v", ids, tt.want)
			}
			_, err = h.svc.Status(ctx, tt.app, tt.env)
			wantCode(t, err, tt.code)
		})
	}
	st, err := h.svc.Status(ctx, "shop-web", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Pending) != 1 || st.Pending[0].ID != b.ID || len(st.Active) != 0 {
		t.Errorf("status = %+v", st)
	}
}

func TestDirectoryDown(t *testing.T) {
	h := newHarness(t)
	h.dir.Err = fmt.Errorf("usergroups.users.list: ratelimited")
	_, err := h.svc.RequestDeploy(context.Background(), deploy.DeployInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.0.0"})
	wantCode(t, err, deploy.ECONFLICT)
	if !strings.Contains(deploy.ErrorMessage(err), "try again") {
		t.Errorf("message = %q", deploy.ErrorMessage(err))
	}
	// A user listed by ID needs no group lookup.
	calls := h.dir.Calls()
	if _, err := h.svc.RequestDeploy(context.Background(), deploy.DeployInput{User: alice, Channel: chan1, App: "shop-web", Env: "production", Version: "1.0.0"}); err != nil {
		t.Errorf("listed deployer refused while the directory is down: %v", err)
	}
	if h.dir.Calls() != calls {
		t.Error("the directory was asked about a user listed by ID")
	}
}

func TestConcurrentRequestsRunOneAtATime(t *testing.T) {
	h := newHarness(t)
	const n = 10
	var mu sync.Mutex
	var overlaps []string
	h.runner.Script = func(req *deploy.Request) []deploy.Update {
		// At launch, this request must be the only active one of its env.
		active, err := h.db.Requests(context.Background(), deploy.RequestFilter{App: req.App, Env: req.Env,
			Statuses: []deploy.Status{deploy.StatusLaunching, deploy.StatusRunning}})
		mu.Lock()
		defer mu.Unlock()
		if err != nil || len(active) != 1 || active[0].ID != req.ID {
			overlaps = append(overlaps, fmt.Sprintf("#%d launched with %d active (%v)", req.ID, len(active), err))
		}
		return deploytest.SuccessScript(req)
	}
	ids := make(chan int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := h.svc.RequestDeploy(context.Background(), deploy.DeployInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: fmt.Sprintf("1.0.%d", i)})
			if err != nil {
				t.Error(err)
				return
			}
			ids <- req.ID
		}()
	}
	wg.Wait()
	close(ids)
	for id := range ids {
		h.waitStatus(id, deploy.StatusSucceeded)
	}
	if got := h.runner.LaunchCount(); got != n {
		t.Errorf("launches = %d, want %d", got, n)
	}
	seen := map[int64]bool{}
	for _, l := range h.runner.Launches() {
		if seen[l.ID] {
			t.Errorf("#%d launched twice", l.ID)
		}
		seen[l.ID] = true
	}
	mu.Lock()
	defer mu.Unlock()
	for _, o := range overlaps {
		t.Error(o)
	}
}

// TestRunnerNotesReachTheThread: what the runner notes about a job (hosts
// its limit kept out, output that may be incomplete) is posted once in the
// request's thread, also on the final update.
func TestRunnerNotesReachTheThread(t *testing.T) {
	h := newHarness(t)
	h.runner.Script = func(req *deploy.Request) []deploy.Update {
		return []deploy.Update{
			{State: deploy.JobRunning, Notes: []string{"AWX inventory x also holds web9, which was not approved"}},
			{State: deploy.JobSucceeded},
			{State: deploy.JobSucceeded, Done: true, Notes: []string{"the output shown may be incomplete"}},
		}
	}
	req := h.deploy(dev, "shop-web", "staging", "1.4.5")
	h.waitStatus(req.ID, deploy.StatusSucceeded)
	thread := h.notifier.ThreadText(req.ID)
	for _, note := range []string{"also holds web9", "may be incomplete"} {
		if n := strings.Count(thread, note); n != 1 {
			t.Errorf("note %q posted %d times:\n%s", note, n, thread)
		}
	}
}

// TestCancelAfterEnvRemoved: a configuration reloaded without an
// environment leaves its running and waiting requests cancelable by
// their requester (they keep their approved plans), and still refused to
// anyone else.
func TestCancelAfterEnvRemoved(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.runner.HoldJobs = true
	running := h.deploy(dev, "shop-web", "staging", "1.0.0")
	h.waitStatus(running.ID, deploy.StatusRunning)
	queued := h.deploy(dev, "shop-web", "staging", "1.0.1")
	if queued.Status != deploy.StatusQueued {
		t.Fatalf("second request is %s, want queued", queued.Status)
	}
	pending := h.deploy(alice, "shop-web", "production", "1.0.0")

	text := strings.Replace(testConfig, "      staging:\n        hosts: [stg-web-01.example.com, stg-web-02.example.com]\n        deployers: [\"@shop-devs\"]\n", "", 1)
	text = strings.Replace(text, "      production:\n        hosts: [web-01.example.com", "      production-new:\n        hosts: [web-01.example.com", 1)
	cfg, err := config.Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Apps["shop-web"]; a.Environments["staging"] != nil || a.Environments["production"] != nil {
		t.Fatal("the reloaded configuration still has staging or production")
	}
	h.svc.SetCatalog(cfg.Catalog())

	_, err = h.svc.Cancel(ctx, queued.ID, eve)
	wantCode(t, err, deploy.EFORBIDDEN)
	for _, r := range []*deploy.Request{queued, running, pending} {
		if _, err := h.svc.Cancel(ctx, r.ID, r.RequestedBy); err != nil {
			t.Fatalf("requester's cancel of #%d (%s) after its environment was removed: %v", r.ID, r.Status, err)
		}
	}
	h.waitStatus(queued.ID, deploy.StatusCanceled)
	h.waitStatus(pending.ID, deploy.StatusCanceled)
	h.waitStatus(running.ID, deploy.StatusCanceled)
	if n := len(h.runner.Cancels()); n != 1 {
		t.Errorf("AWX cancels = %d, want 1", n)
	}
}
