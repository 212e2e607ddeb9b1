package bot

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/deploybot/deploybot/config"
)

// frame is a Socket Mode envelope around payload.
func frame(t *testing.T, id, typ string, payload any) []byte {
	t.Helper()
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"envelope_id": id, "type": typ, "payload": json.RawMessage(p), "accepts_response_payload": true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Where a command or click can come from, as Slack names it in payloads.
type place struct{ name, id, channelName string }

var (
	placeListed   = place{"listed channel", "C1", "deploys"}
	placeAnnounce = place{"announce channel", "C2", "releases"}
	placeOther    = place{"other channel", "C9", "random"}
	placeDM       = place{"direct message", "D1", "directmessage"}
	placeGroupDM  = place{"group DM", "G1", "mpdm-alice--bob-1"}
)

// commandSamples has one valid text per command word.
var commandSamples = map[string]string{
	"deploy":     "shop-web staging 1.0.0",
	"rollback":   "rollback shop-web staging",
	"status":     "status",
	"history":    "history shop-web",
	"log":        "log 1",
	"cancel":     "cancel 1",
	"lock":       "lock shop-web staging freeze",
	"unlock":     "unlock shop-web staging",
	"apps":       "apps",
	"audit":      "audit shop-web --since 30d",
	"help":       "help",
	"form":       "",
	"schedule":   "schedule shop-web staging 1.0.0 '0 18 * * 1-5'",
	"schedules":  "schedules",
	"unschedule": "unschedule 1",
	"pause":      "pause 1",
	"resume":     "resume 1",
}

// policyRefusals are the texts the channel policy refuses with.
var policyRefusals = []string{"is not used in this channel", "takes no commands in direct messages",
	"so it is used in a channel where the team sees it", "This button does not work here"}

func refusedByPolicy(s string) bool {
	for _, r := range policyRefusals {
		if strings.Contains(s, r) {
			return true
		}
	}
	return false
}

// TestChannelPolicy runs every command word and every button through the
// real dispatch from every kind of conversation, under the configurations
// that matter: slack.channels set or empty, allow_dm false or true.
func TestChannelPolicy(t *testing.T) {
	t.Parallel()
	confs := []struct {
		name  string
		conf  func(*config.Config)
		allow func(p place, word string, click bool) bool
	}{
		{"listed channels, no DMs", func(c *config.Config) { c.Slack.AllowDM = false },
			func(p place, _ string, click bool) bool { return p == placeListed || (click && p == placeAnnounce) }},
		{"listed channels, read-only DMs", func(c *config.Config) { c.Slack.AllowDM = true },
			func(p place, word string, click bool) bool {
				switch p {
				case placeListed:
					return true
				case placeAnnounce:
					return click
				case placeDM, placeGroupDM:
					// The commands that change nothing and answer only
					// the asker, as the README lists them.
					return !click && slices.Contains([]string{"status", "history", "apps", "schedules", "help"}, word)
				}
				return false
			}},
		{"empty list means every channel, no DMs", func(c *config.Config) { c.Slack.Channels = nil; c.Slack.AllowDM = false },
			func(p place, _ string, _ bool) bool { return p != placeDM && p != placeGroupDM }},
	}
	places := []place{placeListed, placeAnnounce, placeOther, placeDM, placeGroupDM}
	for _, cf := range confs {
		t.Run(cf.name, func(t *testing.T) {
			rig := newEnvelopeRig(t, cf.conf)
			t.Cleanup(rig.close)
			ctx := testCtx(t)
			var words []string
			for w := range rig.bot.commands {
				words = append(words, w)
			}
			slices.Sort(words)
			n := 0
			for _, w := range words {
				text, ok := commandSamples[w]
				if !ok {
					t.Fatalf("command %q has no sample here: add it to commandSamples", w)
				}
				for _, p := range places {
					n++
					user := "UC" + strings.ToUpper(strings.ReplaceAll(w, "e", "3")) + p.id
					rig.srv.AddUser(user, "u")
					ack, err := rig.handle(ctx, frame(t, "cmd-"+w+p.id, "slash_commands", map[string]any{
						"command": "/deploy", "text": text, "user_id": user, "channel_id": p.id, "channel_name": p.channelName, "trigger_id": "1.2.3",
					}))
					if err != nil {
						t.Fatal(err)
					}
					ackJSON, _ := json.Marshal(ack)
					got := refusedByPolicy(string(ackJSON))
					for _, e := range rig.srv.Ephemerals(user) {
						got = got || refusedByPolicy(e.Text)
					}
					if want := !cf.allow(p, w, false); got != want {
						t.Errorf("/deploy %s from a %s: refused=%v, want %v (ack %s)", w, p.name, got, want, ackJSON)
					}
				}
			}
			var actions []string
			for a := range rig.bot.actions {
				actions = append(actions, a)
			}
			slices.Sort(actions)
			for _, a := range actions {
				for _, p := range places {
					if a == formApp && p == placeGroupDM {
						// The form keeps only a channel ID, and a group
						// DM's ID looks like a private channel's; the form
						// cannot be opened there (the command is refused).
						continue
					}
					n++
					user := "UA" + strings.ToUpper(strings.NewReplacer("_", "", "e", "3").Replace(a)) + p.id
					rig.srv.AddUser(user, "u")
					payload := map[string]any{
						"type": "block_actions", "user": map[string]any{"id": user},
						"container": map[string]any{"type": "message", "message_ts": "1.1", "channel_id": p.id},
						"channel":   map[string]any{"id": p.id, "name": p.channelName},
						"actions":   []any{map[string]any{"action_id": a, "block_id": "b", "value": "1", "type": "button", "action_ts": "2.2"}},
					}
					if a == formApp {
						// The form's app select: a view action; the form
						// carries the channel it was opened from.
						delete(payload, "channel")
						payload["container"] = map[string]any{"type": "view", "view_id": "V1"}
						payload["view"] = map[string]any{"id": "V1", "hash": "h", "private_metadata": p.id, "callback_id": formCallbackID}
						payload["actions"] = []any{map[string]any{"action_id": a, "block_id": a, "type": "static_select",
							"selected_option": map[string]any{"value": "shop-web"}, "action_ts": "2.2"}}
					}
					if _, err := rig.handle(ctx, frame(t, "click-"+a+p.id, "interactive", payload)); err != nil {
						t.Fatal(err)
					}
					got := false
					for _, e := range rig.srv.Ephemerals(user) {
						got = got || refusedByPolicy(e.Text)
					}
					if want := !cf.allow(p, a, true); got != want {
						t.Errorf("button %s in a %s: refused=%v, want %v", a, p.name, got, want)
					}
				}
			}
			if n < 100 {
				t.Errorf("only %d cases ran", n)
			}
		})
	}
}

// TestChannelPolicyForm: a form submitted for a channel that is not (or no
// longer) a deploy channel is refused in the ack; the modal stays open.
func TestChannelPolicyForm(t *testing.T) {
	t.Parallel()
	rig := newEnvelopeRig(t, func(c *config.Config) { c.Slack.AllowDM = true })
	t.Cleanup(rig.close)
	ctx := testCtx(t)
	for _, p := range []place{placeListed, placeOther, placeDM} {
		ack, err := rig.handle(ctx, frame(t, "form-"+p.id, "interactive", map[string]any{
			"type": "view_submission", "user": map[string]any{"id": "U1"},
			"view": map[string]any{"id": "V1", "callback_id": formCallbackID, "private_metadata": p.id, "state": map[string]any{"values": map[string]any{
				formApp:     map[string]any{formApp: map[string]any{"type": "static_select", "selected_option": map[string]any{"value": "shop-web"}}},
				formEnv:     map[string]any{formEnv: map[string]any{"type": "static_select", "selected_option": map[string]any{"value": "staging"}}},
				formVersion: map[string]any{formVersion: map[string]any{"type": "plain_text_input", "value": "1.2.3"}},
			}}},
		}))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(ack)
		refused := strings.Contains(string(b), "not used")
		if want := p != placeListed; refused != want {
			t.Errorf("form for a %s: refused=%v, want %v (ack %s)", p.name, refused, want, b)
		}
	}
}

// TestNoPayloadCrashesTheBot: a view_submission without state (which
// panicked on the socket reader) is acked once and handled; a panic in any
// handler, before or after the ack, is recovered, counted and logged with
// the envelope id, and the envelope is acked exactly once.
func TestNoPayloadCrashesTheBot(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	b, rec, _, _ := unitBot(t, Config{})
	noState := decodeEnvelope([]byte(`{"envelope_id":"v-1","type":"interactive","accepts_response_payload":true,
		"payload":{"type":"view_submission","user":{"id":"U1"},"view":{"id":"V1","callback_id":"deploy_form","private_metadata":"C1"}}}`))
	b.HandleEvent(ctx, noState)
	if n := len(rec.get("v-1")); n != 1 {
		t.Errorf("view_submission without state acked %d times, want once", n)
	}
	if p := b.Counters().Panics; p != 0 {
		t.Errorf("view_submission without state: %d panics", p)
	}

	logs := &syncWriter{w: &strings.Builder{}}
	b.log = zerolog.New(logs)
	b.views["boom_view"] = func(*slack.InteractionCallback, zerolog.Logger) decision { panic("boom in route") }
	b.actions["boom_click"] = func(context.Context, *clickInput) { panic("boom in work") }
	b.HandleEvent(ctx, socketmode.Event{Type: socketmode.EventTypeInteractive,
		Data:    slack.InteractionCallback{Type: slack.InteractionTypeViewSubmission, View: slack.View{CallbackID: "boom_view"}},
		Request: &socketmode.Request{Type: "interactive", EnvelopeID: "boom-1"}})
	if n := len(rec.get("boom-1")); n != 1 {
		t.Errorf("panicking route: acked %d times, want once", n)
	}
	b.HandleEvent(ctx, clickEvent("boom-2", "U2", "boom_click", "1", "9.9"))
	if n := len(rec.get("boom-2")); n != 1 {
		t.Errorf("panicking work: acked %d times, want once", n)
	}
	eventually(t, "both panics counted", func() bool { return b.Counters().Panics == 2 })
	eventually(t, "panics logged with their envelope ids", func() bool {
		s := logs.String()
		return strings.Contains(s, `"envelope_id":"boom-1"`) && strings.Contains(s, `"envelope_id":"boom-2"`) && strings.Contains(s, "boom in work")
	})
}

// syncWriter is a writer safe for concurrent loggers.
type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
