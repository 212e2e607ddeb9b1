package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot/slacktest"
)

// e2eAnyChannel is the stories' configuration without a channel list: /deploy
// may be typed anywhere, including where the bot cannot post.
var e2eAnyChannel = strings.Replace(e2eConfig, "  channels: [C0DEPLOYS01]\n", "", 1)

// A /deploy typed where the bot cannot post (a private channel it is not
// in, a direct message between people) records nothing and launches
// nothing, even for an environment without approval; the user is told
// through the command's response_url how to fix it.
func TestDeployWhereTheBotCannotPost(t *testing.T) {
	s := newStackConfig(t, e2eAnyChannel)
	s.slack.AddChannel("G0PRIVATE1", "secret-ops", false, false)
	s.slack.AddChannel("D0ALICEBOB", "", false, false) // a DM between alice and bob
	s.start()
	for _, ch := range []string{"G0PRIVATE1", "D0ALICEBOB"} {
		t.Run(ch, func(t *testing.T) {
			if _, err := s.slack.SendSlashCommand(s.ctx(), slacktest.SlashCommand{User: alice, Channel: ch, Command: "/deploy", Text: "shop-web staging 1.4.2"}); err != nil {
				t.Fatal(err)
			}
			e, err := s.slack.AwaitEphemeral(s.ctx(), alice, func(e slacktest.Ephemeral) bool { return e.Channel == ch })
			if err != nil {
				t.Fatalf("no answer in %s: %v", ch, err)
			}
			all := e.Text + unescapeJSON(e.Blocks)
			wants := []string{"I cannot post in this conversation", "/invite @deploybot", "nothing was requested"}
			if ch == "D0ALICEBOB" {
				// The channel policy refuses direct messages before
				// anything is tried there.
				wants = []string{"no commands in direct messages"}
			}
			for _, want := range wants {
				if !strings.Contains(all, want) {
					t.Errorf("answer %q lacks %q", all, want)
				}
			}
			if e.Source != "response_url" && ch != "D0ALICEBOB" {
				t.Errorf("answer came through %s, want response_url", e.Source)
			}
		})
	}
	// The answers came after the domain returned: a request recorded anyway
	// would show in the history.
	s.slash(alice, "history shop-web")
	s.reply(alice, "No releases")
	if ls := s.awx.Launches(); len(ls) != 0 {
		t.Errorf("AWX got %d launches from conversations where no card was posted", len(ls))
	}
}

// A bot token Slack refuses stops the bot at start with an error naming
// SLACK_BOT_TOKEN, before anything else is done.
func TestStoryBotTokenRefusedAtStart(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *stack)
		want  string
	}{
		{"revoked", func(s *stack) { s.slack.RevokeBotToken() }, "token_revoked"},
		{"wrong", func(s *stack) { s.env["SLACK_BOT_TOKEN"] = "xoxb-000000000000-0000000000000-000000000000" }, "invalid_auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t)
			tt.setup(s)
			s.startUnready()
			var err error
			select {
			case err = <-s.done:
				s.done <- nil // for the stack's own stop
			case <-s.ctx().Done():
				t.Fatalf("the bot kept running with a refused token; logs:\n%s", s.logs.String())
			}
			if err == nil || !strings.Contains(err.Error(), "SLACK_BOT_TOKEN") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("start error = %v, want one naming SLACK_BOT_TOKEN and %s", err, tt.want)
			}
			if strings.Contains(fmt.Sprint(err), s.env["SLACK_BOT_TOKEN"]) {
				t.Error("the error prints the token")
			}
			if n := len(s.awx.Launches()); n != 0 {
				t.Errorf("%d launches", n)
			}
		})
	}
}

// A token revoked while the bot runs turns /readyz unready; /readyz asks
// Slack (auth.test) at most once per SlackAuthCheck however often it is
// probed.
func TestStoryBotTokenRevokedWhileRunning(t *testing.T) {
	s := newStack(t)
	s.tun.SlackAuthCheck = time.Hour
	s.start()
	readyz := "http://" + s.env["DEPLOYBOT_HTTP_ADDR"] + "/readyz"
	before := len(s.slack.Calls("auth.test"))
	for range 20 {
		waitHTTP(t, readyz, func(status int, _ string) bool { return status == http.StatusOK })
	}
	if n := len(s.slack.Calls("auth.test")) - before; n > 0 {
		t.Errorf("20 probes within the interval called auth.test %d more times, want 0", n)
	}
	s.stop()

	s.tun.SlackAuthCheck = 200 * time.Millisecond
	s.start()
	s.slack.RevokeBotToken()
	_, body := waitHTTP(t, readyz, func(status int, body string) bool {
		return status == http.StatusServiceUnavailable && strings.Contains(body, "slack token:")
	})
	if !strings.Contains(body, "SLACK_BOT_TOKEN refused") {
		t.Errorf("/readyz does not say the bot token is refused:\n%s", body)
	}
}

// In a public channel the bot posts in only through chat:write.public (it is
// not a member): the card works, a refused click is answered through the
// click's response_url, the job log that Slack will not let it share there
// is replaced by a thread note saying how to get it, and /deploy log answers
// with the end of the output and the fix.
func TestStoryPublicChannelWithoutMembership(t *testing.T) {
	const public = "C0PUBLIC01"
	s := newStackConfig(t, e2eAnyChannel)
	s.slack.AddChannel(public, "frontend", true, false)
	s.slack.JoinChannel(public, alice, bob)
	s.start()
	typeIn := func(text string) {
		t.Helper()
		if _, err := s.slack.SendSlashCommand(s.ctx(), slacktest.SlashCommand{User: alice, Channel: public, Command: "/deploy", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	cardOf := func(label string) slacktest.Message {
		t.Helper()
		m, err := s.slack.AwaitMessage(s.ctx(), public, func(m slacktest.Message) bool { return strings.HasSuffix(m.Text, ": "+label) })
		if err != nil {
			t.Fatalf("no card showing %q in %s; logs:\n%s", label, public, s.logs.String())
		}
		return m
	}

	typeIn("shop-web staging 1.4.2")
	card := cardOf("Succeeded")
	id := cardRE.FindStringSubmatch(card.Text)[1]
	s.await("the thread note about the log", func() bool {
		for _, r := range s.slack.Thread(public, card.TS)[1:] {
			if strings.Contains(r.Text, "could not attach") && strings.Contains(r.Text, "/invite @deploybot") && strings.Contains(r.Text, "/deploy log "+id) {
				return true
			}
		}
		return false
	})

	typeIn("log " + id)
	e := s.reply(alice, "could not attach the output of #"+id, "/invite @deploybot", "PLAY RECAP")
	if e.Source != "response_url" {
		t.Errorf("/deploy log answered through %s, want response_url", e.Source)
	}

	typeIn("shop-web production 1.4.2")
	pending := cardOf("Waiting for approval")
	if _, err := s.slack.ClickButton(s.ctx(), alice, public, pending.TS, "approve"); err != nil {
		t.Fatal(err)
	}
	e = s.reply(alice, "Another approver must approve")
	if e.Source != "response_url" || e.Channel != public {
		t.Errorf("the refused click was answered through %s in %s, want response_url in %s", e.Source, e.Channel, public)
	}
	for _, u := range s.slack.ResponseURLUses() {
		if u.Kind == "actions" && strings.Contains(string(u.Body), `"replace_original":true`) {
			t.Errorf("a click answer replaces the card: %s", u.Body)
		}
	}
}

// On a free workspace (no user groups) a configuration that names @groups
// stops the bot at start, saying which handles are used where; one that
// names only user IDs starts.
func TestStoryFreeWorkspace(t *testing.T) {
	t.Run("config names groups", func(t *testing.T) {
		s := newStack(t, slacktest.WithFreePlan())
		s.startUnready()
		var err error
		select {
		case err = <-s.done:
			s.done <- nil
		case <-s.ctx().Done():
			t.Fatalf("the bot started on a free workspace with @groups configured; logs:\n%s", s.logs.String())
		}
		for _, want := range []string{"plan_upgrade_required", "no user groups", "@shop-devs in apps.shop-web.environments.production.deployers, apps.shop-web.environments.staging.deployers", "@shop-leads in apps.shop-web.environments.production.approvers", "user ID"} {
			if !strings.Contains(fmt.Sprint(err), want) {
				t.Errorf("start error lacks %q:\n%v", want, err)
			}
		}
	})
	t.Run("config names users only", func(t *testing.T) {
		noGroups := strings.NewReplacer(`["@shop-devs", U01ALICE00]`, `[U01ALICE00]`, `[U01ALICE00, "@shop-devs"]`, `[U01ALICE00]`,
			`[U02BOB0000, "@shop-leads", U01ALICE00]`, `[U02BOB0000, U01ALICE00]`).Replace(e2eConfig)
		s := newStackConfig(t, noGroups, slacktest.WithFreePlan())
		s.start()
		s.slash(alice, "shop-web staging 1.4.2")
		s.card(1, "Succeeded")
	})
}

// An answer between 4 KiB and 20 KiB (a syntax error echoing a long first
// word, in the ack) reaches the user: the running bot writes it as one
// WebSocket frame, which Slack requires.
func TestStoryLargeAckReachesTheUser(t *testing.T) {
	s := newStack(t)
	s.start()
	ack := s.slash(alice, strings.Repeat("y", 3000)+" staging 1.4.2")
	if n := len(ack.Payload); n <= 4096 || n >= 20480 {
		t.Fatalf("ack payload is %d bytes; the story needs one between 4 KiB and 20 KiB", n)
	}
	s.reply(alice, "is neither a /deploy command nor an app")
	if n := s.slack.FragmentedMessages(); n != 0 {
		t.Errorf("%d messages from the bot were split into several frames", n)
	}
}
