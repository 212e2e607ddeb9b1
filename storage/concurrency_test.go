package storage_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
)

const racers = 50

// isConstraint reports whether err is a SQLite constraint violation.
func isConstraint(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}

// handles returns n *DB values on the file of db: either db itself n times,
// or n separately opened handles (as separate processes would have).
func handles(t *testing.T, db *storage.DB, n int, separate bool) []*storage.DB {
	t.Helper()
	out := make([]*storage.DB, n)
	for i := range out {
		out[i] = db
		if separate {
			out[i] = MustOpenPath(t, db.Path, nil)
		}
	}
	return out
}

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

// TestConcurrentApprove has 50 approvers click Approve on the same pending
// request at once; each click records the approval and then moves the
// request on (pending_approval → launching), as the bot does when the
// approval count is reached. Exactly one click wins.
func TestConcurrentApprove(t *testing.T) {
	t.Parallel()
	for _, separate := range []bool{false, true} {
		t.Run(fmt.Sprintf("SeparateHandles=%v", separate), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, _ := MustOpen(t)
			req := MustCreate(t, db, newRequest("shop-web", "production"), deploy.StatusPendingApproval)
			dbs := handles(t, db, racers, separate)

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

// TestConcurrentSameApprover has one approver's click delivered 50 times at
// once (double clicks, redeliveries): one approval is recorded.
func TestConcurrentSameApprover(t *testing.T) {
	t.Parallel()
	for _, separate := range []bool{false, true} {
		t.Run(fmt.Sprintf("SeparateHandles=%v", separate), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, _ := MustOpen(t)
			req := MustCreate(t, db, newRequest("shop-web", "production"), deploy.StatusPendingApproval)
			dbs := handles(t, db, racers, separate)
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

// TestConcurrentLaunch has 50 queued requests of the same app and env try
// to launch at once: one gets the environment, the others are told it is
// busy.
func TestConcurrentLaunch(t *testing.T) {
	t.Parallel()
	for _, separate := range []bool{false, true} {
		t.Run(fmt.Sprintf("SeparateHandles=%v", separate), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, _ := MustOpen(t)
			ids := make([]int64, racers)
			for i := range ids {
				ids[i] = MustCreate(t, db, newRequest("shop-web", "production"), deploy.StatusQueued).ID
			}
			dbs := handles(t, db, racers, separate)
			errs := race(racers, func(i int) error {
				_, err := dbs[i].Transition(ctx, ids[i], deploy.Change{From: deploy.StatusQueued, To: deploy.StatusLaunching})
				return err
			})
			ok, busy := 0, 0
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

// TestConcurrentLock has 50 users take the same manual lock at once.
func TestConcurrentLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := MustOpen(t)
	dbs := handles(t, db, racers, true)
	errs := race(racers, func(i int) error {
		return dbs[i].Lock(ctx, deploy.Lock{App: "shop-web", Env: "production", By: fmt.Sprintf("U%02d", i)})
	})
	ok, conflict := countOutcomes(t, errs)
	if ok != 1 || conflict != racers-1 {
		t.Fatalf("%d winners and %d conflicts, want 1 and %d", ok, conflict, racers-1)
	}
}

func BenchmarkCreateAndTransition(b *testing.B) {
	ctx := context.Background()
	db := storage.NewDB(filepath.Join(b.TempDir(), "bench.db"))
	if err := db.Open(ctx); err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := newRequest("shop-web", "production")
		if err := db.CreateRequest(ctx, req); err != nil {
			b.Fatal(err)
		}
		for _, ch := range []deploy.Change{
			{From: deploy.StatusPendingApproval, To: deploy.StatusLaunching},
			{From: deploy.StatusLaunching, To: deploy.StatusRunning, Job: deploy.JobRef{Kind: deploy.JobTemplateRun, ID: int64(i + 1)}},
			{From: deploy.StatusRunning, To: deploy.StatusSucceeded},
		} {
			if _, err := db.Transition(ctx, req.ID, ch); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestConcurrentScheduleUpdate: writers that read the same revision of a
// schedule and write it back at once (a cron fire recording its run, clicks
// on "Skip this run", approvals), on separate handles of the file: exactly
// one write lands, the others are refused with ECONFLICT so that they read
// it again, and none writes its stale fields over the winner's. Without the
// compare-and-set on rev every write landed and the last one won: a Skip
// written after a fire rewound last_run, a second approval dropped the
// first.
func TestConcurrentScheduleUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := MustOpen(t)
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
	dbs := handles(t, db, racers, true)
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
