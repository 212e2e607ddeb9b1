package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/bot/slacktest"
	"github.com/deploybot/deploybot/deploy"
)

// fakeDeployer plays the domain: it keeps requests in memory and shows them
// through the real gateway, as deploy.Service does. Apps named "refuse" are
// refused and "boom" fails internally; production needs one approval; other
// environments run at once. A run posts `steps` progress updates of the
// card in quick succession and then the final state.
type fakeDeployer struct {
	gw    *Slack
	steps int
	// gate, when not nil, is waited on by every call (to slow the domain).
	gate chan struct{}

	mu    sync.Mutex
	next  int64
	reqs  map[int64]*deploy.Request
	calls []string
	runs  sync.WaitGroup

	smu    sync.Mutex
	scheds []*deploy.Schedule
}

func newFakeDeployer(gw *Slack) *fakeDeployer {
	return &fakeDeployer{gw: gw, steps: 5, reqs: map[int64]*deploy.Request{}}
}

func (f *fakeDeployer) record(format string, args ...any) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeDeployer) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeDeployer) wait(ctx context.Context) error {
	if f.gate == nil {
		return nil
	}
	select {
	case <-f.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeDeployer) refuse(app string) error {
	switch app {
	case "refuse":
		return deploy.Errorf(deploy.EFORBIDDEN, "You are not allowed to deploy refuse to staging. Deployers there: <@U0OPS>.")
	case "boom":
		return errors.New("database is locked")
	}
	return nil
}

// show renders req's card as the service would, and stores the message ref.
func (f *fakeDeployer) show(ctx context.Context, req *deploy.Request) {
	f.mu.Lock()
	cp := *req
	f.mu.Unlock()
	ref, err := f.gw.Card(ctx, &cp, deploy.CardInfo{ApprovalsMissing: 1, Approvers: []string{"U2"}})
	if err != nil {
		f.gw.log.Error().Err(err).Int64("request_id", req.ID).Msg("fake: card")
		return
	}
	f.mu.Lock()
	req.Message = ref
	f.mu.Unlock()
}

func (f *fakeDeployer) create(ctx context.Context, kind deploy.Kind, user, channel, app, env, version string, check bool) (*deploy.Request, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	if err := f.refuse(app); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.next++
	req := &deploy.Request{ID: f.next, Kind: kind, App: app, Env: env, Version: version, Check: check,
		RequestedBy: user, Channel: channel, Status: deploy.StatusPendingApproval, PlanHash: "abc123def456",
		Plan: deploy.Plan{Hosts: []string{"web1", "web2"}}, CreatedAt: time.Now()}
	if kind == deploy.KindDeploy {
		req.Plan.ArtifactURL = "https://builds.example.com/" + app + "/" + version + ".tar.gz"
	}
	if env != "production" {
		req.Status = deploy.StatusRunning
	}
	f.reqs[req.ID] = req
	running := req.Status == deploy.StatusRunning
	f.mu.Unlock()
	f.show(ctx, req)
	if running {
		f.run(req)
	}
	return req, nil
}

// run plays a job: progress updates, then success, in the background.
func (f *fakeDeployer) run(req *deploy.Request) {
	f.runs.Add(1)
	go func() {
		defer f.runs.Done()
		ctx := context.Background()
		for i := 1; i <= f.steps; i++ {
			f.mu.Lock()
			req.Progress = deploy.Progress{Task: fmt.Sprintf("step %d", i), Hosts: map[string]deploy.HostProgress{
				"web1": {Phase: fmt.Sprintf("step %d", i), State: "running", OK: i},
			}}
			f.mu.Unlock()
			f.show(ctx, req)
		}
		f.mu.Lock()
		req.Status = deploy.StatusSucceeded
		req.Outcome = "Released to 2 hosts."
		req.FinishedAt = time.Now()
		f.mu.Unlock()
		f.show(ctx, req)
	}()
}

func (f *fakeDeployer) get(id int64) (*deploy.Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.reqs[id]
	if !ok {
		return nil, deploy.Errorf(deploy.ENOTFOUND, "There is no request #%d.", id)
	}
	return r, nil
}

func (f *fakeDeployer) RequestDeploy(ctx context.Context, in deploy.DeployInput) (*deploy.Request, error) {
	f.record("deploy %s %s %s %s %s %v", in.User, in.Channel, in.App, in.Env, in.Version, in.Check)
	return f.create(ctx, deploy.KindDeploy, in.User, in.Channel, in.App, in.Env, in.Version, in.Check)
}

func (f *fakeDeployer) RequestRollback(ctx context.Context, in deploy.RollbackInput) (*deploy.Request, error) {
	f.record("rollback %s %s %s %s %s", in.User, in.Channel, in.App, in.Env, in.To)
	return f.create(ctx, deploy.KindRollback, in.User, in.Channel, in.App, in.Env, "", false)
}

func (f *fakeDeployer) Approve(ctx context.Context, id int64, user string) (*deploy.Request, error) {
	f.record("approve %d %s", id, user)
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	req, err := f.get(id)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if user == req.RequestedBy {
		f.mu.Unlock()
		return nil, deploy.Errorf(deploy.EFORBIDDEN, "You requested #%d yourself; another approver must approve it.", id)
	}
	if req.Status != deploy.StatusPendingApproval {
		f.mu.Unlock()
		return nil, deploy.Errorf(deploy.ECONFLICT, "Request #%d no longer waits for approval.", id)
	}
	req.Approvals = append(req.Approvals, deploy.Approval{User: user, At: time.Now()})
	req.Status = deploy.StatusRunning
	f.mu.Unlock()
	f.show(ctx, req)
	f.run(req)
	return req, nil
}

func (f *fakeDeployer) Reject(ctx context.Context, id int64, user, reason string) (*deploy.Request, error) {
	f.record("reject %d %s", id, user)
	req, err := f.get(id)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	req.Status = deploy.StatusRejected
	f.mu.Unlock()
	f.show(ctx, req)
	return req, nil
}

func (f *fakeDeployer) Cancel(ctx context.Context, id int64, user string) (*deploy.Request, error) {
	f.record("cancel %d %s", id, user)
	req, err := f.get(id)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	req.Status, req.CanceledBy = deploy.StatusCanceled, user
	f.mu.Unlock()
	f.show(ctx, req)
	return req, nil
}

func (f *fakeDeployer) Lock(ctx context.Context, user, app, env, reason string) (deploy.Lock, error) {
	f.record("lock %s %s %s %s", user, app, env, reason)
	return deploy.Lock{App: app, Env: env, By: user, Reason: reason, Since: time.Now()}, f.refuse(app)
}

func (f *fakeDeployer) Unlock(ctx context.Context, user, app, env string) (deploy.Lock, error) {
	f.record("unlock %s %s %s", user, app, env)
	return deploy.Lock{App: app, Env: env}, f.refuse(app)
}

func (f *fakeDeployer) Status(ctx context.Context, app, env string) (deploy.StatusReport, error) {
	f.record("status %s %s", app, env)
	if err := f.wait(ctx); err != nil {
		return deploy.StatusReport{}, err
	}
	var rep deploy.StatusReport
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.reqs {
		if r.Status == deploy.StatusRunning {
			rep.Active = append(rep.Active, r)
		}
	}
	return rep, f.refuse(app)
}

func (f *fakeDeployer) History(ctx context.Context, app, env string, limit int) ([]*deploy.Request, error) {
	f.record("history %s %s %d", app, env, limit)
	return nil, f.refuse(app)
}

func (f *fakeDeployer) SendLog(ctx context.Context, id int64, user string) (*deploy.Request, error) {
	f.record("log %d %s", id, user)
	req, err := f.get(id)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	cp := *req
	f.mu.Unlock()
	return &cp, f.gw.Upload(ctx, &cp, fmt.Sprintf("deploy-%d.log", id), "Playbook output", strings.NewReader("PLAY [web]\nok: [web1]\n"))
}

// Request lets the Roll back button find the clicked request.
func (f *fakeDeployer) Request(ctx context.Context, id int64) (*deploy.Request, error) {
	req, err := f.get(id)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cp := *req
	return &cp, nil
}

// hasCard reports whether request id knows where its card is.
func (f *fakeDeployer) hasCard(id int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.reqs[id]
	return ok && r.Message.TS != ""
}

// memDedupe is an in-memory DedupeStore.
type memDedupe struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (m *memDedupe) FirstSeen(_ context.Context, key string, _ time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	if m.seen[key] {
		return false, nil
	}
	m.seen[key] = true
	return true, nil
}

// Test timing: the fake pings every 100 ms; the bot redials after 1 s of
// silence.
const (
	testServerPing = 100 * time.Millisecond
	testClientPing = time.Second
	testTimeout    = 20 * time.Second
)

// newTestServer starts a fake Slack with users U1 (alice, requester), U2
// (bob, approver) and public channel C1 where the bot is a member.
func newTestServer(t *testing.T, opts ...slacktest.Option) *slacktest.Server {
	t.Helper()
	srv := slacktest.NewServer(t, append([]slacktest.Option{slacktest.WithPingInterval(testServerPing)}, opts...)...)
	srv.AddUser("U1", "alice")
	srv.AddUser("U2", "bob")
	srv.AddChannel("C1", "deploys", true, true)
	return srv
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

// harness is a bot running against a fake Slack with a fake domain.
type harness struct {
	srv    *slacktest.Server
	gw     *Slack
	d      *fakeDeployer
	bot    *Bot
	dedupe *memDedupe
	done   chan error
}

// startBot runs the real adapter (slack-go socketmode) against srv until
// the test ends; wrap, when given, turns the fake domain into the Deployer
// the bot gets.
func startBot(t *testing.T, srv *slacktest.Server, cfg Config, gwOpts SlackOptions, wrap ...func(*fakeDeployer) Deployer) *harness {
	t.Helper()
	api := slack.New(srv.BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(srv.AppToken))
	log := testLogger(t)
	gw := NewSlack(api, log, gwOpts)
	h := &harness{srv: srv, gw: gw, d: newFakeDeployer(gw), dedupe: &memDedupe{}, done: make(chan error, 1)}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = testClientPing
	}
	var d Deployer = h.d
	for _, w := range wrap {
		d = w(h.d)
	}
	h.bot = New(cfg, api, d, gw, h.dedupe, testConfig(), log)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.done <- h.bot.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-h.done; err != nil {
			t.Errorf("Run: %v", err)
		}
		h.d.runs.Wait()
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		if err := gw.Close(cctx); err != nil {
			t.Errorf("close gateway: %v", err)
		}
	})
	if err := srv.AwaitConnections(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	return h
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
