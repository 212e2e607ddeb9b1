package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/awxclient/awxtest"
	"github.com/deploybot/deploybot/bot/slacktest"
	"github.com/deploybot/deploybot/deploy/awxrunner"
	"github.com/deploybot/deploybot/playbooks/webrig"
)

// The whole chain (issue 6): a slash command to the Slack fake, the bot's
// request flow, a launch on the AWX fake whose executor runs the real
// ansible-playbook on playbooks/web_deploy.yml and rollback.yml, and the
// playbooks rolling real nginx instances behind a real HAProxy while a
// load generator proves that no request fails.

// chainCheck is HAProxy's health-check timing; the config's healthcheck
// block says the same, so the playbooks expect what HAProxy does.
var chainCheck = webrig.Check{Inter: 200 * time.Millisecond, Fall: 2, Rise: 2}

// chainBody is the page a version serves at /.
func chainBody(version string) string { return "shop-web " + version }

// chainConfig is the bot's configuration: shop-web staging on the rig's
// nginx instances, each described by host_vars (the bot turns port,
// docroot, pid_file and deploy_path into the playbooks' host_ variables
// and passes the others through).
func chainConfig(dir, artifacts, statsURL string, hosts []*webrig.Nginx) string {
	var hv strings.Builder
	names := make([]string, 0, len(hosts))
	for _, n := range hosts {
		names = append(names, n.Name)
		fmt.Fprintf(&hv, `          %s:
            ansible_connection: local
            ansible_python_interpreter: /usr/bin/python3
            port: %d
            docroot: %s
            deploy_path: %s
            pid_file: %s
            web_server_config: %s
            web_server_extra_args: %q
            healthcheck_flag_file: %s
            l4_stats_url: %q
            l4_backend: shop-web
            l4_server: %s
`, n.Name, n.Port, n.Docroot, n.DeployPath, n.PIDFile, n.ConfPath, n.ExtraArgs(), n.FlagFile, statsURL, n.Name)
	}
	// The app-wide paths point into the test's directory: were a per-host
	// value lost on the way, the release would fail there instead of
	// touching the machine's own web server.
	unused := filepath.Join(dir, "app-wide")
	return fmt.Sprintf(`timezone: UTC
slack:
  channels: [%s]
  announce_channel: %s
awx:
  organization: Default
  inventory_prefix: deploybot
  credential: Demo Credential
  job_templates:
    web: deploybot-web-deploy
    custom: deploybot-custom-deploy
    rollback: deploybot-rollback
apps:
  shop-web:
    type: web
    server: nginx
    artifact_url: %s/shop-web/{version}/shop-web-{version}.tar.gz
    version_pattern: '^[0-9]+\.[0-9]+\.[0-9]+$'
    docroot: %s/docroot
    deploy_path: %s/deploy
    pid_file: %s/nginx.pid
    healthcheck:
      path: /healthcheck
      ok_body: skp_healthcheck_ok
      l4_interval: %s
      l4_fall: %d
      l4_rise: %d
    serial: 1
    environments:
      staging:
        hosts: [%s]
        deployers: [%s]
        approval: {required: false}
        host_vars:
%s`, deploys, release, artifacts, unused, unused, unused, chainCheck.Inter, chainCheck.Fall, chainCheck.Rise,
		strings.Join(names, ", "), alice, hv.String())
}

// newChainStack is newStack with the AWX fake running the real playbooks
// (WithAnsible) and the job templates naming them as AWX would.
func newChainStack(t *testing.T, config string) *stack {
	t.Helper()
	// AWX runs a template's playbook from the project's root: the
	// repository root, where awxrunner.Playbook's paths start.
	playbooks, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, tmpl: map[string]int{}}
	s.slack = slacktest.NewServer(t, slacktest.WithPingInterval(500*time.Millisecond))
	s.slack.AddUser(alice, "alice")
	s.slack.AddChannel(deploys, "deploys", true, true)
	s.slack.AddChannel(release, "releases", true, true)
	s.awx = awxtest.NewServer(t, awxtest.WithAnsible(playbooks))
	proj := s.awx.AddProject("deploybot", "https://git.example.com/ops/deploybot.git",
		awxrunner.Playbook("web"), awxrunner.Playbook("custom"), awxrunner.Playbook("rollback"))
	for role, name := range map[string]string{"web": "deploybot-web-deploy", "custom": "deploybot-custom-deploy", "rollback": "deploybot-rollback"} {
		s.tmpl[role] = s.awx.AddJobTemplate(awxtest.JobTemplate{Name: name, Playbook: awxrunner.Playbook(role), Project: proj,
			AskInventory: true, AskVariables: true, AskLimit: true, AskJobType: true, AskDiffMode: true})
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "deploybot.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s.wire(t, s.awx.URL, cfgPath, dir)
	s.tun.PollInterval = 100 * time.Millisecond
	t.Cleanup(s.stop)
	return s
}

// ansibleAtNormalPriority puts a wrapper first in PATH that runs
// ansible-playbook at niceness 0. As root, the load generator gives the
// whole test process the request path's priority (webrig.Prioritize); the
// AWX fake's executor runs inside this process, so Ansible would inherit
// that priority and compete with nginx and HAProxy for the CPU, which
// webrig.Playbook avoids in the playbook tests the same way.
func ansibleAtNormalPriority(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	target, err := exec.LookPath("ansible-playbook")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	script := fmt.Sprintf("#!/usr/bin/python3\nimport os, sys\nos.setpriority(os.PRIO_PROCESS, 0, 0)\nos.execv(%q, [%q] + sys.argv[1:])\n", target, target)
	if err := os.WriteFile(filepath.Join(bin, "ansible-playbook"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// chainAwaitCard waits up to timeout for the card of request id to show
// label (a release under real Ansible outlasts stack.card's deadline).
func chainAwaitCard(s *stack, id int64, label string, timeout time.Duration) slacktest.Message {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), timeout)
	defer cancel()
	prefix := fmt.Sprintf("#%d ", id)
	m, err := s.slack.AwaitMessage(ctx, deploys, func(m slacktest.Message) bool {
		return strings.HasPrefix(m.Text, prefix) && (strings.HasSuffix(m.Text, ": "+label) || strings.HasSuffix(m.Text, ": Failed"))
	})
	if err != nil {
		s.t.Fatalf("card #%d never showed %q within %v; logs:\n%s", id, label, timeout, s.logs.String())
	}
	if !strings.HasSuffix(m.Text, ": "+label) {
		s.t.Fatalf("card #%d: %q, want %q\n%s\nthread:\n%s%s", id, m.Text, label, s.cardBlocks(m), s.threadText(m), chainOutput(s, m))
	}
	return m
}

// chainOutput is the playbook output uploaded in a card's thread, if any.
func chainOutput(s *stack, m slacktest.Message) string {
	for _, u := range s.slack.Uploads() {
		if u.ThreadTS == m.TS && u.Completed {
			return string(u.Content)
		}
	}
	return ""
}

// chainStep is one /deploy command of the chain test.
type chainStep struct {
	text     string // after /deploy
	after    int64  // the previous request id
	from, to string // the versions served before and after
}

// chainRelease sends /deploy step.text as alice while the load runs, waits
// for the card to end Succeeded and checks the load, the thread and the
// output. It returns the request id and the card.
func chainRelease(t *testing.T, s *stack, lb *webrig.HAProxy, step chainStep) (int64, slacktest.Message) {
	t.Helper()
	load := webrig.StartLoad(t.Context(), webrig.LoadConfig{
		URL: lb.URL() + "/", Rate: 40, Workers: 4, Slow: 500 * time.Millisecond,
		Accept: func(body string) bool { return body == chainBody(step.from) || body == chainBody(step.to) },
	})
	start := time.Now()
	s.slash(alice, step.text)
	id, _ := s.newCard(step.after)
	card := chainAwaitCard(s, id, "Succeeded", 75*time.Second)
	took := time.Since(start)
	res := load.Stop()
	t.Logf("figure: /deploy %s: card Succeeded after %v; load: %s", step.text, took.Round(10*time.Millisecond), res)
	if res.Failed != 0 {
		t.Errorf("/deploy %s: %d of %d requests failed: %q\nHAProxy: %q", step.text, res.Failed, res.Total, res.Failures, lb.BadRequests(500*time.Millisecond))
	}
	if res.Total < 100 {
		t.Errorf("/deploy %s: only %d requests during the release", step.text, res.Total)
	}
	if res.Bodies[chainBody(step.from)] == 0 || res.Bodies[chainBody(step.to)] == 0 {
		t.Errorf("/deploy %s: the load did not see %s and %s: %s", step.text, step.from, step.to, res)
	}

	var thread string
	s.await("the milestones and the output in the thread", func() bool {
		thread = s.threadText(card)
		return strings.Contains(thread, "3 hosts") && chainOutput(s, card) != ""
	})
	for _, want := range []string{"Play: ", "Roll the ", "web1 done", "web2 done", "web3 done", "on 3 hosts"} {
		if !strings.Contains(thread, want) {
			t.Errorf("/deploy %s: the thread lacks %q:\n%s", step.text, want, thread)
		}
	}
	out := chainOutput(s, card)
	for _, want := range []string{"PLAY RECAP", "L4 out: raise the flag", "L4 in: ", "web3"} {
		if !strings.Contains(out, want) {
			t.Errorf("/deploy %s: the uploaded output lacks %q:\n%s", step.text, want, out)
		}
	}
	if strings.Contains(out, "failed=1") || strings.Contains(out, "unreachable=1") {
		t.Errorf("/deploy %s: the output shows a failure:\n%s", step.text, out)
	}
	return id, card
}

// chainRequireVersion checks that every instance serves version, records it
// (with the release id) in current.json, is out of no L4 and is up in
// HAProxy.
func chainRequireVersion(ctx context.Context, t *testing.T, lb *webrig.HAProxy, hosts []*webrig.Nginx, version string, releaseID int64) {
	t.Helper()
	for _, n := range hosts {
		body, err := n.Get(ctx, "/")
		if err != nil || strings.TrimSpace(body) != chainBody(version) {
			t.Errorf("%s serves %q (%v), want %q", n.Name, body, err, chainBody(version))
		}
		var current struct {
			Version   string `json:"version"`
			ReleaseID string `json:"release_id"`
		}
		b, err := os.ReadFile(filepath.Join(n.DeployPath, "current.json"))
		if err == nil {
			err = json.Unmarshal(b, &current)
		}
		if err != nil || current.Version != version || current.ReleaseID != fmt.Sprint(releaseID) {
			t.Errorf("%s: current.json %s (%v), want version %s of release %d", n.Name, b, err, version, releaseID)
		}
		if _, err := os.Stat(n.FlagFile); !os.IsNotExist(err) {
			t.Errorf("%s: the out-of-service flag is still there (%v)", n.Name, err)
		}
	}
	st, err := lb.Statuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range hosts {
		if st[n.Name] != "UP" {
			t.Errorf("HAProxy has %s %q, want UP", n.Name, st[n.Name])
		}
	}
}

// TestChainReleaseAndRollbackUnderLoad: three nginx instances behind
// HAProxy serve shop-web 1.0.0, installed by hand. Through Slack, the bot,
// the AWX fake and the real playbooks, under load, with zero failed
// requests: /deploy shop-web staging 1.0.0 takes them over (the playbook
// now records the version), /deploy shop-web staging 2.0.0 rolls them to
// 2.0.0, and /deploy rollback shop-web staging restores 1.0.0.
func TestChainReleaseAndRollbackUnderLoad(t *testing.T) {
	webrig.RequireTools(t, "ansible-playbook", "nginx", "haproxy")
	ansibleAtNormalPriority(t)
	ctx := t.Context()
	dir := t.TempDir()

	const oldVersion, newVersion = "1.0.0", "2.0.0"
	hosts := make([]*webrig.Nginx, 3)
	for i := range hosts {
		n := webrig.NewNginx(t, dir, fmt.Sprintf("web%d", i+1), map[string]string{"index.html": chainBody(oldVersion) + "\n"})
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		hosts[i] = n
	}
	lb := webrig.StartHAProxy(ctx, t, dir, "shop-web", chainCheck, hosts)

	blobs := map[string][]byte{}
	sums := map[string]string{}
	for _, v := range []string{oldVersion, newVersion} {
		build := webrig.TarGz(t, map[string]string{"index.html": chainBody(v) + "\n"})
		sum := sha256.Sum256(build)
		sums[v] = hex.EncodeToString(sum[:])
		path := fmt.Sprintf("/shop-web/%s/shop-web-%s.tar.gz", v, v)
		blobs[path] = build
		blobs[path+".sha256"] = []byte(sums[v] + "  shop-web-" + v + ".tar.gz\n")
	}
	artifacts := webrig.ServeArtifacts(t, blobs)

	s := newChainStack(t, chainConfig(dir, artifacts.URL, lb.StatsURL(), hosts))
	s.start()

	first, _ := chainRelease(t, s, lb, chainStep{text: "shop-web staging " + oldVersion, from: oldVersion, to: oldVersion})
	chainRequireVersion(ctx, t, lb, hosts, oldVersion, first)
	if t.Failed() {
		return
	}

	second, _ := chainRelease(t, s, lb, chainStep{text: "shop-web staging " + newVersion, after: first, from: oldVersion, to: newVersion})
	chainRequireVersion(ctx, t, lb, hosts, newVersion, second)
	launches := s.launchesOf("web")
	if len(launches) != 2 {
		t.Fatalf("web template launches = %d, want 2", len(launches))
	}
	vars, _ := launches[1].Body["extra_vars"].(map[string]any)
	if vars["deploy_version"] != newVersion || fmt.Sprint(vars["l4_interval"]) != "0.2" ||
		vars["artifact_checksum"] != "sha256:"+sums[newVersion] {
		t.Errorf("extra vars = %v", vars)
	}
	// The per-host settings reached AWX under the names the playbooks read.
	inv, _ := strconv.Atoi(fmt.Sprint(launches[1].Body["inventory"]))
	for _, n := range hosts {
		text, ok := s.awx.HostVariables(inv, n.Name)
		for _, want := range []string{"host_web_port", "host_docroot", "host_deploy_path", "host_pid_file", "l4_stats_url",
			"ansible_connection", strconv.Itoa(n.Port), n.Docroot} {
			if !ok || !strings.Contains(text, want) {
				t.Errorf("%s's variables in AWX inventory %d lack %q: %s", n.Name, inv, want, text)
			}
		}
	}
	for _, n := range hosts {
		if _, err := os.Stat(filepath.Join(n.DeployPath, "backups", fmt.Sprint(second), "manifest.json")); err != nil {
			t.Errorf("%s: no backup named after release #%d: %v", n.Name, second, err)
		}
	}
	if t.Failed() {
		return
	}

	third, card := chainRelease(t, s, lb, chainStep{text: "rollback shop-web staging", after: second, from: newVersion, to: oldVersion})
	chainRequireVersion(ctx, t, lb, hosts, oldVersion, third)
	for _, want := range []string{fmt.Sprintf("%s (#%d)", oldVersion, first), fmt.Sprintf("%s (#%d)", newVersion, second)} {
		if !strings.Contains(s.cardBlocks(card), want) {
			t.Errorf("the rollback card does not name %q:\n%s", want, s.cardBlocks(card))
		}
	}
	ls := s.launchesOf("rollback")
	if n := len(ls); n != 1 {
		t.Fatalf("rollback template launches = %d, want 1", n)
	}
	// The bot chose the version every host ends on, and the real hosts
	// serve it (chainRequireVersion above).
	if vars, _ := ls[0].Body["extra_vars"].(map[string]any); vars["rollback_version"] != oldVersion {
		t.Errorf("the rollback was not sent the version to bring every host to: extra vars %v", vars)
	}
}
