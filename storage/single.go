package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
)

// singleProcessKey is the PostgreSQL advisory lock a bot holds for as long
// as it runs (LockSingleProcess): "deploy1p" in ASCII.
const singleProcessKey int64 = 0x6465706c6f793170

// singleProcess is the session that holds singleProcessKey.
type singleProcess struct {
	mu   sync.Mutex
	conn *sql.Conn
}

// ErrAnotherProcess says that another deploybot holds the database: at
// start, or after the session holding the lock ended and another process
// took it meanwhile (Ping then returns it, wrapped).
var ErrAnotherProcess = errors.New("another deploybot is already running on this database " +
	"(it holds the PostgreSQL advisory lock deploybot takes at start): stop it first, " +
	"or give this one a database of its own; several replicas on one database are not supported yet")

// LockSingleProcess makes this process the only deploybot running on a
// PostgreSQL database, until Close: it takes a session-level advisory lock
// (pg_try_advisory_lock) on a connection of its own, and fails with a
// message saying what to do when another process holds it. The bot calls
// it once after Open: several replicas on one database are not supported
// yet (schedules, reminders and job followers would run in each). Ping
// reports the lock lost (a restarted server ends the session) and takes
// it again when it can.
//
// On SQLite it does nothing: a SQLite file is used by one process (the Helm
// chart and the systemd unit run one).
func (db *DB) LockSingleProcess(ctx context.Context) error {
	if db.d != postgresDialect {
		return nil
	}
	if db.w == nil {
		return errors.New("lock database: not open")
	}
	db.single.mu.Lock()
	defer db.single.mu.Unlock()
	if db.single.conn != nil {
		return nil
	}
	return db.takeSingle(ctx)
}

// takeSingle takes the lock on a new session; db.single.mu is held.
func (db *DB) takeSingle(ctx context.Context) error {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("lock database: %w", err)
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, singleProcessKey).Scan(&ok); err != nil {
		_ = conn.Close()
		return fmt.Errorf("lock database: %w", err)
	}
	if !ok {
		_ = conn.Close()
		return ErrAnotherProcess
	}
	db.single.conn = conn
	return nil
}

// checkSingle checks that the session holding the single-process lock is
// still there, and takes the lock again on a new session when it is not.
func (db *DB) checkSingle(ctx context.Context) error {
	db.single.mu.Lock()
	defer db.single.mu.Unlock()
	if db.single.conn == nil {
		return nil
	}
	if err := db.single.conn.PingContext(ctx); err == nil {
		return nil
	}
	// The session ended, and its lock with it: make sure it is closed,
	// then take the lock again.
	_ = db.single.conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = db.single.conn.Close()
	db.single.conn = nil
	if err := db.takeSingle(ctx); err != nil {
		return fmt.Errorf("the database session holding the single-process lock ended: %w", err)
	}
	return nil
}

// releaseSingle releases the single-process lock, if held.
func (db *DB) releaseSingle() error {
	db.single.mu.Lock()
	defer db.single.mu.Unlock()
	if db.single.conn == nil {
		return nil
	}
	conn := db.single.conn
	db.single.conn = nil
	// Returning the connection to the pool would keep the lock with
	// its session: unlock first.
	_, err := conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, singleProcessKey)
	return errors.Join(err, conn.Close())
}
