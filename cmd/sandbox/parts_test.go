package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/awxclient/awxtest"
	"github.com/deploybot/deploybot/config"
)

// TestRollout runs the scripted web rollout through the fake AWX: a play
// per serial batch, every task on every host, and a "fail" version failing
// the first host's health check and stopping there.
func TestRollout(t *testing.T) {
	hosts := map[string]map[string]any{"web-01": {}, "web-02": {}, "web-03": {}}
	tests := []struct {
		name, version string
		serial        any
		status        string
		plays         int
		in, notIn     []string
	}{
		{"one host at a time", "1.4.2", 1, "successful", 3,
			[]string{"release 1.4.2 (batch 3/3)", "TASK [Take host out of the L4]", "TASK [Put host back in the L4]", "changed: [web-03]"}, []string{"fatal"}},
		{"two at a time", "1.4.2", "67%", "successful", 2,
			[]string{"(batch 2/2)", "ok: [web-02]"}, nil},
		{"failing version", "1.4.3-fail", 1, "failed", 1,
			[]string{"TASK [Health check]", "fatal: [web-01]: FAILED!", "Status code was 503"}, []string{"web-02", "TASK [Put host back in the L4]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := awxtest.NewServer(t)
			inv := srv.AddInventory("deploybot-shop-web-production", hosts)
			jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "deploybot-web-deploy", Playbook: "web_deploy.yml",
				AskInventory: true, AskVariables: true, Behavior: rollout(time.Millisecond, webTasks)})
			c, err := awxclient.NewClient(srv.URL, awxclient.WithToken(srv.Token))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			id, err := c.LaunchJobTemplate(ctx, jt, awxclient.LaunchOptions{Inventory: inv, ExtraVars: map[string]any{
				"deploy_app": "shop-web", "deploy_env": "production", "deploy_version": tt.version, "deploy_serial": tt.serial}})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.AwaitJob(ctx, id); err != nil {
				t.Fatal(err)
			}
			if got := srv.JobStatus(id); got != tt.status {
				t.Errorf("job ended %s, want %s", got, tt.status)
			}
			out := srv.JobStdout(id)
			if n := strings.Count(out, "PLAY [shop-web production"); n != tt.plays {
				t.Errorf("%d plays, want %d:\n%s", n, tt.plays, out)
			}
			for _, s := range tt.in {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.notIn {
				if strings.Contains(out, s) {
					t.Errorf("output has %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestSerialSize(t *testing.T) {
	tests := []struct {
		v     any
		hosts int
		want  int
	}{
		{1, 3, 1}, {2.0, 3, 2}, {"2", 3, 2}, {"25%", 8, 2}, {"10%", 3, 1}, {"100%", 3, 3}, {nil, 3, 1}, {"x", 3, 1}, {0, 3, 1},
	}
	for _, tt := range tests {
		if got := serialSize(tt.v, tt.hosts); got != tt.want {
			t.Errorf("serialSize(%v, %d) = %d, want %d", tt.v, tt.hosts, got, tt.want)
		}
	}
}

func TestPlain(t *testing.T) {
	n := newNames()
	tests := []struct{ in, want string }{
		{"Approved by <@U02BOB0000>", "Approved by @bob"},
		{"approvers <!subteam^S0SHOPLEAD|@shop-leads> and <!subteam^S0NOBODY|@ghosts>", "approvers @shop-leads and @ghosts"},
		{"in <#C0DEPLOYS01>", "in #deploys"},
		{"at <!date^1795565724^{date_short_pretty} at {time}|2026-11-25 00:15 UTC>", "at 2026-11-25 00:15 UTC"},
		{"see <https://example.com/x|the docs>", "see the docs (https://example.com/x)"},
		{"a &lt;b&gt; &amp; c", "a <b> & c"},
		{":white_check_mark: done", "✅ done"},
		{"```\ncode\n```", "\ncode\n"},
	}
	for _, tt := range tests {
		if got := n.plain(tt.in); got != tt.want {
			t.Errorf("plain(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestBlocks(t *testing.T) {
	raw, _ := json.Marshal([]map[string]any{
		{"type": "header", "text": map[string]any{"type": "plain_text", "text": "#1 shop-web"}},
		{"type": "section", "fields": []any{
			map[string]any{"type": "mrkdwn", "text": "*App*\nshop-web"},
			map[string]any{"type": "mrkdwn", "text": "*By*\n<@U01ALICE00>"}}},
		{"type": "context", "elements": []any{map[string]any{"type": "mrkdwn", "text": "a"}, map[string]any{"type": "mrkdwn", "text": "b"}}},
		{"type": "actions", "elements": []any{
			map[string]any{"type": "button", "action_id": "approve", "text": map[string]any{"type": "plain_text", "text": "Approve"}},
			map[string]any{"type": "button", "action_id": "reject", "text": map[string]any{"type": "plain_text", "text": "Reject"}}}},
	})
	got := strings.Join(newNames().blocks(raw), "\n")
	want := "== #1 shop-web ==\nApp: shop-web · By: @alice\na · b\n[Approve] [Reject]"
	if got != want {
		t.Errorf("blocks:\n%s\nwant:\n%s", got, want)
	}
}

// TestSandboxConfig checks that the config derived from the example loads,
// keeps its apps and approvers, and points at the build server and the
// fake's credential.
func TestSandboxConfig(t *testing.T) {
	path, err := findExample(".")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sandboxConfig(example, "http://127.0.0.1:1234")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "deploybot.yaml")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatalf("the sandbox config does not load: %v\n%s", err, out)
	}
	if cfg.AWX.Credential != sandboxCredential {
		t.Errorf("credential %q, want %q", cfg.AWX.Credential, sandboxCredential)
	}
	if got := cfg.Apps["shop-web"].ArtifactURL; !strings.HasPrefix(got, "http://127.0.0.1:1234/") {
		t.Errorf("artifact_url %q does not point at the build server", got)
	}
	if len(cfg.Apps) != 3 {
		t.Errorf("%d apps, want the example's 3", len(cfg.Apps))
	}
	if _, err := sandboxConfig([]byte("apps: {}\n"), "http://x"); err == nil {
		t.Error("a config without the example's artifact host was accepted")
	}
}

// TestReplicasFlag: a count below one is refused before anything starts.
func TestReplicasFlag(t *testing.T) {
	for _, n := range []string{"0", "-2"} {
		var out, errOut strings.Builder
		err := run(t.Context(), []string{"sandbox", "--bot", "/nonexistent", "--dir", t.TempDir(), "--replicas", n},
			func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "--replicas "+n+": run at least one bot") {
			t.Errorf("--replicas %s: err = %v, want a refusal that says to run at least one", n, err)
		}
	}
}
