package main

import (
	"strings"
	"testing"

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
			for _, want := range []string{"I cannot post in this conversation", "/invite @deploybot", "nothing was requested"} {
				if !strings.Contains(all, want) {
					t.Errorf("answer %q lacks %q", all, want)
				}
			}
			if e.Source != "response_url" {
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
