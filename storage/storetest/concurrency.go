package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

const racers = 50

// race runs fn(i) in n goroutines released at the same moment and returns
// their errors.
func race(n int, fn func(i int) error) []error {
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// countOutcomes returns how many errors are nil and how many are ECONFLICT,
// and fails on any other error.
func countOutcomes(t *testing.T, errs []error) (ok, conflict int) {
	t.Helper()
	for _, err := range errs {
		switch deploy.ErrorCode(err) {
		case "":
			ok++
		case deploy.ECONFLICT:
			conflict++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	return ok, conflict
}

// countLaunches returns how many launches went through and how many were
// refused because the environment was busy, and fails on any other error.
func countLaunches(t *testing.T, errs []error) (ok, busy int) {
	t.Helper()
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, deploy.ErrEnvBusy) && deploy.ErrorCode(err) == deploy.ECONFLICT:
			busy++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	return ok, busy
}

// testConcurrentApprove has 50 approvers click Approve on the same pending
// request at once; each click records the approval and then moves the
// request on (pending_approval → launching), as the bot does when the
// approval count is reached. Exactly one click wins.
func testConcurrentApprove(t *testing.T, be Backend) {
	for _, separate := range []bool{false, true} {
		t.Run(fmt.Sprintf("SeparateHandles=%v", separate), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, _ := be.open(t, Options{})
			req := MustCreate(t, db, NewRequest("shop-web", "production"), deploy.StatusPendingApproval)
			dbs := be.handles(t, db, racers, separate)

			errs := race(racers, func(i int) error {
				user := fmt.Sprintf("U_APPROVER_%02d", i)
				if _, err := dbs[i].AddApproval(ctx, req.ID, deploy.Approval{User: user, PlanHash: req.PlanHash}); err != nil {
					return err
				}
				_, err := dbs[i].Transition(ctx, req.ID, deploy.Change{
					From: deploy.StatusPendingApproval, To: deploy.StatusLaunching, Actor: user,
				})
				return err
			})
			ok, conflict := countOutcomes(t, errs)
			if ok != 1 || conflict != racers-1 {
				t.Fatalf("%d winners and %d conflicts, want 1 and %d", ok, conflict, racers-1)
			}

			got, err := db.Request(ctx, req.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != deploy.StatusLaunching {
				t.Fatalf("status = %s", got.Status)
			}
			log, err := db.AuditLog(ctx, req.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			var transitions, approvals int
			for _, e := range log {
				switch e.Action {
				case "status":
					transitions++
				case "approved":
					approvals++
				}
			}
			if transitions != 1 {
				t.Fatalf("audit shows %d transitions, want 1", transitions)
			}
			if approvals != len(got.Approvals) || approvals < 1 {
				t.Fatalf("audit shows %d approvals, request has %d", approvals, len(got.Approvals))
			}
			// The winner approved before the request left pending, and no
			// approval was recorded after it did.
			for _, a := range got.Approvals {
				if a.At.After(got.UpdatedAt) {
					t.Fatalf("approval %+v after the transition at %v", a, got.UpdatedAt)
				}
			}
		})
	}
}

// testConcurrentSameApprover has one approver's click delivered 50 times at
// once (double clicks, redeliveries): one approval is recorded.
func testConcurrentSameApprover(t *testing.T, be Backend) {
	for _, separate := range []bool{false, true} {
		t.Run(fmt.Sprintf("SeparateHandles=%v", separate), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, _ := be.open(t, Options{})
			req := MustCreate(t, db, NewRequest("shop-web", "production"), deploy.StatusPendingApproval)
			dbs := be.handles(t, db, racers, separate)
			errs := race(racers, func(i int) error {
				_, err := dbs[i].AddApproval(ctx, req.ID, deploy.Approval{User: "U_SAME", PlanHash: req.PlanHash})
				return err
			})
			ok, conflict := countOutcomes(t, errs)
			if ok != 1 || conflict != racers-1 {
				t.Fatalf("%d winners and %d conflicts, want 1 and %d", ok, conflict, racers-1)
			}
			got, err := db.Request(ctx, req.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Approvals) != 1 {
				t.Fatalf("approvals = %+v", got.Approvals)
			}
		})
	}
}

// testConcurrentLaunch has 50 queued requests of the same app and env try
// to launch at once: one gets the environment, the others are told it is
// busy.
func testConcurrentLaunch(t *testing.T, be Backend) {
	for _, separate := range []bool{false, true} {
		t.Run(fmt.Sprintf("SeparateHandles=%v", separate), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, _ := be.open(t, Options{})
			ids := make([]int64, racers)
			for i := range ids {
				ids[i] = MustCreate(t, db, NewRequest("shop-web", "production"), deploy.StatusQueued).ID
			}
			dbs := be.handles(t, db, racers, separate)
			errs := race(racers, func(i int) error {
				_, err := dbs[i].Transition(ctx, ids[i], deploy.Change{From: deploy.StatusQueued, To: deploy.StatusLaunching})
				return err
			})
			ok, busy := countLaunches(t, errs)
			if ok != 1 || busy != racers-1 {
				t.Fatalf("%d launched and %d busy, want 1 and %d", ok, busy, racers-1)
			}
			active, err := db.Requests(ctx, deploy.RequestFilter{Statuses: []deploy.Status{deploy.StatusLaunching, deploy.StatusRunning}})
			if err != nil {
				t.Fatal(err)
			}
			queued, err := db.Requests(ctx, deploy.RequestFilter{Statuses: []deploy.Status{deploy.StatusQueued}})
			if err != nil {
				t.Fatal(err)
			}
			if len(active) != 1 || len(queued) != racers-1 {
				t.Fatalf("%d active and %d queued", len(active), len(queued))
			}
		})
	}
}

// testConcurrentLock has 50 users take the same manual lock at once.
func testConcurrentLock(t *testing.T, be Backend) {
	ctx := context.Background()
	db, _ := be.open(t, Options{})
	dbs := be.handles(t, db, racers, true)
	errs := race(racers, func(i int) error {
		return dbs[i].Lock(ctx, deploy.Lock{App: "shop-web", Env: "production", By: fmt.Sprintf("U%02d", i)})
	})
	ok, conflict := countOutcomes(t, errs)
	if ok != 1 || conflict != racers-1 {
		t.Fatalf("%d winners and %d conflicts, want 1 and %d", ok, conflict, racers-1)
	}
}

// testConcurrentQuorum has two approvers click Approve at once on each of
// 20 requests that need two approvals: every request ends queued with its
// two approvals and one status change. Each approval counts the approvals
// in the same transaction that adds it, so one of the two always sees the
// other's (a store whose writers do not exclude each other can leave a
// request pending with both approvals).
func testConcurrentQuorum(t *testing.T, be Backend) {
	ctx := context.Background()
	db, _ := be.open(t, Options{})
	dbs := be.handles(t, db, 2, true)
	for round := 0; round < 20; round++ {
		req := MustCreate(t, db, NewRequest("shop-web", fmt.Sprintf("env-%d", round)), deploy.StatusPendingApproval)
		errs := race(2, func(i int) error {
			_, err := dbs[i].AddApproval(ctx, req.ID, deploy.Approval{
				User: fmt.Sprintf("U_APPROVER_%d", i), PlanHash: req.PlanHash, Needed: 2,
			})
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.Request(ctx, req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != deploy.StatusQueued || len(got.Approvals) != 2 {
			t.Fatalf("round %d: request is %s with %d approvals, want queued with 2", round, got.Status, len(got.Approvals))
		}
		log, err := db.AuditLog(ctx, req.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		var transitions int
		for _, e := range log {
			if e.Action == "status" {
				transitions++
			}
		}
		if transitions != 1 {
			t.Fatalf("round %d: audit shows %d status changes, want 1", round, transitions)
		}
	}
}

// testConcurrentDryRuns has 50 queued dry runs of the same app and env try
// to launch at once: one dry run per environment at a time, so one
// launches and the others are told it is busy. No unique index holds dry
// runs: the store's check and its update must not interleave with
// another's.
func testConcurrentDryRuns(t *testing.T, be Backend) {
	ctx := context.Background()
	db, _ := be.open(t, Options{})
	ids := make([]int64, racers)
	for i := range ids {
		r := NewRequest("shop-web", "production")
		r.Check, r.Plan.Check = true, true
		ids[i] = MustCreate(t, db, r, deploy.StatusQueued).ID
	}
	dbs := be.handles(t, db, racers, true)
	errs := race(racers, func(i int) error {
		_, err := dbs[i].Transition(ctx, ids[i], deploy.Change{From: deploy.StatusQueued, To: deploy.StatusLaunching})
		return err
	})
	ok, busy := countLaunches(t, errs)
	if ok != 1 || busy != racers-1 {
		t.Fatalf("%d dry runs launched and %d busy, want 1 and %d", ok, busy, racers-1)
	}
}

// testConcurrentLockAndLaunch takes a manual lock on an environment at the
// moment a queued release of it launches, 20 times. Either the launch came
// first (its audit entry is before the lock's) or it is refused as busy: a
// launch never misses a lock committed before it.
func testConcurrentLockAndLaunch(t *testing.T, be Backend) {
	ctx := context.Background()
	db, _ := be.open(t, Options{})
	dbs := be.handles(t, db, 2, true)
	for round := 0; round < 20; round++ {
		env := fmt.Sprintf("env-%d", round)
		req := MustCreate(t, db, NewRequest("shop-web", env), deploy.StatusQueued)
		errs := race(2, func(i int) error {
			if i == 0 {
				return dbs[0].Lock(ctx, deploy.Lock{App: "shop-web", Env: env, By: "U_OPS"})
			}
			_, err := dbs[1].Transition(ctx, req.ID, deploy.Change{From: deploy.StatusQueued, To: deploy.StatusLaunching})
			return err
		})
		if errs[0] != nil {
			t.Fatal(errs[0])
		}
		launched := errs[1] == nil
		if !launched && !errors.Is(errs[1], deploy.ErrEnvBusy) {
			t.Fatalf("round %d: launch: %v", round, errs[1])
		}
		log, err := db.AuditLog(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, e := range log {
			if e.Env == env && (e.Action == "locked" || (e.Action == "status" && e.RequestID == req.ID)) {
				order = append(order, e.Action)
			}
		}
		// A launch that succeeded happened before the lock: written
		// after it, it would have seen it.
		if launched && (len(order) != 2 || order[0] != "status") {
			t.Fatalf("round %d: the release launched although the lock came first: audit order %v", round, order)
		}
	}
}

// testConcurrentScheduleUpdate: writers that read the same revision of a
// schedule and write it back at once (a cron fire recording its run, clicks
// on "Skip this run", approvals), on separate handles of the file: exactly
// one write lands, the others are refused with ECONFLICT so that they read
// it again, and none writes its stale fields over the winner's. Without the
// compare-and-set on rev every write landed and the last one won: a Skip
// written after a fire rewound last_run, a second approval dropped the
// first.
func testConcurrentScheduleUpdate(t *testing.T, be Backend) {
	ctx := context.Background()
	db, _ := be.open(t, Options{})
	sch := &deploy.Schedule{App: "shop-web", Env: "production", Version: "1.4.2", Spec: "0 3 * * *", TZ: "UTC",
		CreatedBy: "U_SCHED", Channel: "C_DEPLOY", Status: deploy.ScheduleActive}
	if err := db.CreateSchedule(ctx, sch); err != nil {
		t.Fatal(err)
	}
	read, err := db.Schedule(ctx, sch.ID)
	if err != nil {
		t.Fatal(err)
	}
	fire := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	dbs := be.handles(t, db, racers, true)
	errs := race(racers, func(i int) error {
		upd := *read
		if i%2 == 0 {
			upd.LastRunAt = fire.Add(time.Duration(i) * time.Minute) // a fire
		} else {
			upd.SkipNext = true // a click on "Skip this run"
		}
		upd.ApprovedBy = []string{fmt.Sprintf("U%02d", i)}
		return dbs[i].UpdateSchedule(ctx, &upd, deploy.ScheduleActive)
	})
	ok, conflict := countOutcomes(t, errs)
	if ok != 1 || conflict != racers-1 {
		t.Fatalf("%d writes landed and %d were refused, want 1 and %d", ok, conflict, racers-1)
	}
	var winner int
	for i, err := range errs {
		if err == nil {
			winner = i
		}
	}
	got, err := db.Schedule(ctx, sch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rev != read.Rev+1 || !reflect.DeepEqual(got.ApprovedBy, []string{fmt.Sprintf("U%02d", winner)}) {
		t.Errorf("stored rev %d approvers %q, want rev %d and the winner's (U%02d)", got.Rev, got.ApprovedBy, read.Rev+1, winner)
	}
	if winner%2 == 0 && (!got.LastRunAt.Equal(fire.Add(time.Duration(winner)*time.Minute)) || got.SkipNext) ||
		winner%2 == 1 && (!got.LastRunAt.IsZero() || !got.SkipNext) {
		t.Errorf("stored last run %v skip %v: not the winner's (%d) write", got.LastRunAt, got.SkipNext, winner)
	}

	// A writer that read the schedule again writes over the new revision.
	fresh, err := db.Schedule(ctx, sch.ID)
	if err != nil {
		t.Fatal(err)
	}
	fresh.ApprovedBy = append(fresh.ApprovedBy, "U_LATE")
	if err := db.UpdateSchedule(ctx, fresh, deploy.ScheduleActive); err != nil {
		t.Fatalf("write over the current revision: %v", err)
	}
	if fresh.Rev != got.Rev+1 {
		t.Errorf("rev after the write = %d, want %d", fresh.Rev, got.Rev+1)
	}
}
