package deploy_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/deploy/deploytest"
	"github.com/deploybot/deploybot/storage"
)

// diesBeforeSlack is the store of a process that dies right after it
// commits a state change, before it tells Slack: nothing owed is ever
// claimed for delivery.
type diesBeforeSlack struct {
	deploy.Store
}

func (diesBeforeSlack) ClaimOwed(context.Context, string, int64, time.Time, time.Duration, int) ([]deploy.OwedItem, error) {
	return nil, errors.New("the process died")
}

// refuseThreads is a notifier whose thread posts containing marker fail,
// as Slack failing again and again would.
type refuseThreads struct {
	deploy.Notifier
	marker string
}

func (n refuseThreads) Thread(ctx context.Context, req *deploy.Request, note deploy.Note) error {
	if strings.Contains(bot.RenderNote(note), n.marker) {
		return errors.New("chat.postMessage: internal_error")
	}
	return n.Notifier.Thread(ctx, req, note)
}

// TestOutbox_FinalCardAfterCrash: the process dies after the final status
// is saved and before Slack is told. The next process shows the final
// card and posts the outcome, the failure digest and the output, each
// exactly once.
func TestOutbox_FinalCardAfterCrash(t *testing.T) {
	h := newHarness(t)
	h.runner.Script = deploytest.FailScript("stg-web-02.example.com", "Wait for the health check", "Status code was 503 and not [200]")
	h.stop()
	h.wrapStore = func(s deploy.Store) deploy.Store { return diesBeforeSlack{s} }
	h.start()
	req := h.deploy(dev, "shop-web", "staging", "1.4.3")
	h.waitStatus(req.ID, deploy.StatusFailed)
	h.tick()
	if c, _ := h.notifier.LastCard(req.ID); c.Req.Status == deploy.StatusFailed {
		t.Fatal("the dead process showed the final card")
	}
	if th := h.notifier.ThreadText(req.ID); strings.Contains(th, "Failure digest") || len(h.notifier.Uploads(req.ID)) > 0 {
		t.Fatalf("the dead process told Slack the end:\n%s", th)
	}

	h.stop()
	h.wrapStore = nil
	h.start() // its first pass delivers what is owed
	h.tick()
	h.restart() // and nothing is delivered twice by the next one
	h.tick()
	final := 0
	for _, c := range h.notifier.Cards(req.ID) {
		if c.Req.Status == deploy.StatusFailed {
			final++
		}
	}
	if final != 1 {
		t.Errorf("the final card was shown %d times, want once", final)
	}
	thread := h.notifier.ThreadText(req.ID)
	for _, want := range []string{":x: stg-web-02.example.com failed at task", ":x: Failed on stg-web-02", "Failure digest for #", "• Task: Wait for the health check"} {
		if n := strings.Count(thread, want); n != 1 {
			t.Errorf("the thread has %q %d times, want once:\n%s", want, n, thread)
		}
	}
	if n := len(h.notifier.Uploads(req.ID)); n != 1 {
		t.Errorf("the output was uploaded %d times, want once", n)
	}
}

// TestOutbox_FailingItemGivenUp: a note Slack keeps refusing is retried
// with a growing wait, does not hold back other requests' cards and notes,
// and is given up after OwedAttempts attempts with an error in the log;
// the rest of its request's debt is then paid.
func TestOutbox_FailingItemGivenUp(t *testing.T) {
	h := newHarnessWith(t, func(_ *storage.DB, svc *deploy.Service) {
		svc.OwedAttempts = 3
		svc.OwedRetry = time.Second
	})
	h.runner.Script = deploytest.FailScript("stg-web-02.example.com", "Wait for the health check", "Status code was 503 and not [200]")
	h.stop()
	h.wrapNotifier = func(n deploy.Notifier) deploy.Notifier { return refuseThreads{n, ":x: Failed on"} }
	h.start()
	a := h.deploy(dev, "shop-web", "staging", "1.4.3")
	h.waitStatus(a.ID, deploy.StatusFailed)
	h.waitCard(a.ID, deploy.StatusFailed) // the card goes before the refused note
	b := h.deploy(plat, "cache-warmer", "production", "7")
	h.waitStatus(b.ID, deploy.StatusSucceeded)
	h.waitCard(b.ID, deploy.StatusSucceeded)
	waitFor(t, func() bool { return len(h.notifier.Uploads(b.ID)) == 1 }, "the output of #%d", b.ID)
	if th := h.notifier.ThreadText(a.ID); strings.Contains(th, "Failure digest") || len(h.notifier.Uploads(a.ID)) > 0 {
		t.Fatalf("#%d's digest went before its refused outcome note:\n%s", a.ID, th)
	}
	for range 10 {
		if strings.Contains(h.logs.String(), "gave up delivering to Slack") {
			break
		}
		h.clock.Advance(time.Minute)
		h.tick()
	}
	logs := h.logs.String()
	if n := strings.Count(logs, `"message":"deliver to Slack"`); n != 2 {
		t.Errorf("%d failed deliveries logged before giving up, want 2", n)
	}
	var gaveUp string
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, "gave up delivering to Slack") {
			gaveUp = line
		}
	}
	for _, want := range []string{`"level":"error"`, `"kind":"thread"`, `"attempt":3`, `"error":"chat.postMessage: internal_error"`} {
		if !strings.Contains(gaveUp, want) {
			t.Errorf("the give-up line lacks %s: %s", want, gaveUp)
		}
	}
	h.waitThread(a.ID, "Failure digest")
	waitFor(t, func() bool { return len(h.notifier.Uploads(a.ID)) == 1 }, "the output of #%d", a.ID)
}

// TestOutbox_ApprovalNoteAfterCrash: the process dies right after it
// records an approval; the next process posts the approval note in the
// thread, once, and the request runs once.
func TestOutbox_ApprovalNoteAfterCrash(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	req := h.deploy(alice, "shop-web", "production", "1.4.2")
	h.stop()
	h.wrapStore = func(s deploy.Store) deploy.Store { return diesBeforeSlack{s} }
	h.start()
	if _, err := h.svc.Approve(ctx, req.ID, bob); err != nil {
		t.Fatal(err)
	}
	note := ":heavy_check_mark: Approved by <@" + bob + ">"
	if th := h.notifier.ThreadText(req.ID); strings.Contains(th, note) {
		t.Fatalf("the dead process posted the note:\n%s", th)
	}
	h.waitStatus(req.ID, deploy.StatusSucceeded)
	h.stop()
	h.wrapStore = nil
	h.start()
	h.restart()
	if n := strings.Count(h.notifier.ThreadText(req.ID), note); n != 1 {
		t.Errorf("the approval note was posted %d times, want once:\n%s", n, h.notifier.ThreadText(req.ID))
	}
	h.waitCard(req.ID, deploy.StatusSucceeded)
	if n := h.runner.LaunchCount(); n != 1 {
		t.Errorf("launches = %d, want 1", n)
	}
}

// recordsPrunes is a store that records the cuts PruneOwed was asked for.
type recordsPrunes struct {
	deploy.Store
	cuts *[]time.Time
}

func (s recordsPrunes) PruneOwed(ctx context.Context, before time.Time) (int64, error) {
	*s.cuts = append(*s.cuts, before)
	return s.Store.PruneOwed(ctx, before)
}

// TestOutbox_Pruned: the periodic pass forgets deliveries settled more
// than OwedKeep ago, at most once an hour.
func TestOutbox_Pruned(t *testing.T) {
	var cuts []time.Time
	h := newHarnessWith(t, func(_ *storage.DB, svc *deploy.Service) { svc.OwedKeep = 24 * time.Hour })
	h.wrapStore = func(s deploy.Store) deploy.Store { return recordsPrunes{s, &cuts} }
	h.restart()
	req := h.deploy(alice, "shop-web", "staging", "1.4.2")
	h.waitStatus(req.ID, deploy.StatusSucceeded)
	start := len(cuts) // the start's pass
	h.tick()
	h.clock.Advance(30 * time.Minute)
	h.tick()
	if n := len(cuts) - start; n != 0 {
		t.Errorf("pruned %d times within the hour after the start", n)
	}
	h.clock.Advance(31 * time.Minute)
	h.tick()
	if len(cuts) != start+1 || !cuts[len(cuts)-1].Equal(h.clock.Now().Add(-24*time.Hour)) {
		t.Fatalf("cuts = %v, want one more at now-24h (%v)", cuts, h.clock.Now().Add(-24*time.Hour))
	}
}

// TestOutbox_UpgradeDeliversOldText: thread posts owed by an older
// deploybot, stored as plain text, are delivered as they were after an
// upgrade; the ones this version owes are stored as typed notes.
func TestOutbox_UpgradeDeliversOldText(t *testing.T) {
	h := newHarness(t)
	h.runner.Script = deploytest.FailScript("stg-web-02.example.com", "Wait for the health check", "Status code was 503 and not [200]")
	h.stop()
	h.wrapStore = func(s deploy.Store) deploy.Store { return diesBeforeSlack{s} }
	h.start()
	req := h.deploy(dev, "shop-web", "staging", "1.4.3")
	h.waitStatus(req.ID, deploy.StatusFailed)
	h.stop()

	raw, err := sql.Open("sqlite3", h.path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var typed, all int
	if err := raw.QueryRow(`SELECT COUNT(*), COALESCE(SUM(CASE WHEN body LIKE 'note/1 {%' THEN 1 ELSE 0 END), 0)
		FROM outbox WHERE request_id = ? AND kind = 'thread'`, req.ID).Scan(&all, &typed); err != nil {
		t.Fatal(err)
	}
	if all == 0 || typed != all {
		t.Fatalf("%d of %d owed thread posts stored as typed notes, want all", typed, all)
	}
	// What an older version stored: the text itself.
	if _, err := raw.Exec(`UPDATE outbox SET body = 'older text ' || id WHERE request_id = ? AND kind = 'thread'`, req.ID); err != nil {
		t.Fatal(err)
	}

	h.wrapStore = nil
	h.start()
	h.tick()
	thread := h.notifier.ThreadText(req.ID)
	if n := strings.Count(thread, "older text "); n != all {
		t.Errorf("the thread has %d of the %d older texts:\n%s", n, all, thread)
	}
}
