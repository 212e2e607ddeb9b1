package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

// insertOwed records what a change of request id makes the bot owe Slack,
// in the caller's transaction, due at once.
func insertOwed(ctx context.Context, tx *tx, id int64, owed []deploy.Owed) error {
	for _, o := range owed {
		var body string
		if o.Kind == deploy.OwedThread {
			body = deploy.EncodeNote(o.Note)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (request_id, kind, body, created_at, next_at)
			VALUES (?, ?, ?, ?, ?)`, id, o.Kind, body, millis(tx.now), millis(tx.now)); err != nil {
			return fmt.Errorf("record what is owed to Slack: %w", err)
		}
	}
	return nil
}

// ClaimOwed leases to owner, until now+lease, the owed items due at now
// that nobody holds a live lease on, of request requestID (all requests
// when 0), oldest first, at most limit. An item waits while an earlier
// item of its request is owed and not claimable (leased by another
// deliverer, or waiting for its retry), so one request's items are
// delivered in order. The claim is one IMMEDIATE transaction: two
// deliverers never hold the same item.
func (db *DB) ClaimOwed(ctx context.Context, owner string, requestID int64, now time.Time, lease time.Duration, limit int) ([]deploy.OwedItem, error) {
	if owner == "" {
		return nil, deploy.Errorf(deploy.EINVALID, "A claim needs an owner.")
	}
	if limit <= 0 {
		limit = 50
	}
	now = norm(now)
	var items []deploy.OwedItem
	err := db.update(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT o.id, o.request_id, o.kind, o.body, o.attempts, o.created_at
			FROM outbox o
			WHERE o.delivered_at IS NULL AND o.gave_up_at IS NULL
				AND (? = 0 OR o.request_id = ?)
				AND o.next_at <= ? AND (o.lease_until IS NULL OR o.lease_until <= ?)
				AND NOT EXISTS (SELECT 1 FROM outbox p
					WHERE p.request_id = o.request_id AND p.id < o.id
						AND p.delivered_at IS NULL AND p.gave_up_at IS NULL
						AND (p.next_at > ? OR p.lease_until > ?))
			ORDER BY o.id LIMIT ?`,
			requestID, requestID, millis(now), millis(now), millis(now), millis(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				it      deploy.OwedItem
				body    string
				created sql.NullInt64
			)
			if err := rows.Scan(&it.ID, &it.RequestID, &it.Kind, &body, &it.Attempts, &created); err != nil {
				return err
			}
			it.Note = owedNote(it.Kind, body)
			it.CreatedAt = fromMillis(created)
			items = append(items, it)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, it := range items {
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET lease_owner = ?, lease_until = ? WHERE id = ?`,
				owner, millis(now.Add(lease)), it.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim owed deliveries: %w", err)
	}
	return items, nil
}

// SettleOwed records what became of item id: delivered, released, or
// failed (tried again at r.RetryAt, or given up). It does nothing when
// owner no longer holds the item's lease and the item is no longer owed.
func (db *DB) SettleOwed(ctx context.Context, id int64, owner string, r deploy.OwedResult) error {
	err := db.update(ctx, func(tx *tx) error {
		var err error
		switch {
		case r.Delivered:
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET delivered_at = ?, lease_owner = '', lease_until = NULL
				WHERE id = ? AND delivered_at IS NULL`, millis(tx.now), id)
		case r.Release:
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET lease_owner = '', lease_until = NULL
				WHERE id = ? AND lease_owner = ?`, id, owner)
		default:
			var gaveUp sql.NullInt64
			if r.GiveUp {
				gaveUp = millis(tx.now)
			}
			next := norm(r.RetryAt)
			if next.IsZero() {
				next = tx.now
			}
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_at = ?,
				gave_up_at = ?, lease_owner = '', lease_until = NULL
				WHERE id = ? AND lease_owner = ? AND delivered_at IS NULL`,
				r.Err, millis(next), gaveUp, id, owner)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("settle owed delivery %d: %w", id, err)
	}
	return nil
}

// PruneOwed deletes the outbox rows delivered or given up before before;
// rows still owed stay whatever their age.
func (db *DB) PruneOwed(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.update(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM outbox
			WHERE (delivered_at IS NOT NULL AND delivered_at < ?) OR (gave_up_at IS NOT NULL AND gave_up_at < ?)`,
			millis(norm(before)), millis(norm(before)))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune delivered outbox rows: %w", err)
	}
	return n, nil
}

// owedNote reads the note of an owed thread post from its body. A body
// written before notes were typed is plain text and is posted as it is; so
// is a body that does not decode, rather than never delivered.
func owedNote(kind deploy.OwedKind, body string) deploy.Note {
	if kind != deploy.OwedThread {
		return deploy.Note{}
	}
	n, err := deploy.DecodeNote(body)
	if err != nil {
		return deploy.Note{Kind: deploy.NoteText, Text: body}
	}
	return n
}
