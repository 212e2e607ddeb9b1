package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/deploybot/deploybot/bot/slacktest"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
)

// decodeEnvelope turns one Socket Mode frame into the event slack-go hands
// the bot, as socketmode.Client does (slack-go v0.35.0,
// socketmode/socket_mode_managed_conn.go, parseEvent and
// runRequestHandler): a frame it cannot parse becomes
// EventTypeErrorBadMessage carrying the raw frame.
func decodeEnvelope(frame []byte) socketmode.Event {
	bad := func(err error) socketmode.Event {
		return socketmode.Event{Type: socketmode.EventTypeErrorBadMessage,
			Data: &socketmode.ErrorBadMessage{Cause: err, Message: json.RawMessage(frame)}}
	}
	req := &socketmode.Request{}
	if err := json.Unmarshal(frame, req); err != nil {
		return bad(err)
	}
	switch req.Type {
	case socketmode.RequestTypeHello:
		return socketmode.Event{Type: socketmode.EventTypeHello, Request: req}
	case socketmode.RequestTypeEventsAPI:
		ev, err := slackevents.ParseEvent(req.Payload, slackevents.OptionNoVerifyToken())
		if err != nil {
			return bad(err)
		}
		return socketmode.Event{Type: socketmode.EventTypeEventsAPI, Data: ev, Request: req}
	case socketmode.RequestTypeDisconnect:
		return socketmode.Event{Type: socketmode.EventTypeDisconnect, Request: req}
	case socketmode.RequestTypeSlashCommands:
		var cmd slack.SlashCommand
		if err := json.Unmarshal(req.Payload, &cmd); err != nil {
			return bad(err)
		}
		return socketmode.Event{Type: socketmode.EventTypeSlashCommand, Data: cmd, Request: req}
	case socketmode.RequestTypeInteractive:
		var cb slack.InteractionCallback
		if err := json.Unmarshal(req.Payload, &cb); err != nil {
			return bad(err)
		}
		return socketmode.Event{Type: socketmode.EventTypeInteractive, Data: cb, Request: req}
	}
	return bad(fmt.Errorf("unsupported type %q", req.Type))
}

// toServer sends every request, whatever its host, to the fake Slack: a
// fuzzed response_url must not leave the machine.
type toServer struct{ u *url.URL }

func (t toServer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.u.Scheme, t.u.Host, t.u.Host
	return http.DefaultTransport.RoundTrip(r)
}

// envelopeRig is the real dispatch (Bot.HandleEvent, the command, action,
// view and event tables, the gateway) against a fake Slack, with a domain
// that answers every call at once. Work runs synchronously after the ack.
type envelopeRig struct {
	srv  *slacktest.Server
	gw   *Slack
	bot  *Bot
	acks *ackRecorder
}

func newEnvelopeRig(tb testing.TB, confs ...func(*config.Config)) *envelopeRig {
	srv, err := slacktest.Start()
	if err != nil {
		tb.Fatal(err)
	}
	srv.AddUser("U1", "alice")
	srv.AddUser("U2", "bob")
	srv.AddChannel("C1", "deploys", true, true)
	srv.AddChannel("C2", "releases", true, true)
	srv.AddChannel("C9", "random", true, true)
	srv.AddChannel("D1", "directmessage", false, true)
	srv.AddChannel("G1", "mpdm-alice--bob-1", false, true)
	u, _ := url.Parse(srv.URL)
	api := slack.New(srv.BotToken, slack.OptionAPIURL(srv.APIURL()),
		slack.OptionHTTPClient(&http.Client{Transport: toServer{u}, Timeout: 5 * time.Second}))
	gw := NewSlack(api, zerolog.Nop(), SlackOptions{MaxAttempts: 1, ChannelInterval: time.Microsecond, ChannelBurst: 1 << 20,
		UpdateInterval: time.Microsecond, UpdateBurst: 1 << 20, CallTimeout: 5 * time.Second})
	conf := testConfig()
	conf.Slack.Channels = []string{"C1"}
	conf.Slack.AnnounceChannel = "C2"
	conf.Slack.AllowDM = true
	for _, c := range confs {
		c(conf)
	}
	b := New(Config{QueueSize: 8}, nil, cannedDeployer{}, gw, &memDedupe{}, conf, zerolog.Nop())
	rec := &ackRecorder{}
	b.ack = rec
	return &envelopeRig{srv: srv, gw: gw, bot: b, acks: rec}
}

func (r *envelopeRig) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.gw.Close(ctx)
	r.srv.Close()
}

// handle feeds one frame through HandleEvent, runs the queued work, and
// reports what a user would suffer: a panic (even a recovered one is a
// bug) or an envelope not acked exactly once.
func (r *envelopeRig) handle(ctx context.Context, frame []byte) (ack any, err error) {
	evt := decodeEnvelope(frame)
	before := r.bot.Counters().Panics
	r.bot.HandleEvent(ctx, evt)
	for {
		select {
		case j := <-r.bot.jobs:
			r.bot.runJob(ctx, j)
			continue
		default:
		}
		break
	}
	if n := r.bot.Counters().Panics; n != before {
		return nil, fmt.Errorf("a handler panicked (%d recovered panics) on %q", n-before, frame)
	}
	id := ""
	switch {
	case evt.Request != nil:
		id = evt.Request.EnvelopeID
	case evt.Type == socketmode.EventTypeErrorBadMessage:
		var env struct {
			EnvelopeID string `json:"envelope_id"`
		}
		_ = json.Unmarshal(frame, &env)
		id = env.EnvelopeID
	}
	if _, routed := r.bot.routes[evt.Type]; id == "" || (!routed && evt.Type != socketmode.EventTypeErrorBadMessage) {
		return nil, nil
	}
	acks := r.acks.get(id)
	r.acks.mu.Lock()
	delete(r.acks.acks, id)
	r.acks.mu.Unlock()
	if len(acks) != 1 {
		return nil, fmt.Errorf("envelope %q acked %d times, want once", id, len(acks))
	}
	if acks[0] != nil {
		if _, err := json.Marshal(acks[0]); err != nil {
			return nil, fmt.Errorf("envelope %q: ack payload does not encode: %w", id, err)
		}
	}
	return acks[0], nil
}

// seedEnvelopes are frames of every shape the bot handles, from the
// recorded payloads (bot/slacktest/testdata, docs quoted in
// slack-api.md §3) and the bot's own buttons and form.
func seedEnvelopes(tb testing.TB) [][]byte {
	env := func(id, typ string, payload any) []byte {
		p, err := json.Marshal(payload)
		if err != nil {
			tb.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"envelope_id": id, "type": typ, "payload": json.RawMessage(p), "accepts_response_payload": typ != "events_api"})
		return b
	}
	recorded := func(name string) map[string]any {
		raw, err := os.ReadFile(filepath.Join("slacktest", "testdata", name))
		if err != nil {
			tb.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			tb.Fatal(err)
		}
		return m
	}
	var out [][]byte
	slashIn := func(channel, name, text string) {
		p := recorded("SlashCommandPayload.json")
		p["command"], p["text"], p["user_id"], p["channel_id"], p["channel_name"] = "/deploy", text, "U1", channel, name
		p["response_url"], p["trigger_id"] = "https://hooks.slack.com/commands/T1/1/x", "1.2.3"
		out = append(out, env("s-"+text, "slash_commands", p))
	}
	for _, text := range []string{"", "help", "apps", "status", "status shop-web production", "history shop-web",
		"shop-web staging 1.0.0", "shop-web production 1.0.0 --check", "rollback shop-web production --to 4",
		"log 1", "cancel #1", "lock shop-web production <!channel> <@U2> freeze", "unlock shop-web production",
		"schedule shop-web production 1.0.0 '0 18 * * 1-5' --tz Europe/Paris", "schedules", "unschedule 1",
		"pause 1", "resume 1", "frobnicate", "shop-web"} {
		slashIn("C1", "deploys", text)
	}
	slashIn("D1", "directmessage", "status")
	slashIn("D1", "directmessage", "shop-web staging 1.0.0")
	slashIn("C9", "elsewhere", "lock shop-web staging")
	click := func(channel, actionID, value string) {
		out = append(out, env("c-"+actionID+channel, "interactive", map[string]any{
			"type": "block_actions", "user": map[string]any{"id": "U2", "username": "bob", "name": "bob", "team_id": "T1"},
			"api_app_id": "A1", "container": map[string]any{"type": "message", "message_ts": "1678252213.679169", "channel_id": channel, "is_ephemeral": false},
			"trigger_id": "4916855695380.1.2", "team": map[string]any{"id": "T1"}, "channel": map[string]any{"id": channel, "name": "deploys"},
			"state":        map[string]any{"values": map[string]any{}},
			"response_url": "https://hooks.slack.com/actions/T1/1/x",
			"actions": []any{map[string]any{"action_id": actionID, "block_id": "actions", "value": value, "type": "button",
				"text": map[string]any{"type": "plain_text", "text": "Go"}, "action_ts": "1678252216.469172"}},
		}))
	}
	for _, a := range []string{ActionApprove, ActionReject, ActionCancel, ActionRollback,
		deploy.ActionScheduleApprove, deploy.ActionScheduleReject, deploy.ActionScheduleSkip, deploy.ActionSchedulePause} {
		click("C1", a, "1")
	}
	click("C2", deploy.ActionScheduleSkip, "1")
	click("D1", ActionApprove, "1")
	// The app select of the form (a block_actions from a view).
	out = append(out, env("c-form", "interactive", map[string]any{
		"type": "block_actions", "user": map[string]any{"id": "U1"}, "container": map[string]any{"type": "view", "view_id": "V1"},
		"view":    map[string]any{"id": "V1", "hash": "h1", "private_metadata": "C1", "callback_id": formCallbackID},
		"actions": []any{map[string]any{"action_id": formApp, "block_id": formApp, "type": "static_select", "selected_option": map[string]any{"value": "shop-web"}, "action_ts": "1.2"}},
	}))
	vs := recorded("ViewSubmissionPayload.json")
	view := vs["view"].(map[string]any)
	view["callback_id"], view["private_metadata"] = formCallbackID, "C1"
	view["state"] = map[string]any{"values": map[string]any{
		formApp:        map[string]any{formApp: map[string]any{"type": "static_select", "selected_option": map[string]any{"value": "shop-web"}}},
		"env-shop-web": map[string]any{formEnv: map[string]any{"type": "static_select", "selected_option": map[string]any{"value": "staging"}}},
		formVersion:    map[string]any{formVersion: map[string]any{"type": "plain_text_input", "value": "1.2.3"}},
		formCheck:      map[string]any{formCheck: map[string]any{"type": "checkboxes", "selected_options": []any{map[string]any{"value": "yes"}}}},
	}}
	out = append(out, env("v-full", "interactive", vs))
	delete(view, "state")
	out = append(out, env("v-nostate", "interactive", vs))
	out = append(out, env("e-mention", "events_api", map[string]any{
		"token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event_id": "Ev1", "event_time": 1,
		"event": map[string]any{"type": "app_mention", "user": "U1", "text": "<@UBOT> help", "ts": "1.1", "channel": "C1", "event_ts": "1.1"},
	}))
	out = append(out, []byte(`{"type":"hello","num_connections":1}`), []byte(`{"type":"disconnect","reason":"refresh_requested"}`),
		[]byte(`{"envelope_id":"f-1","type":"future_type","payload":{}}`), []byte(`{"envelope_id":"n-1","type":"interactive","payload":null}`))
	return out
}

// FuzzEnvelope feeds random and mutated Socket Mode frames through the real
// dispatch against the fake Slack: nothing may panic (not even a recovered
// panic), and every envelope with an id is acked exactly once.
func FuzzEnvelope(f *testing.F) {
	for _, s := range seedEnvelopes(f) {
		f.Add(s)
	}
	rig := newEnvelopeRig(f)
	execs := 0
	f.Cleanup(func() { rig.close() })
	f.Fuzz(func(t *testing.T, frame []byte) {
		// The fake keeps every message; start afresh now and then so a
		// long run stays small.
		if execs++; execs%2000 == 0 {
			rig.close()
			rig = newEnvelopeRig(t)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := rig.handle(ctx, frame); err != nil {
			t.Fatal(err)
		}
	})
}

// cannedDeployer answers every call at once with fixed results, hostile
// text included, or a refusal; it keeps nothing, so a fuzz run stays small.
type cannedDeployer struct{}

const hostile = "<!channel> <!here> <!subteam^S1|@leads> <@U9> <https://evil.example|click> & `x`"

func cannedRequest(id int64) *deploy.Request {
	return &deploy.Request{ID: id, Kind: deploy.KindDeploy, App: "shop-web", Env: "staging", Version: "1.0.0",
		RequestedBy: "U1", Channel: "C1", Status: deploy.StatusFailed, Outcome: hostile,
		Message: deploy.MessageRef{Channel: "C1", TS: "1.1"}}
}

func (cannedDeployer) RequestDeploy(context.Context, deploy.DeployInput) (*deploy.Request, error) {
	return nil, deploy.Errorf(deploy.EFORBIDDEN, "No.")
}
func (cannedDeployer) RequestRollback(context.Context, deploy.RollbackInput) (*deploy.Request, error) {
	return nil, deploy.Errorf(deploy.ECONFLICT, "No backup.")
}
func (cannedDeployer) Approve(_ context.Context, id int64, _ string) (*deploy.Request, error) {
	return cannedRequest(id), nil
}
func (cannedDeployer) Reject(_ context.Context, id int64, _, _ string) (*deploy.Request, error) {
	return cannedRequest(id), nil
}
func (cannedDeployer) Cancel(_ context.Context, id int64, _ string) (*deploy.Request, error) {
	return cannedRequest(id), nil
}
func (cannedDeployer) Lock(_ context.Context, user, app, env, reason string) (deploy.Lock, error) {
	return deploy.Lock{App: app, Env: env, By: user, Reason: reason, Since: time.Unix(1, 0)}, nil
}
func (cannedDeployer) Unlock(_ context.Context, user, app, env string) (deploy.Lock, error) {
	return deploy.Lock{App: app, Env: env, By: user}, nil
}
func (cannedDeployer) Status(context.Context, string, string) (deploy.StatusReport, error) {
	return deploy.StatusReport{Active: []*deploy.Request{cannedRequest(1)},
		Locks: []deploy.Lock{{App: "shop-web", Env: "production", By: "U1", Reason: hostile}}}, nil
}
func (cannedDeployer) History(context.Context, string, string, int) ([]*deploy.Request, error) {
	return []*deploy.Request{cannedRequest(2)}, nil
}
func (cannedDeployer) SendLog(_ context.Context, id int64, _ string) (*deploy.Request, error) {
	return cannedRequest(id), nil
}
func (cannedDeployer) Request(_ context.Context, id int64) (*deploy.Request, error) {
	if id > 100 {
		return nil, deploy.Errorf(deploy.ENOTFOUND, "There is no request #%d.", id)
	}
	return cannedRequest(id), nil
}

func cannedSchedule(id int64) *deploy.Schedule {
	return &deploy.Schedule{ID: id, App: "shop-web", Env: "production", Version: "1.0.0", Spec: "0 18 * * 1-5",
		Status: deploy.ScheduleActive, CreatedBy: "U1"}
}
func (cannedDeployer) CreateSchedule(context.Context, deploy.ScheduleInput) (*deploy.Schedule, error) {
	return cannedSchedule(1), nil
}
func (cannedDeployer) Schedules(context.Context) ([]*deploy.Schedule, error) {
	return []*deploy.Schedule{cannedSchedule(1)}, nil
}
func (cannedDeployer) Unschedule(_ context.Context, id int64, _ string) (*deploy.Schedule, error) {
	return cannedSchedule(id), nil
}
func (cannedDeployer) PauseSchedule(_ context.Context, id int64, _ string) (*deploy.Schedule, error) {
	return cannedSchedule(id), nil
}
func (cannedDeployer) ResumeSchedule(_ context.Context, id int64, _ string) (*deploy.Schedule, error) {
	return cannedSchedule(id), nil
}
func (cannedDeployer) SkipNextRun(_ context.Context, id int64, _ string) (*deploy.Schedule, deploy.RunTime, error) {
	return cannedSchedule(id), deploy.RunTime{At: time.Unix(2, 0)}, nil
}
func (cannedDeployer) ApproveSchedule(_ context.Context, id int64, _ string) (*deploy.Schedule, error) {
	return cannedSchedule(id), nil
}
func (cannedDeployer) RejectSchedule(_ context.Context, id int64, _, _ string) (*deploy.Schedule, error) {
	return nil, deploy.Errorf(deploy.EFORBIDDEN, "No.")
}
func (cannedDeployer) NextRuns(*deploy.Schedule, int) []deploy.RunTime {
	return []deploy.RunTime{{At: time.Unix(3, 0)}}
}

var _ Deployer = cannedDeployer{}
