package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// cardWriter plays chat.update for a cardCoalescer: it records what each
// message was given, answers with the errors queued for it, and holds the
// writes of a held channel until they are let go one by one.
type cardWriter struct {
	mu      sync.Mutex
	writes  map[msgKey][]string
	fail    map[msgKey][]error   // answers to the next writes, then nil
	held    map[string]chan bool // channel → one token per write let through
	started chan string          // "channel ts text" of each write, as it starts
}

func newCardWriter() *cardWriter {
	return &cardWriter{writes: map[msgKey][]string{}, fail: map[msgKey][]error{}, held: map[string]chan bool{},
		started: make(chan string, 1000)}
}

// hold makes the writes to channel wait for a token of let.
func (w *cardWriter) hold(channel string) (let chan bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.held[channel] = make(chan bool)
	return w.held[channel]
}

func (w *cardWriter) write(ctx context.Context, k msgKey, msg Message) error {
	w.started <- k.channel + " " + k.ts + " " + msg.Text
	w.mu.Lock()
	let := w.held[k.channel]
	w.mu.Unlock()
	if let != nil {
		select {
		case <-let:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes[k] = append(w.writes[k], msg.Text)
	if f := w.fail[k]; len(f) > 0 {
		w.fail[k] = f[1:]
		return f[0]
	}
	return nil
}

func (w *cardWriter) written(k msgKey) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes[k]...)
}

func newTestCoalescer(t *testing.T, w *cardWriter) *cardCoalescer {
	t.Helper()
	c := newCardCoalescer(func(ctx context.Context, _ string) error { return ctx.Err() }, w.write,
		testLogger(t), time.Millisecond, 4*time.Millisecond)
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = c.close(ctx)
	})
	return c
}

func state(text string, terminal bool) *cardState {
	return &cardState{msg: Message{Text: text}, terminal: terminal}
}

// pendingState returns the state waiting for message k, if any.
func (c *cardCoalescer) pendingState(k msgKey) (text string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.pending[k]; st != nil {
		text = st.msg.Text
	}
	return text, len(c.pending)
}

// TestCoalescerCollapsesUpdates: while one write of a card is in flight,
// any number of updates wait as one state, the latest; the card gets two
// writes in all.
func TestCoalescerCollapsesUpdates(t *testing.T) {
	t.Parallel()
	w := newCardWriter()
	let := w.hold("C1")
	c := newTestCoalescer(t, w)
	ctx := testCtx(t)
	k := msgKey{"C1", "1.0"}
	c.enqueue(k, state("s0", false))
	if got := <-w.started; got != "C1 1.0 s0" {
		t.Fatalf("first write %q", got)
	}
	for i := 1; i < 50; i++ {
		c.enqueue(k, state(fmt.Sprintf("s%d", i), i == 49))
	}
	if text, n := c.pendingState(k); text != "s49" || n != 1 {
		t.Fatalf("behind the write in flight: %d pending, latest %q; want 1, s49", n, text)
	}
	let <- true
	if got := <-w.started; got != "C1 1.0 s49" {
		t.Fatalf("second write %q, want the latest state", got)
	}
	let <- true
	if err := c.flushCard(ctx, k); err != nil {
		t.Fatal(err)
	}
	if got := w.written(k); strings.Join(got, ",") != "s0,s49" {
		t.Errorf("writes %v, want s0,s49", got)
	}
	if c.coalesced.Load() != 48 || c.updates.Load() != 2 {
		t.Errorf("coalesced %d, updates %d; want 48, 2", c.coalesced.Load(), c.updates.Load())
	}
}

// TestCoalescerKeepsFinalState: the terminal state of a card is written
// and is what the card shows last, whatever arrives after it.
func TestCoalescerKeepsFinalState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		posted bool // the card was posted in its terminal state
		states []*cardState
		fail   []error // answers to the first writes after the first
		want   []string
	}{
		{"a late state after the final is dropped", false,
			[]*cardState{state("run 1", false), state("final", true), state("late", false)}, nil,
			[]string{"run 1", "final"}},
		{"a late state after a final post is dropped", true,
			[]*cardState{state("late", false)}, nil, nil},
		{"a newer final state wins", true,
			[]*cardState{state("final", true), state("final again", true)}, nil,
			[]string{"final", "final again"}},
		{"the final is retried after passing failures", false,
			[]*cardState{state("run 1", false), state("final", true), state("late", false)},
			[]error{slack.StatusCodeError{Code: 503, Status: "503 Service Unavailable"}, slack.StatusCodeError{Code: 502, Status: "502 Bad Gateway"}},
			[]string{"run 1", "final", "final", "final"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newCardWriter()
			let := w.hold("C1")
			c := newTestCoalescer(t, w)
			ctx := testCtx(t)
			k := msgKey{"C1", "1.0"}
			w.fail[k] = append([]error{nil}, tt.fail...)
			if tt.posted {
				c.posted(k, true)
			}
			for i, st := range tt.states {
				c.enqueue(k, st)
				if i == 0 && len(tt.want) > 0 {
					<-w.started // the first state is in flight: the rest queue behind it
				}
			}
			go func() {
				for {
					select {
					case let <- true:
					case <-ctx.Done():
						return
					}
				}
			}()
			if err := c.flushCard(ctx, k); err != nil {
				t.Fatal(err)
			}
			if got := w.written(k); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("writes %q, want %q", got, tt.want)
			}
			if err := c.close(ctx); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
}

// TestCoalescerFailedWrites: a write that fails in passing is retried with
// the newest state; one Slack refuses for good is logged and counts as
// written; one still failing when the coalescer is closed is reported lost.
func TestCoalescerFailedWrites(t *testing.T) {
	t.Parallel()
	refused := slack.SlackErrorResponse{Err: "message_not_found"}
	busy := slack.StatusCodeError{Code: 503, Status: "503 Service Unavailable"}
	tests := []struct {
		name    string
		fail    []error
		newer   bool // a newer state is queued while the first write fails
		writes  string
		updates int64
	}{
		{"passing failures are retried", []error{busy, busy}, false, "s1,s1,s1", 1},
		{"a retry writes the newer state", []error{busy}, true, "s1,s2", 1},
		{"a refusal for good is not retried", []error{refused}, false, "s1", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newCardWriter()
			let := w.hold("C1")
			c := newTestCoalescer(t, w)
			ctx := testCtx(t)
			k := msgKey{"C1", "1.0"}
			w.fail[k] = tt.fail
			c.enqueue(k, state("s1", false))
			<-w.started
			if tt.newer {
				c.enqueue(k, state("s2", false))
			}
			close(let)
			if err := c.flushCard(ctx, k); err != nil {
				t.Fatalf("flushCard: %v", err)
			}
			if got := strings.Join(w.written(k), ","); got != tt.writes {
				t.Errorf("writes %s, want %s", got, tt.writes)
			}
			if got := c.updates.Load(); got != tt.updates {
				t.Errorf("updates %d, want %d", got, tt.updates)
			}
		})
	}

	t.Run("failing when closed", func(t *testing.T) {
		t.Parallel()
		w := newCardWriter()
		c := newCardCoalescer(func(ctx context.Context, _ string) error { return ctx.Err() }, w.write,
			testLogger(t), time.Hour, time.Hour)
		ctx := testCtx(t)
		k := msgKey{"C1", "1.0"}
		w.fail[k] = []error{busy}
		c.enqueue(k, state("final", true))
		<-w.started
		gone, cancel := context.WithCancel(ctx)
		cancel()
		if err := c.close(gone); err == nil || !strings.Contains(err.Error(), "1 card update not written") {
			t.Errorf("close = %v, want the final state reported lost", err)
		}
		if err := c.flushCard(ctx, k); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("flushCard after close = %v, want the gateway closed", err)
		}
	})
}

// TestCoalescerFlushCardWaits: flushCard returns once the states queued
// before it are written, at once when none is, and with the context's
// error when it ends first.
func TestCoalescerFlushCardWaits(t *testing.T) {
	t.Parallel()
	w := newCardWriter()
	let := w.hold("C1")
	c := newTestCoalescer(t, w)
	ctx := testCtx(t)
	k := msgKey{"C1", "1.0"}
	if err := c.flushCard(ctx, k); err != nil {
		t.Fatalf("flushCard with nothing queued: %v", err)
	}
	c.enqueue(k, state("final", true))
	<-w.started
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.flushCard(gone, k); !errors.Is(err, context.Canceled) {
		t.Errorf("flushCard with its context gone = %v", err)
	}
	flushed := make(chan []string)
	go func() {
		if err := c.flushCard(ctx, k); err != nil {
			t.Error(err)
		}
		flushed <- w.written(k)
	}()
	select {
	case got := <-flushed:
		t.Fatalf("flushCard returned before the write was let through (writes %v)", got)
	default:
	}
	let <- true
	if got := <-flushed; len(got) != 1 || got[0] != "final" {
		t.Errorf("when flushCard returned, writes %v; want final", got)
	}
}

// TestCoalescerChannelsIndependent: cards in many channels are written at
// once from many goroutines, each ending on its final state; a channel
// whose writes hang holds up none of the others.
func TestCoalescerChannelsIndependent(t *testing.T) {
	t.Parallel()
	w := newCardWriter()
	stuck := w.hold("C0")
	c := newTestCoalescer(t, w)
	ctx := testCtx(t)
	c.enqueue(msgKey{"C0", "1.0"}, state("stuck", true))
	<-w.started
	const channels, updates = 8, 20
	var wg sync.WaitGroup
	for ch := 1; ch <= channels; ch++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := msgKey{fmt.Sprintf("C%d", ch), "1.0"}
			for u := range updates {
				c.enqueue(k, state(fmt.Sprintf("%s update %d", k.channel, u), u == updates-1))
			}
			if err := c.flushCard(ctx, k); err != nil {
				t.Errorf("%s: %v", k.channel, err)
			}
		}()
	}
	wg.Wait()
	for ch := 1; ch <= channels; ch++ {
		k := msgKey{fmt.Sprintf("C%d", ch), "1.0"}
		got := w.written(k)
		if len(got) == 0 || len(got) > updates || got[len(got)-1] != fmt.Sprintf("C%d update %d", ch, updates-1) {
			t.Errorf("%s: writes %q, want at most %d ending on the final state", k.channel, got, updates)
		}
	}
	if got := w.written(msgKey{"C0", "1.0"}); len(got) != 0 {
		t.Fatalf("the held channel was written: %v", got)
	}
	stuck <- true
	if err := c.close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

// TestCardPostsOnce: concurrent callers post a request's card once and
// all get it; a lookup waits for the post under way; a failed post leaves
// the next caller free to post.
func TestCardPostsOnce(t *testing.T) {
	t.Parallel()
	p := newCardPosts()
	ctx := testCtx(t)
	if _, _, err := p.once(ctx, 7, func() (msgKey, error) { return msgKey{}, errors.New("channel_not_found") }); err == nil {
		t.Fatal("a failed post: no error")
	}
	if _, ok, _ := p.lookup(ctx, 7); ok {
		t.Fatal("a failed post left a card")
	}
	release := make(chan struct{})
	started := make(chan bool, 3)
	var posts sync.WaitGroup
	type result struct {
		k      msgKey
		posted bool
	}
	results := make(chan result, 3)
	for range 3 {
		posts.Add(1)
		go func() {
			defer posts.Done()
			k, posted, err := p.once(ctx, 7, func() (msgKey, error) {
				started <- true
				<-release
				return msgKey{"C1", "1.0"}, nil
			})
			if err != nil {
				t.Error(err)
			}
			results <- result{k, posted}
		}()
	}
	<-started
	looked := make(chan msgKey)
	go func() {
		k, _, err := p.lookup(ctx, 7)
		if err != nil {
			t.Error(err)
		}
		looked <- k
	}()
	close(release)
	posts.Wait()
	close(results)
	var posted int
	for r := range results {
		if r.k != (msgKey{"C1", "1.0"}) {
			t.Errorf("card %v", r.k)
		}
		if r.posted {
			posted++
		}
	}
	if calls := 1 + len(started); calls != 1 || posted != 1 {
		t.Errorf("%d posts, %d callers told they posted; want 1, 1", calls, posted)
	}
	if k := <-looked; k != (msgKey{"C1", "1.0"}) {
		t.Errorf("lookup during the post = %v", k)
	}
}
