package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestQuieterSurfacesReadyz: /readyz names each dependency and whether it
// is healthy, but no internal host, port or organization name; those go to
// the log, once per change rather than once per probe.
func TestQuieterSurfacesReadyz(t *testing.T) {
	t.Run("probe answers", func(t *testing.T) {
		var logs bytes.Buffer
		h := &health{log: zerolog.New(&logs)}
		inner := errors.New(`awx organization "Platform Ops": Get "https://awx.corp.internal:8052/api/v2/organizations/": dial tcp 10.20.30.40:8052: connect: connection refused`)
		h.addReadiness("database", func(context.Context) error { return nil })
		h.addReadiness("awx", func(context.Context) error { return unready("not reachable or not prepared yet; retrying", inner) })
		h.addReadiness("cache", func(context.Context) error { return inner }) // no public part
		srv := httptest.NewServer(newHTTPHandler(h, newRegistry()))
		defer srv.Close()
		var body string
		for range 3 {
			resp, err := http.Get(srv.URL + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			resp.Body.Close()
			body = b.String()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", resp.StatusCode)
			}
		}
		want := "database: ok\nawx: not reachable or not prepared yet; retrying\ncache: not ready (the bot's log says why)\n"
		if body != want {
			t.Errorf("body:\n%s\nwant:\n%s", body, want)
		}
		for _, leak := range []string{"Platform Ops", "awx.corp.internal", "8052", "10.20.30.40"} {
			if strings.Contains(body, leak) {
				t.Errorf("/readyz shows %q", leak)
			}
			if !strings.Contains(logs.String(), leak) {
				t.Errorf("the log lacks %q:\n%s", leak, logs.String())
			}
		}
		if n := strings.Count(logs.String(), "dependency not healthy"); n != 2 {
			t.Errorf("%d warnings for 3 probes of 2 failing dependencies, want 2 (one per change):\n%s", n, logs.String())
		}
	})

	t.Run("running bot", func(t *testing.T) {
		httpAddr := freeAddr(t)
		deadAWX := freeAddr(t) // 127.0.0.1:port, nothing listening
		env := map[string]string{
			"SLACK_APP_TOKEN":     testAppToken,
			"SLACK_BOT_TOKEN":     testBotToken,
			"SLACK_API_URL":       "http://" + freeAddr(t) + "/api/",
			"AWX_URL":             "http://" + deadAWX,
			"AWX_TOKEN":           testAWXToken,
			"DEPLOYBOT_CONFIG":    "../../deploybot.example.yaml",
			"DEPLOYBOT_DB":        t.TempDir() + "/deploybot.db",
			"DEPLOYBOT_HTTP_ADDR": httpAddr,
		}
		var logs syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		tun := defaultTunables()
		tun.SlackStale = 200 * time.Millisecond
		go func() { done <- runBotWith(ctx, nil, func(k string) string { return env[k] }, &logs, tun) }()
		defer func() {
			cancel()
			<-done
		}()
		_, body := waitHTTP(t, "http://"+httpAddr+"/readyz", func(status int, body string) bool {
			return status == http.StatusServiceUnavailable && strings.Contains(body, "awx: not reachable")
		})
		_, port, _ := strings.Cut(deadAWX, ":")
		if strings.Contains(body, port) || strings.Contains(body, "127.0.0.1") || strings.Contains(body, "dial") {
			t.Errorf("/readyz shows where AWX lives:\n%s", body)
		}
		waitFor := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), `"dependency":"awx"`) && time.Now().Before(waitFor) {
			time.Sleep(10 * time.Millisecond)
		}
		if out := logs.String(); !strings.Contains(out, `"dependency":"awx"`) || !strings.Contains(out, deadAWX) {
			t.Errorf("the log does not give AWX's failure in full:\n%s", out)
		}
	})
}

// TestQuieterSurfacesInsecureAWX: an http:// AWX URL to a host other than
// loopback is refused unless --allow-insecure-awx or
// DEPLOYBOT_ALLOW_INSECURE_AWX is set, and then a warning is logged;
// https and loopback are always accepted.
func TestQuieterSurfacesInsecureAWX(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		flags   []string
		env     string
		wantErr string
		warn    bool
	}{
		{"https", "https://awx.example.com", nil, "", "", false},
		{"loopback v4", "http://127.0.0.1:8052", nil, "", "", false},
		{"loopback v4 range", "http://127.3.4.5", nil, "", "", false},
		{"loopback v6", "http://[::1]:8052", nil, "", "", false},
		{"localhost", "http://localhost:8052/", nil, "", "", false},
		{"remote http", "http://awx.corp.example:8052", nil, "", "--allow-insecure-awx", false},
		{"remote http by IP", "HTTP://10.1.2.3", nil, "", "DEPLOYBOT_ALLOW_INSECURE_AWX", false},
		{"name that only looks local", "http://localhost.evil.example", nil, "", "--allow-insecure-awx", false},
		{"allowed by flag", "http://awx.corp.example:8052", []string{"--allow-insecure-awx"}, "", "", true},
		{"allowed by env", "http://awx.corp.example:8052", nil, "true", "", true},
		{"flag beats env", "http://awx.corp.example:8052", []string{"--allow-insecure-awx=false"}, "1", "--allow-insecure-awx", false},
		{"bad env value", "http://awx.corp.example:8052", nil, "yes please", "DEPLOYBOT_ALLOW_INSECURE_AWX=\"yes please\": use true or false", false},
		{"not a URL", "awx.corp.example", nil, "", "not a URL", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"AWX_URL": tc.url, "DEPLOYBOT_ALLOW_INSECURE_AWX": tc.env}
			var stderr, logs bytes.Buffer
			o, _, err := parseOptions("deploybot", tc.flags, func(k string) string { return env[k] }, &stderr, nil)
			if err == nil {
				err = o.checkAWXURL(zerolog.New(&logs))
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
			}
			if warned := strings.Contains(logs.String(), "token crosses the network in clear"); warned != tc.warn {
				t.Errorf("warning logged = %v, want %v: %s", warned, tc.warn, logs.String())
			}
		})
	}

	// The bot itself refuses to start, before touching anything.
	env := map[string]string{
		"SLACK_APP_TOKEN": testAppToken, "SLACK_BOT_TOKEN": testBotToken, "AWX_TOKEN": testAWXToken,
		"AWX_URL": "http://awx.corp.example:8052", "DEPLOYBOT_CONFIG": "../../deploybot.example.yaml",
		"DEPLOYBOT_DB": t.TempDir() + "/deploybot.db", "DEPLOYBOT_HTTP_ADDR": freeAddr(t),
	}
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := run(ctx, []string{"deploybot"}, func(k string) string { return env[k] }, &stderr, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--allow-insecure-awx") || strings.Contains(err.Error()+stderr.String(), testAWXToken) {
		t.Fatalf("run = %v, want a refusal naming --allow-insecure-awx (and no token)", err)
	}
}
