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
// password, refuses a second bot on the same database with a message that
// says why, and "deploybot audit export" reads the same URL.
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

	// A second bot on the same database stops at start and says why.
	var logs2 syncBuffer
	err := runBotWith(t.Context(), nil, getenv(freeAddr(t)), &logs2, defaultTunables())
	if err == nil || !strings.Contains(err.Error(), "another deploybot is already running on this database") {
		t.Fatalf("second bot: err = %v, want the refusal", err)
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
	all := logs.String() + logs2.String() + err.Error()
	if strings.Contains(all, password) {
		t.Errorf("the database password appears in the logs or errors:\n%s", all)
	}
	if !strings.Contains(logs.String(), "postgres://postgres:xxxxx@") {
		t.Errorf("the start-up log does not name the database without its password:\n%s", logs.String())
	}
}
