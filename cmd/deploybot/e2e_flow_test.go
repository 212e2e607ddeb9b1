package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/awxclient/awxtest"
	"github.com/deploybot/deploybot/bot/slacktest"
)

// TestStoryReject: an approver rejects a production release; a stranger's
// reject click is refused; nothing reaches AWX.
func TestStoryReject(t *testing.T) {
	s := newStack(t)
	s.start()
	s.slash(alice, "shop-web production 1.4.2")
	id, _ := s.newCard(0)
	card := s.card(id, "Waiting for approval")
	s.click(eve, card, "reject")
	s.ephemeral(eve, "can reject")
	s.click(bob, card, "reject")
	s.card(id, "Rejected")
	if !strings.Contains(s.cardBlocks(card), "Rejected by <@"+bob+">") {
		t.Errorf("the card does not say who rejected:\n%s", s.cardBlocks(card))
	}
	if n := s.jobLaunchingWrites(); n != 0 {
		t.Errorf("%d launches for a rejected request", n)
	}
}

var expiresRE = regexp.MustCompile(`Expires \d{4}-\d\d-\d\d \d\d:\d\d KST \((\w+ \d+ )?\d\d:\d\d UTC\)`)

// TestStoryExpiry: an approval window passes; a click after it is refused
// clearly, and the card closes with a note.
func TestStoryExpiry(t *testing.T) {
	s := newStackConfig(t, strings.Replace(e2eConfig, "expires_after: 30m", "expires_after: 2s", 1))
	s.start()
	s.slash(alice, "shop-web production 1.4.2")
	id, _ := s.newCard(0)
	card := s.card(id, "Waiting for approval")
	// The card says when it expires in the configured zone, UTC in brackets.
	if !expiresRE.MatchString(s.cardBlocks(card)) {
		t.Fatalf("the card does not say when it expires:\n%s", s.cardBlocks(card))
	}
	// The request was made before its card showed: 2s from now is past it.
	expires := time.Now().Add(2*time.Second + 100*time.Millisecond)
	// Block the card's update for a moment, so that the Approve button is
	// still there to click after the window closed, as on a slow client.
	s.slack.ForceRateLimit("chat.update", 1, 2*time.Second)
	s.await("the approval window to pass", func() bool { return time.Now().After(expires) })
	s.click(bob, card, "approve")
	s.reply(bob, fmt.Sprintf("#%d", id), "expired")
	closed := s.card(id, "Expired")
	if th := s.threadText(card); !strings.Contains(th, "still needs 1 approval") {
		t.Errorf("no reminder before expiry in the thread:\n%s", th)
	}
	if !strings.Contains(s.cardBlocks(closed), "Expired at") {
		t.Errorf("the expired card has no note:\n%s", s.cardBlocks(closed))
	}
	if strings.Contains(s.cardBlocks(closed), `"approve"`) {
		t.Errorf("the expired card still has an Approve button")
	}
	if n := s.jobLaunchingWrites(); n != 0 {
		t.Errorf("%d launches for an expired request", n)
	}
}

// TestStoryFailureDigest: a host fails a task; the thread names the host,
// the task, the module's message and the last lines; the card ends Failed
// with a host recap and the output is uploaded.
func TestStoryFailureDigest(t *testing.T) {
	s := newStack(t)
	const ok, bad = "stg-web-01.example.com", "stg-web-02.example.com"
	pb := awxtest.NewPlaybook("web_deploy.yml").Play("web").
		Task("fetch the build", "get_url").Changed(ok, "").Changed(bad, "").
		Debug(ok, "release 1.4.2 unpacked into /opt/deploy/shop-web/releases/7").
		Task("switch the current release", "file").Changed(ok, "").
		Failed(bad, "Destination /opt/deploy/shop-web/current not writable")
	s.awx.SetBehavior(s.tmpl["web"], pb.Behavior(awxtest.ScriptOptions{}), false)
	s.start()
	s.slash(alice, "shop-web staging 1.4.2")
	id, _ := s.newCard(0)
	card := s.card(id, "Failed")
	blocks := s.cardBlocks(card)
	for _, want := range []string{bad, "switch the current release", "not writable", "ok=", "failed=1"} {
		if !strings.Contains(blocks, want) {
			t.Errorf("the failed card lacks %q:\n%s", want, blocks)
		}
	}
	var thread string
	s.await("the failure digest in the thread", func() bool {
		thread = s.threadText(card) + threadBlocks(s, card)
		return strings.Contains(thread, "not writable") && strings.Contains(thread, "FAILED!")
	})
	for _, want := range []string{bad, "switch the current release", "not writable"} {
		if !strings.Contains(thread, want) {
			t.Errorf("the digest lacks %q:\n%s", want, thread)
		}
	}
	s.await("the output uploaded in the thread", func() bool {
		for _, u := range s.slack.Uploads() {
			if u.ThreadTS == card.TS && u.Completed && strings.Contains(string(u.Content), "not writable") {
				return true
			}
		}
		return false
	})
}

// threadBlocks is the searchable text of the blocks of a card's replies.
func threadBlocks(s *stack, m slacktest.Message) string {
	var b strings.Builder
	for _, r := range s.slack.Thread(deploys, m.TS)[1:] {
		b.WriteString(unescapeJSON(r.Blocks))
		b.WriteString("\n")
	}
	return b.String()
}

// TestStoryCancel: a running job is canceled from its card's button and
// another with /deploy cancel; a queued request is canceled before it
// ever reaches AWX.
func TestStoryCancel(t *testing.T) {
	s := newStack(t)
	held := awxtest.NewPlaybook("web_deploy.yml").Play("web").Task("fetch the build", "get_url").
		Changed("stg-web-01.example.com", "")
	s.awx.SetBehavior(s.tmpl["web"], held.Behavior(awxtest.ScriptOptions{HoldRunning: true}), false)
	s.start()

	// The button, while running.
	s.slash(alice, "shop-web staging 1.4.2")
	id1, _ := s.newCard(0)
	card1 := s.card(id1, "Running")
	s.click(dave, card1, "cancel") // a deployer through @shop-devs
	s.card(id1, "Canceled")
	if st := s.awx.JobStatus(s.awx.Launches()[0].Job); st != "canceled" {
		t.Errorf("AWX job is %s after cancel, want canceled", st)
	}

	// The command, while running; a third request waits in the queue
	// and is canceled there.
	s.slash(alice, "shop-web staging 1.4.3")
	id2, _ := s.newCard(id1)
	s.card(id2, "Running")
	s.slash(alice, "shop-web staging 1.4.4")
	id3, _ := s.newCard(id2)
	s.card(id3, "Queued")
	s.slash(eve, fmt.Sprintf("cancel %d", id3))
	s.reply(eve, "can cancel")
	s.slash(alice, fmt.Sprintf("cancel %d", id3))
	s.card(id3, "Canceled")
	s.slash(alice, fmt.Sprintf("cancel %d", id2))
	s.reply(alice, fmt.Sprintf("#%d", id2))
	s.card(id2, "Canceled")
	if n := len(s.awx.Launches()); n != 2 {
		t.Errorf("launches = %d, want 2 (the queued request never launches)", n)
	}
	s.slash(alice, fmt.Sprintf("cancel %d", id2))
	s.reply(alice, "already canceled")
}

// TestStoryQueue: a second release to the same environment waits its
// turn with its position on the card and starts when the first ends; a
// manual lock holds the queue, shows who, why and since when, and unlock
// lets it go.
func TestStoryQueue(t *testing.T) {
	s := newStack(t)
	open := make(chan struct{})
	s.awx.SetBehavior(s.tmpl["web"], gate(open), false)
	s.start()

	s.slash(alice, "shop-web staging 1.4.2")
	id1, _ := s.newCard(0)
	s.card(id1, "Running")
	s.slash(dave, "shop-web staging 1.4.3")
	id2, _ := s.newCard(id1)
	q := s.card(id2, "Queued")
	if b := s.cardBlocks(q); !strings.Contains(b, "position 1") || !strings.Contains(b, fmt.Sprintf("#%d", id1)) {
		t.Errorf("the queued card does not show its position and what it waits for:\n%s", b)
	}
	if n := len(s.awx.Launches()); n != 1 {
		t.Fatalf("launches = %d while the first runs, want 1", n)
	}
	close(open)
	s.card(id1, "Succeeded")
	s.card(id2, "Succeeded")

	s.slash(alice, "lock shop-web staging database migration until 18:00")
	s.channelSays("locked by <@" + alice + ">") // told to the channel, not to alice alone
	s.slash(alice, "shop-web staging 1.4.4")
	id3, _ := s.newCard(id2)
	held := s.card(id3, "Queued")
	if b := s.cardBlocks(held); !strings.Contains(b, "database migration") {
		t.Errorf("the card held by a lock does not say why:\n%s", b)
	}
	s.slash(bob, "status shop-web staging")
	s.reply(bob, "locked by <@"+alice+">", "since <!date^", "database migration")
	if n := len(s.awx.Launches()); n != 2 {
		t.Fatalf("launches = %d while locked, want 2", n)
	}
	s.slash(alice, "unlock shop-web staging")
	s.channelSays("unlocked by <@" + alice + ">")
	s.card(id3, "Succeeded")
}

// TestStoryCustomApps: pre/post commands go through the custom job
// template, a single command through an ad-hoc shell command; the version
// is shell-quoted in both.
func TestStoryCustomApps(t *testing.T) {
	s := newStack(t)
	s.start()
	s.slash(alice, "batch-api production 2.0.1")
	id1, _ := s.newCard(0)
	s.card(id1, "Succeeded")
	ls := s.launchesOf("custom")
	if len(ls) != 1 {
		t.Fatalf("custom template launches = %d, want 1", len(ls))
	}
	vars, _ := ls[0].Body["extra_vars"].(map[string]any)
	if got := fmt.Sprintln(vars["pre_commands"], vars["deploy_command"], vars["post_commands"]); got != "[echo pre] /opt/batch-api/bin/deploy.sh '2.0.1' [echo post]\n" {
		t.Errorf("custom extra vars = %s", got)
	}

	s.slash(alice, "cache-warmer production 2.0.1")
	id2, _ := s.newCard(id1)
	s.card(id2, "Succeeded")
	posts := s.adHocPosts()
	if len(posts) != 1 {
		t.Fatalf("ad-hoc commands = %d, want 1", len(posts))
	}
	if posts[0]["module_name"] != "shell" || posts[0]["module_args"] != "/usr/local/bin/warm-cache --release '2.0.1'" {
		t.Errorf("ad-hoc command = %v %q", posts[0]["module_name"], posts[0]["module_args"])
	}
	if n := len(s.awx.Launches()); n != 1 {
		t.Errorf("job template launches = %d, want only the batch-api one", n)
	}
}

// TestStoryRollback: after two releases, /deploy rollback launches the
// rollback template and the card says what it restores; --to names the
// release to restore.
func TestStoryRollback(t *testing.T) {
	s := newStack(t)
	s.start()
	s.slash(alice, "shop-web staging 1.4.1")
	id1, _ := s.newCard(0)
	s.card(id1, "Succeeded")
	s.slash(alice, "shop-web staging 1.4.2")
	id2, _ := s.newCard(id1)
	s.card(id2, "Succeeded")

	s.slash(alice, "rollback shop-web staging")
	id3, _ := s.newCard(id2)
	card := s.card(id3, "Succeeded")
	if !strings.Contains(card.Text, "Rollback shop-web staging") {
		t.Errorf("rollback card title = %q", card.Text)
	}
	want := fmt.Sprintf("Restores 1.4.1 (#%d) on every host, the release before 1.4.2 (#%d)", id1, id2)
	if b := s.cardBlocks(card); !strings.Contains(b, want) {
		t.Errorf("the rollback card does not say %q:\n%s", want, b)
	}
	if vars, _ := s.launchesOf("rollback")[0].Body["extra_vars"].(map[string]any); vars["rollback_version"] != "1.4.1" {
		t.Errorf("the rollback does not bring the hosts to 1.4.1: extra vars %v", vars)
	}

	// --to names a release; its backup holds what was live before it.
	s.slash(alice, fmt.Sprintf("rollback shop-web staging --to %d", id2))
	id4, _ := s.newCard(id3)
	card = s.card(id4, "Succeeded")
	want = fmt.Sprintf("1.4.1 (#%d), what was live before 1.4.2 (#%d)", id1, id2)
	if b := s.cardBlocks(card); !strings.Contains(b, "*Restores*\n"+want) || !strings.Contains(b, "Restores "+want) {
		t.Errorf("the rollback card's Restores field and note do not both say %q:\n%s", want, b)
	}
	ls := s.launchesOf("rollback")
	if len(ls) != 2 {
		t.Fatalf("rollback template launches = %d, want 2", len(ls))
	}
	vars, _ := ls[1].Body["extra_vars"].(map[string]any)
	if vars["rollback_release_id"] != strconv.FormatInt(id2, 10) {
		t.Errorf("rollback extra vars = %v", vars)
	}
}

// TestStoryRollbackAfterPartialFailure: a release that failed on one of
// two hosts leaves them on different versions; the rollback card says,
// before anyone approves, where each host stands and that both end on the
// last release live on all of them, and that is the version AWX is sent.
func TestStoryRollbackAfterPartialFailure(t *testing.T) {
	s := newStack(t)
	const ok, bad = "web-01.example.com", "web-02.example.com"
	s.start()
	s.slash(alice, "shop-web production 1.4.1")
	id1, _ := s.newCard(0)
	s.click(bob, s.card(id1, "Waiting for approval"), "approve")
	s.card(id1, "Succeeded")

	pb := awxtest.NewPlaybook("web_deploy.yml").Play("web").
		Task("switch the current release", "file").Changed(ok, "").
		Failed(bad, "Destination /opt/deploy/shop-web/current not writable")
	s.awx.SetBehavior(s.tmpl["web"], pb.Behavior(awxtest.ScriptOptions{}), false)
	s.slash(alice, "shop-web production 1.4.2")
	id2, _ := s.newCard(id1)
	s.click(bob, s.card(id2, "Waiting for approval"), "approve")
	s.card(id2, "Failed")

	s.slash(alice, "rollback shop-web production")
	id3, _ := s.newCard(id2)
	card := s.card(id3, "Waiting for approval")
	b := s.cardBlocks(card)
	for _, want := range []string{
		fmt.Sprintf("1.4.1 (#%d) on every host, the last release live on all of them before 1.4.2 (#%d), which did not finish", id1, id2),
		"*Hosts* (as the release history says)",
		"`1.4.2` or `1.4.1` → `1.4.1`: " + ok + ", " + bad,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("the rollback card before approval lacks %q:\n%s", want, b)
		}
	}
	s.click(bob, card, "approve")
	done := s.card(id3, "Succeeded")
	if strings.Contains(s.cardBlocks(done), "as the release history says") {
		t.Errorf("the finished card still shows the hosts before the rollback:\n%s", s.cardBlocks(done))
	}
	ls := s.launchesOf("rollback")
	if len(ls) != 1 {
		t.Fatalf("rollback launches = %d, want 1", len(ls))
	}
	if vars, _ := ls[0].Body["extra_vars"].(map[string]any); vars["rollback_version"] != "1.4.1" || vars["rollback_release_id"] != "" {
		t.Errorf("the rollback does not bring every host to 1.4.1: extra vars %v", vars)
	}
}

// TestStoryDryRun: --check runs the job in check mode without approval,
// and its summary is attached to the approval card of the same plan.
func TestStoryDryRun(t *testing.T) {
	s := newStack(t)
	s.start()
	s.slash(alice, "shop-web production 1.4.2 --check")
	id1, _ := s.newCard(0)
	dry := s.card(id1, "Succeeded")
	if !strings.HasPrefix(dry.Text, fmt.Sprintf("#%d Dry run:", id1)) {
		t.Errorf("dry-run card title = %q", dry.Text)
	}
	ls := s.awx.Launches()
	if len(ls) != 1 || ls[0].Body["job_type"] != "check" {
		t.Fatalf("dry run launches = %v", ls)
	}
	s.slash(alice, "shop-web production 1.4.2")
	id2, _ := s.newCard(id1)
	card := s.card(id2, "Waiting for approval")
	if b := s.cardBlocks(card); !strings.Contains(b, "Dry run summary") {
		t.Errorf("the approval card has no dry-run summary:\n%s", b)
	}
}

// TestStoryInformation: history, status, log, apps, help and an unknown
// command each give a clear answer.
func TestStoryInformation(t *testing.T) {
	s := newStack(t)
	s.start()
	s.slash(alice, "shop-web staging 1.4.2")
	id, _ := s.newCard(0)
	s.card(id, "Succeeded")

	cases := []struct {
		text  string
		parts []string
	}{
		{"history shop-web staging", []string{"History of shop-web staging", fmt.Sprintf("#%d", id), "1.4.2"}},
		{"history shop-web", []string{"History of shop-web", fmt.Sprintf("#%d", id)}},
		{"status", []string{"Status of all apps", "Nothing runs, waits or is locked."}},
		{fmt.Sprintf("log %d", id), []string{fmt.Sprintf("The output of #%d", id), "thread"}},
		{"log 999", []string{"999"}},
		{"apps", []string{"Apps", "shop-web", "batch-api", "cache-warmer", "staging"}},
		{"help", []string{"deploybot help", "/deploy"}},
		{"statsu", []string{"unknown command", "status"}},
		{"frobnicate", []string{"neither a /deploy command nor an app", "Usage"}},
		{"shop-web nowhere 1.4.2", []string{"nowhere"}},
		{"nosuchapp staging 1.4.2", []string{"nosuchapp"}},
	}
	for _, c := range cases {
		s.slash(dave, c.text)
		s.reply(dave, c.parts...)
	}
}

// TestStoryModal: /deploy alone opens the form; a bad version keeps it
// open with an error under the version field; a good one requests the
// release.
func TestStoryModal(t *testing.T) {
	s := newStack(t)
	s.start()
	s.slash(alice, "")
	v, err := s.slack.AwaitView(s.ctx(), alice, func(v slacktest.View) bool { return v.Open })
	if err != nil {
		t.Fatalf("no form opened: %v", err)
	}
	ack, err := s.slack.SubmitView(s.ctx(), alice, v.ID, map[string]map[string]string{
		"app": {"app": "shop-web"}, "env": {"env": "staging"}, "version": {"version": "1.4.2;id"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ack.Payload), `"response_action":"errors"`) {
		t.Fatalf("bad version ack = %s", ack.Payload)
	}
	v, _ = s.slack.View(v.ID)
	if !v.Open || v.Errors["version"] == "" || len(v.Errors) != 1 {
		t.Fatalf("form after a bad version: open=%v errors=%v", v.Open, v.Errors)
	}
	if _, err := s.slack.SubmitView(s.ctx(), alice, v.ID, map[string]map[string]string{
		"app": {"app": "shop-web"}, "env": {"env": "staging"}, "version": {"version": "1.4.2"},
	}); err != nil {
		t.Fatal(err)
	}
	id, _ := s.newCard(0)
	s.card(id, "Succeeded")
	if v, _ := s.slack.View(v.ID); v.Open {
		t.Errorf("the form is still open after a good submission")
	}
}
