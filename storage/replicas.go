package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

// AcquireLease gives lease name to holder until now+ttl when the lease is
// free (no row, released, or expired at now) or already holder's (a
// renewal: the token stays, the expiry never moves back). The read and the
// write are one write transaction, which runs alone (see doc.go), so two
// callers never both get the lease. A lease that changes hands gets the
// next token; a released lease keeps its row so that tokens only go up.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (deploy.Lease, bool, error) {
	if name == "" || holder == "" || now.IsZero() {
		return deploy.Lease{}, false, deploy.Errorf(deploy.EINVALID, "A lease needs a name, a holder and the time.")
	}
	if ttl < time.Millisecond {
		return deploy.Lease{}, false, deploy.Errorf(deploy.EINVALID, "The lease %q needs a TTL of at least 1ms, not %s.", name, ttl)
	}
	now = norm(now)
	until := now.Add(ttl).Truncate(time.Millisecond)
	var (
		l    deploy.Lease
		held bool
	)
	err := db.update(ctx, func(tx *tx) error {
		cur, found, err := readLease(ctx, tx, name)
		if err != nil {
			return err
		}
		switch {
		case !found:
			l = deploy.Lease{Name: name, Holder: holder, Token: 1, Since: now, Expires: until}
			_, err = tx.ExecContext(ctx, `INSERT INTO leases (name, holder, token, since, expires_at) VALUES (?, ?, ?, ?, ?)`,
				name, holder, l.Token, millis(now), millis(until))
		case cur.Holder == holder:
			l = cur
			if until.After(l.Expires) {
				l.Expires = until
			}
			_, err = tx.ExecContext(ctx, `UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?`,
				millis(l.Expires), name, holder)
		case cur.Live(now):
			l = cur
			return nil
		default:
			l = deploy.Lease{Name: name, Holder: holder, Token: cur.Token + 1, Since: now, Expires: until}
			_, err = tx.ExecContext(ctx, `UPDATE leases SET holder = ?, token = ?, since = ?, expires_at = ? WHERE name = ? AND token = ?`,
				holder, l.Token, millis(now), millis(until), name, cur.Token)
		}
		if err != nil {
			return fmt.Errorf("write lease: %w", err)
		}
		held = true
		return nil
	})
	if err != nil {
		return deploy.Lease{}, false, fmt.Errorf("acquire lease %q for %s: %w", name, holder, err)
	}
	return l, held, nil
}

// readLease reads lease name; found is false when it has no row.
func readLease(ctx context.Context, tx *tx, name string) (l deploy.Lease, found bool, err error) {
	var since, expires sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT name, holder, token, since, expires_at FROM leases WHERE name = ?`, name).
		Scan(&l.Name, &l.Holder, &l.Token, &since, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return deploy.Lease{}, false, nil
	} else if err != nil {
		return deploy.Lease{}, false, fmt.Errorf("read lease: %w", err)
	}
	l.Since, l.Expires = fromMillis(since), fromMillis(expires)
	return l, true, nil
}

// ReleaseLease frees lease name if holder holds it (expired or not) and
// does nothing otherwise. The row stays, with no holder, to keep its token.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	if name == "" || holder == "" {
		return deploy.Errorf(deploy.EINVALID, "Releasing a lease needs its name and holder.")
	}
	err := db.update(ctx, func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE leases SET holder = '', expires_at = 0 WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease %q of %s: %w", name, holder, err)
	}
	return nil
}

// Leases lists the leases live at now (held, and expiring after now), by
// name.
func (db *DB) Leases(ctx context.Context, now time.Time) ([]deploy.Lease, error) {
	var out []deploy.Lease
	err := db.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT name, holder, token, since, expires_at FROM leases
			WHERE holder <> '' AND expires_at > ? ORDER BY name`, millis(norm(now)))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				l              deploy.Lease
				since, expires sql.NullInt64
			)
			if err := rows.Scan(&l.Name, &l.Holder, &l.Token, &since, &expires); err != nil {
				return err
			}
			l.Since, l.Expires = fromMillis(since), fromMillis(expires)
			out = append(out, l)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	return out, nil
}

// ClaimScheduleFire inserts the row of schedule scheduleID and fire time
// fireAt (to the millisecond), and reports whether this call inserted it:
// the primary key lets one claim per schedule and fire time succeed, ever
// (until PruneScheduleFires deletes it). ENOTFOUND when the schedule does
// not exist.
func (db *DB) ClaimScheduleFire(ctx context.Context, scheduleID int64, fireAt time.Time, holder string, now time.Time) (bool, error) {
	if holder == "" || fireAt.IsZero() || now.IsZero() {
		return false, deploy.Errorf(deploy.EINVALID, "Claiming a fire of schedule %d needs a fire time, a holder and the time.", scheduleID)
	}
	var claimed bool
	err := db.update(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO schedule_fires (schedule_id, fire_at, holder, claimed_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (schedule_id, fire_at) DO NOTHING`, scheduleID, millis(norm(fireAt)), holder, millis(norm(now)))
		if isForeignKey(err) {
			return deploy.Errorf(deploy.ENOTFOUND, "There is no schedule %d.", scheduleID)
		} else if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		claimed = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim fire of schedule %d at %s: %w", scheduleID, norm(fireAt).Format(time.RFC3339Nano), err)
	}
	return claimed, nil
}

// PruneScheduleFires deletes the claims of fire times before before.
func (db *DB) PruneScheduleFires(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.update(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM schedule_fires WHERE fire_at < ?`, millis(norm(before)))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune schedule fires: %w", err)
	}
	return n, nil
}

// ReserveSlot returns the next slot of key, max(now, last+interval), and
// stores it as key's last slot, in one write transaction: reservations of
// all handles and processes on the database run one after the other, so
// their slots are interval apart. Slots are whole milliseconds.
func (db *DB) ReserveSlot(ctx context.Context, key string, now time.Time, interval time.Duration) (time.Time, error) {
	if key == "" || now.IsZero() {
		return time.Time{}, deploy.Errorf(deploy.EINVALID, "A slot needs a key and the time.")
	}
	if interval < 0 {
		return time.Time{}, deploy.Errorf(deploy.EINVALID, "The interval between slots of %q cannot be negative (%s).", key, interval)
	}
	slot := norm(now)
	err := db.update(ctx, func(tx *tx) error {
		var last sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT last_at FROM pacing WHERE key = ?`, key).Scan(&last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read last slot: %w", err)
		}
		if next := fromMillis(last).Add(interval).Truncate(time.Millisecond); last.Valid && next.After(slot) {
			slot = next
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO pacing (key, last_at) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET last_at = excluded.last_at`, key, millis(slot))
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("reserve a slot of %q: %w", key, err)
	}
	return slot, nil
}
