package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// EnvStats is what the requests of one app and environment add up to, for
// the bot's metrics.
type EnvStats struct {
	App, Env string
	// Active counts requests whose AWX job is launching or running (dry
	// runs included).
	Active int
	// PendingApproval counts requests waiting for approval.
	PendingApproval int
	// LastSuccess is when the newest succeeded release (a deploy, not a
	// dry run or a rollback) finished; zero when there is none.
	LastSuccess time.Time
}

// EnvStats returns the stats of every app and environment that has
// requests, in one read.
func (db *DB) EnvStats(ctx context.Context) ([]EnvStats, error) {
	var out []EnvStats
	err := db.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT app, env,
			COUNT(CASE WHEN status IN ('launching', 'running') THEN 1 END),
			COUNT(CASE WHEN status = 'pending_approval' THEN 1 END),
			MAX(CASE WHEN status = 'succeeded' AND kind = 'deploy' AND check_mode = 0 THEN finished_at END)
			FROM requests GROUP BY app, env ORDER BY app, env`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				s    EnvStats
				last sql.NullInt64
			)
			if err := rows.Scan(&s.App, &s.Env, &s.Active, &s.PendingApproval, &last); err != nil {
				return err
			}
			s.LastSuccess = fromMillis(last)
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("env stats: %w", err)
	}
	return out, nil
}
