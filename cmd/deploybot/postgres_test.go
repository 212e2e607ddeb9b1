package main

import (
	"context"
	"io"
	"strings"
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
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	httpAddr := freeAddr(t)
	go func() {
		done <- runBotWith(ctx, nil, getenv(httpAddr), &logs, defaultTunables())
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	_, body := waitHTTP(t, "http://"+httpAddr+"/readyz", func(_ int, body string) bool {
		return strings.Contains(body, "database: ok")
	})
	if !strings.Contains(body, "database: ok") {
		t.Fatalf("/readyz: %s", body)
	}

	// A second bot on the same database runs as a second replica.
	var logs2 syncBuffer
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	httpAddr2 := freeAddr(t)
	go func() {
		done2 <- runBotWith(ctx2, nil, getenv(httpAddr2), &logs2, defaultTunables())
	}()
	t.Cleanup(func() {
		cancel2()
		<-done2
	})
	_, body2 := waitHTTP(t, "http://"+httpAddr2+"/readyz", func(_ int, body string) bool {
		return strings.Contains(body, "database: ok") && strings.Contains(body, "leases: ok (")
	})
	_, body1 := waitHTTP(t, "http://"+httpAddr+"/readyz", func(_ int, body string) bool {
		return strings.Contains(body, "leases: ok (")
	})
	if n := strings.Count(body1+body2, "periodic"); n != 1 {
		t.Fatalf("the periodic lease is held %d times across the replicas, want once:\n%s\n%s", n, body1, body2)
	}
	for i, l := range []*syncBuffer{&logs, &logs2} {
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

	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
	done <- nil
	all := logs.String() + logs2.String()
	if strings.Contains(all, password) {
		t.Errorf("the database password appears in the logs or errors:\n%s", all)
	}
	if !strings.Contains(logs.String(), "postgres://postgres:xxxxx@") {
		t.Errorf("the start-up log does not name the database without its password:\n%s", logs.String())
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
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	httpAddr := freeAddr(t)
	go func() { done <- runBotWith(ctx, nil, getenv(httpAddr), &logs, defaultTunables()) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitHTTP(t, "http://"+httpAddr+"/readyz", func(_ int, body string) bool {
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
	select {
	case err := <-done:
		t.Fatalf("the first bot stopped: %v", err)
	default:
	}
}
