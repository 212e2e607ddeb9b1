package storage_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
)

// TestEnvStats: active and pending requests are counted per app and env,
// and the last success is the newest succeeded deploy, not a dry run or a
// rollback.
func TestEnvStats(t *testing.T) { forEachBackend(t, testEnvStats) }

func testEnvStats(t *testing.T, be backend) {
	ctx := context.Background()
	db, clk := be.open(t)
	at := func() time.Time { return clk.Now().UTC().Truncate(time.Millisecond) }

	// run takes req from queued to its end (or to running when end is "").
	run := func(req *deploy.Request, end deploy.Status) time.Time {
		t.Helper()
		MustCreate(t, db, req, deploy.StatusQueued)
		steps := []deploy.Change{
			{From: deploy.StatusQueued, To: deploy.StatusLaunching},
			{From: deploy.StatusLaunching, To: deploy.StatusRunning, Job: deploy.JobRef{Kind: deploy.JobTemplateRun, ID: req.ID}},
		}
		if end != "" {
			steps = append(steps, deploy.Change{From: deploy.StatusRunning, To: end})
		}
		for _, ch := range steps {
			clk.Advance(time.Second)
			ch.At = clk.Now()
			if _, err := db.Transition(ctx, req.ID, ch); err != nil {
				t.Fatal(err)
			}
		}
		return at()
	}
	first := run(newRequest("shop-web", "staging"), deploy.StatusSucceeded)
	newest := run(newRequest("shop-web", "staging"), deploy.StatusSucceeded)
	run(newRequest("shop-web", "staging"), deploy.StatusFailed)
	dry := newRequest("shop-web", "staging")
	dry.Check, dry.Plan.Check = true, true
	run(dry, deploy.StatusSucceeded)
	rb := newRequest("shop-web", "staging")
	rb.Kind, rb.Version, rb.Plan.Kind, rb.Plan.Version = deploy.KindRollback, "", deploy.KindRollback, ""
	run(rb, deploy.StatusSucceeded)
	run(newRequest("shop-web", "staging"), "") // still running
	MustCreate(t, db, newRequest("shop-web", "production"), deploy.StatusPendingApproval)
	MustCreate(t, db, newRequest("shop-web", "production"), deploy.StatusPendingApproval)
	if first.Equal(newest) {
		t.Fatal("the clock did not move")
	}

	got, err := db.EnvStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.EnvStats{
		{App: "shop-web", Env: "production", PendingApproval: 2},
		{App: "shop-web", Env: "staging", Active: 1, LastSuccess: newest},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EnvStats =\n%+v\nwant\n%+v", got, want)
	}
}
