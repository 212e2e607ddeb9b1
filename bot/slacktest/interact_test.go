package slacktest

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_750_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// commandCatcher acks slash commands with payload and hands each decoded
// command to the test.
func commandCatcher(payload any) (handlerFunc, <-chan slack.SlashCommand) {
	ch := make(chan slack.SlashCommand, 10)
	return func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type != socketmode.EventTypeSlashCommand {
			return
		}
		ackWith(payload)(c, evt)
		if cmd, ok := evt.Data.(slack.SlashCommand); ok {
			ch <- cmd
		}
	}, ch
}

func TestSlashCommandAck(t *testing.T) {
	tests := []struct {
		name         string
		payload      any
		wantEph      int
		wantChannel  int
		wantAckEmpty bool
	}{
		{name: "EmptyAck", payload: nil, wantAckEmpty: true},
		{name: "EphemeralByDefault", payload: map[string]any{"text": "working on it"}, wantEph: 1},
		{name: "InChannel", payload: map[string]any{"text": "deploying", "response_type": "in_channel"}, wantChannel: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t)
			handle, cmds := commandCatcher(tt.payload)
			connected(t, srv, handle)
			ack, err := srv.SendSlashCommand(testCtx(t), SlashCommand{User: "U1", Channel: "C1", Command: "/deploy", Text: "web prod 1.2.3"})
			if err != nil {
				t.Fatal(err)
			}
			cmd := <-cmds
			if cmd.Command != "/deploy" || cmd.Text != "web prod 1.2.3" || cmd.UserID != "U1" || cmd.ChannelID != "C1" ||
				cmd.TeamID != srv.TeamID || cmd.TriggerID == "" || !strings.HasPrefix(cmd.ResponseURL, srv.URL+"/commands/") {
				t.Errorf("decoded command = %+v", cmd)
			}
			if ack.Type != "slash_commands" || ack.Latency <= 0 || ack.Latency > 3*time.Second {
				t.Errorf("ack = %+v", ack)
			}
			if (ack.Payload == nil) != tt.wantAckEmpty {
				t.Errorf("ack payload = %s", ack.Payload)
			}
			if got := len(srv.Ephemerals("U1")); got != tt.wantEph {
				t.Errorf("ephemerals = %d, want %d", got, tt.wantEph)
			}
			if got := len(srv.Messages("C1")); got != tt.wantChannel {
				t.Errorf("channel messages = %d, want %d", got, tt.wantChannel)
			}
		})
	}
}

func TestSlashCommandNotAckedIsOperationTimeout(t *testing.T) {
	srv := newTestServer(t, WithAckDeadline(300*time.Millisecond))
	connected(t, srv, func(*socketmode.Client, socketmode.Event) {}) // never acks
	_, err := srv.SendSlashCommand(testCtx(t), SlashCommand{User: "U1", Channel: "C1", Command: "/deploy"})
	if !errors.Is(err, ErrNoAck) {
		t.Fatalf("err = %v, want ErrNoAck", err)
	}
	eph := srv.Ephemerals("U1")
	if len(eph) != 1 || eph[0].Source != "slack" || eph[0].Error != "operation_timeout" {
		t.Errorf("ephemerals = %+v", eph)
	}
}

func TestSlashCommandWithoutSocketIsDispatchFailed(t *testing.T) {
	srv := newTestServer(t)
	_, err := srv.SendSlashCommand(testCtx(t), SlashCommand{User: "U1", Channel: "C1", Command: "/deploy"})
	if !errors.Is(err, ErrNoConnection) {
		t.Fatalf("err = %v", err)
	}
	if eph := srv.Ephemerals("U1"); len(eph) != 1 || eph[0].Error != "dispatch_failed" {
		t.Errorf("ephemerals = %+v", eph)
	}
}

func TestClickButtonBlockActions(t *testing.T) {
	srv := newTestServer(t)
	clicks := make(chan slack.InteractionCallback, 1)
	connected(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		ackAll(c, evt)
		if cb, ok := evt.Data.(slack.InteractionCallback); ok {
			clicks <- cb
		}
	})
	ctx := testCtx(t)
	// The bot posts a card with a button and no block_id: Slack adds one.
	_, ts, err := newAPI(srv).PostMessageContext(ctx, "C1", slack.MsgOptionText("card", false), slack.MsgOptionBlocks(
		slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "Deploy *web*?", false, false), nil, nil),
		slack.NewActionBlock("", slack.NewButtonBlockElement("approve", "req-42",
			slack.NewTextBlockObject("plain_text", "Approve", false, false)).WithStyle(slack.StylePrimary)),
	))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ClickButton(ctx, "U2", "C1", ts, "approve"); err != nil {
		t.Fatal(err)
	}
	cb := <-clicks
	if cb.Type != slack.InteractionTypeBlockActions {
		t.Fatalf("type = %q", cb.Type)
	}
	acts := cb.ActionCallback.BlockActions
	if len(acts) != 1 || acts[0].ActionID != "approve" || acts[0].Value != "req-42" || acts[0].BlockID == "" {
		t.Fatalf("block actions = %+v (attachment actions %d)", acts, len(cb.ActionCallback.AttachmentActions))
	}
	if cb.User.ID != "U2" || cb.Channel.ID != "C1" || cb.Container.MessageTs != ts || cb.Message.Timestamp != ts ||
		cb.TriggerID == "" || !strings.HasPrefix(cb.ResponseURL, srv.URL+"/actions/") {
		t.Errorf("callback = user %q channel %q container %+v message ts %q trigger %q response_url %q",
			cb.User.ID, cb.Channel.ID, cb.Container, cb.Message.Timestamp, cb.TriggerID, cb.ResponseURL)
	}
	if _, err := srv.ClickButton(ctx, "U2", "C1", ts, "reject"); err == nil {
		t.Error("clicking a button that is not on the message succeeded")
	}
}

func TestViewsOpenTriggerIDs(t *testing.T) {
	clock := newFakeClock()
	srv := newTestServer(t, WithClock(clock.Now))
	handle, cmds := commandCatcher(nil)
	connected(t, srv, handle)
	ctx := testCtx(t)
	api := newAPI(srv)
	view := slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: "deploy_form",
		Title:  slack.NewTextBlockObject("plain_text", "Deploy", false, false),
		Submit: slack.NewTextBlockObject("plain_text", "Request", false, false),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("app", slack.NewTextBlockObject("plain_text", "App", false, false), nil,
				slack.NewPlainTextInputBlockElement(nil, "app_input")),
		}},
	}
	trigger := func() string {
		t.Helper()
		if _, err := srv.SendSlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/deploy"}); err != nil {
			t.Fatal(err)
		}
		return (<-cmds).TriggerID
	}

	fresh := trigger()
	resp, err := api.OpenViewContext(ctx, fresh, view)
	if err != nil {
		t.Fatalf("open with a fresh trigger: %v", err)
	}
	if !strings.HasPrefix(resp.ID, "V") || resp.CallbackID != "deploy_form" || resp.Hash == "" {
		t.Errorf("view = %+v", resp.View)
	}
	wantErr := func(name, trig, code string) {
		t.Helper()
		_, err := api.OpenViewContext(ctx, trig, view)
		var se slack.SlackErrorResponse
		if !errors.As(err, &se) || se.Err != code {
			t.Errorf("%s: err = %v, want %s", name, err, code)
		}
	}
	wantErr("reused", fresh, "exchanged_trigger_id")
	stale := trigger()
	clock.Advance(3 * time.Second)
	wantErr("expired", stale, "expired_trigger_id")
	wantErr("unknown", "1.2.3", "invalid_arguments")

	long := view
	long.Title = slack.NewTextBlockObject("plain_text", strings.Repeat("t", 25), false, false)
	_, err = api.OpenViewContext(ctx, trigger(), long)
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "invalid_arguments" || len(se.ResponseMetadata.Messages) != 1 ||
		!strings.Contains(se.ResponseMetadata.Messages[0], "[json-pointer:/view/title/text]") {
		t.Errorf("overlong title: err = %v %+v", err, se.ResponseMetadata)
	}
}

func TestSubmitView(t *testing.T) {
	srv := newTestServer(t)
	var mu sync.Mutex
	answer := map[string]any{"response_action": "errors", "errors": map[string]string{"env": "unknown environment"}}
	subs := make(chan slack.InteractionCallback, 2)
	handle := func(c *socketmode.Client, evt socketmode.Event) {
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok || cb.Type != slack.InteractionTypeViewSubmission {
			ackAll(c, evt)
			return
		}
		mu.Lock()
		a := answer
		mu.Unlock()
		ackWith(a)(c, evt)
		subs <- cb
	}
	connected(t, srv, handle)
	ctx := testCtx(t)
	// A trigger as a slash command from U1 would carry.
	srv.mu.Lock()
	trig := srv.newTriggerLocked("U1")
	srv.mu.Unlock()
	opts := []*slack.OptionBlockObject{
		slack.NewOptionBlockObject("staging", slack.NewTextBlockObject("plain_text", "Staging", false, false), nil),
		slack.NewOptionBlockObject("prod", slack.NewTextBlockObject("plain_text", "Production", false, false), nil),
	}
	v, err := newAPI(srv).OpenViewContext(ctx, trig, slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: "deploy_form", PrivateMetadata: "req-1",
		Title: slack.NewTextBlockObject("plain_text", "Deploy", false, false),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("app", slack.NewTextBlockObject("plain_text", "App", false, false), nil,
				slack.NewPlainTextInputBlockElement(nil, "app_input")),
			slack.NewInputBlock("env", slack.NewTextBlockObject("plain_text", "Env", false, false), nil,
				slack.NewOptionsSelectBlockElement("static_select", nil, "env_select", opts...)),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]map[string]string{"app": {"app_input": "web"}, "env": {"env_select": "prod"}}
	if _, err := srv.SubmitView(ctx, "U1", v.ID, values); err != nil {
		t.Fatal(err)
	}
	cb := <-subs
	st := cb.View.State.Values
	if cb.View.CallbackID != "deploy_form" || cb.View.PrivateMetadata != "req-1" ||
		st["app"]["app_input"].Value != "web" || st["env"]["env_select"].SelectedOption.Value != "prod" {
		t.Errorf("submission view = %+v", cb.View)
	}
	got, _ := srv.View(v.ID)
	if !got.Open || got.Errors["env"] != "unknown environment" {
		t.Errorf("after errors: view = %+v", got)
	}
	// An errors key that is not an input block_id: Slack cannot show it,
	// the user sees "We had some trouble connecting".
	mu.Lock()
	answer = map[string]any{"response_action": "errors", "errors": map[string]string{"env_select": "unknown environment"}}
	mu.Unlock()
	ack, err := srv.SubmitView(ctx, "U1", v.ID, values)
	if err != nil {
		t.Fatal(err)
	}
	<-subs
	if got, _ := srv.View(v.ID); len(ack.Errors) == 0 || !got.Trouble || got.Errors["env_select"] != "" {
		t.Errorf("errors keyed by an action_id: ack errors %v, view %+v", ack.Errors, got)
	}
	mu.Lock()
	answer = nil
	mu.Unlock()
	if _, err := srv.SubmitView(ctx, "U1", v.ID, values); err != nil {
		t.Fatal(err)
	}
	if got, _ := srv.View(v.ID); got.Open {
		t.Error("empty ack did not close the modal")
	}
	if _, err := srv.SubmitView(ctx, "U1", v.ID, values); err == nil {
		t.Error("submitting a closed modal succeeded")
	}
	if _, err := srv.SubmitView(ctx, "U2", "V404", nil); err == nil {
		t.Error("submitting an unknown view succeeded")
	}
}

func TestResponseURLLimits(t *testing.T) {
	clock := newFakeClock()
	srv := newTestServer(t, WithClock(clock.Now))
	handle, cmds := commandCatcher(nil)
	connected(t, srv, handle)
	ctx := testCtx(t)
	api := newAPI(srv)
	responseURL := func() string {
		t.Helper()
		if _, err := srv.SendSlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/deploy"}); err != nil {
			t.Fatal(err)
		}
		return (<-cmds).ResponseURL
	}
	u := responseURL()
	for i := range 5 {
		typ := slack.ResponseTypeEphemeral
		if i == 4 {
			typ = slack.ResponseTypeInChannel
		}
		if _, _, err := api.PostMessageContext(ctx, "", slack.MsgOptionText("step", false), slack.MsgOptionResponseURL(u, typ)); err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
	}
	_, _, err := api.PostMessageContext(ctx, "", slack.MsgOptionText("sixth", false), slack.MsgOptionResponseURL(u, slack.ResponseTypeEphemeral))
	var sce slack.StatusCodeError
	if !errors.As(err, &sce) || sce.Code != 404 {
		t.Errorf("sixth use: err = %v, want 404", err)
	}
	if n := len(srv.Ephemerals("U1")); n != 4 {
		t.Errorf("ephemerals = %d, want 4", n)
	}
	if msgs := srv.Messages("C1"); len(msgs) != 1 || msgs[0].Source != "response_url" || msgs[0].Text != "step" {
		t.Errorf("channel messages = %v", msgs)
	}

	old := responseURL()
	clock.Advance(31 * time.Minute)
	_, _, err = api.PostMessageContext(ctx, "", slack.MsgOptionText("late", false), slack.MsgOptionResponseURL(old, slack.ResponseTypeEphemeral))
	if !errors.As(err, &sce) || sce.Code != 404 {
		t.Errorf("expired url: err = %v, want 404", err)
	}
	uses := srv.ResponseURLUses()
	if len(uses) != 7 || uses[5].Status != 404 || uses[6].Status != 404 {
		t.Errorf("uses = %+v", uses)
	}
	var body map[string]any
	if err := json.Unmarshal(uses[0].Body, &body); err != nil || body["text"] != "step" {
		t.Errorf("first use body = %s", uses[0].Body)
	}
}

func TestResponseURLReplaceAndDeleteOriginal(t *testing.T) {
	srv := newTestServer(t)
	clicks := make(chan slack.InteractionCallback, 2)
	connected(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		ackAll(c, evt)
		if cb, ok := evt.Data.(slack.InteractionCallback); ok {
			clicks <- cb
		}
	})
	api, ctx := newAPI(srv), testCtx(t)
	card := slack.MsgOptionBlocks(section("Deploy web?"), slack.NewActionBlock("", slack.NewButtonBlockElement("approve", "req-1",
		slack.NewTextBlockObject("plain_text", "Approve", false, false))))
	_, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("card", false), card)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ClickButton(ctx, "U2", "C1", ts, "approve"); err != nil {
		t.Fatal(err)
	}
	cb := <-clicks
	if _, _, err := api.PostMessageContext(ctx, "", slack.MsgOptionText("approved by bob", false),
		slack.MsgOptionReplaceOriginal(cb.ResponseURL)); err != nil {
		t.Fatal(err)
	}
	m, ok := srv.Message("C1", ts)
	if !ok || m.Text != "approved by bob" || m.Blocks != nil || m.Edits != 1 {
		t.Errorf("replaced message = %v", m)
	}
	if _, err := srv.ClickButton(ctx, "U2", "C1", ts, "approve"); err == nil {
		t.Error("the replaced message still has its button")
	}

	// An ephemeral card: the click has no message, and delete_original
	// removes the ephemeral.
	ets, err := api.PostEphemeralContext(ctx, "C1", "U1", slack.MsgOptionText("card", false), card)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ClickButton(ctx, "U1", "C1", ets, "approve"); err != nil {
		t.Fatal(err)
	}
	cb = <-clicks
	if !cb.Container.IsEphemeral || cb.Message.Timestamp != "" {
		t.Errorf("ephemeral click: container %+v message ts %q", cb.Container, cb.Message.Timestamp)
	}
	if _, _, err := api.PostMessageContext(ctx, "", slack.MsgOptionDeleteOriginal(cb.ResponseURL)); err != nil {
		t.Fatal(err)
	}
	if eph := srv.Ephemerals("U1"); len(eph) != 0 {
		t.Errorf("ephemerals after delete_original = %+v", eph)
	}
}
