package storage_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
	"github.com/deploybot/deploybot/storage/pgtest"
	"github.com/deploybot/deploybot/storage/storetest"
)

// pg is the PostgreSQL server of this package's tests, started by the
// first test that needs it. Each test gets its own database, cloned from a
// template the migrations were applied to once.
var pg = &pgtest.Server{Init: func(ctx context.Context, url string) error {
	db := storage.NewDB(url)
	if err := db.Open(ctx); err != nil {
		return err
	}
	return db.Close()
}}

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// backend is a database the store runs on.
type backend struct {
	name string
	// dsn returns the file path or URL of a new database for t.
	dsn func(t testing.TB) string
	// require skips (or fails under CI=true) t when the backend cannot
	// run here.
	require func(t testing.TB)
}

// backends are SQLite (a file in a temporary directory) and PostgreSQL (a
// database on pg).
func backends() []backend {
	return []backend{
		{
			name:    "SQLite",
			dsn:     func(t testing.TB) string { return filepath.Join(t.TempDir(), "deploybot.db") },
			require: func(testing.TB) {},
		},
		{name: "PostgreSQL", dsn: pg.URL, require: pg.Require},
	}
}

// forEachBackend runs fn as a parallel subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			b.require(t)
			fn(t, b)
		})
	}
}

// open opens a new database of b with a settable clock.
func (b backend) open(t testing.TB) (*storage.DB, *clock) {
	t.Helper()
	c := newClock()
	return MustOpenPath(t, b.dsn(t), c), c
}

// rawSQL opens the database of db with database/sql directly, bypassing the
// storage package, to look at (or tamper with) what it wrote.
func rawSQL(t testing.TB, db *storage.DB) *sql.DB {
	t.Helper()
	if !storage.IsPostgresURL(db.Path) {
		return MustRawSQL(t, db.Path)
	}
	r, err := sql.Open("pgx", db.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// openWith opens the database at dsn with the options of a conformance
// case.
func openWith(t *testing.T, dsn string, o storetest.Options) *storage.DB {
	t.Helper()
	db := storage.NewDB(dsn)
	if o.Now != nil {
		db.Now = o.Now
	}
	if o.DedupeTTL != 0 {
		db.DedupeTTL = o.DedupeTTL
	}
	db.HashPlan = o.HashPlan
	if err := db.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// TestStore runs the deploy.Store conformance suite on a SQLite file and
// on a PostgreSQL database.
func TestStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		storetest.Run(t, storetest.Backend{
			Open: func(t *testing.T, o storetest.Options) deploy.Store {
				return openWith(t, b.dsn(t), o)
			},
			Reopen: func(t *testing.T, s deploy.Store, o storetest.Options) deploy.Store {
				return openWith(t, s.(*storage.DB).Path, o)
			},
		})
	})
}
