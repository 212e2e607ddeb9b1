package storage

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// Compile-time check that DB is a complete deploy.Store.
var _ deploy.Store = (*DB)(nil)

// DB is deploybot's database: a SQLite file, or a PostgreSQL database when
// Path is a postgres:// or postgresql:// URL. Create it with NewDB, set the
// exported fields if the defaults do not fit, then call Open.
type DB struct {
	// Path is the database file, created when missing, or the URL of a
	// PostgreSQL database (see IsPostgresURL), which must exist.
	Path string

	// Now returns the current time; tests replace it. Times the store
	// stamps (CreatedAt, UpdatedAt, ...) come from it.
	Now func() time.Time

	// BusyTimeout is how long a statement waits for another connection
	// (or process) holding the write lock before it fails (on PostgreSQL,
	// the session's lock_timeout unless the URL sets it).
	BusyTimeout time.Duration

	// DedupeTTL is how long FirstSeen remembers a key; 0 remembers keys
	// forever.
	DedupeTTL time.Duration

	// HashPlan digests a request's plan (CreateRequest fills in or checks
	// PlanHash with it); deploy.Plan.Hash when nil. Tests replace it with a
	// truncated digest to force two plans onto one hash.
	HashPlan func(deploy.Plan) string

	// w is the write pool: one connection whose transactions begin with
	// BEGIN IMMEDIATE, so a write transaction takes the write lock first
	// and never fails later on a lock upgrade. r is the read pool, whose
	// deferred transactions read a consistent WAL snapshot without
	// waiting for writers. On PostgreSQL both are one pool (see
	// openPostgres).
	w *sql.DB
	r *sql.DB
	d dialect
}

// NewDB returns a DB for the file (or PostgreSQL URL) at path with default
// settings. It does no I/O.
func NewDB(path string) *DB {
	return &DB{
		Path:        path,
		Now:         time.Now,
		BusyTimeout: 5 * time.Second,
		DedupeTTL:   24 * time.Hour,
	}
}

// Open opens (creating if needed) the database file, switches it to WAL,
// and applies the migrations it has not seen yet. A new file and directory
// are private to the bot's user (0600 and 0700), and so are the -wal and
// -shm files beside the file.
func (db *DB) Open(ctx context.Context) (err error) {
	if db.Path == "" {
		return errors.New("open db: no path")
	}
	if db.w != nil {
		return errors.New("open db: already open")
	}
	if db.Now == nil {
		db.Now = time.Now
	}
	if IsPostgresURL(db.Path) {
		return db.openPostgres(ctx)
	}
	if looksLikeKeywordDSN(db.Path) {
		return fmt.Errorf("open db: %q looks like a PostgreSQL connection string; give a postgres://user:password@host/db URL instead", Redact(db.Path))
	}
	if db.Path == ":memory:" || strings.HasPrefix(db.Path, "file:") || strings.ContainsRune(db.Path, '?') {
		// Every pooled connection to :memory: is a different database, and
		// URI names would bypass the settings below.
		return fmt.Errorf("open db: %q is not a plain file path", db.Path)
	}
	if err := createPrivate(db.Path); err != nil {
		return fmt.Errorf("open db: %w", err)
	}
	defer func() {
		if err != nil {
			_ = db.Close()
		}
	}()

	// Foreign keys are off by default in SQLite and are a per-connection
	// setting, hence in the DSN. synchronous=FULL because a request must
	// be durably "launching" before the AWX POST: losing that commit to a
	// power cut could launch the same release twice.
	common := url.Values{}
	common.Set("_busy_timeout", strconv.FormatInt(db.BusyTimeout.Milliseconds(), 10))
	common.Set("_foreign_keys", "on")

	wv := url.Values{}
	for k, v := range common {
		wv[k] = v
	}
	wv.Set("_synchronous", "FULL")
	wv.Set("_txlock", "immediate")
	if db.w, err = sql.Open("sqlite3", db.Path+"?"+wv.Encode()); err != nil {
		return fmt.Errorf("open db: %w", err)
	}
	// All writes go through one connection: writers of this process queue
	// in Go instead of spinning in SQLite's busy handler. Other processes
	// (or other DB values on the same file) are still serialized by the
	// IMMEDIATE transactions and the busy timeout.
	db.w.SetMaxOpenConns(1)
	if err := db.setWAL(ctx); err != nil {
		return fmt.Errorf("open db: enable wal: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	rv := url.Values{}
	for k, v := range common {
		rv[k] = v
	}
	rv.Set("_query_only", "on")
	rv.Set("_txlock", "deferred")
	if db.r, err = sql.Open("sqlite3", db.Path+"?"+rv.Encode()); err != nil {
		return fmt.Errorf("open db: %w", err)
	}
	db.r.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	if err := db.r.PingContext(ctx); err != nil {
		return fmt.Errorf("open db: %w", err)
	}
	return nil
}

// createPrivate creates the database file's directory (0700) and the file
// itself (0600) when they are missing, before SQLite opens it: SQLite
// creates the -wal and -shm files with the database file's permissions
// (os_unix.c, findCreateFileMode and unixOpenSharedMemory), so they are
// private too. Existing directories and files keep their permissions.
func createPrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, os.ErrExist):
		return nil
	case err != nil:
		return err
	}
	return f.Close()
}

// Close closes the database.
func (db *DB) Close() error {
	var errs []error
	if db.r == db.w {
		db.r = nil
	}
	if db.r != nil {
		errs = append(errs, db.r.Close())
		db.r = nil
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
		db.w = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close db: %w", err)
	}
	return nil
}

// Ping checks that the database answers a query, for /readyz.
func (db *DB) Ping(ctx context.Context) error {
	if db.r == nil {
		return errors.New("ping db: not open")
	}
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM migrations`).Scan(&n); err != nil {
		return fmt.Errorf("ping db: %w", err)
	}
	return nil
}

// setWAL switches the file to write-ahead logging, which lets readers go
// on while one connection writes. The mode is stored in the file. When
// several processes open a new file at the same moment SQLite answers
// SQLITE_BUSY at once, without waiting out the busy timeout, so this
// retries until BusyTimeout has passed.
func (db *DB) setWAL(ctx context.Context) error {
	deadline := time.Now().Add(db.BusyTimeout)
	for wait := 2 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var mode string
		err := db.w.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		switch {
		case err == nil && mode == "wal":
			return nil
		case err == nil:
			return fmt.Errorf("journal mode is %q", mode)
		case !isBusy(err) || time.Now().After(deadline):
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// migrate applies the embedded migrations of the dialect in name order,
// each in its own transaction together with its row in the migrations
// table. The check for "already applied" happens inside the write
// transaction (IMMEDIATE on SQLite, under the write lock on PostgreSQL),
// so processes opening the same database at once apply each migration
// once.
//
// A migration is recorded as migrations/<file name> in both dialects:
// migrations/0001_init.sql is version 0001 whether SQLite applied
// migrations/0001_init.sql or PostgreSQL migrations/postgres/0001_init.sql.
func (db *DB) migrate(ctx context.Context) error {
	if err := db.update(ctx, func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (
			name       TEXT PRIMARY KEY,
			applied_at BIGINT NOT NULL
		)`)
		return err
	}); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	files, err := fs.Glob(migrationFS, db.d.migrationDir()+"/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	known := map[string]bool{}
	for _, file := range files {
		name := "migrations/" + path.Base(file)
		known[name] = true
		if err := db.migrateFile(ctx, name, file); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}

	// A database written by a newer deploybot may hold data this one would
	// misread; refuse it rather than guess.
	rows, err := db.w.QueryContext(ctx, `SELECT name FROM migrations`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		if !known[name] {
			return fmt.Errorf("database has migration %s, unknown to this version of deploybot", name)
		}
	}
	return rows.Err()
}

func (db *DB) migrateFile(ctx context.Context, name, file string) error {
	return db.update(ctx, func(tx *tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM migrations WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			return nil
		}
		body, err := fs.ReadFile(migrationFS, file)
		if err != nil {
			return err
		}
		// As written: a migration has no placeholders to rebind.
		if _, err := tx.Tx.ExecContext(ctx, string(body)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`, name, millis(tx.now))
		return err
	})
}

// tx is a transaction with the time it started (from DB.Now), so that
// every timestamp one change writes is the same instant. Its queries are
// written with ? placeholders, which it rewrites for the dialect.
type tx struct {
	*sql.Tx
	now time.Time
	d   dialect
}

// ExecContext is sql.Tx.ExecContext with q's placeholders rewritten for the
// dialect.
func (t *tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, t.d.rebind(q), args...)
}

// QueryContext is sql.Tx.QueryContext with q's placeholders rewritten for
// the dialect.
func (t *tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, t.d.rebind(q), args...)
}

// QueryRowContext is sql.Tx.QueryRowContext with q's placeholders rewritten
// for the dialect.
func (t *tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, t.d.rebind(q), args...)
}

// update runs fn in a write transaction (IMMEDIATE on SQLite, holding the
// write lock on PostgreSQL) and commits it when fn returns nil.
func (db *DB) update(ctx context.Context, fn func(tx *tx) error) error {
	if db.w == nil {
		return errors.New("db not open")
	}
	stx, err := db.w.BeginTx(ctx, db.d.writeTxOptions())
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := db.d.beginWrite(ctx, stx); err != nil {
		_ = stx.Rollback()
		return fmt.Errorf("begin: %w", err)
	}
	t := &tx{Tx: stx, now: db.now(), d: db.d}
	if err := fn(t); err != nil {
		_ = stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// view runs fn in a read transaction: one consistent snapshot.
func (db *DB) view(ctx context.Context, fn func(tx *tx) error) error {
	if db.r == nil {
		return errors.New("db not open")
	}
	stx, err := db.r.BeginTx(ctx, db.d.readTxOptions())
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = stx.Rollback() }()
	return fn(&tx{Tx: stx, now: db.now(), d: db.d})
}

// querier is what *sql.Tx and *tx have in common with *sql.DB.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (db *DB) now() time.Time { return norm(db.Now()) }

// norm rounds t down to the millisecond in UTC: the form in which times are
// stored and read back.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// millis is t in Unix milliseconds, or NULL for the zero time.
func millis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// fromMillis is the inverse of millis.
func fromMillis(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMilli(n.Int64).UTC()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
