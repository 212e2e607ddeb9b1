package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// DedupeStore is the dedupe port of the bot (bot.DedupeStore): a store
// that the bot also uses to drop redelivered envelopes implements it.
type DedupeStore interface {
	FirstSeen(ctx context.Context, key string, at time.Time) (bool, error)
}

func testFirstSeen(t *testing.T, be Backend) {
	ctx := context.Background()
	store, clk := be.open(t, Options{DedupeTTL: time.Hour})
	db, ok := store.(DedupeStore)
	if !ok {
		t.Fatalf("%T does not implement FirstSeen, which the bot needs to drop redelivered envelopes", store)
	}

	seen := func(key string, at time.Time) bool {
		t.Helper()
		first, err := db.FirstSeen(ctx, key, at)
		if err != nil {
			t.Fatal(err)
		}
		return first
	}
	t0 := clk.Now()
	if !seen("env-1", t0) {
		t.Fatal("first delivery reported as seen")
	}
	if seen("env-1", t0.Add(time.Minute)) {
		t.Fatal("redelivery reported as first")
	}
	if !seen("env-2", time.Time{}) {
		t.Fatal("another key reported as seen")
	}
	// Past the TTL the key is forgotten.
	if !seen("env-1", t0.Add(time.Hour+time.Second)) {
		t.Fatal("key not forgotten after DedupeTTL")
	}

	// 50 redeliveries at once: one is first.
	errs := race(racers, func(i int) error {
		first, err := db.FirstSeen(ctx, "action-9", time.Time{})
		if err != nil {
			return err
		}
		if first {
			return nil
		}
		return fmt.Errorf("seen")
	})
	firsts := 0
	for _, err := range errs {
		if err == nil {
			firsts++
		}
	}
	if firsts != 1 {
		t.Fatalf("%d deliveries were first, want 1", firsts)
	}
}
