package main

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/storage"
)

// TestClaimReplicaName: one live process per replica name on a shared
// database. A second process given the name of a live one is refused with
// what to do; one that follows a killed process of the same name waits for
// the dead claim to expire, and one that follows a stopped process starts
// at once.
func TestClaimReplicaName(t *testing.T) {
	db := storage.NewDB(filepath.Join(t.TempDir(), "deploybot.db"))
	if err := db.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	log := zerolog.New(zerolog.NewTestWriter(t))
	const ttl = 15 * time.Second
	var mu sync.Mutex
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	first, err := claimReplicaName(ctx, db, "bot-a", ttl, clock, nil, log)
	if err != nil {
		t.Fatal(err)
	}

	// A second process named bot-a while the first renews its claim.
	waited := time.Duration(0)
	_, err = claimReplicaName(ctx, db, "bot-a", ttl, clock, func(_ context.Context, d time.Duration) error {
		waited += d
		advance(ttl / 3)
		if _, ok, err := db.AcquireLease(ctx, "replica/bot-a", first.holder, clock(), ttl); err != nil || !ok {
			t.Fatalf("the first process could not renew its claim: %v", err)
		}
		advance(d - ttl/3)
		return nil
	}, log)
	if err == nil || !strings.Contains(err.Error(), "--replica") {
		t.Fatalf("second live process named bot-a: err = %v, want a refusal naming --replica", err)
	}
	if waited > ttl+time.Second {
		t.Errorf("waited %s before refusing, want at most the TTL", waited)
	}

	// The first one is killed: the next process of that name waits for
	// its claim to expire, then runs.
	waited = 0
	next, err := claimReplicaName(ctx, db, "bot-a", ttl, clock, func(_ context.Context, d time.Duration) error {
		waited += d
		advance(d)
		return nil
	}, log)
	if err != nil {
		t.Fatalf("after the first process died: %v", err)
	}
	if waited == 0 || waited > ttl+time.Second {
		t.Errorf("waited %s for a dead claim, want up to the TTL", waited)
	}

	// Stopped gracefully, it lets the name go at once.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- next.run(rctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := claimReplicaName(ctx, db, "bot-a", ttl, clock, func(context.Context, time.Duration) error {
		t.Fatal("waited for a name released by a stopped process")
		return nil
	}, log); err != nil {
		t.Fatal(err)
	}
}
