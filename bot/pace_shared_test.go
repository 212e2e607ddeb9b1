package bot

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
)

// TestSharedPacingAcrossReplicas: three gateways, as three replicas of
// the bot, post into one channel at once. Slack limits
// chat.postMessage per app and channel (about one a second, a short
// burst; slacktest/ratelimit.go), whatever the number of processes.
// Paced each alone, their bursts add up and Slack answers 429; paced
// through the shared reservations of one database, none is refused.
func TestSharedPacingAcrossReplicas(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "deploybot.db")
	for _, tc := range []struct {
		name    string
		shared  bool
		want429 bool
	}{
		{name: "each replica alone", shared: false, want429: true},
		{name: "shared through the database", shared: true, want429: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t)
			var gws []*Slack
			for range 3 {
				opts := SlackOptions{MaxAttempts: 1}
				if tc.shared {
					db := storage.NewDB(path)
					if err := db.Open(context.Background()); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { db.Close() })
					opts.SharedPacing = db
				}
				gws = append(gws, newGateway(t, srv, opts))
			}
			ctx := testCtx(t)
			var wg sync.WaitGroup
			for i, gw := range gws {
				for j := range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, _ = gw.Announce(ctx, "C1", deploy.Note{Kind: deploy.NoteText, Text: fmt.Sprintf("replica %d, message %d", i, j)})
					}()
				}
			}
			wg.Wait()
			got := srv.RateLimited("chat.postMessage")
			if tc.want429 && got == 0 {
				t.Fatalf("no 429 with each replica pacing alone: the test cannot tell shared pacing from none")
			}
			if !tc.want429 && got != 0 {
				t.Fatalf("%d × 429 with shared pacing, want 0", got)
			}
		})
	}
}

// TestSharedPushBack: Slack's Retry-After after a 429 holds for the app,
// so every replica sharing the reservations waits it out, not only the
// one Slack told.
func TestSharedPushBack(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "deploybot.db")
	t0 := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	now := func() time.Time { return t0 }
	var pacers []*pacer
	for range 2 {
		db := storage.NewDB(path)
		if err := db.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		p := newPacer(now)
		p.shared = db
		pacers = append(pacers, p)
	}
	ctx := testCtx(t)
	const key, interval = "channel:C1", time.Second
	if d, err := pacers[0].sharedTurn(ctx, key, interval); err != nil || d != 0 {
		t.Fatalf("first turn: wait %s, %v; want none", d, err)
	}
	pacers[0].pushBack(key, 30*time.Second) // Slack answered 429, Retry-After: 30
	d, err := pacers[1].sharedTurn(ctx, key, interval)
	if err != nil {
		t.Fatal(err)
	}
	if d < 30*time.Second {
		t.Fatalf("the other replica's next turn is in %s, before the 30 s Slack asked the app to wait", d)
	}
}
