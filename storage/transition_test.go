package storage_test

import (
	"context"
	"testing"

	"github.com/deploybot/deploybot/deploy"
)

// TestTransition_EnvBusyIndex bypasses the checks in Go: the unique index
// alone refuses a second active release of the same app and env.
func TestTransition_EnvBusyIndex(t *testing.T) { forEachBackend(t, testTransition_EnvBusyIndex) }

func testTransition_EnvBusyIndex(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := be.open(t)
	a := MustCreate(t, db, newRequest("shop-web", "production"), deploy.StatusQueued)
	b := MustCreate(t, db, newRequest("shop-web", "production"), deploy.StatusQueued)
	if _, err := db.Transition(ctx, a.ID, deploy.Change{From: deploy.StatusQueued, To: deploy.StatusLaunching}); err != nil {
		t.Fatal(err)
	}
	raw := rawSQL(t, db)
	_, err := raw.Exec(`UPDATE requests SET status = 'running' WHERE id = $1`, b.ID)
	if !isConstraint(err) {
		t.Fatalf("second active request: err = %v, want a constraint violation", err)
	}
	// A check-mode request may be active next to it.
	if _, err := raw.Exec(`UPDATE requests SET status = 'running', check_mode = 1 WHERE id = $1`, b.ID); err != nil {
		t.Fatal(err)
	}
}
