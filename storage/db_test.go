package storage_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
)

// MustOpen opens a new database file in a temporary directory, with a
// settable clock, and closes it at the end of the test.
func MustOpen(tb testing.TB) (*storage.DB, *clock) {
	tb.Helper()
	c := newClock()
	db := MustOpenPath(tb, filepath.Join(tb.TempDir(), "deploybot.db"), c)
	return db, c
}

// MustOpenPath opens the database file at path with clock c.
func MustOpenPath(tb testing.TB, path string, c *clock) *storage.DB {
	tb.Helper()
	db := storage.NewDB(path)
	if c != nil {
		db.Now = c.Now
	}
	if err := db.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

// MustRawSQL opens the database file with database/sql directly, bypassing
// the storage package, to look at (or tamper with) what it wrote.
func MustRawSQL(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	raw, err := sql.Open("sqlite3", path+"?_busy_timeout=5000")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = raw.Close() })
	return raw
}

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("MigrationsIdempotentOnReopen", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "deploybot.db")
		db := storage.NewDB(path)
		if err := db.Open(ctx); err != nil {
			t.Fatal(err)
		}
		req := newRequest("shop-web", "production")
		if err := db.CreateRequest(ctx, req); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		// Open the same file twice more: nothing is applied again and the
		// data is still there.
		for i := 0; i < 2; i++ {
			db := MustOpenPath(t, path, nil)
			got, err := db.Request(ctx, req.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.App != "shop-web" {
				t.Fatalf("app = %q after reopen", got.App)
			}
		}
		raw := MustRawSQL(t, path)
		var n, distinct int
		if err := raw.QueryRow(`SELECT count(*), count(DISTINCT name) FROM migrations`).Scan(&n, &distinct); err != nil {
			t.Fatal(err)
		}
		if n == 0 || n != distinct {
			t.Fatalf("migrations rows = %d (distinct %d)", n, distinct)
		}
		var mode string
		if err := raw.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" {
			t.Fatalf("journal_mode = %q, want wal", mode)
		}
	})

	t.Run("ConcurrentOpenOfNewFile", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "deploybot.db")
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db := storage.NewDB(path)
				if err := db.Open(ctx); err != nil {
					errs <- err
					return
				}
				errs <- db.Close()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("CreatesDirectory", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "data", "sub", "deploybot.db")
		db := MustOpenPath(t, path, nil)
		if err := db.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ErrAlreadyOpen", func(t *testing.T) {
		t.Parallel()
		db, _ := MustOpen(t)
		if err := db.Open(ctx); err == nil {
			t.Fatal("second Open succeeded")
		}
		if err := db.Ping(ctx); err != nil {
			t.Fatalf("second Open broke the first: %v", err)
		}
	})

	t.Run("ErrNewerSchema", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "deploybot.db")
		_ = MustOpenPath(t, path, nil)
		raw := MustRawSQL(t, path)
		if _, err := raw.Exec(`INSERT INTO migrations (name, applied_at) VALUES ('migrations/9999_future.sql', 0)`); err != nil {
			t.Fatal(err)
		}
		db := storage.NewDB(path)
		if err := db.Open(ctx); err == nil {
			_ = db.Close()
			t.Fatal("opened a database with an unknown migration")
		}
	})

	t.Run("ErrNotAFile", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"", ":memory:", "file:x.db?mode=memory", "x.db?_fk=0"} {
			if err := storage.NewDB(path).Open(ctx); err == nil {
				t.Errorf("Open(%q) succeeded", path)
			}
		}
	})

	t.Run("ForeignKeysOn", func(t *testing.T) {
		t.Parallel()
		db, _ := MustOpen(t)
		req := newRequest("shop-web", "production")
		req.ScheduleID = 404
		err := db.CreateRequest(ctx, req)
		if got, want := deploy.ErrorCode(err), deploy.EINVALID; got != want {
			t.Fatalf("code = %q, want %q (err %v)", got, want, err)
		}
	})

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		db, _ := MustOpen(t)
		if err := db.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := db.Ping(ctx); err == nil {
			t.Fatal("Ping succeeded on a closed DB")
		}
	})
}

// TestBusyTimeout holds the write lock from another connection: reads go on
// (WAL), a write waits BusyTimeout and then fails as an internal error, and
// succeeds once the lock is released.
func TestBusyTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "deploybot.db")
	db := storage.NewDB(path)
	db.BusyTimeout = 300 * time.Millisecond
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	req := MustCreate(t, db, newRequest("shop-web", "production"), deploy.StatusQueued)

	conn, err := MustRawSQL(t, path).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}

	if _, err := db.Request(ctx, req.ID); err != nil {
		t.Fatalf("read while another connection writes: %v", err)
	}
	start := time.Now()
	_, err = db.Transition(ctx, req.ID, deploy.Change{From: deploy.StatusQueued, To: deploy.StatusLaunching})
	if elapsed := time.Since(start); elapsed < 250*time.Millisecond {
		t.Fatalf("write gave up after %v, before the busy timeout", elapsed)
	}
	wantCode(t, err, deploy.EINTERNAL)

	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Transition(ctx, req.ID, deploy.Change{From: deploy.StatusQueued, To: deploy.StatusLaunching}); err != nil {
		t.Fatal(err)
	}
}
