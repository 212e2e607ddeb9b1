package deploy_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/deploy"
)

// failQueueStore is a store whose pending → queued transition fails, as a
// crash or a write error right after the approval row would.
type failQueueStore struct {
	deploy.Store
}

func (s failQueueStore) Transition(ctx context.Context, id int64, ch deploy.Change) (*deploy.Request, error) {
	if ch.From == deploy.StatusPendingApproval && ch.To == deploy.StatusQueued {
		return nil, errors.New("disk I/O error")
	}
	return s.Store.Transition(ctx, id, ch)
}

// TestAtomicApproval_OneTransaction: the last needed approval queues the
// request in the same transaction as the approval row, so a failure of any
// later write cannot leave a fully approved request pending.
func TestAtomicApproval_OneTransaction(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	req := h.deploy(alice, "shop-web", "production", "1.4.2")
	svc := deploy.NewService(h.cfg.Catalog(), failQueueStore{h.db}, h.runner, h.notifier, h.dir, h.clock, zerolog.New(zerolog.NewTestWriter(t)))
	if _, err := svc.Approve(ctx, req.ID, bob); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	if got := h.request(req.ID).Status; got == deploy.StatusPendingApproval {
		t.Fatalf("after the last approval the request is still %s", got)
	}
	h.tick()
	h.waitStatus(req.ID, deploy.StatusSucceeded)
}

// TestAtomicApproval_RecheckOnStart: a request whose approval rows are all
// there but which is still pending (what a crash between the two writes
// left in a database of an older deploybot) is queued by the next process
// on start, and runs once.
func TestAtomicApproval_RecheckOnStart(t *testing.T) {
	h := newHarness(t)
	req := h.deploy(alice, "shop-web", "production", "1.4.2")
	h.stop()
	raw, err := sql.Open("sqlite3", h.path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO approvals (request_id, user, at, plan_hash) VALUES (?, ?, ?, ?)`,
		req.ID, bob, h.clock.Now().UnixMilli(), req.PlanHash); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.waitStatus(req.ID, deploy.StatusSucceeded)
	if n := h.runner.LaunchCount(); n != 1 {
		t.Errorf("launches = %d, want 1", n)
	}
}
