package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

func testSchedules(t *testing.T, be Backend) {
	ctx := context.Background()
	db, clk := be.open(t, Options{})

	cron := &deploy.Schedule{
		App: "shop-web", Env: "production", Version: "1.4.2", Spec: "CRON_TZ=Europe/Paris 0 6 * * 1", TZ: "Europe/Paris",
		CreatedBy: "U_SCHED", Channel: "C_DEPLOY", Status: deploy.SchedulePendingApproval, MissedRuns: deploy.MissedRunOnce,
		PlanHash: "abcdef012345", ApprovedBy: []string{"U_A1"}, LastRunAt: time.Date(2026, 11, 17, 5, 0, 0, 0, time.UTC),
		SkipNext: true,
	}
	if err := db.CreateSchedule(ctx, cron); err != nil {
		t.Fatal(err)
	}
	if cron.ID == 0 || !cron.CreatedAt.Equal(clk.Now()) {
		t.Fatalf("id %d, created %v", cron.ID, cron.CreatedAt)
	}
	clk.Advance(time.Second)
	once := &deploy.Schedule{App: "blog", Env: "staging", Version: "2.0.0",
		At: time.Date(2026, 11, 25, 18, 0, 0, 0, time.FixedZone("CET", 3600)), CreatedBy: "U2", Status: deploy.ScheduleActive}
	if err := db.CreateSchedule(ctx, once); err != nil {
		t.Fatal(err)
	}

	got, err := db.Schedule(ctx, cron.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cron) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, cron)
	}
	got, err = db.Schedule(ctx, once.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, once) || !got.At.Equal(time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, once)
	}

	// Compare-and-set on the status: two approvers click at once, one wins.
	a, b := *cron, *cron
	a.Status, a.ApprovedBy = deploy.ScheduleActive, []string{"U_A1", "U_A2"}
	b.Status, b.ApprovedBy = deploy.ScheduleRejected, []string{"U_A1"}
	if err := db.UpdateSchedule(ctx, &a, deploy.SchedulePendingApproval); err != nil {
		t.Fatal(err)
	}
	err = db.UpdateSchedule(ctx, &b, deploy.SchedulePendingApproval)
	WantCode(t, err, deploy.ECONFLICT)
	if msg, want := deploy.ErrorMessage(err), "Schedule S1 is no longer waiting for approval: it is active now."; msg != want {
		t.Fatalf("message = %q, want %q", msg, want)
	}
	got, err = db.Schedule(ctx, cron.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &a) {
		t.Fatalf("after update:\n got %#v\nwant %#v", got, &a)
	}

	missing := deploy.Schedule{ID: 99, App: "x", Env: "y", Status: deploy.ScheduleDeleted}
	WantCode(t, db.UpdateSchedule(ctx, &missing, deploy.ScheduleActive), deploy.ENOTFOUND)
	_, err = db.Schedule(ctx, 99)
	WantCode(t, err, deploy.ENOTFOUND)
	WantCode(t, db.CreateSchedule(ctx, &deploy.Schedule{App: "x", Env: "y", Status: "bogus"}), deploy.EINVALID)

	// Deleted schedules are not listed, but can still be read.
	del := *once
	del.Status = deploy.ScheduleDeleted
	if err := db.UpdateSchedule(ctx, &del, deploy.ScheduleActive); err != nil {
		t.Fatal(err)
	}
	list, err := db.Schedules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != cron.ID {
		t.Fatalf("schedules = %+v", list)
	}
	if got, err := db.Schedule(ctx, once.ID); err != nil || got.Status != deploy.ScheduleDeleted {
		t.Fatalf("deleted schedule: %+v, %v", got, err)
	}
}
