package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/storage"
)

// guardDatabase pings the database every interval until ctx ends. On
// PostgreSQL a ping also takes the single-process lock again after its
// session ended (a database restart); when another deploybot took it
// meanwhile, two bots would run schedules and follow jobs at once, so this
// one stops with the reason. Other ping failures are for /readyz to show.
func guardDatabase(ctx context.Context, ping func(context.Context) error, interval time.Duration, log zerolog.Logger) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			err := ping(ctx)
			switch {
			case errors.Is(err, storage.ErrAnotherProcess):
				return fmt.Errorf("the database lock was lost and another deploybot holds it now; stopping so that only one runs: %w", err)
			case err != nil && ctx.Err() == nil:
				log.Warn().Str("error", err.Error()).Msg("database check failed")
			}
		}
	}
}
