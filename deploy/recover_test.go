package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

// TestRestart stops the Service at each state and starts a new one over the
// same SQLite file, as a kill -9 and a restart would.
func TestRestart(t *testing.T) {
	ctx := context.Background()

	t.Run("PendingStillApprovable", func(t *testing.T) {
		h := newHarness(t)
		req := h.deploy(alice, "shop-web", "production", "1.4.2")
		before := len(h.notifier.Cards(req.ID))
		h.restart()
		cards := h.notifier.Cards(req.ID)
		if len(cards) != before+1 || cards[len(cards)-1].Req.Message != req.Message || cards[len(cards)-1].Info.ApprovalsMissing != 1 {
			t.Errorf("the pending card was not shown again in place after the restart: %d → %d cards", before, len(cards))
		}
		if _, err := h.svc.Approve(ctx, req.ID, bob); err != nil {
			t.Fatal(err)
		}
		h.waitStatus(req.ID, deploy.StatusSucceeded)
		if n := h.runner.LaunchCount(); n != 1 {
			t.Errorf("launches = %d", n)
		}
	})

	t.Run("QueuedStartsAfterRestart", func(t *testing.T) {
		h := newHarness(t)
		if _, err := h.svc.Lock(ctx, dev, "shop-web", "staging", "wait"); err != nil {
			t.Fatal(err)
		}
		req := h.deploy(dev, "shop-web", "staging", "1.4.2")
		h.restart()
		if _, err := h.svc.Unlock(ctx, dev, "shop-web", "staging"); err != nil {
			t.Fatal(err)
		}
		h.waitStatus(req.ID, deploy.StatusSucceeded)
	})

	t.Run("RunningFollowedToTheEnd", func(t *testing.T) {
		h := newHarness(t)
		h.runner.HoldJobs = true
		req := h.deploy(dev, "shop-web", "staging", "1.4.2")
		job := h.jobOf(req.ID)
		j, _ := h.runner.Job(req.ID)
		last := fmt.Sprint(len(j.Updates) - 1)
		// Wait until the follower has stored its cursor up to the held end.
		waitFor(t, func() bool { return h.request(req.ID).Cursor == last }, "cursor %s", last)
		before := h.notifier.ThreadText(req.ID)
		h.restart()
		h.runner.Release(job)
		r := h.waitStatus(req.ID, deploy.StatusSucceeded)
		if n := h.runner.LaunchCount(); n != 1 {
			t.Errorf("launches = %d, want 1", n)
		}
		h.waitThread(req.ID, "Deployed 1.4.2") // the last milestones go before it
		thread := h.notifier.ThreadText(req.ID)
		if !strings.HasPrefix(thread, before) {
			t.Errorf("thread rewritten after restart")
		}
		if n := strings.Count(thread, "stg-web-01.example.com done"); n != 1 {
			t.Errorf("milestone repeated after restart (%d times):\n%s", n, thread)
		}
		for h2, hp := range r.Progress.Hosts {
			if !hp.Done {
				t.Errorf("host %s not done in final progress", h2)
			}
		}
		h.waitCard(req.ID, deploy.StatusSucceeded)
	})

	t.Run("LaunchingFoundInAWX", func(t *testing.T) {
		h := newHarness(t)
		// The POST created the job but the answer was lost.
		h.runner.FailNextLaunch(fmt.Errorf("post job: %w", deploy.ErrOutcomeUnknown), true)
		req := h.deploy(dev, "shop-web", "staging", "1.4.2")
		if req.Status != deploy.StatusLaunching {
			t.Fatalf("status = %s, want launching", req.Status)
		}
		h.restart()
		r := h.waitStatus(req.ID, deploy.StatusSucceeded)
		if n := h.runner.LaunchCount(); n != 1 {
			t.Errorf("launches = %d, want 1 (no second launch)", n)
		}
		j, _ := h.runner.Job(req.ID)
		if r.Job != j.Ref {
			t.Errorf("stored job %+v, AWX job %+v", r.Job, j.Ref)
		}
		h.waitThread(req.ID, fmt.Sprintf("AWX has job %d for this request", j.Ref.ID))
	})

	t.Run("LaunchingNotFoundFails", func(t *testing.T) {
		h := newHarness(t)
		h.runner.FailNextLaunch(fmt.Errorf("post job: %w", deploy.ErrOutcomeUnknown), false)
		req := h.deploy(dev, "shop-web", "staging", "1.4.2")
		next := h.deploy(dev, "shop-web", "staging", "1.4.3") // waits behind it
		if next.Status != deploy.StatusQueued {
			t.Fatalf("second request = %s, want queued", next.Status)
		}
		h.restart()
		if got := h.request(req.ID).Status; got != deploy.StatusLaunching {
			t.Fatalf("within the grace period: %s, want launching", got)
		}
		h.clock.Advance(2 * time.Minute)
		h.tick()
		r := h.waitStatus(req.ID, deploy.StatusFailed)
		if !strings.Contains(r.Outcome, "Launch not confirmed by AWX") || !strings.Contains(r.Outcome, "nothing ran") {
			t.Errorf("outcome = %q", r.Outcome)
		}
		h.waitStatus(next.ID, deploy.StatusSucceeded)
		launched := h.runner.Launches()
		if len(launched) != 2 || launched[0].ID != req.ID || launched[1].ID != next.ID {
			t.Errorf("launches = %d (the unconfirmed one must not be launched again)", len(launched))
		}
		if h.runner.FindCount() == 0 {
			t.Error("AWX was not asked before deciding")
		}
	})

	t.Run("DefiniteLaunchErrorFails", func(t *testing.T) {
		h := newHarness(t)
		h.runner.FailNextLaunch(deploy.Errorf(deploy.EINVALID, "Job template deploybot-web-deploy does not prompt for inventory."), false)
		req := h.deploy(dev, "shop-web", "staging", "1.4.2")
		r := h.waitStatus(req.ID, deploy.StatusFailed)
		if !strings.Contains(r.Outcome, "does not prompt for inventory") {
			t.Errorf("outcome = %q", r.Outcome)
		}
		h.waitThread(req.ID, "AWX did not start the job")
		h.tick()
		if n := h.runner.LaunchCount(); n != 1 {
			t.Errorf("launches = %d, want 1", n)
		}
	})
}

func TestRunRefusesSecondRun(t *testing.T) {
	h := newHarness(t)
	err := h.svc.Run(context.Background())
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("second Run = %v, want an error", err)
	}
}
