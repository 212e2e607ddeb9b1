package slacktest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack/socketmode"
)

func TestSocketConnectHello(t *testing.T) {
	srv := newTestServer(t)
	hellos := make(chan *socketmode.Request, 10)
	runClient(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeHello {
			hellos <- evt.Request
		}
	})
	var h *socketmode.Request
	select {
	case h = <-hellos:
	case <-testCtx(t).Done():
		t.Fatal("no hello")
	}
	if h.NumConnections != 1 || h.ConnectionInfo.AppID != srv.AppID || h.DebugInfo.Host != "applink-1" {
		t.Errorf("hello = %+v", h)
	}
	if h.DebugInfo.ApproximateConnectionTime != 18060 {
		t.Errorf("approximate_connection_time = %d, want 18060", h.DebugInfo.ApproximateConnectionTime)
	}
	calls := srv.Calls("apps.connections.open")
	if len(calls) != 1 || calls[0].TokenKind != "app" || calls[0].Error != "" {
		t.Errorf("apps.connections.open calls = %+v", calls)
	}
}

func TestSocketPingsKeepAlive(t *testing.T) {
	srv := newTestServer(t)
	connected(t, srv, nil)
	// Three client ping intervals: without pings the client would have
	// reconnected at least once. The wait ends on the deadline, not on a
	// condition, so it is bounded by ctx rather than a sleep.
	ctx, cancel := contextWithTimeout(t, 3*testClientPing)
	defer cancel()
	err := srv.WaitFor(ctx, func(s *Server) bool { return s.Reconnects() > 0 })
	if err == nil {
		t.Fatalf("client reconnected although the server pings (%d reconnects)", srv.Reconnects())
	}
	if srv.Connections() != 1 {
		t.Errorf("connections = %d, want 1", srv.Connections())
	}
}

func TestSocketStopPingsReconnects(t *testing.T) {
	srv := newTestServer(t)
	connected(t, srv, nil)
	srv.StopPings(true)
	ctx := testCtx(t)
	if err := srv.WaitFor(ctx, func(s *Server) bool { return s.Reconnects() >= 1 }); err != nil {
		t.Fatalf("client did not reconnect without pings: %v", err)
	}
	srv.StopPings(false)
	if err := srv.AwaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Calls("apps.connections.open")); n < 2 {
		t.Errorf("apps.connections.open called %d times, want >= 2", n)
	}
}

func TestSocketDisconnectReconnects(t *testing.T) {
	for _, reason := range []string{"refresh_requested", "warning", "link_disabled"} {
		t.Run(reason, func(t *testing.T) {
			srv := newTestServer(t)
			connected(t, srv, nil)
			srv.Disconnect(reason)
			ctx := testCtx(t)
			if err := srv.AwaitReconnects(ctx, 1); err != nil {
				t.Fatalf("no reconnect after %s: %v", reason, err)
			}
			calls := srv.Calls("apps.connections.open")
			if len(calls) < 2 {
				t.Fatalf("apps.connections.open called %d times", len(calls))
			}
			// The new socket works: a command is acked on it.
			if _, err := srv.SendSlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/deploy", Text: "x"}); err != nil {
				t.Fatalf("slash command after reconnect: %v", err)
			}
		})
	}
}

func TestSocketDropReconnects(t *testing.T) {
	srv := newTestServer(t)
	connected(t, srv, nil)
	srv.DropConnections()
	ctx := testCtx(t)
	if err := srv.AwaitReconnects(ctx, 1); err != nil {
		t.Fatalf("no reconnect after drop: %v", err)
	}
	ack, err := srv.SendSlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/deploy"})
	if err != nil {
		t.Fatal(err)
	}
	if ack.Conn < 2 {
		t.Errorf("ack came on connection %d, want a new one", ack.Conn)
	}
}

// dialRaw opens a socket with a plain gorilla client, for what slack-go
// refuses to do (oversized acks, reused tickets). Its write buffer is
// slack-go's (32 KiB), so that messages up to that size leave as one frame.
func dialRaw(t *testing.T, srv *Server) (*websocket.Conn, string) {
	t.Helper()
	return dialRawWith(t, srv, &websocket.Dialer{WriteBufferSize: 32 * 1024})
}

// dialRawWith is dialRaw with the given dialer.
func dialRawWith(t *testing.T, srv *Server, dialer *websocket.Dialer) (*websocket.Conn, string) {
	t.Helper()
	_, u, err := newAPI(srv).StartSocketModeContext(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, "ws://127.0.0.1:") || !strings.Contains(u, "/link/?ticket=") || !strings.Contains(u, "app_id="+srv.AppID) {
		t.Fatalf("socket url = %q", u)
	}
	conn, _, err := dialer.Dial(u, map[string][]string{"Origin": {"https://api.slack.com"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, u
}

// An ack that leaves the client in several frames (gorilla's default 4 KiB
// write buffer splits larger messages) is lost, as in Slack; the same ack in
// one frame is taken.
func TestSocketFragmentedAckIsLost(t *testing.T) {
	for _, tc := range []struct {
		name     string
		buffer   int
		wantLost bool
	}{
		{"default 4 KiB buffer splits it", 0, true},
		{"32 KiB buffer sends one frame", 32 * 1024, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, WithAckDeadline(time.Second))
			conn, _ := dialRawWith(t, srv, &websocket.Dialer{WriteBufferSize: tc.buffer})
			var hello map[string]any
			if err := conn.ReadJSON(&hello); err != nil || hello["type"] != "hello" {
				t.Fatalf("hello = %v, %v", hello, err)
			}
			errc := make(chan error, 1)
			go func() {
				_, err := srv.SendSlashCommand(testCtx(t), SlashCommand{User: "U1", Channel: "C1", Command: "/deploy", Text: "status"})
				errc <- err
			}()
			var env struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if err := conn.ReadJSON(&env); err != nil {
				t.Fatal(err)
			}
			ack, _ := json.Marshal(map[string]any{"envelope_id": env.EnvelopeID, "payload": map[string]string{"text": strings.Repeat("a", 8000)}})
			if err := conn.WriteMessage(websocket.TextMessage, ack); err != nil {
				t.Fatal(err)
			}
			err := <-errc
			if lost := errors.Is(err, ErrNoAck); lost != tc.wantLost {
				t.Fatalf("SendSlashCommand error = %v, want lost=%v", err, tc.wantLost)
			}
			if got, want := srv.FragmentedMessages(), map[bool]int{true: 1}[tc.wantLost]; got != want {
				t.Errorf("FragmentedMessages = %d, want %d", got, want)
			}
		})
	}
}

func TestSocketTicketSingleUse(t *testing.T) {
	srv := newTestServer(t)
	_, u := dialRaw(t, srv)
	_, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err == nil {
		t.Fatal("second dial with the same ticket succeeded")
	}
	if resp == nil || resp.StatusCode != 401 {
		t.Errorf("second dial answered %v", resp)
	}
}

func TestSocketOversizedAckCloses1009(t *testing.T) {
	srv := newTestServer(t)
	conn, _ := dialRaw(t, srv)
	var hello map[string]any
	if err := conn.ReadJSON(&hello); err != nil || hello["type"] != "hello" {
		t.Fatalf("hello = %v, %v", hello, err)
	}
	big, _ := json.Marshal(map[string]any{"envelope_id": "x", "payload": map[string]string{"text": strings.Repeat("a", 20480)}})
	if err := conn.WriteMessage(websocket.TextMessage, big); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
			t.Fatalf("read error = %v, want close 1009", err)
		}
		break
	}
	if srv.OversizedAcks() != 1 {
		t.Errorf("OversizedAcks = %d", srv.OversizedAcks())
	}
}

func TestSocketDebugReconnectsShortens(t *testing.T) {
	srv := newTestServer(t)
	_, u, err := newAPI(srv).StartSocketModeContext(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	conn, _, err := websocket.DefaultDialer.Dial(u+"&debug_reconnects=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var hello struct {
		DebugInfo struct {
			ApproximateConnectionTime int `json:"approximate_connection_time"`
		} `json:"debug_info"`
	}
	if err := conn.ReadJSON(&hello); err != nil {
		t.Fatal(err)
	}
	if hello.DebugInfo.ApproximateConnectionTime != 360 {
		t.Errorf("approximate_connection_time = %d, want 360", hello.DebugInfo.ApproximateConnectionTime)
	}
}

func TestAppsConnectionsOpenNeedsAppToken(t *testing.T) {
	srv := newTestServer(t)
	// The bot token is the wrong kind of token here.
	_, _, err := newAPIWithAppToken(srv, srv.BotToken).StartSocketModeContext(testCtx(t))
	if err == nil || err.Error() != "not_allowed_token_type" {
		t.Errorf("bot token: err = %v, want not_allowed_token_type", err)
	}
	_, _, err = newAPIWithAppToken(srv, "xapp-wrong").StartSocketModeContext(testCtx(t))
	if err == nil || err.Error() != "invalid_auth" {
		t.Errorf("wrong token: err = %v, want invalid_auth", err)
	}
}

func TestSocketTooManyWebsockets(t *testing.T) {
	srv := newTestServer(t, WithRateLimits(false))
	for range maxSockets {
		conn, _ := dialRaw(t, srv)
		var hello map[string]any
		if err := conn.ReadJSON(&hello); err != nil || hello["type"] != "hello" {
			t.Fatalf("hello = %v, %v", hello, err)
		}
	}
	conn, _ := dialRaw(t, srv)
	var msg struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	if err := conn.ReadJSON(&msg); err != nil || msg.Type != "disconnect" || msg.Reason != "too_many_websockets" {
		t.Errorf("11th socket got %+v, %v", msg, err)
	}
	if n := srv.Connections(); n != maxSockets {
		t.Errorf("connections = %d", n)
	}
}

// rawEnvelope reads frames until an envelope arrives.
func rawEnvelope(t *testing.T, conn *websocket.Conn) map[string]any {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
	for {
		var m map[string]any
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if _, ok := m["envelope_id"]; ok {
			return m
		}
	}
}

func TestSocketLateAckIgnored(t *testing.T) {
	srv := newTestServer(t, WithAckDeadline(100*time.Millisecond))
	conn, _ := dialRaw(t, srv)
	ctx := testCtx(t)
	if err := srv.AwaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := srv.SendSlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/deploy"})
		errc <- err
	}()
	env := rawEnvelope(t, conn)
	if env["type"] != "slash_commands" || env["accepts_response_payload"] != true {
		t.Errorf("envelope = %v", env)
	}
	if err := <-errc; !errors.Is(err, ErrNoAck) {
		t.Fatalf("err = %v", err)
	}
	late := map[string]any{"envelope_id": env["envelope_id"], "payload": map[string]string{"text": "too late"}}
	if err := conn.WriteJSON(late); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitFor(ctx, func(s *Server) bool { return len(s.Acks()) == 1 }); err != nil {
		t.Fatal(err)
	}
	if a := srv.Acks()[0]; !a.Late || a.Latency < 100*time.Millisecond {
		t.Errorf("ack = %+v", a)
	}
	for _, e := range srv.Ephemerals("U1") {
		if e.Source != "slack" || e.Error != "operation_timeout" {
			t.Errorf("late ack payload was shown: %+v", e)
		}
	}

	// A socket told to disconnect gets no more envelopes.
	srv.Disconnect("warning")
	if _, err := srv.SendSlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/deploy"}); !errors.Is(err, ErrNoConnection) {
		t.Errorf("after disconnect: err = %v, want ErrNoConnection", err)
	}
}

// Slack closes a socket it told to disconnect, even when the client keeps
// reading it.
func TestSocketClosedAfterDisconnect(t *testing.T) {
	srv := newTestServer(t, WithDisconnectGrace(200*time.Millisecond))
	conn, _ := dialRaw(t, srv)
	var hello map[string]any
	if err := conn.ReadJSON(&hello); err != nil {
		t.Fatal(err)
	}
	srv.Disconnect("warning")
	_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
	var msg map[string]any
	if err := conn.ReadJSON(&msg); err != nil || msg["type"] != "disconnect" {
		t.Fatalf("first message after Disconnect = %v, %v", msg, err)
	}
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			break // closed by the server
		}
	}
	if err := srv.WaitFor(testCtx(t), func(s *Server) bool { return s.Connections() == 0 }); err != nil {
		t.Fatalf("socket still open: %v", err)
	}
}

// With several sockets open, each envelope goes to one of them at random.
func TestSocketEnvelopesSpreadAtRandom(t *testing.T) {
	srv := newTestServer(t)
	runClient(t, srv, nil)
	runClient(t, srv, nil)
	runClient(t, srv, nil)
	ctx := testCtx(t)
	if err := srv.AwaitConnections(ctx, 3); err != nil {
		t.Fatal(err)
	}
	per := map[int]int{}
	var order []int
	for range 60 {
		ack, err := srv.SendSlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/deploy", Text: "status"})
		if err != nil {
			t.Fatal(err)
		}
		per[ack.Conn]++
		order = append(order, ack.Conn)
	}
	if len(per) != 3 {
		t.Errorf("envelopes per connection = %v, want all three used", per)
	}
	// Not a rotation: some connection gets two envelopes in a row.
	repeated := false
	for i := 1; i < len(order); i++ {
		repeated = repeated || order[i] == order[i-1]
	}
	if !repeated {
		t.Errorf("envelopes went round robin: %v", order)
	}
}
