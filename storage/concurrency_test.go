package storage_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/mattn/go-sqlite3"

	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
)

// isConstraint reports whether err is a SQLite constraint violation.
func isConstraint(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}

func BenchmarkCreateAndTransition(b *testing.B) {
	ctx := context.Background()
	db := storage.NewDB(filepath.Join(b.TempDir(), "bench.db"))
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
