package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/bot/slacktest"
	"github.com/deploybot/deploybot/deploy"
)

func newGateway(t *testing.T, srv *slacktest.Server, opts SlackOptions) *Slack {
	t.Helper()
	gw := NewSlack(slack.New(srv.BotToken, slack.OptionAPIURL(srv.APIURL())), testLogger(t), opts)
	t.Cleanup(func() { _ = gw.Close(context.Background()) })
	return gw
}

func TestCardCoalescesAndKeepsFinalState(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	gw := newGateway(t, srv, SlackOptions{ChannelInterval: 100 * time.Millisecond})
	ctx := testCtx(t)
	req := baseRequest(deploy.StatusRunning)
	req.Channel = "C1"
	ref, err := gw.Card(ctx, req, deploy.CardInfo{})
	if err != nil {
		t.Fatal(err)
	}
	req.Message = ref
	for i := range 50 {
		r := *req
		r.Progress = deploy.Progress{Task: fmt.Sprintf("task %d", i)}
		if _, err := gw.Card(ctx, &r, deploy.CardInfo{}); err != nil {
			t.Fatal(err)
		}
	}
	final := *req
	final.Status, final.Outcome = deploy.StatusSucceeded, "all done"
	if _, err := gw.Card(ctx, &final, deploy.CardInfo{}); err != nil {
		t.Fatal(err)
	}
	// A state computed before the end, arriving late, must not win.
	late := *req
	late.Progress = deploy.Progress{Task: "late task"}
	if _, err := gw.Card(ctx, &late, deploy.CardInfo{}); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(ctx); err != nil {
		t.Fatal(err)
	}
	m, ok := srv.Message("C1", ref.TS)
	if !ok || !strings.Contains(m.Text, "Succeeded") || !strings.Contains(string(m.Blocks), "all done") {
		t.Fatalf("final card = %s / %s", m.Text, m.Blocks)
	}
	st := gw.Stats()
	if st.CardUpdates > 10 || st.Coalesced < 40 {
		t.Errorf("stats = %+v: 52 states should be coalesced into a few writes", st)
	}
	if n := len(srv.Messages("C1")); n != 1 {
		t.Errorf("%d messages in the channel, want the one card", n)
	}
}

func TestCardPostedOnceForConcurrentCallers(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	gw := newGateway(t, srv, SlackOptions{})
	ctx := testCtx(t)
	srv.SetLatency(100 * time.Millisecond)
	req := baseRequest(deploy.StatusPendingApproval)
	req.Channel = "C1"
	refs := make(chan deploy.MessageRef, 3)
	for range 3 {
		go func() {
			r := *req
			ref, err := gw.Card(ctx, &r, deploy.CardInfo{})
			if err != nil {
				t.Error(err)
			}
			refs <- ref
		}()
	}
	first := <-refs
	for range 2 {
		if r := <-refs; r != first {
			t.Errorf("refs differ: %v vs %v", r, first)
		}
	}
	if n := len(srv.Calls("chat.postMessage")); n != 1 {
		t.Errorf("card posted %d times", n)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	gw := newGateway(t, srv, SlackOptions{})
	srv.ForceRateLimit("chat.postMessage", 2, time.Second)
	start := time.Now()
	if _, err := gw.Announce(testCtx(t), "C1", deploy.Note{Kind: deploy.NoteText, Text: "release train leaves at 18:00"}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Errorf("posted after %v; two Retry-After: 1 mean at least 2 s", el)
	}
	if st := gw.Stats(); st.RateLimited != 2 || st.Retries != 2 {
		t.Errorf("stats = %+v", st)
	}
}

// flakyAPI is a minimal Web API host that answers 503 a few times, then
// either succeeds or refuses for good.
func flakyAPI(t *testing.T, failures int32, final string) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= failures {
			http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, final)
	}))
	t.Cleanup(hs.Close)
	return hs, &n
}

func TestTransientErrorsRetried(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		failures int32
		final    string
		calls    int32
		wantErr  string
	}{
		{"5xxThenOK", 2, `{"ok":true,"channel":"C1","ts":"1700000000.000100"}`, 3, ""},
		{"Permanent", 0, `{"ok":false,"error":"channel_not_found"}`, 1, "channel_not_found"},
		{"GivesUp", 100, "", 3, "gave up after 3 attempts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hs, n := flakyAPI(t, tc.failures, tc.final)
			gw := NewSlack(slack.New("xoxb-test", slack.OptionAPIURL(hs.URL+"/api/")), testLogger(t),
				SlackOptions{Backoff: time.Millisecond, MaxAttempts: 3})
			_, err := gw.Announce(testCtx(t), "C1", deploy.Note{Kind: deploy.NoteText, Text: "hello"})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
			if got := n.Load(); got != tc.calls {
				t.Errorf("%d HTTP calls, want %d", got, tc.calls)
			}
			if err != nil && strings.Contains(err.Error(), "xoxb-") {
				t.Errorf("token in error: %v", err)
			}
		})
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	srv.AddUserGroup("S0LEADS", "shop-leads", "U2")
	srv.AddUserGroup("S0OPS", "ops", "U1", "U2")
	gw := newGateway(t, srv, SlackOptions{})
	ctx := testCtx(t)
	cases := []struct {
		user    string
		handles []string
		want    []string
	}{
		{"U2", []string{"@shop-leads", "@ops", "@nobody"}, []string{"@shop-leads", "@ops"}},
		{"U1", []string{"@Shop-Leads"}, nil},
		{"U1", []string{"@OPS"}, []string{"@OPS"}},
		{"U1", nil, nil},
	}
	for _, tc := range cases {
		got, err := gw.Groups(ctx, tc.user, tc.handles)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Groups(%s, %v) = %v, want %v", tc.user, tc.handles, got, tc.want)
		}
	}
	if n := len(srv.Calls("usergroups.list")); n != 1 {
		t.Errorf("usergroups.list called %d times; the mapping should be cached", n)
	}
}

func TestThreadOverflowGoesToFile(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	gw := newGateway(t, srv, SlackOptions{})
	ctx := testCtx(t)
	req := baseRequest(deploy.StatusFailed)
	req.Channel = "C1"
	ref, err := gw.Card(ctx, req, deploy.CardInfo{})
	if err != nil {
		t.Fatal(err)
	}
	req.Message = ref
	long := strings.Repeat("fatal: [web2]: FAILED! <&> ", 400)
	if err := gw.Thread(ctx, req, deploy.Note{Kind: deploy.NoteText, Text: long}); err != nil {
		t.Fatal(err)
	}
	th := srv.Thread("C1", ref.TS)
	if len(th) != 3 || !strings.Contains(string(th[1].Blocks), "full text in the attached file") || len(th[2].Files) != 1 {
		t.Fatalf("thread (parent, clipped reply, file) = %+v", th)
	}
	ups := srv.Uploads()
	if len(ups) != 1 {
		t.Fatalf("uploads = %+v", ups)
	}
	if err := gw.Thread(ctx, &deploy.Request{ID: 999}, deploy.Note{Kind: deploy.NoteText, Text: "x"}); err == nil {
		t.Error("thread of a request without a card: no error")
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		t.Error("unexpected slack error")
	}
}

// TestConcurrentReleasesOneChannelNo429 runs several releases' worth of
// card updates and thread posts in one channel at once, with Slack's rate
// limits on: the pacing must avoid every 429, each final card must be
// right, and coalescing must keep the calls per release low.
func TestConcurrentReleasesOneChannelNo429(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	gw := newGateway(t, srv, SlackOptions{})
	ctx := testCtx(t)
	const releases, updates = 5, 10
	type result struct {
		i   int
		ref deploy.MessageRef
	}
	done := make(chan result, releases)
	for i := range releases {
		go func() {
			req := baseRequest(deploy.StatusRunning)
			req.ID, req.Channel = int64(i+1), "C1"
			ref, err := gw.Card(ctx, req, deploy.CardInfo{})
			if err != nil {
				t.Error(err)
				done <- result{i, ref}
				return
			}
			req.Message = ref
			for u := range updates {
				r := *req
				r.Progress = deploy.Progress{Task: fmt.Sprintf("task %d", u)}
				_, _ = gw.Card(ctx, &r, deploy.CardInfo{})
			}
			if err := gw.Thread(ctx, req, deploy.Note{Kind: deploy.NoteText, Text: fmt.Sprintf("#%d: play started", req.ID)}); err != nil {
				t.Error(err)
			}
			req.Status, req.Outcome = deploy.StatusSucceeded, fmt.Sprintf("release %d done", req.ID)
			_, _ = gw.Card(ctx, req, deploy.CardInfo{})
			done <- result{i, ref}
		}()
	}
	refs := make([]deploy.MessageRef, releases)
	for range releases {
		r := <-done
		refs[r.i] = r.ref
	}
	if err := gw.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for i, ref := range refs {
		m, ok := srv.Message("C1", ref.TS)
		if !ok || !strings.Contains(string(m.Blocks), fmt.Sprintf("release %d done", i+1)) {
			t.Errorf("card %d final state lost: %s", i+1, m.Text)
		}
	}
	if n := srv.RateLimited(""); n != 0 {
		t.Errorf("%d 429s (chat.postMessage %d, chat.update %d)", n, srv.RateLimited("chat.postMessage"), srv.RateLimited("chat.update"))
	}
	perRelease := float64(gw.Stats().Calls) / releases
	if perRelease > 2*2+10 {
		t.Errorf("%.1f Slack calls per release of 2 hosts, want <= 14", perRelease)
	}
	t.Logf("stats %+v, %.1f calls per release", gw.Stats(), perRelease)
}

func TestCloseReportsUnwrittenUpdates(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	gw := NewSlack(slack.New(srv.BotToken, slack.OptionAPIURL(srv.APIURL())), testLogger(t), SlackOptions{})
	ctx := testCtx(t)
	req := baseRequest(deploy.StatusRunning)
	req.Channel = "C1"
	ref, err := gw.Card(ctx, req, deploy.CardInfo{})
	if err != nil {
		t.Fatal(err)
	}
	srv.ForceRateLimit("chat.update", 1000, 30*time.Second)
	req.Message, req.Status = ref, deploy.StatusSucceeded
	if _, err := gw.Card(ctx, req, deploy.CardInfo{}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AwaitCalls(ctx, "chat.update", 1); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = gw.Close(cctx)
	if err == nil || !strings.Contains(err.Error(), "1 card update not written") {
		t.Errorf("Close = %v, want the lost final state reported", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Close took %v past its deadline", el)
	}
}

// TestUploadStreamsOnRetry: an upload is streamed from what it is
// given (a file section here), and a retry after a 429 that came once the
// bytes had been read sends them again whole.
func TestUploadStreamsOnRetry(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	gw := newGateway(t, srv, SlackOptions{})
	ctx := testCtx(t)
	req := baseRequest(deploy.StatusSucceeded)
	req.Channel = "C1"
	ref, err := gw.Card(ctx, req, deploy.CardInfo{})
	if err != nil {
		t.Fatal(err)
	}
	req.Message = ref
	f, err := os.CreateTemp(t.TempDir(), "out-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := strings.Repeat("ok: [web1]\n", 50_000)
	if _, err := f.WriteString("HEADER\n" + want); err != nil {
		t.Fatal(err)
	}
	srv.ForceRateLimit("files.completeUploadExternal", 1, time.Second)
	if err := gw.Upload(ctx, req, "shop-web-production-1.log", "Playbook output", io.NewSectionReader(f, 7, int64(len(want)))); err != nil {
		t.Fatal(err)
	}
	var done []slacktest.Upload
	for _, u := range srv.Uploads() {
		if u.Completed {
			done = append(done, u)
		}
	}
	if len(done) != 1 || string(done[0].Content) != want || done[0].Length != len(want) {
		t.Fatalf("completed uploads = %d; want one with the %d bytes given", len(done), len(want))
	}
	if srv.RateLimited("files.completeUploadExternal") != 1 {
		t.Error("the forced 429 was not answered")
	}
}

// TestCardUpdateTakesNoSpareTurn: a card update takes one turn of the
// channel's pace and no more, so the thread note that follows the final
// card (the outcome, the failure digest) goes out in the next turn. The
// flusher used to take one more turn after its write, with nothing left
// to write, which held the next post back a whole interval (here an hour).
func TestCardUpdateTakesNoSpareTurn(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	gw := newGateway(t, srv, SlackOptions{ChannelInterval: time.Hour, ChannelBurst: 3})
	ctx := testCtx(t)
	req := baseRequest(deploy.StatusRunning)
	req.Channel = "C1"
	ref, err := gw.Card(ctx, req, deploy.CardInfo{}) // turn 1
	if err != nil {
		t.Fatal(err)
	}
	req.Message, req.Status, req.Outcome = ref, deploy.StatusFailed, "it failed"
	if _, err := gw.Card(ctx, req, deploy.CardInfo{}); err != nil { // turn 2
		t.Fatal(err)
	}
	if _, err := srv.AwaitCalls(ctx, "chat.update", 1); err != nil {
		t.Fatal(err)
	}
	for idle := false; !idle; {
		gw.cards.mu.Lock()
		idle = gw.cards.flushers == 0
		gw.cards.mu.Unlock()
		if ctx.Err() != nil {
			t.Fatal("the card flusher never ended")
		}
		time.Sleep(time.Millisecond)
	}
	// Turn 3 is the last of the burst: the note must not wait an hour.
	if err := gw.Thread(ctx, req, deploy.Note{Kind: deploy.NoteText, Text: "the outcome"}); err != nil {
		t.Fatalf("the note after the final card: %v", err)
	}
}

// TestFlushCardWaitsForTheWrite: FlushCard returns once Slack shows the
// state queued before it (so that the outbox records the final card as
// delivered only then), and reports an update Slack keeps refusing when its
// context ends.
func TestFlushCardWaitsForTheWrite(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	gw := newGateway(t, srv, SlackOptions{ChannelInterval: 200 * time.Millisecond, ChannelBurst: 1})
	ctx := testCtx(t)
	req := baseRequest(deploy.StatusRunning)
	req.Channel = "C1"
	ref, err := gw.Card(ctx, req, deploy.CardInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.FlushCard(ctx, ref); err != nil {
		t.Fatalf("FlushCard with nothing queued: %v", err)
	}
	req.Message, req.Status, req.Outcome = ref, deploy.StatusSucceeded, "all done"
	if _, err := gw.Card(ctx, req, deploy.CardInfo{}); err != nil {
		t.Fatal(err)
	}
	if err := gw.FlushCard(ctx, ref); err != nil {
		t.Fatalf("FlushCard: %v", err)
	}
	if m, _ := srv.Message("C1", ref.TS); !strings.Contains(m.Text, "Succeeded") {
		t.Fatalf("FlushCard returned before Slack had the final card: %s", m.Text)
	}

	// A gateway closed with a deadline (Close would wait out the 429s).
	srv2 := newTestServer(t)
	gw2 := NewSlack(slack.New(srv2.BotToken, slack.OptionAPIURL(srv2.APIURL())), testLogger(t), SlackOptions{})
	other := baseRequest(deploy.StatusRunning)
	other.Channel = "C1"
	ref2, err := gw2.Card(ctx, other, deploy.CardInfo{})
	if err != nil {
		t.Fatal(err)
	}
	srv2.ForceRateLimit("chat.update", 1000, 30*time.Second)
	other.Message, other.Status = ref2, deploy.StatusFailed
	if _, err := gw2.Card(ctx, other, deploy.CardInfo{}); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := gw2.FlushCard(fctx, ref2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("FlushCard of an update Slack refuses = %v, want the deadline", err)
	}
	cctx, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	_ = gw2.Close(cctx)
	if err := gw2.FlushCard(ctx, ref2); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("FlushCard after Close = %v, want the gateway closed", err)
	}
}
