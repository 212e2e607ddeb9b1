package pgtest_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"testing"

	"github.com/deploybot/deploybot/storage/pgtest"
)

var pg = &pgtest.Server{}

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

type status string

// TestServer: each URL is a database of its own on a running server.
func TestServer(t *testing.T) {
	ctx := context.Background()
	a, b := pg.URL(t), pg.URL(t)
	if a == b {
		t.Fatalf("two tests share database %s", a)
	}
	for _, u := range []string{a, b} {
		db, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, `CREATE TABLE t (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, s TEXT, b INTEGER); CREATE TABLE u (x int)`); err != nil {
			t.Fatal(err)
		}
		var id int64
		if err := db.QueryRowContext(ctx, `INSERT INTO t (s, b) VALUES ($1, $2) RETURNING id`, status("x"), 1).Scan(&id); err != nil {
			t.Fatal(err)
		}
		var s status
		var bb bool
		if err := db.QueryRowContext(ctx, `SELECT s, b FROM t WHERE s IN ($1, $2) AND b = $3 LIMIT $4`, status("x"), status("y"), 1, 5).Scan(&s, &bb); err != nil {
			t.Fatal(err)
		}
		t.Log(id, s, bb)
	}
}

// TestStart: a program outside of tests starts its own server, gets an
// empty database on it, and Stop stops the server.
func TestStart(t *testing.T) {
	s, err := pgtest.Start()
	if errors.Is(err, pgtest.ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u, err := s.NewDatabase(ctx)
	if err != nil {
		s.Stop()
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", u)
	if err != nil {
		s.Stop()
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (x int)`); err != nil {
		t.Errorf("the new database: %v", err)
	}
	db.Close()
	s.Stop()
	db, _ = sql.Open("pgx", u)
	defer db.Close()
	if err := db.PingContext(ctx); err == nil {
		t.Errorf("the server still answers after Stop")
	}
}
