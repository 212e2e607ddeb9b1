package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/mattn/go-sqlite3"
)

// dialect is the SQL database behind a DB. The store's queries are written
// once, in the SQL both databases accept, with ? placeholders; tx rewrites
// them to $1, $2, ... for PostgreSQL. What differs is here: how a write
// transaction begins, which migrations apply, and which errors mean what.
type dialect int

const (
	sqliteDialect dialect = iota
	postgresDialect
)

// IsPostgresURL reports whether dsn names a PostgreSQL database
// (postgres:// or postgresql://) rather than a SQLite file.
func IsPostgresURL(dsn string) bool {
	scheme, _, ok := strings.Cut(dsn, "://")
	if !ok {
		return false
	}
	scheme = strings.ToLower(scheme)
	return scheme == "postgres" || scheme == "postgresql"
}

// looksLikeKeywordDSN reports whether dsn is a libpq keyword/value
// connection string ("host=db dbname=deploybot"), which would otherwise be
// taken for the name of a SQLite file.
func looksLikeKeywordDSN(dsn string) bool {
	for _, f := range strings.Fields(dsn) {
		k, _, ok := strings.Cut(f, "=")
		switch k {
		case "host", "hostaddr", "dbname", "user", "password", "port", "sslmode":
			if ok {
				return true
			}
		}
	}
	return false
}

// Redact returns dsn fit for logs: a PostgreSQL URL (or keyword/value
// connection string) without its password, a file path as is.
func Redact(dsn string) string {
	if looksLikeKeywordDSN(dsn) {
		return keywordPasswordRE.ReplaceAllString(dsn, "${1}=xxxxx")
	}
	if !IsPostgresURL(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(a URL that does not parse)"
	}
	q := u.Query()
	masked := false
	for k := range q {
		if isPasswordKey(k) {
			q.Set(k, "xxxxx")
			masked = true
		}
	}
	if masked {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// keywordPasswordRE matches a password setting of a libpq keyword/value
// connection string (password, sslpassword), its value bare or quoted
// ('two words', with \' inside): libpq's "Keyword/Value Connection
// Strings" (https://www.postgresql.org/docs/current/libpq-connect.html).
var keywordPasswordRE = regexp.MustCompile(`(?i)\b(\w*password)\s*=\s*('(?:[^'\\]|\\.)*'?|\S*)`)

// isPasswordKey reports whether a connection URL's query parameter holds
// a secret: password, and sslpassword (the client key's passphrase).
func isPasswordKey(k string) bool {
	return strings.HasSuffix(strings.ToLower(k), "password")
}

// writeLockKey is the PostgreSQL advisory lock every write transaction
// takes first (pg_advisory_xact_lock): "deploybo" in ASCII.
const writeLockKey int64 = 0x6465706c6f79626f

// openPostgres opens the PostgreSQL database at db.Path and applies the
// migrations it has not seen yet.
//
// Every write transaction begins by taking one advisory lock
// (writeLockKey), which plays the part of SQLite's BEGIN IMMEDIATE: writers
// of all processes run one at a time, and since they run at READ COMMITTED
// each statement sees everything committed before the lock was granted.
// So every compare-and-set and every check-then-write of this package (an
// approval count, a free environment, a manual lock) reads the latest
// state, on PostgreSQL as on SQLite, without a SELECT ... FOR UPDATE or a
// serialization retry in each query. Reads run in READ ONLY REPEATABLE
// READ transactions (one snapshot) and never wait for writers. BusyTimeout
// becomes lock_timeout, unless the URL sets one.
func (db *DB) openPostgres(ctx context.Context) (err error) {
	cfg, err := pgx.ParseConfig(db.Path)
	if err != nil {
		return fmt.Errorf("open db: %w", err)
	}
	if _, ok := cfg.RuntimeParams["lock_timeout"]; !ok && db.BusyTimeout > 0 {
		cfg.RuntimeParams["lock_timeout"] = strconv.FormatInt(db.BusyTimeout.Milliseconds(), 10)
	}
	db.d = postgresDialect
	db.w = stdlib.OpenDB(*cfg)
	// Writers waiting for the write lock each hold a connection: leave
	// room for readers beside them.
	db.w.SetMaxOpenConns(max(8, 2*runtime.GOMAXPROCS(0)))
	db.w.SetMaxIdleConns(4)
	db.w.SetConnMaxIdleTime(5 * time.Minute)
	db.r = db.w
	defer func() {
		if err != nil {
			_ = db.Close()
		}
	}()
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("open db: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// migrationDir is where the dialect's migrations are embedded. Both
// directories hold the same versions (TestMigrationsSameVersions).
func (d dialect) migrationDir() string {
	if d == postgresDialect {
		return "migrations/postgres"
	}
	return "migrations"
}

// writeTxOptions are the options of a write transaction.
func (d dialect) writeTxOptions() *sql.TxOptions {
	if d == postgresDialect {
		return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	return nil // BEGIN IMMEDIATE, from the DSN's _txlock
}

// readTxOptions are the options of a read transaction.
func (d dialect) readTxOptions() *sql.TxOptions {
	if d == postgresDialect {
		return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	return nil // a deferred transaction on the query-only pool
}

// beginWrite does what a write transaction does first.
func (d dialect) beginWrite(ctx context.Context, stx *sql.Tx) error {
	if d != postgresDialect {
		return nil
	}
	if _, err := stx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, writeLockKey); err != nil {
		return fmt.Errorf("take the write lock: %w", err)
	}
	return nil
}

// rebind rewrites the ? placeholders of q to PostgreSQL's $1, $2, ...,
// leaving string literals, quoted identifiers and comments alone.
func (d dialect) rebind(q string) string {
	if d != postgresDialect || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+2])
			i += j + 1
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+1])
			i += j
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// PostgreSQL error codes (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
	pgLockNotAvailable    = "55P03"
	pgSerialization       = "40001"
	pgDeadlock            = "40P01"
)

// pgCode is the SQLSTATE of a PostgreSQL error, "" for any other error.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// isUnique reports whether err is a violation of a UNIQUE or PRIMARY KEY
// constraint.
func isUnique(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique ||
			se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	return pgCode(err) == pgUniqueViolation
}

// isBusy reports whether err says that another connection holds a lock.
func isBusy(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	switch pgCode(err) {
	case pgLockNotAvailable, pgSerialization, pgDeadlock:
		return true
	}
	return false
}

// isForeignKey reports whether err is a violation of a foreign key.
func isForeignKey(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintForeignKey
	}
	return pgCode(err) == pgForeignKeyViolation
}
