package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/deploy"
)

// testLimitsOneDryRunAtATime: the store lets one dry run of an app and env
// be launching or running at a time, even when two were queued at once; a
// dry run does not wait for releases, nor releases for it.
func testLimitsOneDryRunAtATime(t *testing.T, be Backend) {
	db, _ := be.open(t, Options{})
	ctx := context.Background()
	dry := func(env string) *deploy.Request {
		r := NewRequest("shop-web", env)
		r.Check, r.Plan.Check = true, true
		return MustCreate(t, db, r, deploy.StatusQueued)
	}
	launch := func(id int64) error {
		_, err := db.Transition(ctx, id, deploy.Change{From: deploy.StatusQueued, To: deploy.StatusLaunching})
		return err
	}
	first, second, other := dry("production"), dry("production"), dry("staging")
	release := MustCreate(t, db, NewRequest("shop-web", "production"), deploy.StatusQueued)

	// Releases and dry runs wait in separate lines.
	if next, err := db.NextQueued(ctx, "shop-web", "production"); err != nil || next.ID != release.ID {
		t.Fatalf("next queued = %v, %v; want the release #%d", next, err, release.ID)
	}
	if pos, err := db.QueuePosition(ctx, release.ID); err != nil || pos != 1 {
		t.Fatalf("release's position = %d, %v; want 1", pos, err)
	}

	if err := launch(first.ID); err != nil {
		t.Fatal(err)
	}
	err := launch(second.ID)
	if !errors.Is(err, deploy.ErrEnvBusy) || !strings.Contains(err.Error(), "dry run #") {
		t.Fatalf("second dry run: err = %v, want busy naming the dry run", err)
	}
	if got, _ := db.Request(ctx, second.ID); got.Status != deploy.StatusQueued {
		t.Fatalf("refused dry run is %s, want still queued", got.Status)
	}
	if err := launch(other.ID); err != nil {
		t.Fatalf("dry run of another env: %v", err)
	}
	if err := launch(release.ID); err != nil {
		t.Fatalf("release beside a dry run: %v", err)
	}
	if _, err := db.Transition(ctx, first.ID, deploy.Change{From: deploy.StatusLaunching, To: deploy.StatusFailed}); err != nil {
		t.Fatal(err)
	}
	if err := launch(second.ID); err != nil {
		t.Fatalf("second dry run once the first ended: %v", err)
	}
}
