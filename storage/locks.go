package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/deploybot/deploybot/deploy"
)

// Lock takes a manual lock on l.App and l.Env (Since defaults to now) and
// appends a "locked" audit entry. ECONFLICT, naming the holder, when the
// environment is already locked. A lock does not stop a release that is
// already running; it keeps the next ones from launching.
func (db *DB) Lock(ctx context.Context, l deploy.Lock) error {
	if l.App == "" || l.Env == "" || l.By == "" {
		return deploy.Errorf(deploy.EINVALID, "A lock needs an app, an environment and who takes it.")
	}
	err := db.update(ctx, func(tx *tx) error {
		since := norm(l.Since)
		if since.IsZero() {
			since = tx.now
		}
		held, err := readLock(ctx, tx, l.App, l.Env)
		if err == nil {
			return deploy.Errorf(deploy.ECONFLICT, "%s %s is already %s.", l.App, l.Env, lockText(held.By, held.Reason, held.Since))
		} else if deploy.ErrorCode(err) != deploy.ENOTFOUND {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO locks (app, env, by_user, reason, since) VALUES (?, ?, ?, ?, ?)`,
			l.App, l.Env, l.By, l.Reason, millis(since))
		if isUnique(err) {
			return deploy.Errorf(deploy.ECONFLICT, "%s %s is already locked.", l.App, l.Env)
		} else if err != nil {
			return fmt.Errorf("insert lock: %w", err)
		}
		return appendAudit(ctx, tx, deploy.AuditEntry{
			At: since, Actor: l.By, Action: "locked", App: l.App, Env: l.Env, Detail: l.Reason,
		})
	})
	if err != nil {
		return fmt.Errorf("lock %s %s: %w", l.App, l.Env, err)
	}
	return nil
}

// Unlock removes the manual lock on app and env, appends an "unlocked"
// audit entry by by, and returns the lock that was held; ENOTFOUND when none
// is held. Whether by may unlock is the caller's decision.
func (db *DB) Unlock(ctx context.Context, app, env, by string) (deploy.Lock, error) {
	var held deploy.Lock
	err := db.update(ctx, func(tx *tx) error {
		var err error
		if held, err = readLock(ctx, tx, app, env); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE app = ? AND env = ?`, app, env); err != nil {
			return fmt.Errorf("delete lock: %w", err)
		}
		return appendAudit(ctx, tx, deploy.AuditEntry{
			At: tx.now, Actor: by, Action: "unlocked", App: app, Env: env,
			Detail: fmt.Sprintf("lock of <@%s> since %s", held.By, held.Since.Format("2006-01-02 15:04 MST")),
		})
	})
	if err != nil {
		return deploy.Lock{}, fmt.Errorf("unlock %s %s: %w", app, env, err)
	}
	return held, nil
}

// Locks lists the manual locks held, oldest first.
func (db *DB) Locks(ctx context.Context) ([]deploy.Lock, error) {
	var locks []deploy.Lock
	err := db.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT app, env, by_user, reason, since FROM locks ORDER BY since, app, env`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				l     deploy.Lock
				since sql.NullInt64
			)
			if err := rows.Scan(&l.App, &l.Env, &l.By, &l.Reason, &since); err != nil {
				return err
			}
			l.Since = fromMillis(since)
			locks = append(locks, l)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("locks: %w", err)
	}
	return locks, nil
}

// readLock reads the manual lock on app and env; ENOTFOUND when none.
func readLock(ctx context.Context, q querier, app, env string) (deploy.Lock, error) {
	l := deploy.Lock{App: app, Env: env}
	var since sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT by_user, reason, since FROM locks WHERE app = ? AND env = ?`, app, env).
		Scan(&l.By, &l.Reason, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return deploy.Lock{}, deploy.Errorf(deploy.ENOTFOUND, "%s %s is not locked.", app, env)
	} else if err != nil {
		return deploy.Lock{}, fmt.Errorf("read lock: %w", err)
	}
	l.Since = fromMillis(since)
	return l, nil
}
