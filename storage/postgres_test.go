package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
)

// TestMigrationsSameVersions: every migration has a SQLite and a
// PostgreSQL version (migrations/NNNN_name.sql and
// migrations/postgres/NNNN_name.sql), so that both databases are at the
// same version after Open.
func TestMigrationsSameVersions(t *testing.T) {
	t.Parallel()
	list := func(dir string) []string {
		t.Helper()
		names, err := filepath.Glob(filepath.Join(dir, "*.sql"))
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range names {
			names[i] = filepath.Base(n)
		}
		return names
	}
	sqlite, postgres := list("migrations"), list("migrations/postgres")
	if len(sqlite) == 0 {
		t.Fatal("no migrations found")
	}
	if !reflect.DeepEqual(sqlite, postgres) {
		t.Fatalf("migrations differ:\n SQLite     %v\n PostgreSQL %v\nwrite each migration in migrations/ and migrations/postgres/ under the same name", sqlite, postgres)
	}
}

// TestOpenPostgres: on a new, empty PostgreSQL database, eight processes
// opening it at once apply each migration once (they take turns on an
// advisory lock); opening it again applies nothing; a database migrated by
// a newer deploybot is refused; the URL's password never shows in an error.
func TestOpenPostgres(t *testing.T) {
	t.Parallel()
	pg.Require(t)
	ctx := context.Background()

	t.Run("ConcurrentMigrators", func(t *testing.T) {
		t.Parallel()
		url := pg.EmptyURL(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db := storage.NewDB(url)
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
		db := MustOpenPath(t, url, nil)
		req := MustCreate(t, db, newRequest("shop-web", "production"), deploy.StatusQueued)
		if req.ID != 1 {
			t.Errorf("first request is #%d, want #1", req.ID)
		}
		var n, distinct int
		if err := rawSQL(t, db).QueryRow(`SELECT count(*), count(DISTINCT name) FROM migrations`).Scan(&n, &distinct); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob("migrations/postgres/*.sql")
		if n != len(files) || distinct != n {
			t.Fatalf("migrations rows = %d (distinct %d), want %d", n, distinct, len(files))
		}
	})

	t.Run("MigrationsIdempotentOnReopen", func(t *testing.T) {
		t.Parallel()
		url := pg.EmptyURL(t)
		db := MustOpenPath(t, url, nil)
		req := MustCreate(t, db, newRequest("shop-web", "production"), deploy.StatusQueued)
		for i := 0; i < 2; i++ {
			again := MustOpenPath(t, url, nil)
			got, err := again.Request(ctx, req.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.App != "shop-web" {
				t.Fatalf("app = %q after reopen", got.App)
			}
		}
		var names []string
		rows, err := rawSQL(t, db).Query(`SELECT name FROM migrations ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
		// Recorded under the same names as in SQLite.
		files, _ := filepath.Glob("migrations/*.sql")
		if !reflect.DeepEqual(names, files) {
			t.Fatalf("migrations = %v, want %v", names, files)
		}
	})

	t.Run("ErrNewerSchema", func(t *testing.T) {
		t.Parallel()
		db := MustOpenPath(t, pg.URL(t), nil)
		if _, err := rawSQL(t, db).Exec(`INSERT INTO migrations (name, applied_at) VALUES ('migrations/9999_future.sql', 0)`); err != nil {
			t.Fatal(err)
		}
		again := storage.NewDB(db.Path)
		err := again.Open(ctx)
		if err == nil {
			_ = again.Close()
			t.Fatal("opened a database with an unknown migration")
		}
		if !strings.Contains(err.Error(), "9999_future.sql") {
			t.Fatalf("err = %v, want it to name the unknown migration", err)
		}
	})

	t.Run("ErrBadURL", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ url, says string }{
			{"postgres://deploybot:s3cr3t-pw@127.0.0.1:1/deploybot?sslmode=disable&connect_timeout=5", "connect"},
			{"postgres://deploybot:s3cr3t-pw@db:notaport/deploybot", "invalid port"},
			{"postgresql://db/deploybot?password=s3cr3t-pw&sslmode=bogus", "sslmode is invalid"},
		} {
			db := storage.NewDB(tc.url)
			err := db.Open(ctx)
			if err == nil {
				_ = db.Close()
				t.Fatalf("%s: opened", storage.Redact(tc.url))
			}
			_, err2 := storage.ExportAudit(ctx, tc.url, time.Time{}, "", "")
			for _, err := range []error{err, err2} {
				if err == nil || !strings.Contains(err.Error(), tc.says) {
					t.Errorf("%s: err = %v, want it to say %q", storage.Redact(tc.url), err, tc.says)
				}
				if err != nil && strings.Contains(err.Error(), "s3cr3t-pw") {
					t.Errorf("the error shows the password: %v", err)
				}
			}
		}
	})

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		db := storage.NewDB(pg.URL(t))
		if err := db.Open(ctx); err != nil {
			t.Fatal(err)
		}
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

// TestBusyTimeoutPostgres holds the write lock from another session: reads
// go on, a write waits BusyTimeout (lock_timeout) and then fails as an
// internal error, and succeeds once the lock is released.
func TestBusyTimeoutPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storage.NewDB(pg.URL(t))
	db.BusyTimeout = 300 * time.Millisecond
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	req := MustCreate(t, db, newRequest("shop-web", "production"), deploy.StatusQueued)

	conn, err := rawSQL(t, db).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The key of the write lock every write transaction takes first
	// ("deploybo" in ASCII).
	if _, err := conn.ExecContext(ctx, `BEGIN; SELECT pg_advisory_xact_lock(x'6465706c6f79626f'::bigint)`); err != nil {
		t.Fatal(err)
	}

	if _, err := db.Request(ctx, req.ID); err != nil {
		t.Fatalf("read while another session writes: %v", err)
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

// TestIsPostgresURL: postgres:// and postgresql:// URLs select PostgreSQL;
// anything else is a SQLite file path. Redact hides a URL's password.
func TestIsPostgresURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dsn    string
		pg     bool
		redact string
	}{
		{"deploybot.db", false, "deploybot.db"},
		{"/data/deploybot.db", false, "/data/deploybot.db"},
		{"./postgres/deploybot.db", false, "./postgres/deploybot.db"},
		{"postgres://bot:pw@db.example.com:5432/deploybot", true, "postgres://bot:xxxxx@db.example.com:5432/deploybot"},
		{"postgresql://bot@db/deploybot?sslmode=require", true, "postgresql://bot@db/deploybot?sslmode=require"},
		{"POSTGRES://db/deploybot?password=pw", true, "postgres://db/deploybot?password=xxxxx"},
		{"mysql://db/deploybot", false, "mysql://db/deploybot"},
		// The client key's passphrase is a password too (libpq's sslpassword).
		{"postgres://bot:pw@db/deploybot?sslmode=verify-full&sslpassword=keypw", true, "postgres://bot:xxxxx@db/deploybot?sslmode=verify-full&sslpassword=xxxxx"},
		{"host=db password='two words' sslpassword=keypw", false, "host=db password=xxxxx sslpassword=xxxxx"},
	} {
		if got := storage.IsPostgresURL(tc.dsn); got != tc.pg {
			t.Errorf("IsPostgresURL(%q) = %v, want %v", tc.dsn, got, tc.pg)
		}
		if got := storage.Redact(tc.dsn); got != tc.redact {
			t.Errorf("Redact(%q) = %q, want %q", tc.dsn, got, tc.redact)
		}
	}
}

// TestKeywordDSNRefused: a libpq keyword/value connection string is not
// taken for a SQLite file name: Open says to give a URL and creates
// nothing.
func TestKeywordDSNRefused(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	dsn := "host=db.example.com dbname=deploybot user=bot password=s3cr3t-pw"
	db := storage.NewDB(dsn)
	err := db.Open(context.Background())
	if err == nil {
		_ = db.Close()
		t.Fatal("opened a connection string as a SQLite file")
	}
	if !strings.Contains(err.Error(), "postgres://") || strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Errorf("err = %v, want it to ask for a URL, without the password", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Open created %v", entries)
	}
}

// TestSQLitePathsStaySQLite: a relative file name that happens to start
// like a scheme-less host is still a SQLite file, created on Open.
func TestSQLitePathsStaySQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "postgres", "deploybot.db")
	_ = MustOpenPath(t, path, nil)
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}
