package deploy_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/deploy/deploytest"
	"github.com/deploybot/deploybot/storage"
)

// Users of the test configuration.
const (
	alice = "U01ALICE00" // production deployer by ID, in @shop-devs
	bob   = "U02BOB0000" // production approver by ID
	carol = "U03CAROL00" // in @shop-leads
	dan   = "U04DAN0000" // in @shop-leads
	dev   = "U05DEV0000" // in @shop-devs
	plat  = "U06PLAT000" // in @platform
	plead = "U07PLEAD00" // in @platform-leads
	eve   = "U09EVE0000" // in no group
	chan1 = "C0DEPLOYS01"
)

const testConfig = `
timezone: UTC
slack:
  channels: [C0DEPLOYS01]
awx:
  organization: Default
  inventory_prefix: deploybot
  credential: deploy-ssh
  job_templates:
    web: deploybot-web-deploy
    custom: deploybot-custom-deploy
    rollback: deploybot-rollback
apps:
  shop-web:
    type: web
    server: nginx
    artifact_url: https://builds.example.com/shop-web/{version}/shop-web-{version}.tar.gz
    version_pattern: '^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$'
    docroot: /var/www/shop-web
    deploy_path: /opt/deploy/shop-web
    pid_file: /run/nginx.pid
    port: 80
    healthcheck:
      l4_interval: 5s
      l4_fall: 3
      l4_rise: 2
    serial: 1
    environments:
      staging:
        hosts: [stg-web-01.example.com, stg-web-02.example.com]
        deployers: ["@shop-devs"]
      production:
        hosts: [web-01.example.com, web-02.example.com, web-03.example.com]
        deployers: [U01ALICE00, "@shop-devs"]
        approval:
          required: true
          approvers: [U02BOB0000, "@shop-leads"]
          min_approvals: 1
          allow_self_approval: false
          expires_after: 30m
      prod-eu:
        hosts: [eu-web-01.example.com]
        deployers: [U01ALICE00]
        approval:
          required: true
          approvers: ["@shop-leads"]
          min_approvals: 2
          expires_after: 1h
  batch-api:
    type: custom
    environments:
      production:
        hosts: [api-01.example.com]
        deployers: ["@platform"]
        pre_commands:
          - curl -fsS http://localhost:8080/healthcheck/l4out
        command: /opt/batch-api/bin/deploy.sh {version}
        post_commands:
          - curl -fsS http://localhost:8080/healthcheck --data v={version}
        approval:
          required: true
          approvers: ["@platform-leads"]
  cache-warmer:
    type: custom
    environments:
      production:
        hosts: [cache-01.example.com, cache-02.example.com]
        deployers: ["@platform"]
        command: /usr/local/bin/warm-cache --release {version}
`

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// harness is a Service over a real SQLite file with test doubles for
// AWX, Slack and the clock, its Run loop driven by hand.
type harness struct {
	t        *testing.T
	cfg      *config.Config
	path     string
	db       *storage.DB
	runner   *deploytest.Runner
	notifier *deploytest.Notifier
	dir      *deploytest.Directory
	clock    *deploytest.Clock
	metrics  *deploytest.Metrics
	svc      *deploy.Service
	stop     func()
	// configure, when set, adjusts the database and the Service of each
	// start before Run starts.
	configure func(db *storage.DB, svc *deploy.Service)
	// wrapStore and wrapNotifier, when set, stand between the next
	// starts' Service and the database or the notifier.
	wrapStore    func(deploy.Store) deploy.Store
	wrapNotifier func(deploy.Notifier) deploy.Notifier
	// logs holds what every Service of the harness logged.
	logs syncBuffer
}

// syncBuffer is a buffer a logger and the test can share.
type syncBuffer = deploytest.SyncBuffer

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

// newHarnessWith is newHarness with configure applied at each start.
func newHarnessWith(t *testing.T, configure func(db *storage.DB, svc *deploy.Service)) *harness {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		t: t, cfg: cfg,
		path:     filepath.Join(t.TempDir(), "deploybot.db"),
		runner:   deploytest.NewRunner(),
		notifier: deploytest.NewNotifier(),
		clock:    deploytest.NewClock(t0),
		metrics:  deploytest.NewMetrics(),
		dir: deploytest.NewDirectory(map[string][]string{
			alice: {"@shop-devs"}, carol: {"@shop-leads"}, dan: {"@shop-leads"}, dev: {"@shop-devs"},
			plat: {"@platform"}, plead: {"@platform-leads"},
		}),
		configure: configure,
	}
	h.start()
	t.Cleanup(h.shutdown)
	return h
}

// start opens the database and starts a new Service's Run loop on it, as a
// fresh process would.
func (h *harness) start() {
	h.t.Helper()
	h.db = storage.NewDB(h.path)
	h.db.Now = h.clock.Now
	if err := h.db.Open(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	var store deploy.Store = h.db
	if h.wrapStore != nil {
		store = h.wrapStore(store)
	}
	var notifier deploy.Notifier = h.notifier
	if h.wrapNotifier != nil {
		notifier = h.wrapNotifier(notifier)
	}
	h.svc = deploy.NewService(h.cfg.Catalog(), store, h.runner, notifier, h.dir, h.clock,
		zerolog.New(zerolog.MultiLevelWriter(zerolog.NewTestWriter(h.t), &h.logs)))
	h.svc.PollInterval = time.Millisecond
	h.svc.Metrics = h.metrics
	h.svc.MaxPollBackoff = 10 * time.Millisecond
	if h.configure != nil {
		h.configure(h.db, h.svc)
	}
	// The tests run each periodic pass themselves (tick), never Run's
	// own ticker.
	h.svc.TickInterval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.svc.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("Run: %v", err)
			}
			if err := h.db.Close(); err != nil {
				h.t.Errorf("close db: %v", err)
			}
		})
	}
	<-h.svc.Started() // Run's first pass: recovery
}

func (h *harness) shutdown() { h.stop() }

// restart stops the Service as a crash would (nothing is flushed beyond
// what was stored) and starts a new one over the same database file.
func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.start()
}

// tick runs one pass of the periodic work, as Run's ticker would.
func (h *harness) tick() {
	h.svc.Tick(context.Background())
}

func (h *harness) deploy(user, app, env, version string) *deploy.Request {
	h.t.Helper()
	req, err := h.svc.RequestDeploy(context.Background(), deploy.DeployInput{User: user, Channel: chan1, App: app, Env: env, Version: version})
	if err != nil {
		h.t.Fatalf("RequestDeploy(%s %s %s): %v", app, env, version, err)
	}
	return req
}

func (h *harness) request(id int64) *deploy.Request {
	h.t.Helper()
	r, err := h.db.Request(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// waitStatus waits until request id reaches want.
func (h *harness) waitStatus(id int64, want deploy.Status) *deploy.Request {
	h.t.Helper()
	var r *deploy.Request
	waitFor(h.t, func() bool {
		r = h.request(id)
		return r.Status == want
	}, "request #%d to be %s", id, want)
	return r
}

// waitCard waits until request id's card shows status want.
func (h *harness) waitCard(id int64, want deploy.Status) deploytest.CardCall {
	h.t.Helper()
	var c deploytest.CardCall
	waitFor(h.t, func() bool {
		c, _ = h.notifier.LastCard(id)
		return c.Req.Status == want
	}, "card of #%d to show %s", id, want)
	return c
}

// waitThread waits until request id's thread contains text.
func (h *harness) waitThread(id int64, text string) {
	h.t.Helper()
	waitFor(h.t, func() bool { return strings.Contains(h.notifier.ThreadText(id), text) }, "thread of #%d to contain %q", id, text)
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tk := time.NewTicker(time.Millisecond)
	defer tk.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for "+format, args...)
		}
		<-tk.C
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := deploy.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}
