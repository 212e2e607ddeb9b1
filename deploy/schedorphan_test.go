package deploy_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
)

// TestPauseOrphanedSchedules: reloads remove an app, then an environment,
// then bring both back. Each active schedule of what was removed is paused
// once (by the bot, in the audit trail), never deleted, and stays paused
// when its app or environment comes back, until a user resumes it. A
// schedule waiting for approval, one a user paused and one whose app and
// environment stay are left as they are.
func TestPauseOrphanedSchedules(t *testing.T) {
	h := newSchedHarness(t)
	ctx := context.Background()
	h.dir.SetGroups(dev, "@shop-devs", "@platform")
	staging := h.schedule(deploy.ScheduleInput{User: dev, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "0 12 * * *"})
	warmer := h.schedule(deploy.ScheduleInput{User: dev, App: "cache-warmer", Env: "production", Version: "7", Cron: "0 3 * * *"})
	userPaused := h.schedule(deploy.ScheduleInput{User: dev, App: "shop-web", Env: "staging", Version: "1.4.3", Cron: "0 13 * * *"})
	if _, err := h.svc.PauseSchedule(ctx, userPaused.ID, dev); err != nil {
		t.Fatal(err)
	}
	pending := h.schedule(deploy.ScheduleInput{User: alice, App: "shop-web", Env: "prod-eu", Version: "1.4.2", Cron: "0 6 * * 1-5"})
	if pending.Status != deploy.SchedulePendingApproval {
		t.Fatalf("prod-eu schedule is %s, want waiting for approval", pending.Status)
	}

	prodEU := "      prod-eu:\n        hosts: [eu-web-01.example.com]\n        deployers: [U01ALICE00]\n        approval:\n          required: true\n" +
		"          approvers: [\"@shop-leads\"]\n          min_approvals: 2\n          expires_after: 1h\n"
	withoutWarmer := schedConfig[:strings.Index(schedConfig, "  cache-warmer:")]
	withoutStaging := strings.Replace(withoutWarmer, "      staging:\n        hosts: [stg-web-01.example.com, stg-web-02.example.com]\n        deployers: [\"@shop-devs\"]\n", "", 1)
	withoutProdEU := strings.Replace(withoutStaging, prodEU, "", 1)
	if withoutStaging == withoutWarmer || withoutProdEU == withoutStaging {
		t.Fatal("the tests' config changed: update this test")
	}
	ids := func(list []*deploy.Schedule) []int64 {
		var out []int64
		for _, s := range list {
			out = append(out, s.ID)
		}
		return out
	}
	for _, step := range []struct {
		name   string
		config string
		paused []int64 // returned by this reload
	}{
		{"app removed", withoutWarmer, []int64{warmer.ID}},
		{"environments removed", withoutProdEU, []int64{staging.ID}},
		{"the same again", withoutProdEU, nil},
		{"both back", schedConfig, nil},
	} {
		cfg, err := config.Parse("test.yaml", []byte(step.config))
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		h.svc.SetCatalog(cfg.Catalog())
		got, err := h.svc.PauseOrphanedSchedules(ctx)
		if err != nil || !slices.Equal(ids(got), step.paused) {
			t.Errorf("%s: paused %v, %v; want %v", step.name, ids(got), err, step.paused)
		}
		for _, s := range got {
			if s.Status != deploy.SchedulePaused {
				t.Errorf("%s: S%d returned as %s", step.name, s.ID, s.Status)
			}
		}
	}
	for id, want := range map[int64]deploy.ScheduleStatus{
		staging.ID: deploy.SchedulePaused, warmer.ID: deploy.SchedulePaused,
		userPaused.ID: deploy.SchedulePaused, pending.ID: deploy.SchedulePendingApproval,
	} {
		if got := h.stored(id).Status; got != want {
			t.Errorf("S%d is %s, want %s", id, got, want)
		}
	}
	if r := h.trigger(staging.ID, utc("2026-11-24T11:00:00Z")); r != nil {
		t.Errorf("a schedule paused by the reload ran #%d", r.ID)
	}
	entries, err := h.db.AuditSince(ctx, time.Time{}, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var byBot []int64
	for _, e := range entries {
		if e.Action == "schedule_paused" && e.Actor == "" {
			byBot = append(byBot, e.ScheduleID)
			if !strings.Contains(e.Detail, "no longer configured") {
				t.Errorf("audit of S%d says %q", e.ScheduleID, e.Detail)
			}
		}
	}
	slices.Sort(byBot)
	if want := []int64{staging.ID, warmer.ID}; !slices.Equal(byBot, want) {
		t.Errorf("paused by the bot in the audit trail: %v, want %v", byBot, want)
	}
	// Back in the configuration, the user resumes it.
	if s, err := h.svc.ResumeSchedule(ctx, staging.ID, dev); err != nil || s.Status != deploy.ScheduleActive {
		t.Errorf("resume after the environment came back = %+v, %v", s, err)
	}
}
