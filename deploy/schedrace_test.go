package deploy_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

// staleRead is a store that can hold one read of a schedule until the next
// write of a schedule has landed: the reader then writes from a revision
// that is no longer the stored one, as a click arriving while a cron fire
// (or another click) is being recorded does.
type staleRead struct {
	deploy.Store
	mu      sync.Mutex
	armed   bool          // the next read is held
	held    chan struct{} // closed once the held read is taken
	written chan struct{} // closed once the next write lands
}

// holdNextRead arms the store and returns a channel closed once the held
// read has been taken.
func (s *staleRead) holdNextRead() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed, s.held, s.written = true, make(chan struct{}), make(chan struct{})
	return s.held
}

func (s *staleRead) Schedule(ctx context.Context, id int64) (*deploy.Schedule, error) {
	sch, err := s.Store.Schedule(ctx, id)
	s.mu.Lock()
	hold, held, written := s.armed, s.held, s.written
	s.armed = false
	s.mu.Unlock()
	if hold {
		close(held)
		select {
		case <-written:
		case <-time.After(10 * time.Second):
		}
	}
	return sch, err
}

func (s *staleRead) UpdateSchedule(ctx context.Context, sch *deploy.Schedule, from deploy.ScheduleStatus) error {
	err := s.Store.UpdateSchedule(ctx, sch, from)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written != nil && !s.armed {
		close(s.written)
		s.written = nil
	}
	return err
}

// newStaleReadHarness is a schedule harness whose store can hold a read.
func newStaleReadHarness(t *testing.T) (*schedHarness, *staleRead) {
	h := newSchedHarness(t)
	st := &staleRead{}
	h.stop()
	h.wrapStore = func(s deploy.Store) deploy.Store { st.Store = s; return st }
	h.startSched()
	return h, st
}

// TestScheduleSkipRacingFire: "Skip this run" clicked while a cron fire is
// being recorded. The fire's run is recorded and kept: the click, which
// read the schedule before the fire wrote it, reads it again and skips the
// next run; it used to write its stale last run back, so the run that had
// started was taken for a missed one after a restart.
func TestScheduleSkipRacingFire(t *testing.T) {
	ctx := context.Background()
	h, st := newStaleReadHarness(t)
	sch := h.schedule(deploy.ScheduleInput{User: dev, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "30 2 * * *"})
	fire := time.Date(2026, 11, 25, 1, 30, 0, 0, time.UTC) // 02:30 in Berlin
	held := st.holdNextRead()
	skipped := make(chan error, 1)
	go func() {
		_, _, err := h.svc.SkipNextRun(ctx, sch.ID, dev)
		skipped <- err
	}()
	<-held
	req := h.trigger(sch.ID, fire)
	if err := <-skipped; err != nil {
		t.Fatalf("SkipNextRun: %v", err)
	}
	if req == nil {
		t.Fatal("the fire whose write came first started no run")
	}
	got := h.stored(sch.ID)
	if !got.LastRunAt.Equal(fire) {
		t.Errorf("last run = %v, want the fire's %v (a stale write rewound it)", got.LastRunAt, fire)
	}
	if !got.SkipNext {
		t.Error("the click's skip was lost")
	}
	h.waitStatus(req.ID, deploy.StatusSucceeded)
	// The next fire of the same run does nothing; the next run is skipped.
	if r := h.trigger(sch.ID, fire); r != nil {
		t.Errorf("the run started again: #%d", r.ID)
	}
	if r := h.trigger(sch.ID, fire.Add(24*time.Hour)); r != nil {
		t.Errorf("the skipped next run started: #%d", r.ID)
	}
	if n := h.runner.LaunchCount(); n != 1 {
		t.Errorf("launches = %d, want 1", n)
	}
}

// TestScheduleTwoApprovalsAtOnce: the two approvals a prod-eu schedule
// needs, clicked at once, both count and make it active; the second used
// to write its list of approvers (without the first) over the first's.
func TestScheduleTwoApprovalsAtOnce(t *testing.T) {
	ctx := context.Background()
	h, st := newStaleReadHarness(t)
	sch := h.schedule(deploy.ScheduleInput{User: alice, App: "shop-web", Env: "prod-eu", Version: "1.4.2", Cron: "@daily"})
	held := st.holdNextRead()
	first := make(chan error, 1)
	go func() {
		_, err := h.svc.ApproveSchedule(ctx, sch.ID, carol)
		first <- err
	}()
	<-held
	if _, err := h.svc.ApproveSchedule(ctx, sch.ID, dan); err != nil {
		t.Fatalf("dan's approval: %v", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("carol's approval: %v", err)
	}
	got := h.stored(sch.ID)
	approvers := slices.Sorted(slices.Values(got.ApprovedBy))
	if !slices.Equal(approvers, []string{carol, dan}) || got.Status != deploy.ScheduleActive {
		t.Errorf("after two approvals: approvers %q, status %s; want both and active", got.ApprovedBy, got.Status)
	}
}
