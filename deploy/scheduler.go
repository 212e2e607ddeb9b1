package deploy

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"
)

// Scheduler drives scheduled releases with robfig/cron/v3: cron only says
// when a run is due; the Service decides what happens (TriggerSchedule).
// Its entries are loaded from the store at start and kept in step with
// every change made through the Service (create, approve, pause, resume,
// delete, a one-shot that ran).
type Scheduler struct {
	svc *Service
	log zerolog.Logger
	// Every is how often upcoming runs and results are announced
	// (Service.ScheduleTick); 5 seconds by default.
	Every time.Duration

	mu      sync.Mutex
	ctx     context.Context // Run's context, for the jobs
	cron    *cron.Cron
	entries map[int64]cron.EntryID
	// badTiming remembers, per schedule, the revision (plus one) whose
	// timing could not be read, so that resync logs it once.
	badTiming map[int64]int64
	running   sync.WaitGroup
}

// NewScheduler returns a scheduler for svc. It does no I/O.
func NewScheduler(svc *Service, log zerolog.Logger) *Scheduler {
	return &Scheduler{
		svc: svc, log: log.With().Str("component", "scheduler").Logger(),
		Every: 5 * time.Second, entries: map[int64]cron.EntryID{}, badTiming: map[int64]int64{},
	}
}

// Run recovers missed runs, loads the active schedules into cron and runs
// it until ctx ends; then it stops cron and waits for the runs in
// progress. It returns nil once stopped.
func (sc *Scheduler) Run(ctx context.Context) error {
	l := cronLogger{sc.log}
	c := cron.New(cron.WithLocation(time.UTC), cron.WithLogger(l),
		cron.WithChain(cron.Recover(l), cron.SkipIfStillRunning(l)))
	sc.mu.Lock()
	if sc.cron != nil {
		sc.mu.Unlock()
		return errors.New("scheduler: already running")
	}
	sc.cron, sc.ctx = c, ctx
	sc.mu.Unlock()
	defer func() {
		sc.svc.setScheduleHook(nil)
		<-c.Stop().Done()
		sc.running.Wait()
		// Announcements and retries go on at once on another replica.
		sc.svc.letGo(ctx, schedulesLease)
		sc.mu.Lock()
		sc.cron, sc.ctx = nil, nil
		sc.entries = map[int64]cron.EntryID{}
		sc.mu.Unlock()
	}()

	sc.svc.RecoverSchedules(ctx)
	sc.svc.setScheduleHook(sc.sync)
	list, err := sc.svc.Schedules(ctx)
	if err != nil {
		return err
	}
	for _, s := range list {
		sc.sync(s)
	}
	c.Start()
	sc.svc.ScheduleTick(ctx)
	t := time.NewTicker(sc.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			sc.resync(ctx)
			sc.svc.ScheduleTick(ctx)
		}
	}
}

// resync gives cron an entry for every active schedule in the store and
// removes those of schedules no longer active: replicas sharing a store
// learn of schedules created, approved, resumed or paused through another
// replica (the hook tells only the Service that made the change). An
// entry that is right is left alone, so that no due run is lost to a
// removal.
func (sc *Scheduler) resync(ctx context.Context) {
	list, err := sc.svc.store.Schedules(ctx)
	if err != nil {
		if ctx.Err() == nil {
			sc.log.Warn().Err(err).Msg("list schedules for cron")
		}
		return
	}
	active := map[int64]bool{}
	var change []*Schedule
	sc.mu.Lock()
	for _, s := range list {
		_, has := sc.entries[s.ID]
		if s.Status == ScheduleActive {
			active[s.ID] = true
		}
		if has != (s.Status == ScheduleActive) {
			change = append(change, s)
		}
	}
	for id, eid := range sc.entries {
		if !active[id] && sc.cron != nil {
			sc.cron.Remove(eid)
			delete(sc.entries, id)
		}
	}
	sc.mu.Unlock()
	for _, s := range change {
		if s.Status != ScheduleActive {
			continue
		}
		if _, err := sc.svc.Timing(s); err != nil {
			// sync logs it, once per revision of the schedule.
			sc.mu.Lock()
			told := sc.badTiming[s.ID] == s.Rev+1
			sc.badTiming[s.ID] = s.Rev + 1
			sc.mu.Unlock()
			if told {
				continue
			}
		}
		sc.sync(s)
	}
}

// Entries returns how many schedules have a cron entry.
func (sc *Scheduler) Entries() int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return len(sc.entries)
}

// sync makes schedule s's cron entry match its state: active schedules
// have one, others none.
func (sc *Scheduler) sync(s *Schedule) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.cron == nil {
		return
	}
	if id, ok := sc.entries[s.ID]; ok {
		sc.cron.Remove(id)
		delete(sc.entries, s.ID)
	}
	if s.Status != ScheduleActive {
		return
	}
	timing, err := sc.svc.Timing(s)
	if err != nil {
		sc.log.Error().Err(err).Int64("schedule_id", s.ID).Msg("schedule timing")
		return
	}
	sid := s.ID
	var eid cron.EntryID
	job := cron.FuncJob(func() { sc.fire(sid, eid, timing) })
	eid = sc.cron.Schedule(timing, job)
	sc.entries[sid] = eid
}

// fire runs one due run of schedule id.
func (sc *Scheduler) fire(id int64, eid cron.EntryID, timing *Timing) {
	sc.mu.Lock()
	ctx, c := sc.ctx, sc.cron
	sc.mu.Unlock()
	if ctx == nil || c == nil {
		return
	}
	sc.running.Add(1)
	defer sc.running.Done()
	// cron set the entry's Prev to the time it was due before starting
	// the job.
	due := c.Entry(eid).Prev
	if due.IsZero() {
		due = time.Now().Truncate(time.Minute)
	}
	if _, err := sc.svc.TriggerSchedule(ctx, id, due.In(timing.Location())); err != nil {
		sc.log.Warn().Err(err).Int64("schedule_id", id).Msg("scheduled run")
	}
}

// cronLogger adapts zerolog to cron's logger.
type cronLogger struct{ l zerolog.Logger }

// Info logs cron's routine messages at debug level.
func (c cronLogger) Info(msg string, kv ...any) {
	c.l.Debug().Fields(kv).Msg(msg)
}

// Error logs cron's errors (a recovered panic in a run).
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error().Err(err).Fields(kv).Msg(msg)
}
