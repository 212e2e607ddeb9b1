package main

import (
	"context"
	"time"

	"github.com/rs/zerolog"
)

// guardDatabase pings the database every interval until ctx ends and logs
// a failure, so that the log tells of a database in trouble even when
// nobody probes /readyz (which shows it too). It never stops the bot: the
// database may come back, and the work is owned through leases, so
// nothing runs twice meanwhile.
func guardDatabase(ctx context.Context, ping func(context.Context) error, interval time.Duration, log zerolog.Logger) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := ping(ctx); err != nil && ctx.Err() == nil {
				log.Warn().Str("error", err.Error()).Msg("database check failed")
			}
		}
	}
}
