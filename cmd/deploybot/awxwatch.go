package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy/awxrunner"
)

// awxWatch prepares AWX (template checks, inventory reconcile) as soon as
// it answers, retrying with backoff while it does not, then keeps checking
// that it answers. It never gives up on an unreachable AWX; it fails only on
// a problem that retrying cannot fix (a job template that would ignore the
// bot's launch fields).
type awxWatch struct {
	client *awxclient.Client
	log    zerolog.Logger
	// Interval between checks once ready; MaxBackoff caps retries.
	Interval   time.Duration
	MaxBackoff time.Duration

	mu      sync.Mutex
	cfg     *config.Config
	reload  chan struct{}
	ready   bool
	lastErr error
}

// newAWXWatch returns a watch that prepares AWX for cfg.
func newAWXWatch(c *awxclient.Client, cfg *config.Config, log zerolog.Logger, interval, maxBackoff time.Duration) *awxWatch {
	return &awxWatch{client: c, cfg: cfg, log: log, Interval: interval, MaxBackoff: maxBackoff, reload: make(chan struct{}, 1)}
}

// SetConfig makes cfg the configuration AWX is prepared for: the job
// templates are checked and the inventories reconciled again at once (or
// as soon as AWX first answers).
func (w *awxWatch) SetConfig(cfg *config.Config) {
	w.mu.Lock()
	w.cfg = cfg
	w.mu.Unlock()
	select {
	case w.reload <- struct{}{}:
	default: // a reload is due already
	}
}

func (w *awxWatch) config() *config.Config {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cfg
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

// Run prepares AWX, then re-checks it every Interval, and prepares it
// again for each configuration SetConfig gives.
func (w *awxWatch) Run(ctx context.Context) error {
	backoff := time.Second
	for {
		cfg := w.config()
		err := awxrunner.Prepare(ctx, w.client, cfg.Catalog(), awxSettings(cfg), w.log)
		var fatal *awxrunner.SetupError
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
		case <-w.reload: // a new configuration: try it at once
		}
		backoff = min(backoff*2, w.MaxBackoff)
	}
	tick := time.NewTicker(w.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.reload:
			cfg := w.config()
			if err := awxrunner.Prepare(ctx, w.client, cfg.Catalog(), awxSettings(cfg), w.log); err != nil {
				w.log.Error().Err(err).Msg("AWX not prepared for the reloaded configuration: job templates or inventories")
			} else {
				w.log.Info().Msg("AWX prepared for the reloaded configuration: job templates checked, inventories reconciled")
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
