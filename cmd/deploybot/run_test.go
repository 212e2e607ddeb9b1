package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy/deploytest"
)

// syncBuffer is a buffer a logger and the test can share.
type syncBuffer = deploytest.SyncBuffer

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitHTTP polls url until check accepts the answer or the deadline passes.
func waitHTTP(t *testing.T, url string, check func(status int, body string) bool) (int, string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var status int
	var body string
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			status, body = resp.StatusCode, string(b)
			if check(status, body) {
				return status, body
			}
		}
		time.Sleep(50 * time.Millisecond) // polling a server we do not control, with a deadline
	}
	t.Fatalf("%s never satisfied the check; last answer %d %q", url, status, body)
	return 0, ""
}

const (
	testAppToken = "xapp-1-A0TEST-secretappvalue"
	testBotToken = "xoxb-1-secretbotvalue"
	testAWXToken = "awx-secret-token-value"
)

// TestRunWithDependenciesDown runs the bot with Slack and AWX unreachable:
// it must keep running, answer /healthz, /readyz and /metrics, say what is
// down, stop cleanly on cancel, and never print a token.
func TestRunWithDependenciesDown(t *testing.T) {
	dir := t.TempDir()
	httpAddr := freeAddr(t)
	dead := "http://" + freeAddr(t)
	env := map[string]string{
		"SLACK_APP_TOKEN":     testAppToken,
		"SLACK_BOT_TOKEN":     testBotToken,
		"SLACK_API_URL":       dead + "/api/",
		"AWX_URL":             dead,
		"AWX_TOKEN":           testAWXToken,
		"DEPLOYBOT_CONFIG":    "../../deploybot.example.yaml",
		"DEPLOYBOT_DB":        dir + "/deploybot.db",
		"DEPLOYBOT_HTTP_ADDR": httpAddr,
		"LOG_LEVEL":           "debug",
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	tun := defaultTunables()
	tun.SlackStale = 500 * time.Millisecond
	go func() {
		done <- runBotWith(ctx, nil, func(k string) string { return env[k] }, &logs, tun)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	base := "http://" + httpAddr
	_, body := waitHTTP(t, base+"/readyz", func(status int, body string) bool {
		return status == http.StatusServiceUnavailable && strings.Contains(body, "awx: not reachable") &&
			strings.Contains(body, "slack: not connected")
	})
	for _, want := range []string{"database: ok", "awx: not reachable", "slack: not connected"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz body lacks %q:\n%s", want, body)
		}
	}
	// Once past its start-up grace, a socket that never connected makes
	// the process unhealthy, and /healthz says why.
	waitHTTP(t, base+"/healthz", func(status int, body string) bool {
		return status == http.StatusServiceUnavailable && strings.Contains(body, "slack: not connected since start")
	})
	_, body = waitHTTP(t, base+"/metrics", func(status int, _ string) bool { return status == http.StatusOK })
	for _, want := range []string{"deploybot_slack_reconnects_total", "deploybot_slack_rate_limited_total", "go_goroutines",
		`deploybot_awx_requests_total{method="GET",outcome="error"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the bot stopped while its dependencies were down: %v", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel = %v, want nil", err)
		}
		done <- nil
	case <-time.After(20 * time.Second):
		t.Fatal("the bot did not stop within 20 s of cancel")
	}
	out := logs.String()
	if !strings.Contains(out, "AWX not ready; retrying") {
		t.Errorf("logs do not say AWX is being retried:\n%s", out)
	}
	for _, secret := range []string{testAppToken, testBotToken, testAWXToken, "secretappvalue", "secretbotvalue"} {
		if strings.Contains(out, secret) {
			t.Errorf("a secret appears in the logs: %q", secret)
		}
	}
}

// TestRunRefusesBadSetup: missing settings and a broken config stop the bot
// at once with messages that say what to fix, without echoing secrets.
func TestRunRefusesBadSetup(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"no settings", map[string]string{}, []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "AWX_URL", "AWX_TOKEN"}},
		{"tokens swapped", map[string]string{"SLACK_APP_TOKEN": testBotToken, "SLACK_BOT_TOKEN": testAppToken, "AWX_URL": "https://x", "AWX_TOKEN": "t"},
			[]string{"must be an app-level token starting with xapp-", "must be a bot token starting with xoxb-"}},
		{"missing config", map[string]string{"SLACK_APP_TOKEN": testAppToken, "SLACK_BOT_TOKEN": testBotToken, "AWX_URL": "https://x", "AWX_TOKEN": "t",
			"DEPLOYBOT_CONFIG": "/nonexistent/deploybot.yaml"}, []string{"/nonexistent/deploybot.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr syncBuffer
			err := run(t.Context(), []string{"deploybot", "--http-addr", "127.0.0.1:0"}, func(k string) string { return tt.env[k] }, io.Discard, &stderr)
			if err == nil {
				t.Fatal("run succeeded")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			for _, secret := range []string{testAppToken, testBotToken} {
				if strings.Contains(err.Error()+stderr.String(), secret) {
					t.Errorf("secret %q printed", secret)
				}
			}
		})
	}
}

func TestSubcommands(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"deploybot", "version"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "deploybot ") {
		t.Errorf("version printed %q", out.String())
	}
	out.Reset()
	err := run(t.Context(), []string{"deploybot", "check-config"}, func(k string) string {
		return map[string]string{"DEPLOYBOT_CONFIG": "../../deploybot.example.yaml"}[k]
	}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"shop-web (web, nginx)", "production", "approval: 1 of U02BOB0000, @shop-leads, not self", "runs as ad-hoc command"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	err = run(t.Context(), []string{"deploybot", "frobnicate"}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown subcommand: %v", err)
	}
}

// TestHelpListsSubcommands: "deploybot -h" (and --help, and help) shows
// the subcommands beside the bot's flags, and exits 0.
func TestHelpListsSubcommands(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out bytes.Buffer
			if err := run(t.Context(), append([]string{"deploybot"}, args...), func(string) string { return "" }, &out, &out); err != nil {
				t.Fatalf("exit with %v", err)
			}
			for _, want := range []string{"deploybot check-config", "deploybot awx bootstrap", "deploybot healthcheck", "deploybot reload", "deploybot audit export", "deploybot version"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("help lacks %q:\n%s", want, out.String())
				}
			}
			if args[0] != "help" && !strings.Contains(out.String(), "-log-format") {
				t.Errorf("help lacks the bot's flags:\n%s", out.String())
			}
		})
	}
}
