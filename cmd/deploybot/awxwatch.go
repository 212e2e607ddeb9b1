package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/config"
)

// awxWatch prepares AWX (template checks, inventory reconcile) as soon as
// it answers, retrying with backoff while it does not, then keeps checking
// that it answers. It never gives up on an unreachable AWX; it fails only on
// a problem that retrying cannot fix (a job template that would ignore the
// bot's launch fields).
type awxWatch struct {
	client *awxclient.Client
	cfg    *config.Config
	log    zerolog.Logger
	// Interval between checks once ready; MaxBackoff caps retries.
	Interval   time.Duration
	MaxBackoff time.Duration

	mu      sync.Mutex
	ready   bool
	lastErr error
}

// Ready is the /readyz probe.
func (w *awxWatch) Ready(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ready {
		return nil
	}
	switch {
	case errors.Is(w.lastErr, awxclient.ErrUnauthorized):
		return unready("AWX refuses deploybot's token (401 Unauthorized): renew AWX_TOKEN", w.lastErr)
	case w.lastErr != nil:
		return unready("not reachable or not prepared yet; retrying", w.lastErr)
	}
	return unready("not checked yet", nil)
}

func (w *awxWatch) set(ready bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ready, w.lastErr = ready, err
}

// Run prepares AWX, then re-checks it every Interval and reconciles the
// inventories again on SIGHUP.
func (w *awxWatch) Run(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	backoff := time.Second
	for {
		_, err := prepareAWX(ctx, w.client, w.cfg, w.log)
		var fatal *fatalError
		if errors.As(err, &fatal) {
			return fmt.Errorf("AWX is not set up for deploybot: %w", err)
		}
		if err == nil {
			w.set(true, nil)
			w.log.Info().Msg("AWX ready: job templates checked, inventories reconciled")
			break
		}
		w.set(false, err)
		w.log.Warn().Err(err).Int64("retry_in_ms", backoff.Milliseconds()).Msg("AWX not ready; retrying")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, w.MaxBackoff)
	}
	tick := time.NewTicker(w.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			w.log.Info().Msg("SIGHUP: reconciling AWX inventories")
			if _, err := prepareAWX(ctx, w.client, w.cfg, w.log); err != nil {
				w.log.Error().Err(err).Msg("inventory reconcile failed")
			}
		case <-tick.C:
			if _, err := w.client.Me(ctx); err != nil {
				if w.Ready(ctx) == nil {
					w.log.Warn().Err(err).Msg("AWX stopped answering")
				}
				w.set(false, err)
			} else {
				w.set(true, nil)
			}
		}
	}
}
