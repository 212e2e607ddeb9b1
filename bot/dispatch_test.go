package bot

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/deploybot/deploybot/bot/slacktest"
)

// ackRecorder records acks; block makes AckCtx wait for its context.
type ackRecorder struct {
	mu    sync.Mutex
	acks  map[string][]any
	block bool
}

func (a *ackRecorder) AckCtx(ctx context.Context, id string, payload any) error {
	if a.block {
		<-ctx.Done()
		return ctx.Err()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.acks == nil {
		a.acks = map[string][]any{}
	}
	a.acks[id] = append(a.acks[id], payload)
	return nil
}

func (a *ackRecorder) get(id string) []any {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acks[id]
}

// unitBot is a Bot without a socket: events are fed to HandleEvent, acks
// recorded, replies sent through a gateway on a fake Slack.
func unitBot(t *testing.T, cfg Config) (*Bot, *ackRecorder, *fakeDeployer, *slacktest.Server) {
	t.Helper()
	srv := newTestServer(t)
	api := slack.New(srv.BotToken, slack.OptionAPIURL(srv.APIURL()))
	gw := NewSlack(api, testLogger(t), SlackOptions{ChannelInterval: 10 * time.Millisecond})
	d := newFakeDeployer(gw)
	b := New(cfg, nil, d, gw, &memDedupe{}, testConfig(), testLogger(t))
	rec := &ackRecorder{}
	b.ack = rec
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.startWorkers(ctx, &wg)
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		d.runs.Wait()
		_ = gw.Close(context.Background())
	})
	return b, rec, d, srv
}

func slashEvent(envelope, text string) socketmode.Event {
	return socketmode.Event{
		Type:    socketmode.EventTypeSlashCommand,
		Data:    slack.SlashCommand{Command: "/deploy", Text: text, UserID: "U1", ChannelID: "C1"},
		Request: &socketmode.Request{Type: "slash_commands", EnvelopeID: envelope},
	}
}

func clickEvent(envelope, user, actionID, value, actionTS string) socketmode.Event {
	return socketmode.Event{
		Type: socketmode.EventTypeInteractive,
		Data: slack.InteractionCallback{
			Type: slack.InteractionTypeBlockActions, User: slack.User{ID: user},
			Channel: slack.Channel{GroupConversation: slack.GroupConversation{Conversation: slack.Conversation{ID: "C1"}}},
			ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{
				{ActionID: actionID, BlockID: "actions", Value: value, ActionTs: actionTS},
			}},
		},
		Request: &socketmode.Request{Type: "interactive", EnvelopeID: envelope},
	}
}

func count(calls []string, prefix string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func TestDispatchDuplicates(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	t.Run("RedeliveredSlashCommand", func(t *testing.T) {
		b, rec, d, _ := unitBot(t, Config{})
		b.HandleEvent(ctx, slashEvent("env-1", "lock shop-web staging"))
		b.HandleEvent(ctx, slashEvent("env-1", "lock shop-web staging"))
		b.HandleEvent(ctx, slashEvent("env-2", "lock shop-web staging"))
		eventually(t, "two envelopes handled, one ignored", func() bool { return b.Counters().Duplicates == 1 && count(d.Calls(), "lock U1 shop-web staging ") == 2 })
		if n := len(rec.get("env-1")); n != 2 {
			t.Errorf("env-1 acked %d times, want every delivery acked", n)
		}
	})
	t.Run("RepeatedClick", func(t *testing.T) {
		b, _, d, _ := unitBot(t, Config{})
		b.HandleEvent(ctx, clickEvent("e1", "U2", ActionReject, "7", "100.1"))
		b.HandleEvent(ctx, clickEvent("e2", "U2", ActionReject, "7", "100.1")) // redelivery
		b.HandleEvent(ctx, clickEvent("e3", "U2", ActionReject, "7", "100.2")) // a new click
		eventually(t, "clicks handled", func() bool { return b.Counters().Duplicates == 1 && count(d.Calls(), "reject 7 U2") == 2 })
	})
	t.Run("EventRetry", func(t *testing.T) {
		b, _, _, srv := unitBot(t, Config{})
		ev := func(envelope string) socketmode.Event {
			return socketmode.Event{
				Type: socketmode.EventTypeEventsAPI,
				Data: slackevents.EventsAPIEvent{
					Type: slackevents.CallbackEvent,
					Data: &slackevents.EventsAPICallbackEvent{EventID: "Ev1"},
					InnerEvent: slackevents.EventsAPIInnerEvent{Type: string(slackevents.AppMention),
						Data: &slackevents.AppMentionEvent{User: "U1", Channel: "C1", TimeStamp: srv.PostUserMessage("C1", "U1", "hi bot")}},
				},
				Request: &socketmode.Request{Type: "events_api", EnvelopeID: envelope},
			}
		}
		b.HandleEvent(ctx, ev("e1"))
		b.HandleEvent(ctx, ev("e2"))
		eventually(t, "retry ignored", func() bool { return b.Counters().Duplicates == 1 })
		if _, err := srv.AwaitCalls(ctx, "chat.postMessage", 1); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Calls("chat.postMessage")); n != 1 {
			t.Errorf("mention answered %d times", n)
		}
	})
}

func TestDispatchBusy(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	b, rec, d, _ := unitBot(t, Config{Workers: 1, QueueSize: 1})
	d.gate = make(chan struct{})
	b.HandleEvent(ctx, slashEvent("e1", "status"))
	eventually(t, "worker busy", func() bool { return len(d.Calls()) == 1 })
	b.HandleEvent(ctx, slashEvent("e2", "status")) // waits in the queue
	start := time.Now()
	b.HandleEvent(ctx, slashEvent("e3", "status")) // refused at once
	if el := time.Since(start); el > 100*time.Millisecond {
		t.Errorf("a full pool held the reader for %v", el)
	}
	acks := rec.get("e3")
	if len(acks) != 1 {
		t.Fatalf("e3 acks = %v", acks)
	}
	if j, _ := json.Marshal(acks[0]); !strings.Contains(string(j), "busy") {
		t.Errorf("busy ack = %s", j)
	}
	close(d.gate)
	eventually(t, "queued work done", func() bool { return len(d.Calls()) == 2 })
	if c := b.Counters(); c.Busy != 1 {
		t.Errorf("counters = %+v", c)
	}
}

func TestAckTimeoutDoesNotBlockReader(t *testing.T) {
	t.Parallel()
	b, rec, _, _ := unitBot(t, Config{AckTimeout: 50 * time.Millisecond})
	rec.block = true
	start := time.Now()
	b.HandleEvent(testCtx(t), slashEvent("e1", "help"))
	if el := time.Since(start); el > time.Second {
		t.Errorf("HandleEvent took %v with a stuck socket writer", el)
	}
	if c := b.Counters(); c.AckErrors != 1 {
		t.Errorf("counters = %+v", c)
	}
}

func TestDispatchTable(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	b, _, d, srv := unitBot(t, Config{})
	cases := []struct {
		text string
		call string
	}{
		{"shop-web staging 1.0.0 --check", "deploy U1 C1 shop-web staging 1.0.0 true"},
		{"rollback shop-web production --to 41", "rollback U1 C1 shop-web production 41"},
		{"status shop-web", "status shop-web "},
		{"history shop-web production", "history shop-web production 15"},
		{"cancel #1", "cancel 1 U1"},
		{"lock shop-web production hotfix <freeze>", "lock U1 shop-web production hotfix <freeze>"},
		{"unlock shop-web production", "unlock U1 shop-web production"},
	}
	for i, tc := range cases {
		b.HandleEvent(ctx, slashEvent("t"+string(rune('a'+i)), tc.text))
		eventually(t, tc.call, func() bool { return count(d.Calls(), tc.call) == 1 })
	}
	b.HandleEvent(ctx, slashEvent("apps", "apps"))
	if _, err := srv.AwaitEphemeral(ctx, "U1", func(e slacktest.Ephemeral) bool { return strings.Contains(string(e.Blocks), "billing-worker") }); err != nil {
		t.Fatal(err)
	}
	// Unknown actions and other commands do nothing.
	b.HandleEvent(ctx, clickEvent("x1", "U2", "format_disk", "1", "1.1"))
	b.HandleEvent(ctx, socketmode.Event{Type: socketmode.EventTypeSlashCommand,
		Data: slack.SlashCommand{Command: "/other", Text: "x", UserID: "U1", ChannelID: "C1"}, Request: &socketmode.Request{EnvelopeID: "o1"}})
	// A lock also reads the status, to name the releases it holds.
	if n := len(d.Calls()); n != len(cases)+1 {
		t.Errorf("calls = %v", d.Calls())
	}
}

// TestRollbackButtonReadsTheRequest: the Roll back button carries only a
// request id; what to roll back is read from the stored request, and an id
// the domain does not know is answered to the clicker.
func TestRollbackButtonReadsTheRequest(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	b, _, d, srv := unitBot(t, Config{})
	b.HandleEvent(ctx, slashEvent("e1", "shop-web staging 1.0.0"))
	eventually(t, "card", func() bool { return d.hasCard(1) })
	b.HandleEvent(ctx, clickEvent("e2", "U2", ActionRollback, "1", "5.1"))
	eventually(t, "rollback", func() bool { return count(d.Calls(), "rollback U2 C1 shop-web staging ") == 1 })
	b.HandleEvent(ctx, clickEvent("e3", "U2", ActionRollback, "99", "5.2"))
	if _, err := srv.AwaitEphemeral(ctx, "U2", func(e slacktest.Ephemeral) bool { return strings.Contains(e.Text, "There is no request #99") }); err != nil {
		t.Fatal(err)
	}
}

func TestUnreadableEnvelopeAcked(t *testing.T) {
	t.Parallel()
	b, rec, _, _ := unitBot(t, Config{})
	b.HandleEvent(testCtx(t), socketmode.Event{Type: socketmode.EventTypeErrorBadMessage,
		Data: &socketmode.ErrorBadMessage{Message: json.RawMessage(`{"envelope_id":"bad-1","type":"future_type","payload":{}}`)}})
	if n := len(rec.get("bad-1")); n != 1 {
		t.Errorf("unreadable envelope acked %d times, want once", n)
	}
}
