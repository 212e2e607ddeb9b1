package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// TestRetrier: what one call does with each kind of answer, on a clock
// that only records the waits.
func TestRetrier(t *testing.T) {
	t.Parallel()
	busy := slack.StatusCodeError{Code: 503, Status: "503 Service Unavailable"}
	limited := func(d time.Duration) error { return &slack.RateLimitedError{RetryAfter: d} }
	refused := slack.SlackErrorResponse{Err: "channel_not_found"}
	tests := []struct {
		name     string
		answers  []error // to the attempts in turn; nil after the last
		canceled bool    // ctx has ended before the call
		wantErr  string
		calls    int
		waits    []time.Duration
		pushed   []time.Duration // pushBacks of the pacing bucket
		stats    [3]int64        // rate limited, retries, failures
	}{
		{name: "ok", calls: 1},
		{name: "Retry-After honoured and the bucket pushed back", answers: []error{limited(3 * time.Second), limited(0)},
			calls: 3, waits: []time.Duration{3 * time.Second, time.Second}, pushed: []time.Duration{3 * time.Second, time.Second},
			stats: [3]int64{2, 2, 0}},
		{name: "transient errors back off, doubling up to the cap", answers: []error{busy, busy, busy, busy},
			calls: 5, waits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second},
			stats: [3]int64{0, 4, 0}},
		{name: "a refusal is not retried", answers: []error{refused}, wantErr: "chat.postMessage: channel_not_found",
			calls: 1, stats: [3]int64{0, 0, 1}},
		{name: "gives up after the attempts", answers: []error{busy, busy, busy, busy, busy, busy, busy},
			wantErr: "chat.postMessage: gave up after 6 attempts: slack server error: 503", calls: 6,
			waits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second},
			stats: [3]int64{0, 5, 1}},
		{name: "a transient error after ctx ended is not retried", answers: []error{busy}, canceled: true,
			wantErr: "chat.postMessage: slack server error: 503", calls: 1, stats: [3]int64{0, 0, 1}},
		{name: "the wait ends with ctx", answers: []error{limited(time.Minute)}, canceled: true,
			wantErr: "chat.postMessage: context canceled", calls: 1, waits: []time.Duration{time.Minute},
			pushed: []time.Duration{time.Minute}, stats: [3]int64{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var waits, pushed []time.Duration
			r := &retrier{
				maxAttempts: 6, backoff: time.Second, maxBackoff: 5 * time.Second, callTimeout: time.Minute,
				pushBack: func(key string, d time.Duration) {
					if key != "channel:C1" {
						t.Errorf("pushed back %q", key)
					}
					pushed = append(pushed, d)
				},
				sleep: func(ctx context.Context, d time.Duration) error {
					waits = append(waits, d)
					return ctx.Err()
				},
				log: testLogger(t),
			}
			ctx, cancel := context.WithCancel(testCtx(t))
			if tt.canceled {
				cancel()
			}
			defer cancel()
			calls := 0
			err := r.do(ctx, "chat.postMessage", "channel:C1", func(actx context.Context) error {
				if _, ok := actx.Deadline(); !ok {
					t.Error("an attempt without a deadline")
				}
				calls++
				if calls <= len(tt.answers) {
					return tt.answers[calls-1]
				}
				return nil
			})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
			if calls != tt.calls || r.calls.Load() != int64(tt.calls) {
				t.Errorf("%d attempts (counted %d), want %d", calls, r.calls.Load(), tt.calls)
			}
			if !slices.Equal(waits, tt.waits) || !slices.Equal(pushed, tt.pushed) {
				t.Errorf("waits %v, pushed back %v; want %v, %v", waits, pushed, tt.waits, tt.pushed)
			}
			if got := [3]int64{r.rateLimited.Load(), r.retries.Load(), r.failures.Load()}; got != tt.stats {
				t.Errorf("rate limited, retries, failures = %v, want %v", got, tt.stats)
			}
		})
	}
}

// TestTransient: which errors are worth another attempt, and which card
// updates can never succeed.
func TestTransient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err                  error
		transient, permanent bool
	}{
		{slack.StatusCodeError{Code: 502}, true, false},
		{slack.StatusCodeError{Code: 408}, true, false},
		{slack.StatusCodeError{Code: 404}, false, false},
		{slack.SlackErrorResponse{Err: "internal_error"}, true, false},
		{slack.SlackErrorResponse{Err: "message_not_found"}, false, true},
		{fmt.Errorf("chat.update: %w", slack.SlackErrorResponse{Err: "cant_update_message"}), false, true},
		{context.DeadlineExceeded, true, false},
		{context.Canceled, false, false},
	}
	for _, tt := range tests {
		if got := transient(tt.err); got != tt.transient {
			t.Errorf("transient(%v) = %v", tt.err, got)
		}
		if got := permanent(tt.err); got != tt.permanent {
			t.Errorf("permanent(%v) = %v", tt.err, got)
		}
	}
}
