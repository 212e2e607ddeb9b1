package bot

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/bot/slacktest"
)

func slash(text string) slacktest.SlashCommand {
	return slacktest.SlashCommand{User: "U1", Channel: "C1", Command: "/deploy", Text: text}
}

func TestConnectHelloPings(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	h := startBot(t, srv, Config{}, SlackOptions{})
	eventually(t, "hello", func() bool { return !h.bot.LastSeen().IsZero() })
	first := h.bot.LastSeen()
	// Pings alone (no envelopes) keep LastSeen moving and the socket open
	// for longer than the bot's ping deadline.
	eventually(t, "pings past the ping deadline", func() bool {
		return h.bot.LastSeen().Sub(first) > testClientPing*3/2
	})
	if n := srv.Reconnects(); n != 0 {
		t.Errorf("reconnected %d times while pings came", n)
	}
	if c := h.bot.Counters(); c.Connects != 1 || c.Reconnects != 0 {
		t.Errorf("counters = %+v, want one connect", c)
	}
}

func TestSlashAckedFastWhileWebAPISlow(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	h := startBot(t, srv, Config{}, SlackOptions{})
	ctx := testCtx(t)
	srv.SetLatency(1500 * time.Millisecond)
	for _, text := range []string{"status", "shop-web staging 1.2.3", "apps"} {
		ack, err := srv.SendSlashCommand(ctx, slash(text))
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if ack.Latency > 100*time.Millisecond {
			t.Errorf("%q acked after %v, want < 100 ms", text, ack.Latency)
		}
	}
	// The work still gets done, later.
	if _, err := srv.AwaitMessage(ctx, "C1", func(m slacktest.Message) bool {
		return strings.Contains(m.Text, "shop-web 1.2.3 → staging")
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AwaitEphemeral(ctx, "U1", func(e slacktest.Ephemeral) bool { return strings.Contains(e.Text, "Status") }); err != nil {
		t.Fatal(err)
	}
	_ = h
}

func TestSyntaxErrorAndHelpInAck(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	h := startBot(t, srv, Config{}, SlackOptions{})
	ctx := testCtx(t)
	cases := []struct{ text, want string }{
		{"help", "/deploy rollback"},
		{"rollback shop-web", "Usage"},
		{"frobnicate", "is neither a /deploy command nor an app. Apps: billing-worker, shop-web"},
		{"shop-web", `missing \u0026lt;env\u0026gt;`},
		{"statsu", `did you mean \"status\"`},
	}
	for _, tc := range cases {
		ack, err := srv.SendSlashCommand(ctx, slash(tc.text))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(ack.Payload), tc.want) {
			t.Errorf("%q: ack payload %s lacks %q", tc.text, ack.Payload, tc.want)
		}
		if len(ack.Errors) > 0 {
			t.Errorf("%q: ack refused: %v", tc.text, ack.Errors)
		}
	}
	if calls := h.d.Calls(); len(calls) != 0 {
		t.Errorf("domain called for syntax errors and help: %v", calls)
	}
}

func TestRefusalAndInternalError(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	startBot(t, srv, Config{}, SlackOptions{})
	ctx := testCtx(t)
	if _, err := srv.SendSlashCommand(ctx, slash("refuse staging 1.0.0")); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AwaitEphemeral(ctx, "U1", func(e slacktest.Ephemeral) bool {
		return strings.Contains(e.Text, "You are not allowed to deploy refuse")
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.SendSlashCommand(ctx, slash("boom staging 1.0.0")); err != nil {
		t.Fatal(err)
	}
	e, err := srv.AwaitEphemeral(ctx, "U1", func(e slacktest.Ephemeral) bool { return strings.Contains(e.Text, "internal error (ref ") })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.Text, "database is locked") {
		t.Errorf("internal detail shown to the user: %s", e.Text)
	}
}

// cardOf waits for the card of the request whose title contains what.
func cardOf(t *testing.T, srv *slacktest.Server, what string) slacktest.Message {
	t.Helper()
	m, err := srv.AwaitMessage(testCtx(t), "C1", func(m slacktest.Message) bool { return strings.Contains(m.Text, what) })
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestApprovalClicks(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	h := startBot(t, srv, Config{}, SlackOptions{ChannelInterval: 200 * time.Millisecond})
	ctx := testCtx(t)
	if _, err := srv.SendSlashCommand(ctx, slash("shop-web production 1.4.2")); err != nil {
		t.Fatal(err)
	}
	card := cardOf(t, srv, "shop-web 1.4.2 → production")
	// Self-approval is refused by the domain: an ephemeral, nothing changes.
	if _, err := srv.ClickButton(ctx, "U1", "C1", card.TS, ActionApprove); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AwaitEphemeral(ctx, "U1", func(e slacktest.Ephemeral) bool { return strings.Contains(e.Text, "yourself") }); err != nil {
		t.Fatal(err)
	}
	ack, err := srv.ClickButton(ctx, "U2", "C1", card.TS, ActionApprove)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Latency > 100*time.Millisecond {
		t.Errorf("click acked after %v", ack.Latency)
	}
	if err := srv.WaitFor(ctx, func(s *slacktest.Server) bool {
		m, _ := s.Message("C1", card.TS)
		return strings.Contains(m.Text, "Succeeded")
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(h.d.Calls(), "approve 1 U2") {
		t.Errorf("calls = %v", h.d.Calls())
	}
	// The final card offers Roll back; clicking it undoes that release:
	// the app and env of the stored request, restoring the backup #1 took.
	if _, err := srv.ClickButton(ctx, "U2", "C1", card.TS, ActionRollback); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rollback call", func() bool { return slices.Contains(h.d.Calls(), "rollback U2 C1 shop-web production 1") })
}

func TestReconnectLosesNoCommand(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	h := startBot(t, srv, Config{}, SlackOptions{})
	ctx := testCtx(t)
	send := func(n int) {
		t.Helper()
		if _, err := srv.SendSlashCommand(ctx, slash(fmt.Sprintf("lock app%d staging", n))); err != nil {
			t.Fatalf("command %d: %v", n, err)
		}
	}
	send(1)
	srv.Disconnect("refresh_requested")
	if err := srv.AwaitReconnects(ctx, 1); err != nil {
		t.Fatal(err)
	}
	send(2)
	srv.Disconnect("warning")
	if err := srv.AwaitReconnects(ctx, 2); err != nil {
		t.Fatal(err)
	}
	send(3)
	srv.DropConnections()
	if err := srv.AwaitReconnects(ctx, 3); err != nil {
		t.Fatal(err)
	}
	send(4)
	eventually(t, "four locks", func() bool { return count(h.d.Calls(), "lock ") == 4 })
	for n := 1; n <= 4; n++ {
		want := fmt.Sprintf("lock U1 app%d staging ", n)
		if c := h.d.Calls(); !slices.Contains(c, want) {
			t.Errorf("missing %q in %v", want, c)
		}
	}
	if c := h.bot.Counters(); c.Reconnects < 3 {
		t.Errorf("counters = %+v, want >= 3 reconnects", c)
	}
}

func TestRateLimitStormFinalCardCorrect(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	h := startBot(t, srv, Config{}, SlackOptions{})
	h.d.steps = 20
	ctx := testCtx(t)
	srv.ForceRateLimit("chat.update", 4, time.Second)
	srv.ForceRateLimit("chat.postMessage", 1, time.Second)
	if _, err := srv.SendSlashCommand(ctx, slash("shop-web staging 2.0.0")); err != nil {
		t.Fatal(err)
	}
	card := cardOf(t, srv, "shop-web 2.0.0 → staging")
	if err := srv.WaitFor(ctx, func(s *slacktest.Server) bool {
		m, _ := s.Message("C1", card.TS)
		return strings.Contains(m.Text, "Succeeded")
	}); err != nil {
		t.Fatal(err)
	}
	h.d.runs.Wait()
	m, _ := srv.Message("C1", card.TS)
	if !strings.Contains(string(m.Blocks), "Released to 2 hosts.") || strings.Contains(string(m.Blocks), `"cancel"`) {
		t.Errorf("final card wrong: %s", m.Blocks)
	}
	st := h.gw.Stats()
	if st.RateLimited < 5 {
		t.Errorf("stats = %+v, want the 5 forced 429s counted", st)
	}
	if st.CardUpdates >= 21 {
		t.Errorf("stats = %+v: 21 states written one by one, not coalesced", st)
	}
	if n := srv.RateLimited("") - 5; n > 0 {
		t.Errorf("%d unforced 429s: the gateway's pacing let them happen", n)
	}
}

func TestModalFlow(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	h := startBot(t, srv, Config{}, SlackOptions{})
	ctx := testCtx(t)
	if _, err := srv.SendSlashCommand(ctx, slash("")); err != nil {
		t.Fatal(err)
	}
	view, err := srv.AwaitView(ctx, "U1", func(v slacktest.View) bool { return v.CallbackID == formCallbackID })
	if err != nil {
		t.Fatal(err)
	}
	ack, err := srv.SubmitView(ctx, "U1", view.ID, map[string]map[string]string{
		formApp: {formApp: "shop-web"}, formEnv: {formEnv: "staging"}, formVersion: {formVersion: "1.2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Action string            `json:"response_action"`
		Errors map[string]string `json:"errors"`
	}
	if err := json.Unmarshal(ack.Payload, &resp); err != nil || resp.Action != "errors" || resp.Errors[formVersion] == "" {
		t.Fatalf("bad version: ack %s, want errors naming %q", ack.Payload, formVersion)
	}
	if v, _ := srv.View(view.ID); !v.Open || v.Errors[formVersion] == "" {
		t.Fatalf("modal after bad input: %+v", v)
	}
	if _, err := srv.SubmitView(ctx, "U1", view.ID, map[string]map[string]string{
		formApp: {formApp: "shop-web"}, formEnv: {formEnv: "staging"}, formVersion: {formVersion: "1.2.3"},
	}); err != nil {
		t.Fatal(err)
	}
	if v, _ := srv.View(view.ID); v.Open {
		t.Errorf("modal still open after a good submission")
	}
	eventually(t, "deploy from the form", func() bool {
		return slices.Contains(h.d.Calls(), "deploy U1 C1 shop-web staging 1.2.3 false")
	})
}

func TestLogUploadsInThread(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	h := startBot(t, srv, Config{}, SlackOptions{})
	ctx := testCtx(t)
	if _, err := srv.SendSlashCommand(ctx, slash("shop-web production 3.0.0")); err != nil {
		t.Fatal(err)
	}
	card := cardOf(t, srv, "shop-web 3.0.0 → production")
	eventually(t, "card stored", func() bool { return h.d.hasCard(1) })
	if _, err := srv.SendSlashCommand(ctx, slash("log #1")); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitFor(ctx, func(s *slacktest.Server) bool {
		for _, u := range s.Uploads() {
			if strings.Contains(fmt.Sprintf("%+v", u), card.TS) {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("no upload in the card's thread: %v (uploads %+v)", err, srv.Uploads())
	}
	if _, err := srv.AwaitEphemeral(ctx, "U1", func(e slacktest.Ephemeral) bool { return strings.Contains(e.Text, "output of #1") }); err != nil {
		t.Fatal(err)
	}
}

func TestMentionAnsweredInThread(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	startBot(t, srv, Config{}, SlackOptions{})
	ctx := testCtx(t)
	ts := srv.PostUserMessage("C1", "U1", "<@U0DEPLOYBOT> how do I deploy?")
	ack, err := srv.SendEvent(ctx, map[string]any{
		"type": "app_mention", "user": "U1", "channel": "C1", "ts": ts, "event_ts": ts,
		"text": "<@U0DEPLOYBOT> how do I deploy?",
	})
	if err != nil {
		t.Fatal(err)
	}
	if ack.Latency > 100*time.Millisecond {
		t.Errorf("event acked after %v", ack.Latency)
	}
	if _, err := srv.AwaitThreadReply(ctx, "C1", ts, func(m slacktest.Message) bool { return strings.Contains(m.Text, "/deploy help") }); err != nil {
		t.Fatal(err)
	}
}

func TestFiftyConcurrentCommandsAckedFast(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	h := startBot(t, srv, Config{}, SlackOptions{})
	srv.SetLatency(500 * time.Millisecond)
	ctx := testCtx(t)
	const n = 50
	lat := make(chan time.Duration, n)
	for i := range n {
		go func() {
			ack, err := srv.SendSlashCommand(ctx, slash(fmt.Sprintf("lock app%d staging", i)))
			if err != nil {
				t.Error(err)
			}
			lat <- ack.Latency
		}()
	}
	var all []time.Duration
	for range n {
		all = append(all, <-lat)
	}
	slices.Sort(all)
	p50, p99 := all[n/2], all[n*99/100]
	t.Logf("ack latency p50 %v p99 %v", p50, p99)
	// The figure goal (p99 < 50 ms) is measured by the load harness on a
	// quiet machine; here, beside other tests, the bound only proves that
	// no ack waits for the slowed Web API (500 ms a call, 50 commands).
	if p99 > time.Second {
		t.Errorf("ack p99 %v: acks are waiting for work", p99)
	}
	eventually(t, "all handled", func() bool { return count(h.d.Calls(), "lock ") == n })
}

func TestRunStopsOnRefusedAppToken(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	api := slack.New(srv.BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken("xapp-1-A0DEPLOYBOT-0-revoked"))
	gw := NewSlack(api, testLogger(t), SlackOptions{})
	b := New(Config{PingInterval: testClientPing}, api, newFakeDeployer(gw), gw, &memDedupe{}, testConfig(), testLogger(t))
	errc := make(chan error, 1)
	go func() { errc <- b.Run(testCtx(t)) }()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "invalid_auth") {
			t.Errorf("Run = %v, want invalid_auth", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Run did not return after Slack refused the app token")
	}
}

func TestFormNarrowsEnvironmentsToTheApp(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	h := startBot(t, srv, Config{}, SlackOptions{})
	ctx := testCtx(t)
	if _, err := srv.SendSlashCommand(ctx, slash("")); err != nil {
		t.Fatal(err)
	}
	view, err := srv.AwaitView(ctx, "U1", func(v slacktest.View) bool { return v.CallbackID == formCallbackID })
	if err != nil {
		t.Fatal(err)
	}
	// The user picks billing-worker in the app select: the block sets
	// dispatch_action, so Slack sends block_actions from the view.
	if _, err := srv.SelectInView(ctx, "U1", view.ID, formApp, formApp, "billing-worker"); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitFor(ctx, func(s *slacktest.Server) bool { v, _ := s.View(view.ID); return v.Updates > 0 }); err != nil {
		t.Fatal(err)
	}
	v, _ := srv.View(view.ID)
	if !strings.Contains(string(v.Raw), `"env-billing-worker"`) || strings.Contains(string(v.Raw), `"staging"`) {
		t.Fatalf("updated form does not offer billing-worker's environments only: %s", v.Raw)
	}
	// Without an environment the error is shown under the env field as
	// the narrowed form names it.
	if _, err := srv.SubmitView(ctx, "U1", view.ID, map[string]map[string]string{
		formApp: {formApp: "billing-worker"}, formVersion: {formVersion: "7.0"},
	}); err != nil {
		t.Fatal(err)
	}
	if v, _ := srv.View(view.ID); !v.Open || v.Errors["env-billing-worker"] == "" {
		t.Fatalf("errors after a missing environment: %v", v.Errors)
	}
	if _, err := srv.SubmitView(ctx, "U1", view.ID, map[string]map[string]string{
		formApp: {formApp: "billing-worker"}, "env-billing-worker": {formEnv: "production"}, formVersion: {formVersion: "7.0"},
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deploy from the narrowed form", func() bool {
		return slices.Contains(h.d.Calls(), "deploy U1 C1 billing-worker production 7.0 false")
	})
}

// An ack between 4 KiB and 20 KiB (here a syntax error echoing a long first
// word) reaches Slack: the socket writes it as one frame, which Slack
// requires (it does not reassemble continuation frames).
func TestLargeAckArrivesWhole(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	startBot(t, srv, Config{}, SlackOptions{})
	ack, err := srv.SendSlashCommand(testCtx(t), slash(strings.Repeat("x", 3000)+" staging 1.0.0"))
	if err != nil {
		t.Fatalf("large ack lost: %v (fragmented messages: %d)", err, srv.FragmentedMessages())
	}
	if n := len(ack.Payload); n <= 4096 || n >= 20480 {
		t.Fatalf("ack payload is %d bytes; the test needs one between 4 KiB and 20 KiB", n)
	}
	if !strings.Contains(string(ack.Payload), "is neither a /deploy command nor an app") || len(ack.Errors) > 0 {
		t.Errorf("ack = %.200s…, errors %v", ack.Payload, ack.Errors)
	}
}

// A slash command delivered again in a new envelope (same trigger_id) is
// acked again but worked on once: the command, not the envelope, is the
// unit of deduplication.
func TestSlashRedeliveredInNewEnvelopeRunsOnce(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	h := startBot(t, srv, Config{}, SlackOptions{})
	ctx := testCtx(t)
	first, err := srv.SendSlashCommand(ctx, slash("lock shop-web staging freeze"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the lock", func() bool { return len(writes(h.d.Calls())) == 1 })
	again, err := srv.Redeliver(ctx, first.EnvelopeID)
	if err != nil {
		t.Fatal(err)
	}
	if again.EnvelopeID == first.EnvelopeID {
		t.Fatal("the redelivery reused the envelope id")
	}
	// A different command after it proves the redelivery was handled.
	if _, err := srv.SendSlashCommand(ctx, slash("unlock shop-web staging")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the unlock", func() bool { return len(writes(h.d.Calls())) >= 2 })
	if calls := writes(h.d.Calls()); len(calls) != 2 || !strings.HasPrefix(calls[1], "unlock") {
		t.Errorf("domain calls = %q, want one lock then one unlock", calls)
	}
	eventually(t, "the repeat counted as a duplicate", func() bool { return h.bot.Counters().Duplicates == 1 })
}
