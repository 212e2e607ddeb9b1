package deploy_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
)

// truncatedHash is a plan digest cut to one hex digit: a collision is a
// matter of a few tries, as a 48-bit one was a matter of seconds.
func truncatedHash(p deploy.Plan) string { return p.Hash()[:1] }

func withTruncatedHash(db *storage.DB, svc *deploy.Service) {
	db.HashPlan, svc.HashPlan = truncatedHash, truncatedHash
}

// TestApprovalBindsWholePlan finds two requests whose plans share a
// (truncated) hash, approves the second, and checks that the second reads
// and launches its own plan, never the first's.
func TestApprovalBindsWholePlan(t *testing.T) {
	h := newHarnessWith(t, withTruncatedHash)
	ctx := context.Background()
	first := h.deploy(alice, "shop-web", "production", "1.4.2")
	var second *deploy.Request
	for i := 1; i <= 200 && second == nil; i++ {
		r := h.deploy(alice, "shop-web", "production", fmt.Sprintf("2.0.0-rc.%d", i))
		if r.PlanHash == first.PlanHash {
			second = r
		}
	}
	if second == nil {
		t.Fatal("no colliding plan in 200 tries")
	}
	if second.Plan.Hash() == first.Plan.Hash() {
		t.Fatal("the two plans are the same")
	}

	got := h.request(second.ID)
	if got.Plan.Version != second.Version || got.Plan.ExtraVars["deploy_version"] != second.Version ||
		!strings.Contains(got.Plan.ArtifactURL, second.Version) {
		t.Fatalf("request #%d (%s) reads plan of version %q, artifact %s", second.ID, second.Version, got.Plan.Version, got.Plan.ArtifactURL)
	}
	if _, err := h.svc.Approve(ctx, second.ID, bob); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(second.ID, deploy.StatusSucceeded)
	launches := h.runner.Launches()
	if len(launches) != 1 {
		t.Fatalf("%d launches, want 1", len(launches))
	}
	sent := launches[0]
	if sent.ID != second.ID || sent.Plan.ExtraVars["deploy_version"] != second.Version || !strings.Contains(sent.Plan.ArtifactURL, second.Version) {
		t.Fatalf("approved #%d (%s); AWX received #%d with version %v, artifact %s",
			second.ID, second.Version, sent.ID, sent.Plan.ExtraVars["deploy_version"], sent.Plan.ArtifactURL)
	}
	if h.request(first.ID).Status != deploy.StatusPendingApproval {
		t.Errorf("#%d, never approved, is %s", first.ID, h.request(first.ID).Status)
	}
}

// TestApprovalBindsWholePlan_LaunchRefusesAnotherPlan changes what the
// database holds between the approval and the launch and checks that the
// launch is refused, nothing reaches AWX, the card says why and the audit
// trail has the refusal.
func TestApprovalBindsWholePlan_LaunchRefusesAnotherPlan(t *testing.T) {
	other := deploy.Plan{Kind: deploy.KindDeploy, App: "shop-web", Env: "production", Version: "6.6.6",
		Hosts: []string{"web-01.example.com"}, Inventory: "deploybot-shop-web-production", JobTemplate: "deploybot-web-deploy"}
	body, err := json.Marshal(other)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, tamper, why string
	}{
		{"plan body swapped", `UPDATE requests SET plan_body = '` + string(body) + `' WHERE id = ?`, "its stored plan hashes to"},
		{"plan and hash swapped", `UPDATE requests SET plan_body = '` + string(body) + `', plan_hash = '` + other.Hash() + `' WHERE id = ?`, "approved plan"},
		{"approval of another plan", `UPDATE approvals SET plan_hash = '` + other.Hash() + `' WHERE request_id = ?`, "approved plan " + deploy.ShortHash(other.Hash())},
		{"made by an older deploybot", `UPDATE requests SET plan_hash = substr(plan_hash, 1, 12) WHERE id = ?`, "made by an older deploybot"},
		{"approval bound to no plan", `UPDATE approvals SET plan_hash = '' WHERE request_id = ?`, "approved plan (none)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			ctx := context.Background()
			if _, err := h.svc.Lock(ctx, alice, "shop-web", "production", "hold"); err != nil {
				t.Fatal(err)
			}
			req := h.deploy(alice, "shop-web", "production", "1.4.2")
			if _, err := h.svc.Approve(ctx, req.ID, bob); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(req.ID, deploy.StatusQueued)

			raw, err := sql.Open("sqlite3", h.path+"?_busy_timeout=5000")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.ExecContext(ctx, tc.tamper, req.ID); err != nil {
				t.Fatal(err)
			}

			if _, err := h.svc.Unlock(ctx, alice, "shop-web", "production"); err != nil {
				t.Fatal(err)
			}
			r := h.waitStatus(req.ID, deploy.StatusFailed)
			if n := len(h.runner.Launches()); n != 0 {
				t.Fatalf("%d launches reached AWX", n)
			}
			if !strings.HasPrefix(r.Outcome, "Launch refused, nothing ran: ") || !strings.Contains(r.Outcome, tc.why) {
				t.Errorf("outcome = %q, want the refusal saying %q", r.Outcome, tc.why)
			}
			h.waitCard(req.ID, deploy.StatusFailed)
			log, err := h.db.AuditLog(ctx, req.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			refused := false
			for _, e := range log {
				refused = refused || e.Action == "launch_refused" && strings.Contains(e.Detail, tc.why)
			}
			if !refused {
				t.Errorf("audit of #%d has no launch_refused entry: %+v", req.ID, log)
			}
		})
	}
}

// TestApprovalBindsWholePlan_ScheduledRun: a schedule approves the full
// hash of its plan (its card shows the short form), and a run that starts
// on the schedule's approval is launched only with the plan the schedule
// approved.
func TestApprovalBindsWholePlan_ScheduledRun(t *testing.T) {
	h := newSchedHarness(t)
	ctx := context.Background()
	s := h.schedule(deploy.ScheduleInput{User: alice, App: "shop-web", Env: "production", Version: "1.4.2", Cron: "0 6 * * *"})
	if len(s.PlanHash) != 64 {
		t.Fatalf("schedule plan hash %q: want the full SHA-256", s.PlanHash)
	}
	card, _ := h.last(s.ID, deploy.AnnounceApproval)
	if !strings.Contains(card.Text, "`"+deploy.ShortHash(s.PlanHash)+"`") || strings.Contains(card.Text, s.PlanHash) {
		t.Errorf("approval card %q: want the short hash shown", card.Text)
	}
	if _, err := h.svc.ApproveSchedule(ctx, s.ID, carol); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Lock(ctx, alice, "shop-web", "production", "hold"); err != nil {
		t.Fatal(err)
	}
	req := h.trigger(s.ID, utc("2026-11-25T05:00:00Z"))
	if req.Status != deploy.StatusQueued {
		t.Fatalf("run is %s, want queued behind the lock", req.Status)
	}

	raw, err := sql.Open("sqlite3", h.path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// Same first 12 digits, another plan: only a full comparison sees it.
	other := deploy.ShortHash(s.PlanHash) + strings.Repeat("0", 64-deploy.ShortHashLen)
	if _, err := raw.ExecContext(ctx, `UPDATE schedules SET plan_hash = ? WHERE id = ?`, other, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Unlock(ctx, alice, "shop-web", "production"); err != nil {
		t.Fatal(err)
	}
	r := h.waitStatus(req.ID, deploy.StatusFailed)
	if n := len(h.runner.Launches()); n != 0 || !strings.Contains(r.Outcome, "schedule S1 approved plan") {
		t.Fatalf("%d launch(es), outcome %q; want the launch refused", n, r.Outcome)
	}
}
