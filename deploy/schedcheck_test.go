package deploy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

var errSlackDown = errors.New("slack: usergroups.list: ratelimited")

// requests returns every stored request.
func (h *schedHarness) requests() []*deploy.Request {
	h.t.Helper()
	reqs, err := h.db.Requests(context.Background(), deploy.RequestFilter{})
	if err != nil {
		h.t.Fatal(err)
	}
	return reqs
}

// audited reports whether schedule id's audit trail has action with
// detail containing text.
func (h *schedHarness) audited(id int64, action, text string) bool {
	h.t.Helper()
	log, err := h.db.AuditLog(context.Background(), 0, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, e := range log {
		if e.ScheduleID == id && e.Action == action && strings.Contains(e.Detail, text) {
			return true
		}
	}
	return false
}

// TestChecksFailClosed_ScheduledRunUnverified: when the Slack user group
// lookup fails, the deployer re-check of a scheduled run cannot be made and
// the run does not start; the announce channel is told why; a later tick
// within the grace period starts it once the lookup works, and past the
// grace period it is recorded as skipped. A restart keeps the retry.
func TestChecksFailClosed_ScheduledRunUnverified(t *testing.T) {
	at := utc("2026-11-25T05:00:00Z") // 06:00 in Berlin
	for _, tc := range []struct {
		name string
		// recover runs after the refused start, with the lookup failing.
		recover func(h *schedHarness)
		// wait is how long after the run the lookup works again.
		wait      time.Duration
		wantStart bool
	}{
		{name: "retried within grace", recover: func(*schedHarness) {}, wait: 3 * time.Minute, wantStart: true},
		{name: "kept across a restart", recover: func(h *schedHarness) { h.restartSched() }, wait: 3 * time.Minute, wantStart: true},
		{name: "skipped after grace", recover: func(*schedHarness) {}, wait: 16 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newSchedHarness(t)
			ctx := context.Background()
			s := h.schedule(deploy.ScheduleInput{User: dev, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "0 6 * * *"})
			h.dir.Err = errSlackDown
			h.clock.Set(at)
			if r, err := h.svc.TriggerSchedule(ctx, s.ID, at); r != nil || err == nil {
				t.Fatalf("TriggerSchedule with the lookup failing = %+v, %v; want no request and an error", r, err)
			}
			if n := len(h.requests()); n != 0 {
				t.Fatalf("%d request(s) made while the deployer could not be checked", n)
			}
			a, ok := h.last(s.ID, deploy.AnnounceNotStarted)
			if !ok || a.Channel != announceChan || !strings.Contains(a.Text, "could not check in Slack that <@"+dev+">") ||
				!strings.Contains(a.Text, "try again until") {
				t.Fatalf("announcement = %+v, want why the run did not start and until when it is retried", a)
			}
			if !h.audited(s.ID, "schedule_run_deferred", "") {
				t.Error("no schedule_run_deferred audit entry")
			}

			tc.recover(h)
			h.clock.Set(at.Add(time.Minute))
			h.svc.ScheduleTick(ctx)
			if n := len(h.requests()); n != 0 {
				t.Fatalf("a retry started the run while the lookup still fails (%d request(s))", n)
			}
			if n := h.count(s.ID, deploy.AnnounceNotStarted); n != 1 {
				t.Errorf("%d not-started announcements, want 1 (a retry is not announced again)", n)
			}
			// Retries are spaced out: a tick 10 s later does not ask Slack again.
			calls := h.dir.Calls()
			h.clock.Set(at.Add(time.Minute + 10*time.Second))
			h.svc.ScheduleTick(ctx)
			if n := h.dir.Calls(); n != calls {
				t.Errorf("a tick 10 s after a retry asked Slack again (%d calls, was %d)", n, calls)
			}

			h.dir.Err = nil
			h.clock.Set(at.Add(tc.wait))
			h.svc.ScheduleTick(ctx)
			h.svc.ScheduleTick(ctx)
			reqs := h.requests()
			if !tc.wantStart {
				if len(reqs) != 0 {
					t.Fatalf("the run started %s after its time, past the grace period", tc.wait)
				}
				a, _ := h.last(s.ID, deploy.AnnounceNotStarted)
				if !strings.Contains(a.Text, "was skipped") || !h.audited(s.ID, "schedule_run_skipped", "could not be checked") {
					t.Fatalf("last announcement %q; want the run recorded and announced as skipped", a.Text)
				}
				return
			}
			if len(reqs) != 1 || reqs[0].ScheduleID != s.ID {
				t.Fatalf("requests after the lookup works again = %+v, want one run of schedule %d", reqs, s.ID)
			}
			h.waitStatus(reqs[0].ID, deploy.StatusSucceeded)
			if _, ok := h.last(s.ID, deploy.AnnounceStarted); !ok {
				t.Error("the retried run was not announced as started")
			}
		})
	}
}

// TestChecksFailClosed_ScheduleApprovalReevaluated: before each run the
// schedule's approval is checked against the current policy; when it no
// longer holds, the run waits for approval on its card.
func TestChecksFailClosed_ScheduleApprovalReevaluated(t *testing.T) {
	at := utc("2026-11-25T05:00:00Z")
	for _, tc := range []struct {
		name   string
		change func(h *schedHarness)
		// why is what the card's thread and the announcement say; "" when
		// the run needs no new approval.
		why string
	}{
		{name: "policy unchanged", change: func(*schedHarness) {}},
		{name: "approver lost the right", change: func(h *schedHarness) { h.dir.SetGroups(carol) },
			why: "<@" + carol + "> is no longer an approver"},
		{name: "min_approvals rose", change: func(h *schedHarness) {
			h.cfg.Apps["shop-web"].Environments["production"].Approval.MinApprovals = 2
		}, why: "it needs 2 approvals and 1 of its approvals still count"},
		{name: "approver removed from the config", change: func(h *schedHarness) {
			h.cfg.Apps["shop-web"].Environments["production"].Approval.Approvers = []string{bob}
		}, why: "<@" + carol + "> is no longer an approver"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newSchedHarness(t)
			ctx := context.Background()
			s := h.schedule(deploy.ScheduleInput{User: alice, App: "shop-web", Env: "production", Version: "1.4.2", Cron: "0 6 * * *"})
			if s, err := h.svc.ApproveSchedule(ctx, s.ID, carol); err != nil || s.Status != deploy.ScheduleActive {
				t.Fatalf("approve = %+v, %v", s, err)
			}
			tc.change(h)
			req := h.trigger(s.ID, at)
			if tc.why == "" {
				h.waitStatus(req.ID, deploy.StatusSucceeded)
				return
			}
			if req.Status != deploy.StatusPendingApproval {
				t.Fatalf("run is %s, want pending_approval: the schedule's approval no longer holds", req.Status)
			}
			h.waitCard(req.ID, deploy.StatusPendingApproval)
			h.waitThread(req.ID, "needs approval because its approval no longer holds")
			h.waitThread(req.ID, tc.why)
			if st, _ := h.last(s.ID, deploy.AnnounceStarted); !strings.Contains(st.Text, tc.why) {
				t.Errorf("started announcement = %q, want it to say %q", st.Text, tc.why)
			}
			if n := len(h.runner.Launches()); n != 0 {
				t.Fatalf("%d launch(es) before a new approval", n)
			}
		})
	}

	t.Run("approver lookup fails", func(t *testing.T) {
		h := newSchedHarness(t)
		ctx := context.Background()
		s := h.schedule(deploy.ScheduleInput{User: alice, App: "shop-web", Env: "production", Version: "1.4.2", Cron: "0 6 * * *"})
		if _, err := h.svc.ApproveSchedule(ctx, s.ID, carol); err != nil {
			t.Fatal(err)
		}
		h.dir.Err = errSlackDown
		h.clock.Set(at)
		if r, err := h.svc.TriggerSchedule(ctx, s.ID, at); r != nil || err == nil {
			t.Fatalf("TriggerSchedule = %+v, %v; want no request and an error", r, err)
		}
		if n := len(h.requests()); n != 0 {
			t.Fatalf("%d request(s) made while the approval could not be checked", n)
		}
		if a, _ := h.last(s.ID, deploy.AnnounceNotStarted); !strings.Contains(a.Text, "<@"+carol+">, who approved the schedule") {
			t.Errorf("announcement = %q", a.Text)
		}
	})
}
