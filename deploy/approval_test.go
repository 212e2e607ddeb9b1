package deploy_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
)

func TestApproval(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	req := h.deploy(alice, "shop-web", "production", "1.4.2")
	if req.Status != deploy.StatusPendingApproval || !req.ExpiresAt.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("request = %s, expires %v", req.Status, req.ExpiresAt)
	}
	card, _ := h.notifier.LastCard(req.ID)
	if card.Info.ApprovalsMissing != 1 || card.Info.SelfApproval || len(card.Info.Approvers) != 2 {
		t.Errorf("approval card info = %+v", card.Info)
	}

	refused := []struct {
		name, user, code string
	}{
		{"self approval", alice, deploy.EFORBIDDEN},
		{"not an approver", eve, deploy.EFORBIDDEN},
		{"deployer but not approver", dev, deploy.EFORBIDDEN},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.svc.Approve(ctx, req.ID, tt.user)
			wantCode(t, err, tt.code)
		})
	}
	if r := h.request(req.ID); r.Status != deploy.StatusPendingApproval || len(r.Approvals) != 0 {
		t.Fatalf("refused clicks changed the request: %s %+v", r.Status, r.Approvals)
	}
	if h.runner.LaunchCount() != 0 {
		t.Fatal("launched before approval")
	}

	// carol approves through @shop-leads; her double click (two clicks at
	// once) applies once.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = h.svc.Approve(ctx, req.ID, carol)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if c := deploy.ErrorCode(err); c != deploy.ECONFLICT {
			t.Errorf("second click: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d clicks applied, want 1 (%v)", ok, errs)
	}
	r := h.waitStatus(req.ID, deploy.StatusSucceeded)
	if len(r.Approvals) != 1 || r.Approvals[0].User != carol {
		t.Errorf("approvals = %+v", r.Approvals)
	}
	if n := h.metrics.ApprovedCount(); n != 1 {
		t.Errorf("approved metric = %d, want 1", n)
	}
	// A later click on a finished request changes nothing.
	_, err := h.svc.Approve(ctx, req.ID, bob)
	wantCode(t, err, deploy.ECONFLICT)
	if n := h.runner.LaunchCount(); n != 1 {
		t.Errorf("launches = %d, want 1", n)
	}
	h.waitThread(req.ID, "Approved by <@"+carol+">")
	if n := strings.Count(h.notifier.ThreadText(req.ID), "Approved by"); n != 1 {
		t.Errorf("%d approval notes in the thread, want 1", n)
	}
}

func TestTwoApprovalsWithGroups(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.dir.SetGroups(dan) // dan is not in @shop-leads yet
	req := h.deploy(alice, "shop-web", "prod-eu", "1.4.2")

	_, err := h.svc.Approve(ctx, req.ID, dan)
	wantCode(t, err, deploy.EFORBIDDEN)

	r, err := h.svc.Approve(ctx, req.ID, carol)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != deploy.StatusPendingApproval {
		t.Fatalf("after one of two approvals: %s", r.Status)
	}
	if card, _ := h.notifier.LastCard(req.ID); card.Info.ApprovalsMissing != 1 {
		t.Errorf("card says %d approvals missing, want 1", card.Info.ApprovalsMissing)
	}
	_, err = h.svc.Approve(ctx, req.ID, carol)
	wantCode(t, err, deploy.ECONFLICT)
	if h.request(req.ID).Status != deploy.StatusPendingApproval {
		t.Fatal("the same approver counted twice")
	}

	// Groups are resolved at click time: dan joins @shop-leads now.
	h.dir.SetGroups(dan, "@shop-leads")
	if _, err := h.svc.Approve(ctx, req.ID, dan); err != nil {
		t.Fatal(err)
	}
	r = h.waitStatus(req.ID, deploy.StatusSucceeded)
	if len(r.Approvals) != 2 {
		t.Errorf("approvals = %+v", r.Approvals)
	}
}

func TestReject(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tests := []struct {
		name, user, reason, code string
	}{
		{"stranger", eve, "no", deploy.EFORBIDDEN},
		{"approver", bob, "freeze until Monday", ""},
		{"requester withdraws", alice, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := h.deploy(alice, "shop-web", "production", "1.4.2")
			r, err := h.svc.Reject(ctx, req.ID, tt.user, tt.reason)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				if h.request(req.ID).Status != deploy.StatusPendingApproval {
					t.Error("a refused reject changed the request")
				}
				return
			}
			if r.Status != deploy.StatusRejected || !strings.Contains(r.Outcome, tt.reason) || !strings.Contains(r.Outcome, tt.user) {
				t.Errorf("rejected request = %s %q", r.Status, r.Outcome)
			}
			if card, _ := h.notifier.LastCard(req.ID); card.Req.Status != deploy.StatusRejected {
				t.Errorf("card = %s", card.Req.Status)
			}
			_, err = h.svc.Approve(ctx, req.ID, bob)
			wantCode(t, err, deploy.ECONFLICT)
		})
	}
	if n := h.runner.LaunchCount(); n != 0 {
		t.Errorf("launches = %d, want 0", n)
	}
}

func TestExpiryWithReminder(t *testing.T) {
	h := newHarness(t)
	req := h.deploy(alice, "shop-web", "production", "1.4.2") // expires after 30m; reminder 5m before
	steps := []struct {
		at        time.Duration
		reminders int
		status    deploy.Status
	}{
		{10 * time.Minute, 0, deploy.StatusPendingApproval},
		{24*time.Minute + 59*time.Second, 0, deploy.StatusPendingApproval},
		{25 * time.Minute, 1, deploy.StatusPendingApproval},
		{27 * time.Minute, 1, deploy.StatusPendingApproval},
		{30 * time.Minute, 1, deploy.StatusExpired},
		{40 * time.Minute, 1, deploy.StatusExpired},
	}
	for _, st := range steps {
		h.clock.Set(t0.Add(st.at))
		h.tick()
		if st.at == 27*time.Minute {
			h.restart() // the reminder is remembered across a restart
		}
		thread := h.notifier.ThreadText(req.ID)
		if n := strings.Count(thread, ":alarm_clock:"); n != st.reminders {
			t.Errorf("at +%v: %d reminders, want %d:\n%s", st.at, n, st.reminders, thread)
		}
		if got := h.request(req.ID).Status; got != st.status {
			t.Errorf("at +%v: status %s, want %s", st.at, got, st.status)
		}
	}
	card, _ := h.notifier.LastCard(req.ID)
	// The outcome says when it expired; the card does not say it twice.
	if card.Req.Status != deploy.StatusExpired || !strings.Contains(card.Req.Outcome, "Expired at 09:30") || card.Info.Note != "" {
		t.Errorf("final card = %s, outcome %q, note %q", card.Req.Status, card.Req.Outcome, card.Info.Note)
	}
	if !strings.Contains(h.notifier.ThreadText(req.ID), "Expired at 09:30 UTC without approval") {
		t.Errorf("thread lacks the expiry note:\n%s", h.notifier.ThreadText(req.ID))
	}
	_, err := h.svc.Approve(context.Background(), req.ID, bob)
	wantCode(t, err, deploy.ECONFLICT)
	if h.runner.LaunchCount() != 0 {
		t.Error("an expired request was launched")
	}
}

// TestApprovalNoLongerHolds: an approval counts only while its approver
// may still approve. An approver who left the approvers' group, or was
// removed from the approvers by a reloaded configuration, no longer brings
// the request to its quorum; the approvals still needed are asked for.
func TestApprovalNoLongerHolds(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	req := h.deploy(alice, "shop-web", "prod-eu", "1.4.2")
	if _, err := h.svc.Approve(ctx, req.ID, carol); err != nil {
		t.Fatal(err)
	}
	h.dir.SetGroups(carol) // carol leaves @shop-leads
	r, err := h.svc.Approve(ctx, req.ID, dan)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != deploy.StatusPendingApproval {
		t.Fatalf("queued on an approval that no longer holds: %s", r.Status)
	}
	if card, _ := h.notifier.LastCard(req.ID); card.Info.ApprovalsMissing != 1 {
		t.Errorf("card says %d approvals missing, want 1", card.Info.ApprovalsMissing)
	}
	h.tick()
	if r := h.request(req.ID); r.Status != deploy.StatusPendingApproval || h.runner.LaunchCount() != 0 {
		t.Fatalf("the periodic pass queued it: %s, %d launches", r.Status, h.runner.LaunchCount())
	}

	// A reload makes bob an approver of prod-eu: his approval completes it
	// (dan's and bob's; carol's still does not count).
	cfg, err := config.Parse("test.yaml", []byte(strings.Replace(testConfig, `approvers: ["@shop-leads"]
          min_approvals: 2`, `approvers: ["@shop-leads", U02BOB0000]
          min_approvals: 2`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	h.svc.SetCatalog(cfg.Catalog())
	if _, err := h.svc.Approve(ctx, req.ID, bob); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(req.ID, deploy.StatusSucceeded)
}
