package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
)

// TestReloadEndpointOnlyFromLoopback: POST /reload reloads only for a
// process on this machine talking over loopback. Whatever else could reach
// a health address bound to every interface (another host, a service
// mesh's sidecar, a local proxy, a web page, a DNS-rebound name) gets 403
// with what to do instead, and nothing is reloaded or counted.
func TestReloadEndpointOnlyFromLoopback(t *testing.T) {
	var logs syncBuffer
	reg := prometheus.NewRegistry()
	rl := &reloader{path: filepath.Join(t.TempDir(), "missing.yaml"), cfg: &config.Config{}, log: zerolog.New(&logs),
		counts: newReloadCounter(reg)}
	mux := newHTTPHandler(&health{}, newRegistry())
	mux.HandleFunc("POST /reload", rl.serveReload)
	srv := httptest.NewServer(mux) // on 127.0.0.1
	defer srv.Close()

	post := func(edit func(*http.Request)) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/reload", nil)
		if edit != nil {
			edit(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tt := range []struct {
		name string
		edit func(*http.Request)
		why  string
	}{
		{"through a proxy (X-Forwarded-For)", func(r *http.Request) { r.Header.Set("X-Forwarded-For", "203.0.113.9") }, "came through a proxy"},
		{"through a proxy (Forwarded)", func(r *http.Request) { r.Header.Set("Forwarded", "for=203.0.113.9") }, "came through a proxy"},
		{"through a proxy (X-Real-IP)", func(r *http.Request) { r.Header.Set("X-Real-IP", "203.0.113.9") }, "came through a proxy"},
		{"a rebound DNS name", func(r *http.Request) {
			r.Host = "evil.example.com:" + strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
		}, `names host "evil.example.com`},
		{"a web page of another site", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, "web page of another origin"},
		{"a web page's origin", func(r *http.Request) { r.Header.Set("Origin", "http://evil.example.com") }, "web page of another origin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(tt.edit)
			if status != http.StatusForbidden || !strings.Contains(body, tt.why) || !strings.Contains(body, "deploybot reload") {
				t.Errorf("%d %q, want 403 saying %q and what to do", status, body, tt.why)
			}
		})
	}
	for _, tt := range []struct{ name, remote, local, why string }{
		{"another host", "192.0.2.7:40000", "192.0.2.1:8080", "came from 192.0.2.7:40000"},
		{"another host to the loopback", "192.0.2.7:40000", "127.0.0.1:8080", "came from 192.0.2.7:40000"},
		{"a sidecar proxy", "127.0.0.6:40000", "10.1.2.3:8080", "sent to 10.1.2.3:8080"},
		{"IPv6 from another host", "[2001:db8::7]:40000", "[::1]:8080", "not from a loopback address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/reload", nil)
			req.RemoteAddr = tt.remote
			local, err := net.ResolveTCPAddr("tcp", tt.local)
			if err != nil {
				t.Fatal(err)
			}
			req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, local))
			w := httptest.NewRecorder()
			rl.serveReload(w, req)
			if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), tt.why) {
				t.Errorf("%d %q, want 403 saying %q", w.Code, w.Body.String(), tt.why)
			}
		})
	}
	if got := reloadCount(t, reg, "refused"); got != 0 {
		t.Fatalf("refused requests were counted as reloads: %v", got)
	}

	// From this machine: the reload runs and answers how it went (the
	// file is missing: refused, 422).
	status, body := post(nil)
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "configuration not reloaded; the bot keeps the configuration it had") ||
		!strings.Contains(body, "missing.yaml") {
		t.Errorf("from loopback: %d %q, want 422 with the reason", status, body)
	}
	if got := reloadCount(t, reg, "refused"); got != 1 {
		t.Errorf("deploybot_config_reload_total{result=refused} = %v, want 1", got)
	}
	resp, err := http.Get(srv.URL + "/reload")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /reload = %d, want 405", resp.StatusCode)
	}
}

// reloadCount reads deploybot_config_reload_total{result} from reg.
func reloadCount(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "deploybot_config_reload_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no deploybot_config_reload_total{result=%q}", result)
	return 0
}

// TestReloadCommandExitCodes: deploybot reload prints the bot's answer and
// fails unless the reload applied.
func TestReloadCommandExitCodes(t *testing.T) {
	for _, tt := range []struct {
		name    string
		status  int
		wantErr error
	}{
		{"applied", http.StatusOK, nil},
		{"refused file", http.StatusUnprocessableEntity, errReloadRefused},
		{"refused request", http.StatusForbidden, errReloadRefused},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/reload" {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tt.status)
				fmt.Fprintln(w, "the bot's answer")
			}))
			defer srv.Close()
			var stdout, stderr strings.Builder
			env := map[string]string{"DEPLOYBOT_HTTP_ADDR": strings.TrimPrefix(srv.URL, "http://")}
			err := run(t.Context(), []string{"deploybot", "reload"}, func(k string) string { return env[k] }, &stdout, &stderr)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if stdout.String() != "the bot's answer\n" {
				t.Errorf("stdout = %q", stdout.String())
			}
		})
	}
	t.Run("no bot", func(t *testing.T) {
		env := map[string]string{"DEPLOYBOT_HTTP_ADDR": loopbackAddr(t)}
		err := run(t.Context(), []string{"deploybot", "reload"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "is it running on this machine?") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestRefusalText: the announce channel is shown the first problems of a
// refused file with their line and key path, escaped for Slack, and that
// the bot keeps its configuration.
func TestRefusalText(t *testing.T) {
	var many []config.Problem
	for i := range 7 {
		many = append(many, config.Problem{Path: fmt.Sprintf("apps.a%d.type", i), Line: 10 + i, Message: "unknown app type <x>"})
	}
	for _, tt := range []struct {
		name string
		err  error
		want []string
		not  []string
	}{
		{"problems", &config.ValidationError{File: "/etc/deploybot/deploybot.yaml", Problems: many}, []string{
			"Configuration reload refused:* 7 problems in `deploybot.yaml`:",
			"• line 10, `apps.a0.type`: unknown app type &lt;x&gt;",
			"• line 14, `apps.a4.type`",
			"• and 2 more: the bot's log lists them all",
			"The bot keeps the configuration it had",
		}, []string{"apps.a5", "/etc/deploybot"}},
		{"one problem without a line", &config.ValidationError{File: "d.yaml", Problems: []config.Problem{{Message: "empty file"}}}, []string{
			"1 problem in `d.yaml`:\n• empty file\n",
		}, nil},
		{"AWX", fmt.Errorf("AWX is not set up for it: %w", errors.New(`job template "deploy-v2" not found`)), []string{
			`Configuration reload refused:* AWX is not set up for it: job template "deploy-v2" not found`, "The bot keeps the configuration it had",
		}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := refusalText(tt.err)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("lacks %q:\n%s", w, got)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("shows %q:\n%s", n, got)
				}
			}
		})
	}
}

// TestSummaryText: the announcement of an applied reload lists each kind
// of change on its own line, names what applies only after a restart
// apart from the other changed keys, and cuts long lists.
func TestSummaryText(t *testing.T) {
	var hosts []string
	for i := range 12 {
		hosts = append(hosts, fmt.Sprintf("h%02d", i))
	}
	got := summaryText(reloadResult{
		Changes: config.Changes{
			EnvsAdded: []config.EnvRef{{App: "shop", Env: "qa"}},
			Envs:      []config.EnvChanges{{EnvRef: config.EnvRef{App: "shop", Env: "prod"}, HostsAdded: hosts, ApproversAdded: []string{"U1BOB", "@leads"}}},
			Other:     []string{"apps.shop.docroot", "awx.credential"},
		},
		Restart: []string{"awx.credential"},
		Paused:  []*deploy.Schedule{{ID: 4, App: "batch", Env: "prod", Version: "2.0<x>"}},
	})
	for _, want := range []string{
		":arrows_counterclockwise: *Configuration reloaded.*\n",
		"• Environments added: `shop qa`\n",
		"• `shop prod`: hosts added `h00`, `h01`, `h02`, `h03`, `h04`, `h05`, `h06`, `h07`, `h08`, `h09`, and 2 more; approvers added <@U1BOB>, `@leads`\n",
		"• Other settings changed: `apps.shop.docroot`\n",
		"• Apply after a restart only: `awx.credential`\n",
		"• Schedule S4 (batch 2.0&lt;x&gt; → prod) paused",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
}
