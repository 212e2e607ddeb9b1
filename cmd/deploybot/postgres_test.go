package main

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
	"github.com/deploybot/deploybot/storage/pgtest"
)

// pg is the PostgreSQL server of the tests that run the bot on one, started
// by the first of them; TestMain stops it.
var pg = &pgtest.Server{}

// TestRunOnPostgres runs the bot with DEPLOYBOT_DB set to a postgres://
// URL: it migrates the database and reports it ready, never logs the URL's
// password, runs beside a second bot on the same database as two replicas
// (one of them holds the periodic pass's lease, each says which it holds
// on /readyz), and "deploybot audit export" reads the same URL.
func TestRunOnPostgres(t *testing.T) {
	const password = "pg-secret-password"
	url := strings.Replace(pg.URL(t), "://postgres@", "://postgres:"+password+"@", 1)
	dead := "http://" + freeAddr(t)
	env := map[string]string{
		"SLACK_APP_TOKEN":  testAppToken,
		"SLACK_BOT_TOKEN":  testBotToken,
		"SLACK_API_URL":    dead + "/api/",
		"AWX_URL":          dead,
		"AWX_TOKEN":        testAWXToken,
		"DEPLOYBOT_CONFIG": "../../deploybot.example.yaml",
		"DEPLOYBOT_DB":     url,
	}
	getenv := func(addr string) func(string) string {
		return func(k string) string {
			switch k {
			case "DEPLOYBOT_HTTP_ADDR":
				return addr
			case "DEPLOYBOT_REPLICA": // two bots in one test process
				return "replica-at-" + addr
			}
			return env[k]
		}
	}
	first := startTestBot(t, getenv)
	_, body := waitHTTP(t, "http://"+first.addr+"/readyz", func(_ int, body string) bool {
		return strings.Contains(body, "database: ok")
	})
	if !strings.Contains(body, "database: ok") {
		t.Fatalf("/readyz: %s", body)
	}

	// A second bot on the same database runs as a second replica.
	second := startTestBot(t, getenv)
	_, body2 := waitHTTP(t, "http://"+second.addr+"/readyz", func(_ int, body string) bool {
		return strings.Contains(body, "database: ok") && strings.Contains(body, "leases: ok (")
	})
	_, body1 := waitHTTP(t, "http://"+first.addr+"/readyz", func(_ int, body string) bool {
		return strings.Contains(body, "leases: ok (")
	})
	if n := strings.Count(body1+body2, "periodic"); n != 1 {
		t.Fatalf("the periodic lease is held %d times across the replicas, want once:\n%s\n%s", n, body1, body2)
	}
	for i, l := range []*syncBuffer{&first.logs, &second.logs} {
		if !strings.Contains(l.String(), `"replica":"`) {
			t.Errorf("replica %d's log lines do not name the replica:\n%s", i+1, l.String())
		}
	}

	// The audit trail of the database, exported from its URL.
	db := storage.NewDB(url)
	if err := db.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := db.Audit(t.Context(), deploy.AuditEntry{At: time.Now(), Actor: "U1", Action: "locked", App: "shop-web", Env: "staging"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := run(t.Context(), []string{"deploybot", "audit", "export", "--db", url}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "locked") {
		t.Errorf("audit export from the URL:\n%s", out.String())
	}

	if err := first.stop(); err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
	all := first.logs.String() + second.logs.String()
	if strings.Contains(all, password) {
		t.Errorf("the database password appears in the logs or errors:\n%s", all)
	}
	if !strings.Contains(first.logs.String(), "postgres://postgres:xxxxx@") {
		t.Errorf("the start-up log does not name the database without its password:\n%s", first.logs.String())
	}
}

// TestRunOnPostgres_SameReplicaNameRefused: a second bot given the
// --replica name of a live one on the same database is refused (after
// waiting at most the lease TTL, as for a killed predecessor), with what
// to do; two processes under one name would both hold every lease of it.
func TestRunOnPostgres_SameReplicaNameRefused(t *testing.T) {
	url := pg.URL(t)
	dead := "http://" + freeAddr(t)
	env := map[string]string{
		"SLACK_APP_TOKEN":     testAppToken,
		"SLACK_BOT_TOKEN":     testBotToken,
		"SLACK_API_URL":       dead + "/api/",
		"AWX_URL":             dead,
		"AWX_TOKEN":           testAWXToken,
		"DEPLOYBOT_CONFIG":    "../../deploybot.example.yaml",
		"DEPLOYBOT_DB":        url,
		"DEPLOYBOT_REPLICA":   "twin",
		"DEPLOYBOT_LEASE_TTL": "3s",
	}
	getenv := func(addr string) func(string) string {
		return func(k string) string {
			if k == "DEPLOYBOT_HTTP_ADDR" {
				return addr
			}
			return env[k]
		}
	}
	first := startTestBot(t, getenv)
	waitHTTP(t, "http://"+first.addr+"/readyz", func(_ int, body string) bool {
		return strings.Contains(body, "database: ok")
	})

	// Bounded, so that a second bot that is not refused ends the test.
	var logs2 syncBuffer
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	err := runBotWith(ctx2, nil, getenv(freeAddr(t)), &logs2, defaultTunables())
	if err == nil || !strings.Contains(err.Error(), "--replica") {
		t.Fatalf("second bot named twin: err = %v, want a refusal naming --replica\n%s", err, logs2.String())
	}
	if first.exited() {
		t.Fatalf("the first bot stopped: %v", first.stop())
	}
}

// testBot is a bot run in this test process by runBotWith.
type testBot struct {
	addr   string // its /healthz, /readyz and /metrics
	logs   syncBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startTestBot runs a bot on a free address with the environment
// getenv(address) until stop is called or the test ends.
func startTestBot(t *testing.T, getenv func(addr string) func(string) string) *testBot {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &testBot{addr: freeAddr(t), cancel: cancel, done: make(chan error, 1)}
	go func() { b.done <- runBotWith(ctx, nil, getenv(b.addr), &b.logs, defaultTunables()) }()
	t.Cleanup(func() { _ = b.stop() })
	return b
}

// stop stops the bot, if it still runs, and returns what runBotWith
// returned.
func (b *testBot) stop() error {
	b.once.Do(func() {
		b.cancel()
		b.err = <-b.done
	})
	return b.err
}

// exited reports whether the bot has stopped by itself.
func (b *testBot) exited() bool {
	select {
	case err := <-b.done:
		b.done <- err // for stop
		return true
	default:
		return false
	}
}
