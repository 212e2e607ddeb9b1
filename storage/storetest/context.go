package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/deploybot/deploybot/deploy"
)

// testCanceledContext checks that a canceled context stops a write before
// it changes anything.
func testCanceledContext(t *testing.T, be Backend) {
	db, _ := be.open(t, Options{})
	req := MustCreate(t, db, NewRequest("shop-web", "production"), deploy.StatusQueued)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.Transition(ctx, req.ID, deploy.Change{From: deploy.StatusQueued, To: deploy.StatusLaunching}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	got, err := db.Request(context.Background(), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != deploy.StatusQueued {
		t.Fatalf("status = %s", got.Status)
	}
}
