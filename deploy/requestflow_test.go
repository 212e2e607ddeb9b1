package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/deploy"
)

func TestStagingRelease(t *testing.T) {
	h := newHarness(t)
	req := h.deploy(dev, "shop-web", "staging", "1.4.2")
	if req.ID == 0 || req.Message.TS == "" {
		t.Fatalf("request not stored with its card: %+v", req)
	}
	r := h.waitStatus(req.ID, deploy.StatusSucceeded)

	if got, want := h.runner.CheckedBuilds(), []string{"https://builds.example.com/shop-web/1.4.2/shop-web-1.4.2.tar.gz"}; !reflect.DeepEqual(got, want) {
		t.Errorf("CheckBuild calls = %v, want %v", got, want)
	}
	launches := h.runner.Launches()
	if len(launches) != 1 {
		t.Fatalf("launches = %d, want 1", len(launches))
	}
	p := launches[0].Plan
	if p.JobTemplate != "deploybot-web-deploy" || p.Inventory != "deploybot-shop-web-staging" || p.AdHoc || p.Check {
		t.Errorf("plan = %+v", p)
	}
	if p.ArtifactSize != 4096 || p.ArtifactChecksum != "sha256:0f3a" {
		t.Errorf("build facts = %d %q", p.ArtifactSize, p.ArtifactChecksum)
	}
	wantVars := map[string]any{
		"deploy_app": "shop-web", "deploy_env": "staging", "deploy_version": "1.4.2",
		"artifact_url": "https://builds.example.com/shop-web/1.4.2/shop-web-1.4.2.tar.gz", "artifact_checksum": "sha256:0f3a",
		"docroot": "/var/www/shop-web", "deploy_path": "/opt/deploy/shop-web", "web_server": "nginx",
		"pid_file": "/run/nginx.pid", "web_port": 80, "healthcheck_path": "/healthcheck",
		"healthcheck_ok_body": "skp_healthcheck_ok", "l4_out_path": "/healthcheck/l4out",
		"l4_interval": 5.0, "l4_fall": 3, "l4_rise": 2, "deploy_serial": "1",
		"pre_commands": []string{}, "deploy_command": "", "post_commands": []string{},
		"deploy_become": true,
	}
	if !p.Become {
		t.Error("the plan does not run with become, the default")
	}
	if got, want := mustJSON(t, p.ExtraVars), mustJSON(t, wantVars); got != want {
		t.Errorf("extra vars:\n got %s\nwant %s", got, want)
	}
	if _, ok := p.ExtraVars["deploybot_request_id"]; ok {
		t.Error("the plan carries deploybot_request_id; the runner adds it")
	}
	if r.PlanHash != p.Hash() {
		t.Errorf("stored hash %s, plan hash %s", r.PlanHash, p.Hash())
	}
	if !strings.HasPrefix(r.Outcome, "Deployed 1.4.2 on 2 hosts") {
		t.Errorf("outcome = %q", r.Outcome)
	}
	last := h.waitCard(req.ID, deploy.StatusSucceeded)
	for _, host := range []string{"stg-web-01.example.com", "stg-web-02.example.com"} {
		hp := last.Req.Progress.Hosts[host]
		if !hp.Done || hp.State != "changed" || hp.Change != 1 {
			t.Errorf("final card host %s = %+v", host, hp)
		}
	}
	h.waitThread(req.ID, "Deployed 1.4.2")
	thread := h.notifier.ThreadText(req.ID)
	for _, want := range []string{"Play: Roll the release", "stg-web-01.example.com done", "stg-web-02.example.com done"} {
		if strings.Count(thread, want) != 1 {
			t.Errorf("thread has %q %d times, want once:\n%s", want, strings.Count(thread, want), thread)
		}
	}
	// The output is uploaded after the outcome note, from the outbox.
	waitFor(t, func() bool { return len(h.notifier.Uploads(req.ID)) > 0 }, "the output of #%d", req.ID)
	ups := h.notifier.Uploads(req.ID)
	if len(ups) != 1 || ups[0].Filename != "shop-web-staging-1.log" || !strings.Contains(string(ups[0].Content), "PLAY RECAP") {
		t.Errorf("uploads = %+v", ups)
	}
	log, err := h.db.AuditLog(context.Background(), req.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) < 4 { // requested, queued→launching, launching→running, running→succeeded
		t.Errorf("audit log has %d entries: %+v", len(log), log)
	}
}

func TestRequestRefused(t *testing.T) {
	h := newHarness(t)
	h.runner.MissingBuilds["https://builds.example.com/shop-web/9.9.9/shop-web-9.9.9.tar.gz"] = true
	tests := []struct {
		name string
		in   deploy.DeployInput
		code string
		msg  string // part of the message
	}{
		{"unknown app", deploy.DeployInput{User: dev, Channel: chan1, App: "shop", Env: "staging", Version: "1.0.0"}, deploy.ENOTFOUND, "batch-api, cache-warmer, shop-web"},
		{"unknown env", deploy.DeployInput{User: dev, Channel: chan1, App: "shop-web", Env: "qa", Version: "1.0.0"}, deploy.ENOTFOUND, "prod-eu, production, staging"},
		{"other channel", deploy.DeployInput{User: dev, Channel: "C0RANDOM00", App: "shop-web", Env: "staging", Version: "1.0.0"}, deploy.EFORBIDDEN, "<#C0DEPLOYS01>"},
		{"not a deployer", deploy.DeployInput{User: eve, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.0.0"}, deploy.EFORBIDDEN, "@shop-devs"},
		{"group of another app", deploy.DeployInput{User: plat, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.0.0"}, deploy.EFORBIDDEN, "not allowed"},
		{"version off pattern", deploy.DeployInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "v1.0"}, deploy.EINVALID, `^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$`},
		{"no version", deploy.DeployInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging"}, deploy.EINVALID, "version"},
		{"missing build", deploy.DeployInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "9.9.9"}, deploy.EINVALID, "no build 9.9.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.svc.RequestDeploy(context.Background(), tt.in)
			wantCode(t, err, tt.code)
			if msg := deploy.ErrorMessage(err); !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q does not contain %q", msg, tt.msg)
			}
		})
	}
	reqs, err := h.db.Requests(context.Background(), deploy.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 0 || h.runner.LaunchCount() != 0 {
		t.Errorf("refused requests left %d requests and %d launches", len(reqs), h.runner.LaunchCount())
	}
}

func TestInjectionRefused(t *testing.T) {
	h := newHarness(t)
	bad := []string{"1.0;rm -rf /", "1.0.0;rm -rf /", "$(id)", "1.0.0$(id)", "`id`", "1.0.0`id`", "1.0.0\nid", "1.0.0\rid",
		"1.0.0 && id", "1.0.0|id", "1.0.0'", `1.0.0"`, "1.0.0>x", "../1.0.0", "1.0.0\x00"}
	ctx := context.Background()
	for _, s := range bad {
		cases := map[string]func() error{
			"version": func() error {
				_, err := h.svc.RequestDeploy(ctx, deploy.DeployInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: s})
				return err
			},
			"custom version": func() error {
				_, err := h.svc.RequestDeploy(ctx, deploy.DeployInput{User: plat, Channel: chan1, App: "cache-warmer", Env: "production", Version: s})
				return err
			},
			"check version": func() error {
				_, err := h.svc.RequestDeploy(ctx, deploy.DeployInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: s, Check: true})
				return err
			},
			"app": func() error {
				_, err := h.svc.RequestDeploy(ctx, deploy.DeployInput{User: dev, Channel: chan1, App: s, Env: "staging", Version: "1.0.0"})
				return err
			},
			"env": func() error {
				_, err := h.svc.RequestDeploy(ctx, deploy.DeployInput{User: dev, Channel: chan1, App: "shop-web", Env: s, Version: "1.0.0"})
				return err
			},
			"rollback to": func() error {
				_, err := h.svc.RequestRollback(ctx, deploy.RollbackInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", To: s})
				return err
			},
			"lock app": func() error {
				_, err := h.svc.Lock(ctx, dev, s, "staging", "x")
				return err
			},
		}
		for name, call := range cases {
			err := call()
			if err == nil {
				t.Errorf("%s %q accepted", name, s)
				continue
			}
			if code := deploy.ErrorCode(err); code != deploy.EINVALID && code != deploy.ENOTFOUND {
				t.Errorf("%s %q: code %s (%v), want invalid or not_found", name, s, code, err)
			}
		}
	}
	if n := h.runner.LaunchCount(); n != 0 {
		t.Errorf("%d launches reached the runner", n)
	}
	if got := h.runner.CheckedBuilds(); len(got) != 0 {
		t.Errorf("build checks reached the runner: %q", got)
	}
	if reqs, _ := h.db.Requests(ctx, deploy.RequestFilter{}); len(reqs) != 0 {
		t.Errorf("%d requests stored", len(reqs))
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1.4.2", `'1.4.2'`},
		{"", `''`},
		{"a'b", `'a'\''b'`},
		{"$(id)", `'$(id)'`},
		{"a b", `'a b'`},
	}
	for _, tt := range tests {
		if got := deploy.ShellQuote(tt.in); got != tt.want {
			t.Errorf("ShellQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// A request whose card cannot be posted is not recorded and never runs; the
// user is told why and what to do.
func TestRequestNotRecordedWithoutCard(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code string
		msg  string
	}{
		{"bot not in the conversation", fmt.Errorf("chat.postMessage: %w: channel_not_found", deploy.ErrChannelUnavailable), deploy.EFORBIDDEN, "/invite @deploybot"},
		{"slack failing", errors.New("chat.postMessage: gave up after 6 attempts: internal_error"), deploy.ECONFLICT, "try again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.notifier.RefusePosts(chan1, tt.err)
			for _, env := range []string{"staging", "production"} {
				_, err := h.svc.RequestDeploy(context.Background(), deploy.DeployInput{User: dev, Channel: chan1, App: "shop-web", Env: env, Version: "1.4.2"})
				wantCode(t, err, tt.code)
				if msg := deploy.ErrorMessage(err); !strings.Contains(msg, tt.msg) || !strings.Contains(msg, "nothing was requested") {
					t.Errorf("%s: message %q lacks %q", env, msg, tt.msg)
				}
			}
			h.tick()
			reqs, err := h.db.Requests(context.Background(), deploy.RequestFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(reqs) != 0 || h.runner.LaunchCount() != 0 {
				t.Errorf("unposted requests left %d requests and %d launches", len(reqs), h.runner.LaunchCount())
			}
		})
	}
}
