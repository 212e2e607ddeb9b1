package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

// QueuePosition returns the 1-based place of queued request id among the
// queued requests of its app and env (releases and dry runs each in their
// own line), first in first out by the time each entered the queue. ENOTFOUND when there is no such request; ECONFLICT
// when it is not queued.
func (db *DB) QueuePosition(ctx context.Context, id int64) (int, error) {
	var pos int
	err := db.view(ctx, func(tx *tx) error {
		var (
			status   deploy.Status
			app, env string
			queued   sql.NullInt64
			check    bool
		)
		err := tx.QueryRowContext(ctx, `SELECT status, app, env, queued_at, check_mode FROM requests WHERE id = ?`, id).
			Scan(&status, &app, &env, &queued, &check)
		if errors.Is(err, sql.ErrNoRows) {
			return notFoundRequest(id)
		} else if err != nil {
			return err
		}
		if status != deploy.StatusQueued {
			return deploy.Errorf(deploy.ECONFLICT, "Request #%d is not queued: it is %s.", id, strings.ToLower(status.Label()))
		}
		// Releases and dry runs wait in separate lines.
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM requests
			WHERE status = 'queued' AND app = ? AND env = ? AND check_mode = ?
			AND (queued_at < ? OR (queued_at = ? AND id <= ?))`,
			app, env, boolInt(check), queued, queued, id).Scan(&pos)
	})
	if err != nil {
		return 0, fmt.Errorf("queue position of request %d: %w", id, err)
	}
	return pos, nil
}

// NextQueued returns the release (not dry run) of app and env that has
// waited longest in the queue; ENOTFOUND when none waits. Dry runs hold no
// environment and are not in its line.
func (db *DB) NextQueued(ctx context.Context, app, env string) (*deploy.Request, error) {
	var req *deploy.Request
	err := db.view(ctx, func(tx *tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM requests WHERE status = 'queued' AND app = ? AND env = ?
			AND check_mode = 0 ORDER BY queued_at, id LIMIT 1`, app, env).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return deploy.Errorf(deploy.ENOTFOUND, "No request of %s %s is queued.", app, env)
		} else if err != nil {
			return err
		}
		req, err = loadRequest(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("next queued of %s %s: %w", app, env, err)
	}
	return req, nil
}

// envFree returns nil when a release of app and env may become active, and
// an ECONFLICT wrapping deploy.ErrEnvBusy naming what holds the environment
// otherwise. self is the request asking (0 for a new one).
func envFree(ctx context.Context, q querier, self int64, app, env string) error {
	var (
		by, reason string
		since      sql.NullInt64
	)
	err := q.QueryRowContext(ctx, `SELECT by_user, reason, since FROM locks WHERE app = ? AND env = ?`, app, env).
		Scan(&by, &reason, &since)
	switch {
	case err == nil:
		return envBusy(app, env, lockText(by, reason, fromMillis(since)))
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("read lock: %w", err)
	}
	var (
		other  int64
		status deploy.Status
	)
	err = q.QueryRowContext(ctx, `SELECT id, status FROM requests
		WHERE app = ? AND env = ? AND status IN ('launching', 'running') AND check_mode = 0 AND id <> ?
		LIMIT 1`, app, env, self).Scan(&other, &status)
	switch {
	case err == nil:
		return envBusy(app, env, fmt.Sprintf("#%d is %s", other, strings.ToLower(status.Label())))
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("read active request: %w", err)
	}
	return nil
}

// envBusy is an ECONFLICT *deploy.Error that also wraps deploy.ErrEnvBusy,
// so that both errors.As(err, **deploy.Error) and
// errors.Is(err, deploy.ErrEnvBusy) hold.
func envBusy(app, env, why string) error {
	return fmt.Errorf("%w: %w",
		deploy.Errorf(deploy.ECONFLICT, "%s %s is busy: %s.", app, env, why),
		deploy.ErrEnvBusy)
}

// lockText describes a manual lock the way a request card does.
func lockText(by, reason string, since time.Time) string {
	s := fmt.Sprintf("locked by <@%s> since %s", by, since.Format("2006-01-02 15:04 MST"))
	if reason != "" {
		// The reason is user text: escaped so that Slack shows it as typed.
		s += ": " + deploy.Literal(reason)
	}
	return s
}

// dryRunFree returns nil when dry run self of app and env may start, and an
// ECONFLICT wrapping deploy.ErrEnvBusy naming the dry run that is launching
// or running otherwise: one dry run per environment at a time.
func dryRunFree(ctx context.Context, q querier, self int64, app, env string) error {
	var (
		other  int64
		status deploy.Status
	)
	err := q.QueryRowContext(ctx, `SELECT id, status FROM requests
		WHERE app = ? AND env = ? AND status IN ('launching', 'running') AND check_mode = 1 AND id <> ?
		LIMIT 1`, app, env, self).Scan(&other, &status)
	switch {
	case err == nil:
		return envBusy(app, env, fmt.Sprintf("dry run #%d is %s", other, strings.ToLower(status.Label())))
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("read active dry run: %w", err)
	}
	return nil
}
