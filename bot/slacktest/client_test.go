package slacktest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// Test timing: the server pings every 100 ms, the client gives up after 1 s
// without a ping.
const (
	testServerPing = 100 * time.Millisecond
	testClientPing = time.Second
	testTimeout    = 10 * time.Second
)

// newTestServer starts a server with fast pings and a small workspace:
// users U1 (alice), U2 (bob), public channel C1 (#deploys, bot member),
// public channel C2 (#random, bot not member), private channel G1 (#ops, bot
// member).
func newTestServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	// The fake's own tests also exercise methods deploybot does not call.
	scopes := append(DefaultBotScopes(), "users:read", "channels:read", "groups:read")
	srv := NewServer(t, append([]Option{WithPingInterval(testServerPing), WithBotScopes(scopes...)}, opts...)...)
	srv.AddUser("U1", "alice")
	srv.AddUser("U2", "bob")
	srv.AddChannel("C1", "deploys", true, true)
	srv.AddChannel("C2", "random", true, false)
	srv.AddChannel("G1", "ops", false, true)
	return srv
}

// newAPI returns an unmodified slack-go client pointed at srv.
func newAPI(srv *Server) *slack.Client {
	return slack.New(srv.BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(srv.AppToken))
}

// testCtx returns a context that ends with the test or after testTimeout.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// handlerFunc handles one socketmode event; it runs on the client's event
// loop goroutine.
type handlerFunc func(c *socketmode.Client, evt socketmode.Event)

// runClient runs a real socketmode client against srv until the test ends,
// handing every event to handle (nil: ack requests with no payload).
func runClient(t *testing.T, srv *Server, handle handlerFunc) *socketmode.Client {
	t.Helper()
	if handle == nil {
		handle = ackAll
	}
	client := socketmode.New(newAPI(srv), socketmode.OptionPingInterval(testClientPing))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = client.RunContext(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-client.Events:
				handle(client, evt)
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return client
}

// ackAll acks every request with no payload.
func ackAll(c *socketmode.Client, evt socketmode.Event) {
	if evt.Request != nil && evt.Request.EnvelopeID != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.AckCtx(ctx, evt.Request.EnvelopeID, nil)
	}
}

// ackWith acks every request with payload.
func ackWith(payload any) handlerFunc {
	return func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Request != nil && evt.Request.EnvelopeID != "" {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = c.AckCtx(ctx, evt.Request.EnvelopeID, payload)
		}
	}
}

// connected starts a client that acks everything and waits for its socket.
func connected(t *testing.T, srv *Server, handle handlerFunc) *socketmode.Client {
	t.Helper()
	c := runClient(t, srv, handle)
	if err := srv.AwaitConnections(testCtx(t), 1); err != nil {
		t.Fatalf("client never connected: %v", err)
	}
	return c
}

// contextWithTimeout returns a context ending after d or with the test.
func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithTimeout(t.Context(), d)
}

// newAPIWithAppToken returns a slack-go client using appToken for
// apps.connections.open.
func newAPIWithAppToken(srv *Server, appToken string) *slack.Client {
	return slack.New(srv.BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(appToken))
}
