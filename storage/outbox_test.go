package storage_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

const lease = 2 * time.Minute

// finishWithOwed moves a new running request of env to failed, owing Slack
// a card, a note and an upload.
func finishWithOwed(t *testing.T, db interface {
	CreateRequest(context.Context, *deploy.Request) error
	Transition(context.Context, int64, deploy.Change) (*deploy.Request, error)
}, env string) *deploy.Request {
	t.Helper()
	req := MustCreate(t, db, newRequest("shop-web", env), deploy.StatusRunning)
	if _, err := db.Transition(context.Background(), req.ID, deploy.Change{From: deploy.StatusRunning, To: deploy.StatusFailed,
		Outcome: "failed", Owed: []deploy.Owed{{Kind: deploy.OwedCard}, {Kind: deploy.OwedThread, Note: deploy.Note{Kind: deploy.NoteText, Text: ":x: failed"}}, {Kind: deploy.OwedUpload}}}); err != nil {
		t.Fatal(err)
	}
	return req
}

// kinds lists the kinds and texts of items, for comparisons.
func kinds(items []deploy.OwedItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, string(it.Kind)+":"+it.Note.Text)
	}
	return out
}

func mustClaim(t *testing.T, db interface {
	ClaimOwed(context.Context, string, int64, time.Time, time.Duration, int) ([]deploy.OwedItem, error)
}, owner string, id int64, now time.Time) []deploy.OwedItem {
	t.Helper()
	items, err := db.ClaimOwed(context.Background(), owner, id, now, lease, 50)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

var owedAll = []string{"card:", "thread::x: failed", "upload:"}

// TestOutbox_OwedWithTheStatus: what a change owes Slack is recorded in
// the change's transaction, in order; a refused change records nothing.
func TestOutbox_OwedWithTheStatus(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db, clk := b.open(t)
		req := finishWithOwed(t, db, "staging")
		items := mustClaim(t, db, "a", 0, clk.Now())
		if got := kinds(items); !reflect.DeepEqual(got, owedAll) {
			t.Errorf("owed = %q, want %q", got, owedAll)
		}
		for _, it := range items {
			if it.RequestID != req.ID || it.Attempts != 0 || !it.CreatedAt.Equal(clk.Now()) {
				t.Errorf("item %+v", it)
			}
		}
		// A stale change (the request is no longer running) owes nothing.
		_, err := db.Transition(ctx, req.ID, deploy.Change{From: deploy.StatusRunning, To: deploy.StatusSucceeded,
			Owed: []deploy.Owed{{Kind: deploy.OwedCard}}})
		wantCode(t, err, deploy.ECONFLICT)
		clk.Advance(lease)
		if got := kinds(mustClaim(t, db, "b", 0, clk.Now())); !reflect.DeepEqual(got, owedAll) {
			t.Errorf("after a refused change, owed = %q, want only %q", got, owedAll)
		}
	})
}

// TestOutbox_ClaimDeliverSettle: a claimed item is no one else's until its
// lease ends; a delivered one is never claimed again; an item whose
// deliverer died (lease over, not settled) is taken over.
func TestOutbox_ClaimDeliverSettle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db, clk := b.open(t)
		r1 := finishWithOwed(t, db, "staging")
		r2 := finishWithOwed(t, db, "production")
		a := mustClaim(t, db, "a", r1.ID, clk.Now())
		if len(a) != 3 {
			t.Fatalf("claimed %d items of #%d, want 3", len(a), r1.ID)
		}
		if b := mustClaim(t, db, "b", 0, clk.Now()); len(b) != 3 || b[0].RequestID != r2.ID {
			t.Fatalf("b claimed %q, want only the 3 items of #%d", kinds(b), r2.ID)
		}
		for _, it := range a[:2] {
			if err := db.SettleOwed(ctx, it.ID, "a", deploy.OwedResult{Delivered: true}); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(lease)
		// a died before the upload: it is owed still, and goes to c; the
		// card and note are not delivered again. b's lease ended too.
		c := mustClaim(t, db, "c", 0, clk.Now())
		if got := kinds(c); !reflect.DeepEqual(got, append([]string{"upload:"}, owedAll...)) {
			t.Errorf("after the leases ended, c claimed %q", got)
		}
		for _, it := range c {
			if err := db.SettleOwed(ctx, it.ID, "c", deploy.OwedResult{Delivered: true}); err != nil {
				t.Fatal(err)
			}
		}
		// a's late word on the upload changes nothing.
		if err := db.SettleOwed(ctx, a[2].ID, "a", deploy.OwedResult{Err: "late", RetryAt: clk.Now()}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
		if got := mustClaim(t, db, "d", 0, clk.Now()); len(got) != 0 {
			t.Errorf("after delivery, claimed %q", kinds(got))
		}
	})
}

// TestOutbox_RetryBackoffOrderAndGiveUp: a failed item waits for its retry
// time and holds back the later items of its request, not those of
// others; once given up it is never tried again and the rest goes on.
func TestOutbox_RetryBackoffOrderAndGiveUp(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db, clk := b.open(t)
		r1 := finishWithOwed(t, db, "staging")
		r2 := finishWithOwed(t, db, "production")
		items := mustClaim(t, db, "a", r1.ID, clk.Now())
		card := items[0]
		if err := db.SettleOwed(ctx, card.ID, "a", deploy.OwedResult{Err: "slack down", RetryAt: clk.Now().Add(5 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		for _, it := range items[1:] {
			if err := db.SettleOwed(ctx, it.ID, "a", deploy.OwedResult{Release: true}); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(4 * time.Second)
		got := mustClaim(t, db, "a", 0, clk.Now())
		if len(got) != 3 || got[0].RequestID != r2.ID {
			t.Fatalf("before the retry time, claimed %q of #%d, want only #%d's", kinds(got), got[0].RequestID, r2.ID)
		}
		for _, it := range got {
			if err := db.SettleOwed(ctx, it.ID, "a", deploy.OwedResult{Delivered: true}); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(time.Second)
		again := mustClaim(t, db, "a", 0, clk.Now())
		if k := kinds(again); !reflect.DeepEqual(k, owedAll) || again[0].Attempts != 1 {
			t.Fatalf("at the retry time, claimed %q (attempts %d), want %q with 1 attempt", k, again[0].Attempts, owedAll)
		}
		if err := db.SettleOwed(ctx, again[0].ID, "a", deploy.OwedResult{Err: "card gone", GiveUp: true}); err != nil {
			t.Fatal(err)
		}
		for _, it := range again[1:] {
			if err := db.SettleOwed(ctx, it.ID, "a", deploy.OwedResult{Release: true}); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(time.Hour)
		if k := kinds(mustClaim(t, db, "a", 0, clk.Now())); !reflect.DeepEqual(k, owedAll[1:]) {
			t.Errorf("after the card was given up, claimed %q, want %q", k, owedAll[1:])
		}
	})
}

// TestOutbox_SurvivesRestart: what is owed when the process stops is owed
// by the next one, from the same file.
func TestOutbox_SurvivesRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		clk := newClock()
		path := b.dsn(t)
		db := MustOpenPath(t, path, clk)
		finishWithOwed(t, db, "staging")
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db2 := MustOpenPath(t, path, clk)
		if k := kinds(mustClaim(t, db2, "next", 0, clk.Now())); !reflect.DeepEqual(k, owedAll) {
			t.Errorf("after a restart, owed = %q, want %q", k, owedAll)
		}
	})
}

// TestOutbox_ConcurrentClaimers: deliverers on two connections to one file
// claiming at once never get the same item, and one request's items are
// never split between two of them (they are delivered in order).
func TestOutbox_ConcurrentClaimers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		clk := newClock()
		path := b.dsn(t)
		db1 := MustOpenPath(t, path, clk)
		db2 := MustOpenPath(t, path, clk)
		for i := range 20 {
			finishWithOwed(t, db1, "env"+string(rune('a'+i)))
		}
		seen := map[int64]string{}
		byReq := map[int64]string{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for w, db := range []interface {
			ClaimOwed(context.Context, string, int64, time.Time, time.Duration, int) ([]deploy.OwedItem, error)
		}{db1, db2, db1, db2} {
			owner := string(rune('p' + w))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 10 {
					items, err := db.ClaimOwed(context.Background(), owner, 0, clk.Now(), lease, 4)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, it := range items {
						if prev, ok := seen[it.ID]; ok {
							t.Errorf("item %d claimed by %s and %s", it.ID, prev, owner)
						}
						seen[it.ID] = owner
						if prev, ok := byReq[it.RequestID]; ok && prev != owner {
							t.Errorf("request %d's items claimed by %s and %s", it.RequestID, prev, owner)
						}
						byReq[it.RequestID] = owner
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(byReq) != 20 {
			t.Errorf("items of %d requests claimed, want 20", len(byReq))
		}
	})
}

// TestOutbox_OwedWithTheApproval: what an approval owes Slack is computed
// from the request as the approval leaves it and recorded in the same
// transaction; a refused approval owes nothing.
func TestOutbox_OwedWithTheApproval(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db, clk := b.open(t)
		req := MustCreate(t, db, newRequest("shop-web", "production"), deploy.StatusPendingApproval)
		note := func(r *deploy.Request) []deploy.Owed {
			return []deploy.Owed{{Kind: deploy.OwedThread, Note: deploy.Note{Kind: deploy.NoteText, Text: fmt.Sprintf("%d approvals, %s", len(r.Approvals), r.Status)}}}
		}
		if _, err := db.AddApproval(ctx, req.ID, deploy.Approval{User: "U_A1", PlanHash: req.PlanHash, Needed: 2, Owed: note}); err != nil {
			t.Fatal(err)
		}
		_, err := db.AddApproval(ctx, req.ID, deploy.Approval{User: "U_A1", PlanHash: req.PlanHash, Needed: 2, Owed: note})
		wantCode(t, err, deploy.ECONFLICT)
		if _, err := db.AddApproval(ctx, req.ID, deploy.Approval{User: "U_A2", PlanHash: req.PlanHash, Needed: 2, Owed: note}); err != nil {
			t.Fatal(err)
		}
		want := []string{"thread:1 approvals, pending_approval", "thread:2 approvals, queued"}
		if got := kinds(mustClaim(t, db, "a", req.ID, clk.Now())); !reflect.DeepEqual(got, want) {
			t.Errorf("owed = %q, want %q", got, want)
		}
	})
}

// TestOutbox_Prune: delivered and given-up items older than the cut are
// deleted; younger ones, and items still owed whatever their age, stay.
func TestOutbox_Prune(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db, clk := b.open(t)
		old := finishWithOwed(t, db, "staging")
		items := mustClaim(t, db, "a", old.ID, clk.Now())
		if err := db.SettleOwed(ctx, items[0].ID, "a", deploy.OwedResult{Delivered: true}); err != nil {
			t.Fatal(err)
		}
		if err := db.SettleOwed(ctx, items[1].ID, "a", deploy.OwedResult{Err: "channel_not_found", GiveUp: true}); err != nil {
			t.Fatal(err)
		}
		// items[2] (the upload) stays owed: its lease runs out, nothing else.
		clk.Advance(48 * time.Hour)
		young := finishWithOwed(t, db, "production")
		for _, it := range mustClaim(t, db, "b", young.ID, clk.Now()) {
			if err := db.SettleOwed(ctx, it.ID, "b", deploy.OwedResult{Delivered: true}); err != nil {
				t.Fatal(err)
			}
		}
		n, err := db.PruneOwed(ctx, clk.Now().Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("pruned %d rows, want the old delivered and given-up ones (2)", n)
		}
		if got := kinds(mustClaim(t, db, "c", 0, clk.Now())); !reflect.DeepEqual(got, []string{"upload:"}) {
			t.Errorf("after pruning, owed = %q, want the old upload still owed", got)
		}
		if n, err := db.PruneOwed(ctx, clk.Now().Add(time.Hour)); err != nil || n != 3 {
			t.Errorf("pruning everything settled: %d rows, %v; want the young release's 3", n, err)
		}
	})
}

// TestOutbox_NotesStoredTypedOldTextDelivered: a thread note is stored as
// a typed note and read back the same; a row written before notes were
// typed (plain text in the body) is still delivered, as its text.
func TestOutbox_NotesStoredTypedOldTextDelivered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db, clk := b.open(t)
		req := MustCreate(t, db, newRequest("shop-web", "staging"), deploy.StatusRunning)
		typed := deploy.Note{Kind: deploy.NoteMilestones, Lines: []deploy.Note{{Kind: deploy.NotePlay, Title: "Roll <out>"}, {Kind: deploy.NoteHostDone, Host: "web1"}}}
		if _, err := db.Transition(ctx, req.ID, deploy.Change{From: deploy.StatusRunning, To: deploy.StatusFailed, Outcome: "failed",
			Owed: []deploy.Owed{{Kind: deploy.OwedThread, Note: typed}, {Kind: deploy.OwedThread, Note: deploy.Note{Kind: deploy.NoteEnded, Status: deploy.StatusFailed, Text: "failed"}}}}); err != nil {
			t.Fatal(err)
		}
		raw := rawSQL(t, db)
		var lastID int64
		if err := raw.QueryRowContext(ctx, `SELECT MAX(id) FROM outbox`).Scan(&lastID); err != nil {
			t.Fatal(err)
		}
		// The body as an older version wrote it.
		if _, err := raw.ExecContext(ctx, fmt.Sprintf(`UPDATE outbox SET body = ':x: failed the old way' WHERE id = %d`, lastID)); err != nil {
			t.Fatal(err)
		}
		items := mustClaim(t, db, "a", req.ID, clk.Now())
		if len(items) != 2 {
			t.Fatalf("claimed %d items, want 2", len(items))
		}
		if !reflect.DeepEqual(items[0].Note, typed) {
			t.Errorf("typed note read back as %+v, want %+v", items[0].Note, typed)
		}
		if want := (deploy.Note{Kind: deploy.NoteText, Text: ":x: failed the old way"}); !reflect.DeepEqual(items[1].Note, want) {
			t.Errorf("old row read as %+v, want %+v", items[1].Note, want)
		}
	})
}
