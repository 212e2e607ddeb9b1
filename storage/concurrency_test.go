package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"

	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
)

// isConstraint reports whether err is a SQLite constraint violation, or a
// PostgreSQL integrity constraint violation (SQLSTATE class 23).
func isConstraint(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrConstraint
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "23")
}

// BenchmarkCreateAndTransition is the writes of one release: create, then
// launching, running and succeeded, on each backend.
func BenchmarkCreateAndTransition(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			be.require(b)
			benchmarkCreateAndTransition(b, be)
		})
	}
}

func benchmarkCreateAndTransition(b *testing.B, be backend) {
	ctx := context.Background()
	db := storage.NewDB(be.dsn(b))
	if err := db.Open(ctx); err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := newRequest("shop-web", "production")
		if err := db.CreateRequest(ctx, req); err != nil {
			b.Fatal(err)
		}
		for _, ch := range []deploy.Change{
			{From: deploy.StatusPendingApproval, To: deploy.StatusLaunching},
			{From: deploy.StatusLaunching, To: deploy.StatusRunning, Job: deploy.JobRef{Kind: deploy.JobTemplateRun, ID: int64(i + 1)}},
			{From: deploy.StatusRunning, To: deploy.StatusSucceeded},
		} {
			if _, err := db.Transition(ctx, req.ID, ch); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// isAppendOnlyRefusal reports whether err is the refusal of the audit
// table's append-only triggers (migrations/0001_init.sql, and its
// PostgreSQL version, which raises restrict_violation).
func isAppendOnlyRefusal(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintTrigger
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23001" && strings.Contains(pe.Message, "append-only")
}
