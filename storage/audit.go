package storage

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/deploybot/deploybot/deploy"
)

// Audit appends e to the audit trail (At defaults to now). The trail is
// append-only: this package has no way to change or remove an entry, and
// triggers in the database refuse UPDATE and DELETE on it.
//
// The store itself appends the entries of the changes it makes: requested,
// approved, status, cancel_requested, locked, unlocked and
// schedule_created. Callers audit the rest (clicks refused, schedule
// changes, ...).
func (db *DB) Audit(ctx context.Context, e deploy.AuditEntry) error {
	if e.Action == "" {
		return deploy.Errorf(deploy.EINVALID, "An audit entry needs an action.")
	}
	err := db.update(ctx, func(tx *tx) error {
		if e.At.IsZero() {
			e.At = tx.now
		}
		return appendAudit(ctx, tx, e)
	})
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// AuditLog returns the audit entries of request requestID (all entries when
// it is 0), oldest first. With limit > 0 it returns the newest limit
// entries, still oldest first.
func (db *DB) AuditLog(ctx context.Context, requestID int64, limit int) ([]deploy.AuditEntry, error) {
	q := `SELECT id, at, actor, action, request_id, schedule_id, app, env, detail FROM audit`
	var args []any
	if requestID != 0 {
		q += ` WHERE request_id = ?`
		args = append(args, requestID)
	}
	q += ` ORDER BY id DESC`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	var entries []deploy.AuditEntry
	err := db.view(ctx, func(tx *tx) error {
		var err error
		entries, err = scanAudit(ctx, tx, q, args...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	// Read newest first so that LIMIT keeps the newest; return oldest first.
	slices.Reverse(entries)
	return entries, nil
}

// AuditSince returns the audit entries at or after since (every entry when
// since is zero), oldest first. app and env narrow them to one app, or one
// environment of it ("" means all). With limit > 0 it returns the newest
// limit entries, still oldest first.
func (db *DB) AuditSince(ctx context.Context, since time.Time, app, env string, limit int) ([]deploy.AuditEntry, error) {
	var entries []deploy.AuditEntry
	err := db.view(ctx, func(tx *tx) error {
		var err error
		entries, err = auditSince(ctx, tx, since, app, env, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("audit since: %w", err)
	}
	return entries, nil
}

// ExportAudit reads the audit entries of the database at path as
// AuditSince does, without a running bot. A SQLite file is opened
// read-only (it must exist; nothing is created or migrated), so it is safe
// beside the bot that writes it (WAL readers do not block the writer). A
// PostgreSQL URL is read in a read-only transaction.
func ExportAudit(ctx context.Context, path string, since time.Time, app, env string) ([]deploy.AuditEntry, error) {
	var (
		conn *sql.DB
		d    dialect
	)
	if IsPostgresURL(path) {
		cfg, err := pgx.ParseConfig(path)
		if err != nil {
			return nil, fmt.Errorf("export audit: %w", err)
		}
		conn, d = stdlib.OpenDB(*cfg), postgresDialect
		path = Redact(path)
	} else {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("export audit: %w", err)
		}
		u := url.URL{Scheme: "file", OmitHost: true, Path: path}
		q := url.Values{}
		q.Set("mode", "ro")
		q.Set("_query_only", "on")
		q.Set("_busy_timeout", "5000")
		u.RawQuery = q.Encode()
		var err error
		if conn, err = sql.Open("sqlite3", u.String()); err != nil {
			return nil, fmt.Errorf("export audit: %w", err)
		}
	}
	defer conn.Close()
	opts := &sql.TxOptions{ReadOnly: true}
	if d == postgresDialect {
		opts.Isolation = sql.LevelRepeatableRead
	}
	stx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("export audit: %s: %w", path, err)
	}
	defer func() { _ = stx.Rollback() }()
	entries, err := auditSince(ctx, &tx{Tx: stx, d: d}, since, app, env, 0)
	if err != nil {
		return nil, fmt.Errorf("export audit: %s: %w", path, err)
	}
	return entries, nil
}

// auditSince is the query of AuditSince.
func auditSince(ctx context.Context, tx querier, since time.Time, app, env string, limit int) ([]deploy.AuditEntry, error) {
	q := `SELECT id, at, actor, action, request_id, schedule_id, app, env, detail FROM audit WHERE 1 = 1`
	var args []any
	if !since.IsZero() {
		q += ` AND at >= ?`
		args = append(args, millis(norm(since)))
	}
	if app != "" {
		q += ` AND app = ?`
		args = append(args, app)
	}
	if env != "" {
		q += ` AND env = ?`
		args = append(args, env)
	}
	q += ` ORDER BY id DESC`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	entries, err := scanAudit(ctx, tx, q, args...)
	if err != nil {
		return nil, err
	}
	slices.Reverse(entries)
	return entries, nil
}

// scanAudit runs an audit query whose columns are those of AuditEntry.
func scanAudit(ctx context.Context, tx querier, q string, args ...any) ([]deploy.AuditEntry, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var entries []deploy.AuditEntry
	for rows.Next() {
		var (
			e  deploy.AuditEntry
			at sql.NullInt64
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.RequestID, &e.ScheduleID, &e.App, &e.Env, &e.Detail); err != nil {
			return nil, err
		}
		e.At = fromMillis(at)
		entries = append(entries, e)
	}
	return entries, rows.Err()
}

// appendAudit inserts e inside tx, so that an entry is written exactly when
// the change it describes is.
func appendAudit(ctx context.Context, tx *tx, e deploy.AuditEntry) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO audit (at, actor, action, request_id, schedule_id, app, env, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		millis(norm(e.At)), e.Actor, e.Action, e.RequestID, e.ScheduleID, e.App, e.Env, e.Detail)
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}
