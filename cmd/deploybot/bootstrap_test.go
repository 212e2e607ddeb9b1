package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/awxclient/awxtest"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy/awxrunner"
)

// TestAWXBootstrap: from an AWX holding only its preload data, one command
// sets up the project (waiting for its first sync, without which AWX
// refuses every playbook) and the job templates the example config names,
// with playbook paths relative to the repository root and every prompt the
// bot sends; a second run changes nothing; the bot's start-up check then
// passes and each template launches as the bot launches.
func TestAWXBootstrap(t *testing.T) {
	awx := awxtest.NewServer(t)
	const repoURL = "https://git.example.com/ops/deploybot.git"
	awx.AddRepo(repoURL, false, "playbooks/web_deploy.yml", "playbooks/custom_deploy.yml", "playbooks/rollback.yml", "playbooks/tasks/web_host.yml")
	env := map[string]string{
		"AWX_URL":          awx.URL,
		"AWX_TOKEN":        awx.Token,
		"DEPLOYBOT_CONFIG": "testdata/bootstrap.yaml",
	}
	getenv := func(k string) string { return env[k] }
	args := []string{"deploybot", "awx", "bootstrap", "--project-url", repoURL}

	var out bytes.Buffer
	if err := run(t.Context(), args, getenv, &out, io.Discard); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, out.String())
	}
	for _, want := range []string{`project "deploybot"`, "synced", `"deploybot-web-deploy"`, `"deploybot-custom-deploy"`, `"deploybot-rollback"`, "created or updated"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("first run output lacks %s:\n%s", want, out.String())
		}
	}
	ids := map[string]int{}
	for name, playbook := range map[string]string{"deploybot-web-deploy": "playbooks/web_deploy.yml", "deploybot-custom-deploy": "playbooks/custom_deploy.yml", "deploybot-rollback": "playbooks/rollback.yml"} {
		jt := getJSON(t, awx, "/api/v2/job_templates/?name="+name)
		results, _ := jt["results"].([]any)
		if len(results) != 1 {
			t.Fatalf("%s: %d templates", name, len(results))
		}
		r := results[0].(map[string]any)
		if r["playbook"] != playbook {
			t.Errorf("%s: playbook %v, want %s", name, r["playbook"], playbook)
		}
		for _, k := range []string{"ask_inventory_on_launch", "ask_variables_on_launch", "ask_limit_on_launch", "ask_job_type_on_launch",
			"ask_diff_mode_on_launch", "become_enabled", "allow_simultaneous"} {
			if r[k] != true {
				t.Errorf("%s: %s = %v, want true", name, k, r[k])
			}
		}
		ids[name] = int(r["id"].(float64))
	}
	writes := awx.WriteCount()
	out.Reset()
	if err := run(t.Context(), args, getenv, &out, io.Discard); err != nil {
		t.Fatalf("second bootstrap: %v", err)
	}
	if strings.Contains(out.String(), "created or updated") || awx.WriteCount() != writes {
		t.Errorf("a second bootstrap wrote to AWX (%d writes):\n%s", awx.WriteCount()-writes, out.String())
	}

	// The bot's start-up check now passes and creates the inventories.
	cfg, err := config.Load("testdata/bootstrap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o := &options{AWXURL: awx.URL, AWXToken: awx.Token}
	c, err := newAWXClient(o, zerolog.Nop(), awxTimeout, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := awxrunner.Prepare(t.Context(), c, cfg.Catalog(), awxSettings(cfg), zerolog.Nop()); err != nil {
		t.Fatalf("start-up check after bootstrap: %v", err)
	}
	invs := getJSON(t, awx, "/api/v2/inventories/?name__startswith=deploybot-")
	if n, _ := invs["count"].(float64); n != 4 {
		t.Errorf("inventories after the start-up check = %v, want 4 (one per app environment)", invs["count"])
	}
	// Each template launches with every field the bot sends, real and dry.
	inv, err := c.GetInventoryByName(t.Context(), 1, cfg.InventoryName(cfg.AppNames()[0], cfg.Apps[cfg.AppNames()[0]].EnvNames()[0]))
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := c.ListHosts(t.Context(), inv.ID)
	if err != nil || len(hosts) == 0 {
		t.Fatalf("hosts = %v, %v", hosts, err)
	}
	for name, id := range ids {
		for _, check := range []bool{false, true} {
			opts := awxclient.LaunchOptions{Inventory: inv.ID, ExtraVars: map[string]any{"deploy_version": "1.0.0"},
				Limit: hosts[0].Name, JobType: map[bool]string{false: "run", true: "check"}[check], DiffMode: check}
			if err := c.CheckLaunch(t.Context(), id, opts); err != nil {
				t.Fatalf("%s check=%v: %v", name, check, err)
			}
			job, err := c.LaunchJobTemplate(t.Context(), id, opts)
			if err != nil {
				t.Fatalf("%s check=%v: launch: %v", name, check, err)
			}
			if err := awx.AwaitJob(t.Context(), job); err != nil || awx.JobStatus(job) != "successful" {
				t.Fatalf("%s check=%v: job %d %s (%v)", name, check, job, awx.JobStatus(job), err)
			}
		}
	}
}

// TestAWXBootstrapFailures: a repository AWX cannot sync, and one without
// deploybot's playbooks, end the bootstrap with a message saying what to
// fix, before any job template is written.
func TestAWXBootstrapFailures(t *testing.T) {
	tests := []struct {
		name  string
		repo  func(awx *awxtest.Server, url string)
		extra []string
		want  []string
	}{
		{"private repository without credential", func(awx *awxtest.Server, url string) { awx.AddRepo(url, true, "playbooks/web_deploy.yml") },
			nil, []string{"failed", "SCM credential"}},
		{"unknown scm credential", func(awx *awxtest.Server, url string) { awx.AddRepo(url, true, "playbooks/web_deploy.yml") },
			[]string{"--scm-credential", "nope"}, []string{"scm credential", "nope"}},
		{"not deploybot's repository", func(awx *awxtest.Server, url string) { awx.AddRepo(url, false, "site.yml") },
			nil, []string{"playbooks/web_deploy.yml", "--project-url"}},
		{"sync too slow", func(awx *awxtest.Server, url string) {
			awx.AddRepo(url, false, "playbooks/web_deploy.yml")
			awx.SetProjectSyncTime(time.Hour)
		}, []string{"--sync-timeout", "50ms"}, []string{"did not finish syncing", "--sync-timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			awx := awxtest.NewServer(t)
			const repoURL = "https://git.example.com/ops/deploybot.git"
			tt.repo(awx, repoURL)
			env := map[string]string{"AWX_URL": awx.URL, "AWX_TOKEN": awx.Token, "DEPLOYBOT_CONFIG": "testdata/bootstrap.yaml"}
			args := append([]string{"deploybot", "awx", "bootstrap", "--project-url", repoURL}, tt.extra...)
			err := run(t.Context(), args, func(k string) string { return env[k] }, io.Discard, io.Discard)
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to say %q", err, w)
				}
			}
			if n := awx.Writes()["POST /api/v2/job_templates/"]; n != 0 {
				t.Errorf("%d job templates created after a failed sync", n)
			}
		})
	}
}

func TestAWXBootstrapNeedsProjectURL(t *testing.T) {
	err := run(t.Context(), []string{"deploybot", "awx", "bootstrap"}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--project-url is required") {
		t.Errorf("err = %v", err)
	}
}

func getJSON(t *testing.T, awx *awxtest.Server, path string) map[string]any {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, awx.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+awx.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", path, err))
	}
	return m
}

// TestRunRefusesUnpromptedTemplate: AWX silently drops launch fields whose
// prompt is off, so the bot refuses to start and names the template and the
// setting to change.
func TestRunRefusesUnpromptedTemplate(t *testing.T) {
	s := newStack(t)
	req, _ := http.NewRequest(http.MethodPatch, fmt.Sprintf("%s/api/v2/job_templates/%d/", s.awx.URL, s.tmpl["rollback"]),
		strings.NewReader(`{"ask_variables_on_launch": false}`))
	req.Header.Set("Authorization", "Bearer "+s.awx.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("patch template: %v %v", err, resp)
	}
	resp.Body.Close()
	done := make(chan error, 1)
	var logs syncBuffer
	go func() { done <- runBotWith(t.Context(), nil, func(k string) string { return s.env[k] }, &logs, s.tun) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "deploybot-rollback") || !strings.Contains(err.Error(), "ask_variables_on_launch") {
			t.Errorf("err = %v; want the template and the setting named", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the bot kept running with a template that ignores its variables")
	}
}
