package slacktest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

func TestSendEventDecoded(t *testing.T) {
	srv := newTestServer(t)
	got := make(chan slackevents.EventsAPIEvent, 1)
	connected(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		ackAll(c, evt)
		if ev, ok := evt.Data.(slackevents.EventsAPIEvent); ok {
			got <- ev
		}
	})
	ack, err := srv.SendEvent(testCtx(t), map[string]any{
		"type": "app_mention", "user": "U1", "text": "<@U0DEPLOYBOT> status", "channel": "C1", "ts": "1.000001",
	})
	if err != nil || ack.Type != "events_api" {
		t.Fatalf("ack = %+v, %v", ack, err)
	}
	ev := <-got
	m, ok := ev.InnerEvent.Data.(*slackevents.AppMentionEvent)
	if ev.Type != slackevents.CallbackEvent || !ok || m.User != "U1" || m.Channel != "C1" {
		t.Errorf("event = %+v inner %+v", ev, ev.InnerEvent.Data)
	}
}

func TestSendEventRedeliveredWhenNotAcked(t *testing.T) {
	srv := newTestServer(t, WithAckDeadline(100*time.Millisecond), WithEventRetryDelays(0, 0, 0))
	attempts := make(chan int, 4)
	connected(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeEventsAPI {
			attempts <- evt.Request.RetryAttempt // never acked
		}
	})
	ctx := testCtx(t)
	_, err := srv.SendEvent(ctx, map[string]any{"type": "app_mention", "user": "U1", "channel": "C1"})
	if !errors.Is(err, ErrNoAck) {
		t.Fatalf("err = %v, want ErrNoAck", err)
	}
	if err := srv.WaitFor(ctx, func(s *Server) bool { return len(s.Envelopes()) == 4 }); err != nil {
		t.Fatalf("envelopes = %d: %v", len(srv.Envelopes()), err)
	}
	envs := srv.Envelopes()
	var first struct {
		EventID string `json:"event_id"`
	}
	_ = json.Unmarshal(envs[0].Payload, &first)
	for i, e := range envs {
		var p struct {
			EventID string `json:"event_id"`
		}
		_ = json.Unmarshal(e.Payload, &p)
		if e.RetryAttempt != i || p.EventID != first.EventID || (i > 0 && e.ID == envs[0].ID) {
			t.Errorf("envelope %d = %+v (event %s)", i, e, p.EventID)
		}
	}
	for want := range 4 {
		if got := <-attempts; got != want {
			t.Errorf("client saw retry_attempt %d, want %d", got, want)
		}
	}
}

// Slack delivers an event only to an app subscribed to it and holding its
// scope.
func TestSendEventNeedsSubscriptionAndScope(t *testing.T) {
	mention := map[string]any{"type": "app_mention", "user": "U1", "channel": "C1", "ts": "1.000001", "text": "<@U0DEPLOYBOT> hi"}
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"not subscribed", []Option{WithBotEvents()}},
		{"no app_mentions:read", []Option{WithBotScopes("chat:write", "commands")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, tc.opts...)
			if _, err := srv.SendEvent(testCtx(t), mention); !errors.Is(err, ErrNotSubscribed) {
				t.Errorf("SendEvent = %v, want ErrNotSubscribed", err)
			}
			if n := len(srv.Envelopes()); n != 0 {
				t.Errorf("%d envelopes written", n)
			}
		})
	}
}
