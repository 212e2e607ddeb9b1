package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
)

// retrier runs Web API calls with retries and counts them. It keeps no
// other state: it is safe for concurrent use.
type retrier struct {
	maxAttempts int
	// backoff is the first wait after a transient error; it doubles up to
	// maxBackoff.
	backoff, maxBackoff time.Duration
	// callTimeout bounds one attempt.
	callTimeout time.Duration
	// pushBack delays the pacing bucket key by d (after a 429).
	pushBack func(key string, d time.Duration)
	// sleep waits d or until ctx ends.
	sleep func(ctx context.Context, d time.Duration) error
	log   zerolog.Logger

	calls, rateLimited, retries, failures atomic.Int64
}

// do runs one Web API call with retries: it waits Retry-After on a 429,
// backs off on transient errors, and gives up after maxAttempts or when
// ctx ends. key, when set, is the pacing bucket a 429 pushes back.
func (r *retrier) do(ctx context.Context, method, key string, call func(ctx context.Context) error) error {
	backoff := r.backoff
	for attempt := 1; ; attempt++ {
		r.calls.Add(1)
		actx, cancel := context.WithTimeout(ctx, r.callTimeout)
		err := call(actx)
		cancel()
		if err == nil {
			return nil
		}
		var wait time.Duration
		var rl *slack.RateLimitedError
		switch {
		case errors.As(err, &rl):
			r.rateLimited.Add(1)
			wait = rl.RetryAfter
			if wait <= 0 {
				wait = time.Second
			}
			if key != "" {
				r.pushBack(key, wait)
			}
		case ctx.Err() == nil && transient(err):
			wait = backoff
			backoff = min(backoff*2, r.maxBackoff)
		default:
			r.failures.Add(1)
			return fmt.Errorf("%s: %w", method, err)
		}
		if attempt >= r.maxAttempts {
			r.failures.Add(1)
			return fmt.Errorf("%s: gave up after %d attempts: %w", method, attempt, err)
		}
		r.retries.Add(1)
		r.log.Debug().Str("method", method).Int("attempt", attempt).Int64("wait_ms", wait.Milliseconds()).Err(err).Msg("retrying slack call")
		if err := r.sleep(ctx, wait); err != nil {
			r.failures.Add(1)
			return fmt.Errorf("%s: %w", method, err)
		}
	}
}

// transient reports whether err is worth retrying: a 5xx, a network error,
// or one of Slack's "try again" errors.
func transient(err error) bool {
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return sc.Code >= 500 || sc.Code == 408
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "internal_error", "fatal_error", "request_timeout", "service_unavailable", "ratelimited", "rate_limited":
			return true
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, context.DeadlineExceeded)
}

// permanent reports whether a card update can never succeed, so retrying
// it later is pointless.
func permanent(err error) bool {
	var se slack.SlackErrorResponse
	return errors.As(err, &se) && !transient(err)
}
