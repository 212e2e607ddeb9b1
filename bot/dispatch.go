package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/deploybot/deploybot/commands"
)

// route turns one Slack envelope into its ack and the work to do after it.
// It runs on the reader goroutine, so it must be fast and do no I/O:
// decode, validate, decide.
type route func(evt socketmode.Event, log zerolog.Logger) decision

// decision is what to do with an envelope.
type decision struct {
	// ack is the ack payload (nil for a plain ack).
	ack any
	// busyAck replaces ack when the work cannot be queued.
	busyAck any
	// key identifies the envelope for deduplication ("" for none).
	key string
	// work runs after the ack on the pool; nil for none.
	work func(ctx context.Context)
}

// Handlers of the second-level tables.
type (
	commandHandler func(ctx context.Context, in *slashInput)
	actionHandler  func(ctx context.Context, in *clickInput)
	viewHandler    func(cb *slack.InteractionCallback, log zerolog.Logger) decision
	eventHandler   func(ctx context.Context, ev *slackevents.EventsAPICallbackEvent, inner slackevents.EventsAPIInnerEvent)
)

// register fills the dispatch tables: socket lifecycle events, envelope
// types, command names, button action ids, modal callback ids and Events
// API event types.
func (b *Bot) register() {
	b.lifecycle = map[socketmode.EventType]func(socketmode.Event){
		socketmode.EventTypeConnecting: func(socketmode.Event) { b.log.Debug().Msg("connecting to slack") },
		socketmode.EventTypeConnected: func(socketmode.Event) {
			b.connects.Add(1)
			b.touch()
			b.log.Info().Int64("connects", b.connects.Load()).Msg("socket connected")
		},
		socketmode.EventTypeHello: func(socketmode.Event) { b.touch() },
		socketmode.EventTypeConnectionError: func(e socketmode.Event) {
			l := b.log.Warn().Str("error", eventError(e.Data))
			if ce, ok := e.Data.(*slack.ConnectionErrorEvent); ok {
				l = l.Int("attempt", ce.Attempt).Int64("retry_in_ms", ce.Backoff.Milliseconds())
			}
			l.Msg("socket connection error; retrying")
		},
		socketmode.EventTypeInvalidAuth: func(socketmode.Event) {
			b.log.Error().Msg("slack refused the app token (invalid_auth)")
		},
		socketmode.EventTypeIncomingError: func(e socketmode.Event) {
			b.log.Warn().Str("error", eventError(e.Data)).Msg("unreadable socket frame")
		},
		socketmode.EventTypeErrorBadMessage: b.badMessage,
		socketmode.EventTypeErrorWriteFailed: func(e socketmode.Event) {
			b.log.Warn().Str("error", eventError(e.Data)).Msg("socket write failed")
		},
		socketmode.EventTypeDisconnect: func(socketmode.Event) { b.log.Info().Msg("slack asked to reconnect") },
	}
	b.routes = map[socketmode.EventType]route{
		socketmode.EventTypeSlashCommand: b.routeSlash,
		socketmode.EventTypeInteractive:  b.routeInteractive,
		socketmode.EventTypeEventsAPI:    b.routeEvents,
	}
	b.commands = map[string]commandHandler{
		commands.WordDeploy:     b.cmdDeploy,
		commands.WordRollback:   b.cmdRollback,
		commands.WordStatus:     b.cmdStatus,
		commands.WordHistory:    b.cmdHistory,
		commands.WordLog:        b.cmdLog,
		commands.WordCancel:     b.cmdCancel,
		commands.WordLock:       b.cmdLock,
		commands.WordUnlock:     b.cmdUnlock,
		commands.WordApps:       b.cmdApps,
		commands.WordAudit:      b.cmdAudit,
		commands.WordHelp:       b.cmdHelp,
		commands.WordForm:       b.cmdForm,
		commands.WordSchedule:   b.cmdSchedule,
		commands.WordSchedules:  b.cmdSchedules,
		commands.WordUnschedule: b.cmdUnschedule,
		commands.WordPause:      b.cmdPause,
		commands.WordResume:     b.cmdResume,
	}
	b.actions = map[string]actionHandler{
		ActionApprove:  b.clickApprove,
		ActionReject:   b.clickReject,
		ActionCancel:   b.clickCancel,
		ActionRollback: b.clickRollback,
		formApp:        b.appChosen,
	}
	for id, h := range b.scheduleActions() {
		b.actions[id] = h
	}
	b.views = map[string]viewHandler{
		formCallbackID: b.submitForm,
	}
	b.events = map[string]eventHandler{
		string(slackevents.AppMention): b.eventMention,
	}
}

// badMessage handles an envelope slack-go could not decode (an unknown
// type or payload). slack-go does not ack it; it is acked here when it has
// an envelope id, so that Slack does not redeliver what can never be read.
func (b *Bot) badMessage(e socketmode.Event) {
	bad, ok := e.Data.(*socketmode.ErrorBadMessage)
	if !ok {
		b.log.Warn().Msg("bad socket message")
		return
	}
	var env struct {
		EnvelopeID string `json:"envelope_id"`
		Type       string `json:"type"`
	}
	_ = json.Unmarshal(bad.Message, &env)
	b.log.Warn().AnErr("cause", bad.Cause).Str("envelope_id", env.EnvelopeID).Str("type", env.Type).Msg("unreadable envelope")
	b.sendAck(context.Background(), env.EnvelopeID, nil)
}

// HandleEvent handles one socketmode event: lifecycle events update the
// liveness and counters; envelopes are routed, queued and acked. It never
// blocks for longer than one ack hand-over (Config.AckTimeout).
//
// It never panics: a panic while reading an envelope (a payload no handler
// expected) is recovered, logged with the envelope id, counted
// (Counters.Panics) and the envelope acked with no payload, so that Slack
// does not redeliver what would fail again.
func (b *Bot) HandleEvent(ctx context.Context, evt socketmode.Event) {
	acked := false
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		id := ""
		if evt.Request != nil {
			id = evt.Request.EnvelopeID
		}
		b.panics.Add(1)
		b.log.Error().Interface("panic", r).Str("envelope_id", id).Str("type", string(evt.Type)).
			Bytes("stack", debug.Stack()).Msg("envelope handler panicked; envelope acked and dropped")
		if !acked {
			b.sendAck(ctx, id, nil)
		}
	}()
	if h, ok := b.lifecycle[evt.Type]; ok {
		h(evt)
		return
	}
	r, ok := b.routes[evt.Type]
	if !ok || evt.Request == nil {
		b.log.Debug().Str("type", string(evt.Type)).Msg("event ignored")
		return
	}
	b.touch()
	b.envelopes.Add(1)
	log := b.log.With().Str("envelope_id", evt.Request.EnvelopeID).Str("type", string(evt.Type)).Logger()
	d := r(evt, log)
	payload := d.ack
	if d.work != nil && !b.enqueue(job{key: d.key, log: log, work: d.work}) {
		payload = d.busyAck
	}
	acked = true
	b.sendAck(ctx, evt.Request.EnvelopeID, payload)
}

// busyText is shown when the work queue is full.
const busyText = "deploybot is busy right now and could not take this; nothing was done. Please try again in a moment."

// routeSlash routes a slash command. Parsing is pure and fast, so syntax
// errors and help are answered in the ack itself; everything else is
// queued, deduplicated on the trigger id.
func (b *Bot) routeSlash(evt socketmode.Event, log zerolog.Logger) decision {
	sc, ok := evt.Data.(slack.SlashCommand)
	if !ok {
		log.Warn().Msg("slash command without payload")
		return decision{}
	}
	in := &slashInput{
		User: sc.UserID, Channel: sc.ChannelID, Text: sc.Text,
		ResponseURL: sc.ResponseURL, TriggerID: sc.TriggerID,
	}
	in.log = log.With().Str("slack_user", sc.UserID).Str("channel", sc.ChannelID).Logger()
	if sc.Command != b.cfg.Command {
		// Slack delivers only this app's commands; a second command
		// name in the manifest gets the same grammar.
		in.log.Debug().Str("command", sc.Command).Msg("slash command under another name")
	}
	if msg, ok := commandRefusal(b.conf.Load(), sc.ChannelID, sc.ChannelName, sc.Text); ok {
		in.log.Info().Msg("command refused by the channel policy")
		return decision{ack: ackMessage(msg)}
	}
	if msg, ok := b.quickReply(in); ok {
		return decision{ack: ackMessage(msg)}
	}
	// Every envelope is acked, but the work is deduplicated on the
	// command's trigger_id: one per invocation, whereas an envelope_id
	// identifies one delivery and is not documented as stable when Slack
	// delivers the same command again.
	key := "env:" + evt.Request.EnvelopeID
	if sc.TriggerID != "" {
		key = "slash:" + sc.TriggerID
	}
	return decision{
		key:     key,
		busyAck: ackMessage(RenderRefusal(busyText)),
		work:    func(ctx context.Context) { b.runCommand(ctx, in) },
	}
}

// routeInteractive routes clicks (by action id) and modal submissions (by
// callback id).
func (b *Bot) routeInteractive(evt socketmode.Event, log zerolog.Logger) decision {
	cb, ok := evt.Data.(slack.InteractionCallback)
	if !ok {
		log.Warn().Msg("interaction without payload")
		return decision{}
	}
	log = log.With().Str("slack_user", cb.User.ID).Logger()
	switch cb.Type {
	case slack.InteractionTypeBlockActions:
		return b.routeActions(&cb, log)
	case slack.InteractionTypeViewSubmission:
		h, ok := b.views[cb.View.CallbackID]
		if !ok {
			log.Warn().Str("callback_id", cb.View.CallbackID).Msg("unknown view")
			return decision{}
		}
		d := h(&cb, log)
		if d.work != nil && d.key == "" {
			d.key = "env:" + evt.Request.EnvelopeID
		}
		return d
	}
	log.Debug().Str("interaction", string(cb.Type)).Msg("interaction ignored")
	return decision{}
}

// routeActions queues the work of each known button of a block_actions
// payload. A repeated click (same action_ts, user and action) is ignored.
func (b *Bot) routeActions(cb *slack.InteractionCallback, log zerolog.Logger) decision {
	var works []func(context.Context)
	var key string
	for _, a := range cb.ActionCallback.BlockActions {
		h, ok := b.actions[a.ActionID]
		if !ok {
			log.Debug().Str("action_id", a.ActionID).Msg("unknown action")
			continue
		}
		value := a.Value
		if value == "" {
			value = a.SelectedOption.Value
		}
		in := &clickInput{
			User: cb.User.ID, Channel: cb.Channel.ID, Value: value, ActionID: a.ActionID,
			ResponseURL: cb.ResponseURL,
			ViewID:      cb.View.ID, ViewHash: cb.View.Hash, ViewChannel: cb.View.PrivateMetadata,
			log: log.With().Str("action_id", a.ActionID).Str("value", value).Logger(),
		}
		if in.Channel == "" {
			in.Channel = cb.Container.ChannelID
		}
		key = "click:" + a.ActionTs + ":" + cb.User.ID + ":" + a.ActionID + ":" + a.Value
		where := in.Channel
		if where == "" && in.ViewID != "" {
			// A field of the form: the channel it was opened from.
			where = in.ViewChannel
		}
		if msg, refused := clickRefusal(b.conf.Load(), where, cb.Channel.Name); refused {
			in.log.Info().Str("channel", where).Msg("click refused by the channel policy")
			works = append(works, func(ctx context.Context) { b.reply(ctx, "", where, in.User, msg) })
			continue
		}
		works = append(works, func(ctx context.Context) { h(ctx, in) })
	}
	if len(works) == 0 {
		return decision{}
	}
	return decision{key: key, work: func(ctx context.Context) {
		for _, w := range works {
			w(ctx)
		}
	}}
}

// routeEvents routes Events API envelopes by inner event type,
// deduplicated on event_id (a retry comes in a new envelope).
func (b *Bot) routeEvents(evt socketmode.Event, log zerolog.Logger) decision {
	ev, ok := evt.Data.(slackevents.EventsAPIEvent)
	if !ok {
		return decision{}
	}
	cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent)
	if !ok {
		return decision{}
	}
	h, ok := b.events[ev.InnerEvent.Type]
	if !ok {
		return decision{}
	}
	return decision{
		key:  "event:" + cb.EventID,
		work: func(ctx context.Context) { h(ctx, cb, ev.InnerEvent) },
	}
}

// ackMessage is a slash-command ack payload: an ephemeral message.
func ackMessage(m Message) any {
	return map[string]any{
		"response_type": "ephemeral",
		"text":          m.Text,
		"blocks":        m.Blocks,
	}
}

// viewErrors is a view_submission ack that keeps the modal open and shows
// msgs under the named blocks.
func viewErrors(msgs map[string]string) any {
	return slack.NewErrorsViewSubmissionResponse(msgs)
}

// eventError is the error a socket event carries, as text: the "error"
// field of a log line is always a string, and slack-go hands these errors
// over in structs that JSON would turn into objects (an error value
// marshals as {}).
func eventError(data any) string {
	switch d := data.(type) {
	case *slack.ConnectionErrorEvent:
		if d.ErrorObj != nil {
			return d.ErrorObj.Error()
		}
	case *socketmode.ErrorWriteFailed:
		if d.Cause != nil {
			return d.Cause.Error()
		}
	case *slack.IncomingEventError:
		if d.ErrorObj != nil {
			return d.ErrorObj.Error()
		}
	case error:
		return d.Error()
	case nil:
		return "unknown error"
	}
	return fmt.Sprint(data)
}
