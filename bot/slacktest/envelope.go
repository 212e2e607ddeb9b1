package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// ErrNoConnection is returned when an envelope is due but no socket is open;
// Slack then shows the user dispatch_failed.
var ErrNoConnection = errors.New("slacktest: no socket mode connection")

// ErrNotSubscribed is returned by SendEvent for an event Slack would not
// deliver to the app: not subscribed, or missing the scope it needs.
var ErrNotSubscribed = errors.New("slacktest: event not delivered")

// ErrNoAck is returned when the client did not ack an envelope before the
// ack deadline.
var ErrNoAck = errors.New("slacktest: envelope not acked in time")

// Ack is the client's acknowledgement of one envelope.
type Ack struct {
	EnvelopeID string
	// Type is the envelope type: slash_commands, interactive or events_api.
	Type string
	// Payload is the ack's payload, nil when the ack had none.
	Payload json.RawMessage
	// Latency is the time from writing the envelope to reading its ack.
	Latency time.Duration
	// Conn is the number of the connection the ack came on (1 for the first
	// socket opened).
	Conn int
	// Late is set for an ack that came after the deadline; it was ignored.
	Late bool
	// Unknown is set for an ack of an envelope the server never sent.
	Unknown bool
	// Errors lists why the payload could not be applied (e.g. invalid blocks
	// in a slash command answer).
	Errors []string
}

// Envelope is one envelope the server wrote on a socket.
type Envelope struct {
	ID   string
	Type string
	// Payload is the envelope's payload as sent.
	Payload json.RawMessage
	// Conn is the connection it was written on.
	Conn int
	// RetryAttempt is 0 for a first delivery, 1..3 for events_api retries.
	RetryAttempt int
}

// envelope is one delivered envelope waiting for its ack.
type envelope struct {
	id, typ   string
	sentAt    time.Time
	timer     *time.Timer
	done      chan struct{}
	ack       *Ack
	timedOut  bool
	onAck     func(*Ack)
	onTimeout func()
	deadline  time.Duration
}

// delivery describes an envelope to send.
type delivery struct {
	typ       string
	payload   any
	accepts   bool
	retry     int        // events_api retry_attempt
	onAck     func(*Ack) // runs with s.mu held
	onTimeout func()     // runs with s.mu held
	onNoConn  func()     // runs with s.mu held
}

// deliver sends an envelope and waits for its ack, the deadline or ctx.
func (s *Server) deliver(ctx context.Context, d delivery) (Ack, error) {
	e, err := s.send(d)
	if err != nil {
		return Ack{}, err
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return Ack{}, fmt.Errorf("wait for ack of %s: %w", e.id, ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.ack == nil {
		return Ack{}, fmt.Errorf("%s envelope %s after %v: %w", d.typ, e.id, e.deadline, ErrNoAck)
	}
	return *e.ack, nil
}

// send writes an envelope to one open socket and starts its ack deadline.
func (s *Server) send(d delivery) (*envelope, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrNoConnection
	}
	// Slack gives each envelope to any one open connection, never to one it
	// has asked to disconnect.
	ids := make([]int, 0, len(s.conns))
	for id, c := range s.conns {
		if !c.draining {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		if d.onNoConn != nil {
			d.onNoConn()
		}
		s.notifyLocked()
		s.mu.Unlock()
		return nil, ErrNoConnection
	}
	// Slack picks one of the app's open connections for each envelope,
	// with no affinity: an app running several replicas must expect any
	// of them to get any envelope
	// (docs.slack.dev/apis/events-api/using-socket-mode: "payloads ...
	// sent to any one of the open connections"; up to 10 connections).
	c := s.conns[ids[rand.IntN(len(ids))]]
	e := &envelope{id: newUUID(), typ: d.typ, done: make(chan struct{}), onAck: d.onAck, onTimeout: d.onTimeout}
	payload, _ := json.Marshal(d.payload)
	frame := map[string]any{
		"envelope_id": e.id, "type": d.typ, "payload": json.RawMessage(payload), "accepts_response_payload": d.accepts,
	}
	if d.typ == "events_api" {
		frame["retry_attempt"] = d.retry
		frame["retry_reason"] = ""
		if d.retry > 0 {
			frame["retry_reason"] = "timeout"
		}
	}
	s.envelopes = append(s.envelopes, Envelope{ID: e.id, Type: d.typ, Payload: payload, Conn: c.id, RetryAttempt: d.retry})
	s.pending[e.id] = e
	e.deadline = s.cfg.ackDeadline
	e.sentAt = time.Now()
	e.timer = time.AfterFunc(e.deadline, func() { s.expire(e) })
	s.notifyLocked()
	s.mu.Unlock()

	if err := c.writeJSON(frame); err != nil {
		// The socket died under us: Slack counts this as not acked.
		c.drop()
	}
	return e, nil
}

// expire runs when an envelope's deadline passes without an ack.
func (s *Server) expire(e *envelope) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.ack != nil || e.timedOut || s.closed {
		return
	}
	e.timedOut = true
	if e.onTimeout != nil {
		e.onTimeout()
	}
	close(e.done)
	s.notifyLocked()
}

// handleAck records an ack frame and applies its payload.
func (s *Server) handleAck(connID int, data []byte) {
	var ra rawAck
	if json.Unmarshal(data, &ra) != nil || ra.EnvelopeID == "" {
		return // not an ack; Slack ignores it too
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()
	a := Ack{EnvelopeID: ra.EnvelopeID, Conn: connID}
	if len(ra.Payload) > 0 && string(ra.Payload) != "null" {
		a.Payload = append(json.RawMessage(nil), ra.Payload...)
	}
	e := s.pending[ra.EnvelopeID]
	switch {
	case e == nil:
		a.Unknown = true
	case e.timedOut:
		a.Type, a.Late, a.Latency = e.typ, true, time.Since(e.sentAt)
		delete(s.pending, e.id)
	default:
		e.timer.Stop()
		a.Type, a.Latency = e.typ, time.Since(e.sentAt)
		if e.onAck != nil {
			e.onAck(&a)
		}
		e.ack = &a
		delete(s.pending, e.id)
		close(e.done)
	}
	s.acks = append(s.acks, a)
}

// Acks returns every ack frame received, in order, including late and
// unknown ones.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acks)
}

// SendEvent delivers an events_api envelope carrying event (the inner event
// object, e.g. {"type":"app_mention",...}) and waits for the ack of this
// first delivery. When it is not acked Slack redelivers it in a new envelope
// with the same event_id, retry_attempt 1..3 and retry_reason "timeout",
// after the delays of WithEventRetryDelays (by default at once, 1 min and
// 5 min); those retries run in the background.
//
// Slack delivers an event only to an app subscribed to its type and holding
// the scope it needs (docs.slack.dev/apis/events-api: "subscribe to event
// types"; each event's reference page lists its required scope): otherwise
// nothing is sent and SendEvent returns ErrNotSubscribed.
func (s *Server) SendEvent(ctx context.Context, event map[string]any) (Ack, error) {
	typ, _ := event["type"].(string)
	s.mu.Lock()
	if !slices.Contains(s.cfg.botEvents, typ) {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("%w: the app is not subscribed to %q", ErrNotSubscribed, typ)
	}
	if scope := eventScopes[typ]; scope != "" && !slices.Contains(s.botScopes, scope) {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("%w: %q needs the %s scope", ErrNotSubscribed, typ, scope)
	}
	payload := map[string]any{
		"token": verificationToken, "team_id": s.TeamID, "api_app_id": s.AppID,
		"event": event, "type": "event_callback", "event_id": "Ev" + randHex(10),
		"event_time": s.now().Unix(), "authorizations": []any{map[string]any{
			"team_id": s.TeamID, "user_id": s.BotUserID, "is_bot": true, "is_enterprise_install": false,
		}},
		"is_ext_shared_channel": false,
	}
	s.mu.Unlock()
	return s.deliver(ctx, s.eventDelivery(payload, 0))
}

// eventDelivery builds delivery attempt n of an event, scheduling the next
// attempt when this one fails.
func (s *Server) eventDelivery(payload map[string]any, attempt int) delivery {
	d := delivery{typ: "events_api", payload: payload, retry: attempt}
	if attempt < len(s.cfg.eventRetries) {
		delay := s.cfg.eventRetries[attempt]
		retry := func() {
			time.AfterFunc(delay, func() { _, _ = s.send(s.eventDelivery(payload, attempt+1)) })
		}
		d.onTimeout, d.onNoConn = retry, retry
	}
	return d
}

// Envelopes returns every envelope written on a socket, in order.
func (s *Server) Envelopes() []Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.envelopes)
}

// Redeliver sends the payload of envelope id again, in a new envelope with a
// new envelope_id, and waits for its ack. Slack documents envelope_id as the
// identifier of one delivery to acknowledge, not of the payload
// (docs.slack.dev/apis/events-api/using-socket-mode: every envelope is
// acked by its own envelope_id; events_api retries come in new envelopes,
// see eventDelivery), so an app that deduplicates work on it does the work
// twice. Redeliver plays such a repeat for any envelope type.
func (s *Server) Redeliver(ctx context.Context, id string) (Ack, error) {
	s.mu.Lock()
	var orig *Envelope
	for i := range s.envelopes {
		if s.envelopes[i].ID == id {
			orig = &s.envelopes[i]
		}
	}
	if orig == nil {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("slacktest: redeliver: no envelope %s", id)
	}
	typ, payload := orig.Type, append(json.RawMessage(nil), orig.Payload...)
	s.mu.Unlock()
	return s.deliver(ctx, delivery{typ: typ, payload: payload, accepts: typ != "events_api"})
}
