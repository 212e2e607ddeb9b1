package pgtest_test

import (
	"context"
	"database/sql"
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
