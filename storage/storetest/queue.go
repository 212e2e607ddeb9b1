package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

func testQueue_FIFO(t *testing.T, be Backend) {
	ctx := context.Background()
	db, clk := be.open(t, Options{})

	// Created in one order, queued in another: the queue follows the time
	// of entering it, then the id.
	r1 := MustCreate(t, db, NewRequest("shop-web", "production"), deploy.StatusPendingApproval)
	r2 := MustCreate(t, db, NewRequest("shop-web", "production"), deploy.StatusPendingApproval)
	clk.Advance(time.Second)
	r3 := MustCreate(t, db, NewRequest("shop-web", "production"), deploy.StatusQueued)
	clk.Advance(time.Second)
	if _, err := db.Transition(ctx, r2.ID, deploy.Change{From: deploy.StatusPendingApproval, To: deploy.StatusQueued}); err != nil {
		t.Fatal(err)
	}
	// r1 and r4 enter the queue at the same instant: id breaks the tie.
	clk.Advance(time.Second)
	r4 := MustCreate(t, db, NewRequest("shop-web", "production"), deploy.StatusQueued)
	if _, err := db.Transition(ctx, r1.ID, deploy.Change{From: deploy.StatusPendingApproval, To: deploy.StatusQueued}); err != nil {
		t.Fatal(err)
	}
	other := MustCreate(t, db, NewRequest("shop-web", "staging"), deploy.StatusQueued)

	order := []int64{r3.ID, r2.ID, r1.ID, r4.ID}
	if r1.ID > r4.ID {
		order[2], order[3] = r4.ID, r1.ID
	}
	check := func(order []int64) {
		t.Helper()
		for i, id := range order {
			pos, err := db.QueuePosition(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if pos != i+1 {
				t.Errorf("position of #%d = %d, want %d", id, pos, i+1)
			}
		}
		next, err := db.NextQueued(ctx, "shop-web", "production")
		if err != nil {
			t.Fatal(err)
		}
		if next.ID != order[0] {
			t.Errorf("NextQueued = #%d, want #%d", next.ID, order[0])
		}
	}
	check(order)
	if pos, err := db.QueuePosition(ctx, other.ID); err != nil || pos != 1 {
		t.Fatalf("position in another env = %d, %v", pos, err)
	}

	// The head leaves the queue: everyone moves up.
	if _, err := db.Transition(ctx, order[0], deploy.Change{From: deploy.StatusQueued, To: deploy.StatusLaunching}); err != nil {
		t.Fatal(err)
	}
	check(order[1:])
	_, err := db.QueuePosition(ctx, order[0])
	WantCode(t, err, deploy.ECONFLICT)
}
