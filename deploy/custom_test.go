package deploy_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deploy"
)

func TestCustomApps(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()

	t.Run("PrePostThroughTemplate", func(t *testing.T) {
		req := h.deploy(plat, "batch-api", "production", "2.0.1")
		if req.Status != deploy.StatusPendingApproval {
			t.Fatalf("status = %s", req.Status)
		}
		if _, err := h.svc.Approve(ctx, req.ID, plead); err != nil {
			t.Fatal(err)
		}
		h.waitStatus(req.ID, deploy.StatusSucceeded)
		l := h.runner.Launches()[0]
		p := l.Plan
		if p.AdHoc || p.JobTemplate != "deploybot-custom-deploy" || p.Inventory != "deploybot-batch-api-production" {
			t.Errorf("plan = %+v", p)
		}
		want := map[string]any{
			"pre_commands":   []string{"curl -fsS http://localhost:8080/healthcheck/l4out"},
			"deploy_command": "/opt/batch-api/bin/deploy.sh '2.0.1'",
			"post_commands":  []string{"curl -fsS http://localhost:8080/healthcheck --data v='2.0.1'"},
			"deploy_version": "2.0.1",
		}
		for k, v := range want {
			if got := mustJSON(t, p.ExtraVars[k]); got != mustJSON(t, v) {
				t.Errorf("%s = %s, want %s", k, got, mustJSON(t, v))
			}
		}
		if len(h.runner.CheckedBuilds()) != 0 {
			t.Error("a custom app has no artifact to check")
		}
	})

	t.Run("SingleCommandAdHoc", func(t *testing.T) {
		req := h.deploy(plat, "cache-warmer", "production", "2.0.1-rc.1")
		r := h.waitStatus(req.ID, deploy.StatusSucceeded)
		p := r.Plan
		if !p.AdHoc || p.JobTemplate != "" || p.ModuleArgs != "/usr/local/bin/warm-cache --release '2.0.1-rc.1'" {
			t.Errorf("plan = %+v", p)
		}
		j, ok := h.runner.Job(req.ID)
		if !ok || j.Ref.Kind != deploy.AdHocCommand || r.Job != j.Ref {
			t.Errorf("job = %+v (stored %+v)", j.Ref, r.Job)
		}
	})
}

func TestRollback(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	first := h.deploy(dev, "shop-web", "staging", "1.4.1")
	h.waitStatus(first.ID, deploy.StatusSucceeded)
	second := h.deploy(dev, "shop-web", "staging", "1.4.2")
	h.waitStatus(second.ID, deploy.StatusSucceeded)

	tests := []struct {
		name, env, to, restores, version string
		status                           deploy.Status
	}{
		{"the release before", "staging", "", "1.4.1 (#1) on every host, the release before 1.4.2 (#2)", "1.4.1", deploy.StatusSucceeded},
		{"undo the latest release", "staging", "2", "1.4.1 (#1), what was live before 1.4.2 (#2)", "", deploy.StatusSucceeded},
		{"undo the first release on record", "staging", "1", "what was live before 1.4.1 (#1) (from the backup it took)", "", deploy.StatusSucceeded},
		{"needs approval in production", "production", "", "the newest backup on each host", "", deploy.StatusPendingApproval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := h.svc.RequestRollback(ctx, deploy.RollbackInput{User: alice, Channel: chan1, App: "shop-web", Env: tt.env, To: tt.to})
			if err != nil {
				t.Fatal(err)
			}
			r := h.waitStatus(req.ID, tt.status)
			if r.Kind != deploy.KindRollback || r.Plan.JobTemplate != "deploybot-rollback" || r.Plan.Restores != tt.restores {
				t.Errorf("rollback = %s template %q restores %q", r.Kind, r.Plan.JobTemplate, r.Plan.Restores)
			}
			if got := r.Plan.ExtraVars["rollback_release"]; got != tt.to {
				t.Errorf("rollback_release = %v, want %q", got, tt.to)
			}
			if got := r.Plan.ExtraVars["rollback_release_id"]; got != tt.to {
				t.Errorf("rollback_release_id = %v, want %q", got, tt.to)
			}
			if got := r.Plan.ExtraVars["rollback_version"]; got != tt.version || r.Plan.RollbackVersion != tt.version {
				t.Errorf("rollback_version = %v (plan %q), want %q", got, r.Plan.RollbackVersion, tt.version)
			}
			card, _ := h.notifier.LastCard(req.ID)
			if card.Info.Note != "Restores "+tt.restores {
				t.Errorf("card note = %q", card.Info.Note)
			}
		})
	}
	_, err := h.svc.RequestRollback(ctx, deploy.RollbackInput{User: plat, Channel: chan1, App: "cache-warmer", Env: "production"})
	wantCode(t, err, deploy.EINVALID)
	_, err = h.svc.RequestRollback(ctx, deploy.RollbackInput{User: eve, Channel: chan1, App: "shop-web", Env: "staging"})
	wantCode(t, err, deploy.EFORBIDDEN)
}

func TestCheckSummaryOnApprovalCard(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	// A dry run needs no approval and is not held by a lock.
	if _, err := h.svc.Lock(ctx, alice, "shop-web", "production", "release window closed"); err != nil {
		t.Fatal(err)
	}
	check, err := h.svc.RequestDeploy(ctx, deploy.DeployInput{User: alice, Channel: chan1, App: "shop-web", Env: "production", Version: "1.4.2", Check: true})
	if err != nil {
		t.Fatal(err)
	}
	c := h.waitStatus(check.ID, deploy.StatusSucceeded)
	if !c.Plan.Check {
		t.Error("the dry run's plan is not in check mode")
	}
	if want := "Dry run: would change web-01.example.com, web-02.example.com, web-03.example.com"; c.Outcome != want {
		t.Errorf("dry run outcome = %q, want %q", c.Outcome, want)
	}
	if _, err := h.svc.Unlock(ctx, alice, "shop-web", "production"); err != nil {
		t.Fatal(err)
	}

	h.clock.Advance(10 * time.Minute)
	tests := []struct {
		name    string
		version string
		advance time.Duration
		want    string
	}{
		{"same plan", "1.4.2", 0, "Dry run #1 by <@U01ALICE00>, 10m ago: Dry run: would change web-01"},
		{"other version", "1.4.3", 0, ""},
		{"too old", "1.4.2", 2 * time.Hour, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.clock.Advance(tt.advance)
			req := h.deploy(alice, "shop-web", "production", tt.version)
			card, _ := h.notifier.LastCard(req.ID)
			if tt.want == "" && bot.RenderNote(card.Info.CheckSummary) != "" || !strings.HasPrefix(bot.RenderNote(card.Info.CheckSummary), tt.want) {
				t.Errorf("check summary = %q, want %q", bot.RenderNote(card.Info.CheckSummary), tt.want)
			}
		})
	}
}

// TestRollbackToAfterRollback: the card of a rollback to a release id says
// what was live before that release, following earlier rollbacks: after
// 1.4.0, 1.4.1, a rollback to 1.4.0 and then 1.4.2, undoing 1.4.2 brings
// back 1.4.0, not 1.4.1.
func TestRollbackToAfterRollback(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, v := range []string{"1.4.0", "1.4.1"} {
		h.waitStatus(h.deploy(dev, "shop-web", "staging", v).ID, deploy.StatusSucceeded)
	}
	back, err := h.svc.RequestRollback(ctx, deploy.RollbackInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	if r := h.waitStatus(back.ID, deploy.StatusSucceeded); r.Plan.RollbackVersion != "1.4.0" {
		t.Fatalf("the first rollback restores %q, want 1.4.0", r.Plan.RollbackVersion)
	}
	last := h.waitStatus(h.deploy(dev, "shop-web", "staging", "1.4.2").ID, deploy.StatusSucceeded)
	req, err := h.svc.RequestRollback(ctx, deploy.RollbackInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", To: strconv.FormatInt(last.ID, 10)})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("1.4.0 (#1), what was live before 1.4.2 (#%d)", last.ID)
	if req.Plan.Restores != want {
		t.Errorf("restores %q, want %q", req.Plan.Restores, want)
	}
}
