package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/bot/slacktest"
)

// TestStoryConfigReload: an operator adds an environment to deploybot.yaml
// and sends SIGHUP. A broken file, then one naming a job template AWX does
// not have, change nothing and say so in the log; the fixed file applies at
// once, without a restart: the AWX
// inventory of the new environment is created with its host, and a
// release to it runs there.
func TestStoryConfigReload(t *testing.T) {
	s := newStack(t)
	hup := make(chan os.Signal, 1)
	s.tun.Reload = hup
	s.start()
	const qa = "qa-web-01.example.com"

	s.slash(alice, "shop-web qa 1.4.2")
	s.reply(alice, "no environment")

	path := s.env["DEPLOYBOT_CONFIG"]
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	withQA := strings.Replace(string(orig), "      production:\n        hosts: [web-01.example.com",
		"      qa:\n        hosts: ["+qa+"]\n        deployers: [U01ALICE00]\n        approval: {required: false}\n"+
			"      production:\n        hosts: [web-01.example.com", 1)
	if withQA == string(orig) {
		t.Fatal("the stories' config changed: update this test")
	}

	// A mistake in the file: nothing changes, the log says what to do.
	write(strings.Replace(withQA, "deployers: [U01ALICE00]\n        approval: {required: false}", "deployers: [U01ALICE00]\n        aproval: {required: false}", 1))
	hup <- syscall.SIGHUP
	s.await("the refused reload in the log", func() bool {
		return strings.Contains(s.logs.String(), "configuration not reloaded")
	})
	if !strings.Contains(s.logs.String(), "aproval") {
		t.Errorf("the log does not name the unknown key:\n%s", s.logs.String())
	}
	s.slash(alice, "shop-web qa 1.4.2")
	s.await("a second refusal", func() bool { return strings.Count(allEphemerals(s, alice), "no environment") >= 2 })

	// A job template AWX does not have: refused as at start, nothing changes.
	missingTemplate := strings.Replace(withQA, "web: deploybot-web-deploy", "web: deploybot-web-deploy-v2", 1)
	if missingTemplate == withQA {
		t.Fatal("the stories' config changed: update this test")
	}
	write(missingTemplate)
	hup <- syscall.SIGHUP
	s.await("the reload refused for its template", func() bool {
		return strings.Count(s.logs.String(), "configuration not reloaded") >= 2
	})
	if !strings.Contains(s.logs.String(), "deploybot-web-deploy-v2") {
		t.Errorf("the refusal does not name the missing template:\n%s", s.logs.String())
	}
	s.slash(alice, "shop-web qa 1.4.2")
	s.await("a third refusal", func() bool { return strings.Count(allEphemerals(s, alice), "no environment") >= 3 })

	write(withQA)
	hup <- syscall.SIGHUP
	s.await("the reload in the log", func() bool {
		return strings.Contains(s.logs.String(), "configuration reloaded") &&
			strings.Contains(s.logs.String(), "AWX prepared for the reloaded configuration")
	})
	s.slash(alice, "shop-web qa 1.4.2")
	id, _ := s.newCard(0)
	s.card(id, "Succeeded")
	ls := s.launchesOf("web")
	if len(ls) != 1 {
		t.Fatalf("web launches = %d, want 1", len(ls))
	}
	if ls[0].Body["limit"] != qa {
		t.Errorf("the release ran on %v, want %s", ls[0].Body["limit"], qa)
	}
	if ls[0].Body["inventory"] == nil {
		t.Errorf("launch without an inventory: %v", ls[0].Body)
	}
}

// allEphemerals joins what user was told, for counting answers.
func allEphemerals(s *stack, user string) string {
	var b strings.Builder
	for _, e := range s.slack.Ephemerals(user) {
		b.WriteString(e.Text + "\n" + unescapeJSON(e.Blocks) + "\n")
	}
	return b.String()
}

// TestStoryReloadReported: an operator adds an app and a host, removes an
// app that a schedule releases, and changes the approvers, then sends
// SIGHUP. /deploy apps lists the new app at once, AWX gets its inventory
// and the new host, the announce channel gets one summary of what changed,
// the schedule is paused (not deleted) with a word in its channel, and
// deploybot_config_reload_total counts it. A broken edit keeps the bot on
// the configuration it had and the announce channel is told why, with the
// key path and line. Then the real `deploybot reload` applies the original
// file again (the schedule stays paused until someone resumes it) and
// fails, saying why, on a broken one.
func TestStoryReloadReported(t *testing.T) {
	bin, _ := deploybotBinary(t)
	s := newStack(t)
	hup := make(chan os.Signal, 1)
	s.tun.Reload = hup
	s.start()
	ctx := s.ctx()
	metrics := "http://" + s.env["DEPLOYBOT_HTTP_ADDR"] + "/metrics"
	waitMetric := func(want string) {
		t.Helper()
		waitHTTP(t, metrics, func(_ int, body string) bool { return strings.Contains(body, want) })
	}
	waitMetric(`deploybot_config_reload_total{result="applied"} 0`)
	waitMetric(`deploybot_config_reload_total{result="refused"} 0`)

	s.slash(alice, `schedule batch-api production 2.0.0 "0 3 1 1 *"`)
	created := s.reply(alice, "batch-api")
	m := regexp.MustCompile(`(?i)schedule [#S]?(\d+)`).FindStringSubmatch(created.Text + unescapeJSON(created.Blocks))
	if m == nil {
		t.Fatalf("the answer does not name the schedule: %s", created.Text)
	}
	sched := "S" + m[1]

	path := s.env["DEPLOYBOT_CONFIG"]
	origBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	orig := string(origBytes)
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const searchApp = "  search-api:\n    type: custom\n    environments:\n      production:\n        hosts: [search-01.example.com]\n" +
		"        deployers: [U01ALICE00]\n        command: /opt/search/deploy.sh {version}\n        approval: {required: false}\n"
	edited := strings.NewReplacer(
		"hosts: [web-01.example.com, web-02.example.com]", "hosts: [web-01.example.com, web-02.example.com, web-03.example.com]",
		`approvers: [U02BOB0000, "@shop-leads", U01ALICE00]`, `approvers: [U02BOB0000, "@shop-leads"]`,
	).Replace(orig[:strings.Index(orig, "  batch-api:")]) + orig[strings.Index(orig, "  cache-warmer:"):] + searchApp
	if !strings.Contains(edited, "web-03") || strings.Contains(edited, "U01ALICE00]\n          min_approvals") || strings.Contains(edited, "batch-api") {
		t.Fatal("the stories' config changed: update this test")
	}
	announced := func() string {
		var b strings.Builder
		for _, m := range s.slack.Messages(release) {
			b.WriteString(m.Text + "\n")
		}
		return b.String()
	}

	write(edited)
	hup <- syscall.SIGHUP
	s.await("the summary in the announce channel", func() bool { return strings.Contains(announced(), "Configuration reloaded") })
	summary := announced()[strings.Index(announced(), "Configuration reloaded"):]
	for _, want := range []string{
		"Apps added: `search-api`", "Apps removed: `batch-api`",
		"`shop-web production`: hosts added `web-03.example.com`; approvers removed <@U01ALICE00>",
		sched + " (batch-api 2.0.0 → production) paused", "/deploy resume " + sched,
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("the summary lacks %q:\n%s", want, summary)
		}
	}
	if n := strings.Count(announced(), "Configuration reloaded"); n != 1 {
		t.Errorf("the reload was announced %d times, want once", n)
	}
	waitMetric(`deploybot_config_reload_total{result="applied"} 1`)
	s.slash(alice, "apps")
	s.reply(alice, "search-api")
	s.slash(alice, "schedules")
	s.reply(alice, sched, "paused")
	if _, err := s.slack.AwaitMessage(ctx, deploys, func(m slacktest.Message) bool {
		return strings.Contains(m.Text, "Schedule "+sched) && strings.Contains(m.Text, "is paused")
	}); err != nil {
		t.Errorf("the schedule's channel was not told it is paused: %v", err)
	}
	awx, err := awxclient.NewClient(s.awx.URL, awxclient.WithToken(s.awx.Token))
	if err != nil {
		t.Fatal(err)
	}
	hasHost := func(inventory, host string) bool {
		inv, err := awx.GetInventoryByName(ctx, 1, inventory)
		if err != nil {
			return false
		}
		hosts, err := awx.ListHosts(ctx, inv.ID)
		return err == nil && slices.ContainsFunc(hosts, func(h awxclient.Host) bool { return h.Name == host })
	}
	s.await("the new host in AWX", func() bool { return hasHost("deploybot-shop-web-production", "web-03.example.com") })
	s.await("the new app's inventory in AWX", func() bool { return hasHost("deploybot-search-api-production", "search-01.example.com") })

	// A broken edit: the bot keeps the configuration it had.
	at := strings.LastIndex(edited, "approval: {required: false}") // search-api's
	broken := edited[:at] + "a" + edited[at+2:]
	line := strings.Count(broken[:at], "\n") + 1
	write(broken)
	hup <- syscall.SIGHUP
	s.await("the refusal in the announce channel", func() bool { return strings.Contains(announced(), "Configuration reload refused") })
	refusal := announced()[strings.Index(announced(), "Configuration reload refused"):]
	for _, want := range []string{
		"The bot keeps the configuration it had",
		fmt.Sprintf("line %d, `apps.search-api.environments.production.aproval`: unknown key", line),
	} {
		if !strings.Contains(refusal, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, refusal)
		}
	}
	waitMetric(`deploybot_config_reload_total{result="refused"} 1`)
	waitMetric(`deploybot_config_reload_total{result="applied"} 1`)
	s.slash(alice, "search-api production 1.0.0")
	id, _ := s.newCard(0)
	s.card(id, "Succeeded")

	// deploybot reload, the real binary: the original file applies, and
	// the schedule stays paused.
	reloadCmd := func(wantOK bool, wants ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, "reload")
		cmd.Env = []string{"DEPLOYBOT_HTTP_ADDR=" + s.env["DEPLOYBOT_HTTP_ADDR"]}
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if (err == nil) != wantOK {
			t.Errorf("deploybot reload: %v, want success %v\nstdout: %s\nstderr: %s", err, wantOK, stdout.String(), stderr.String())
		}
		for _, want := range wants {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("deploybot reload printed no %q:\n%s", want, stdout.String())
			}
		}
	}
	write(orig)
	reloadCmd(true, "configuration reloaded", "Apps added: batch-api", "Apps removed: search-api") // from edited: the broken file never applied
	waitMetric(`deploybot_config_reload_total{result="applied"} 2`)
	s.slash(alice, "apps")
	s.reply(alice, "batch-api")
	listed := strings.Count(allEphemerals(s, alice), "paused · by")
	s.slash(alice, "schedules")
	s.await("the schedule listed as paused again", func() bool {
		return strings.Count(allEphemerals(s, alice), "paused · by") > listed
	})
	write(broken)
	reloadCmd(false, "configuration not reloaded", "the bot keeps the configuration it had", "aproval")
	waitMetric(`deploybot_config_reload_total{result="refused"} 2`)
	reloadCmd(false, "configuration not reloaded") // nothing applies until the file is fixed
	write(orig)
	reloadCmd(true, "configuration reloaded: no changes")
	if n := strings.Count(announced(), "Configuration reloaded"); n != 2 {
		t.Errorf("reloads announced: %d, want 2 (the last changed nothing)", n)
	}
}
