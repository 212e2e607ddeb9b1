package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// TriggerSchedule starts the run of schedule id due at scheduledFor: it
// creates a request (ScheduleID set) that goes through the normal queue
// and launch. The run needs no new approval when the schedule was
// approved and the plan hash is unchanged since; otherwise the request
// waits for approval and the announcement says why. A run that finds the
// environment locked or busy stays queued and is announced. A run of a
// schedule that is no longer active, or that was already handled (the
// same instant, or the second occurrence of a repeated wall time), does
// nothing and returns nil, nil; so does a run skipped with "Skip this
// run". Checks fail closed: a run whose deployer or approver rights cannot
// be checked now (the Slack user group lookup failed) does not start; the
// announce channel is told why, ScheduleTick retries it within RunGrace
// and records it as skipped after. A run whose schedule approval no longer
// holds under the current policy waits for approval on its card. The
// scheduler calls it when cron fires; recovery calls it for a run_once
// catch-up.
func (s *schedules) TriggerSchedule(ctx context.Context, id int64, scheduledFor time.Time) (*Request, error) {
	return s.trigger(ctx, id, scheduledFor, nil)
}

// trigger is TriggerSchedule; claimed, when not nil, is called once the
// run is this process's to start (and before it starts), so that what is
// said about it is said once whatever the number of replicas.
func (s *schedules) trigger(ctx context.Context, id int64, scheduledFor time.Time, claimed func(*Schedule)) (*Request, error) {
	s.sched.trigger.Lock()
	defer s.sched.trigger.Unlock()
	ctx = context.WithoutCancel(ctx) // a started run is recorded whole
	sch, err := s.store.Schedule(ctx, id)
	if err != nil {
		return nil, internal("read schedule", err)
	}
	log := s.log.With().Int64("schedule_id", id).Time("run", scheduledFor).Logger()
	// Claim the run before doing anything else: after this, a second
	// fire or a restart sees it as handled. A click stored meanwhile
	// ("Skip this run", pause) is read again and honoured, never undone.
	var (
		timing *Timing
		skip   bool
	)
	upd, err := s.updateSchedule(ctx, sch, "record schedule run", func(u *Schedule) error {
		if u.Status != ScheduleActive {
			log.Info().Str("status", string(u.Status)).Msg("run of an inactive schedule ignored")
			return errNoChange
		}
		var err error
		if timing, err = s.Timing(u); err != nil {
			return err
		}
		if !u.LastRunAt.IsZero() && (!scheduledFor.After(u.LastRunAt) || timing.SameRun(scheduledFor, u.LastRunAt)) {
			log.Info().Time("last_run", u.LastRunAt).Msg("run already handled")
			return errNoChange
		}
		skip = u.SkipNext
		u.LastRunAt, u.SkipNext = scheduledFor, false
		if timing.OneShot() {
			u.Status = ScheduleDone
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	// The run is this replica's: record it as fired, once per schedule and
	// fire time. The compare-and-set above already decided it; a claim
	// that fails here means another process fired the same run, and this
	// one stands back.
	if claimed, err := s.store.ClaimScheduleFire(ctx, id, scheduledFor, s.Replica, s.now()); err != nil {
		log.Error().Err(err).Msg("record schedule fire")
	} else if !claimed {
		log.Error().Msg("run already fired by another process; not started here")
		return nil, nil
	}
	if timing.OneShot() {
		s.scheduleChanged(upd)
	}
	if claimed != nil {
		claimed(upd)
	}
	run := RunTime{At: scheduledFor.In(timing.Location())}
	if skip {
		s.auditSchedule(ctx, upd, "", "schedule_run_skipped", scheduledFor.UTC().Format(time.RFC3339))
		s.announce(ctx, ScheduleAnnouncement{Kind: AnnounceNotStarted, Schedule: *upd, Run: run,
			Note: Note{Kind: NoteRunSkipped, Schedule: upd.ID, Title: s.scheduleTitle(upd), At: runText(scheduledFor, upd.TZ)}})
		return nil, nil
	}
	req, err := s.startRun(ctx, upd, run)
	if errors.Is(err, errUnverified) {
		s.deferRun(ctx, upd, run, err)
	}
	return req, err
}

// startRun starts the claimed run of sch at run: it checks the run
// (deployer rights, approval under the current policy, the build) and
// starts its request. When a check cannot be made it returns an error
// wrapping errUnverified and nothing is announced: the caller retries.
func (s *schedules) startRun(ctx context.Context, sch *Schedule, run RunTime) (*Request, error) {
	log := s.log.With().Int64("schedule_id", sch.ID).Time("run", run.At).Logger()
	req, why, err := s.scheduledRequest(ctx, sch)
	if errors.Is(err, errUnverified) {
		log.Warn().Err(err).Msg("scheduled run not started: rights not verified")
		return nil, err
	}
	if err != nil {
		log.Warn().Err(err).Msg("scheduled run not started")
		s.auditSchedule(ctx, sch, "", "schedule_run_failed", ErrorMessage(err))
		s.announce(ctx, ScheduleAnnouncement{Kind: AnnounceNotStarted, Schedule: *sch, Run: run,
			Note: Note{Kind: NoteRunNotStarted, Schedule: sch.ID, Title: s.scheduleTitle(sch), At: runText(run.At, sch.TZ), Reason: ErrorMessage(err)}})
		return nil, err
	}
	req, err = s.startScheduled(ctx, req, why)
	if err != nil {
		return nil, err
	}
	s.auditSchedule(ctx, sch, "", "schedule_run", fmt.Sprintf("run of %s: request #%d", run.At.UTC().Format(time.RFC3339), req.ID))
	log.Info().Int64("request_id", req.ID).Str("status", string(req.Status)).Msg("scheduled run started")
	s.announceStart(ctx, sch, run, req, why)
	return req, nil
}

// scheduledRequest builds the request of a run of sch, and says why it
// needs approval ("" when it does not).
func (s *schedules) scheduledRequest(ctx context.Context, sch *Schedule) (*Request, string, error) {
	app, env, err := s.lookup(sch.App, sch.Env)
	if err != nil {
		return nil, "", err
	}
	if err := checkVersion(app, sch.Version); err != nil {
		return nil, "", err
	}
	// Fail closed: a run whose creator's rights cannot be checked now
	// does not start.
	who, err := s.identity(ctx, sch.CreatedBy, env.Deployers)
	if err != nil {
		return nil, "", unverified("<@%s>, who created the schedule, may still deploy %s to %s", sch.CreatedBy, app.Name, env.Name)
	}
	if err := MayDeploy(app.Name, env, who); err != nil {
		return nil, "", Errorf(EFORBIDDEN, "<@%s>, who created the schedule, may no longer deploy %s to %s.", sch.CreatedBy, app.Name, env.Name)
	}
	var build Build
	if app.Type == TypeWeb {
		url := strings.ReplaceAll(app.ArtifactURL, "{version}", sch.Version)
		build, err = s.runner.CheckBuild(ctx, url)
		switch ErrorCode(err) {
		case "":
		case EINVALID, ENOTFOUND:
			return nil, "", Errorf(EINVALID, "there is no build %s of %s at %s.", sch.Version, app.Name, url)
		default:
			return nil, "", Errorf(ECONFLICT, "I could not check the build at %s.", url)
		}
	}
	plan := s.requests.buildPlan(app, env, planInput{kind: KindDeploy, version: sch.Version, build: build})
	req := &Request{
		Kind: KindDeploy, App: app.Name, Env: env.Name, Version: sch.Version,
		RequestedBy: sch.CreatedBy, Channel: sch.Channel, Plan: plan, PlanHash: s.planHash(plan), ScheduleID: sch.ID,
	}
	why := ""
	if env.Approval.Required {
		// The plan this run would send, without the build details the
		// schedule could not know, must be the one the schedule approved.
		base := s.planHash(buildBase(plan))
		switch {
		case len(sch.ApprovedBy) == 0:
			why = fmt.Sprintf("%s now requires approval and the schedule was created without one", env.Name)
		case len(sch.PlanHash) == ShortHashLen && strings.HasPrefix(base, sch.PlanHash):
			why = fmt.Sprintf("schedule S%d was made by an older deploybot, whose approval did not bind the full plan (every run asks until it is unscheduled and scheduled again)", sch.ID)
		case base != sch.PlanHash:
			why = fmt.Sprintf("its plan changed since the schedule was approved (plan %s then, %s now: hosts, template or settings were edited)", ShortHash(sch.PlanHash), ShortHash(base))
		default:
			why, err = s.approvalHolds(ctx, sch, env.Approval)
			if err != nil {
				return nil, "", err
			}
		}
	}
	return req, why, nil
}

// startScheduled stores a run's request, shows its card and queues or
// starts it; with a reason why it needs approval, it waits for approval
// instead, with that reason in its thread.
func (s *schedules) startScheduled(ctx context.Context, req *Request, why string) (*Request, error) {
	_, env, err := s.lookup(req.App, req.Env)
	if err != nil {
		return nil, err
	}
	req.Status = StatusQueued
	if why != "" {
		req.Status = StatusPendingApproval
		if env.Approval.ExpiresAfter > 0 {
			req.ExpiresAt = s.now().Add(env.Approval.ExpiresAfter)
		}
	}
	// The card's message is posted before the request is stored, as for a
	// request typed in Slack (submit): another replica's periodic pass may
	// start the queued request at once, and must update this card rather
	// than post a second one.
	if ref, err := s.notifier.Announce(ctx, req.Channel, placeholderNote(req)); err != nil {
		s.log.Warn().Err(err).Int64("schedule_id", req.ScheduleID).Msg("post the card of a scheduled run")
	} else {
		req.Message = ref
	}
	if err := s.store.CreateRequest(ctx, req); err != nil {
		return nil, internal("create scheduled request", err)
	}
	s.runs.show(ctx, req)
	s.thread(ctx, req, Note{Kind: NoteScheduleStart, Schedule: req.ScheduleID, Reason: why})
	if why == "" {
		s.runs.startNext(ctx, req.App, req.Env)
	}
	return s.requests.reload(ctx, req), nil
}

// announceStart announces a run's request as it stands after the start.
func (s *schedules) announceStart(ctx context.Context, sch *Schedule, run RunTime, req *Request, why string) {
	note := Note{Kind: NoteRunStarted, Schedule: sch.ID, Title: s.scheduleTitle(sch), At: runText(run.At, sch.TZ),
		Request: req.ID, Channel: req.Channel, Card: req.Message, Status: req.Status}
	switch req.Status {
	case StatusPendingApproval:
		note.Reason = why
	case StatusQueued:
		wait := s.runs.blocker(ctx, req)
		note.Wait = &wait
	}
	note.CatchUp = !run.At.IsZero() && s.now().Sub(run.At) > 2*time.Minute
	s.announce(ctx, ScheduleAnnouncement{Kind: AnnounceStarted, Schedule: *sch, Run: run, Request: req, Note: note})
}

// ScheduleTick does the periodic work of schedules: it retries the runs
// whose checks could not be made (see TriggerSchedule), announces each run
// that is due within AnnounceLead (once), and the end of every run whose
// request has finished (once, remembered in the audit trail). The
// scheduler calls it every few seconds; tests call it directly.
//
// Among replicas sharing a store, the holder of the schedules lease does
// this work; the others return at once. The holder reads what was
// announced and deferred from the audit trail on every pass, so that
// nothing another replica did (or a previous holder left) is repeated or
// forgotten.
func (s *schedules) ScheduleTick(ctx context.Context) {
	l, ok := s.hold(ctx, schedulesLease)
	if !ok {
		return
	}
	// Renewed while the pass lasts: a slow Slack call must not hand the
	// work to another replica halfway (both would retry the same run). A
	// pass whose lease is lost all the same stops.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer s.keep(ctx, schedulesLease, l, cancel)()
	s.loadAnnounced(ctx)
	now := s.now()
	s.retryDeferred(ctx, now)
	list, err := s.store.Schedules(ctx)
	if err != nil {
		s.log.Error().Err(err).Msg("list schedules")
		return
	}
	for _, sch := range list {
		if ctx.Err() != nil {
			return // the lease was lost: its new holder announces
		}
		if sch.Status != ScheduleActive {
			continue
		}
		runs := s.NextRuns(sch, 1)
		if len(runs) == 0 || runs[0].At.Sub(now) > s.announceLead() {
			continue
		}
		key := announcementKey(sch.ID, runs[0].At)
		if s.markAnnounced(key) {
			continue
		}
		s.auditSchedule(ctx, sch, "", "schedule_upcoming", key)
		s.announce(ctx, ScheduleAnnouncement{Kind: AnnounceUpcoming, Schedule: *sch, Run: runs[0],
			Note: Note{Kind: NoteRunUpcoming, Schedule: sch.ID, Title: s.scheduleTitle(sch), Detail: DurationText(runs[0].At.Sub(now).Round(time.Minute)),
				At: runText(runs[0].At, sch.TZ), Text: runs[0].Note}})
	}
	s.announceResults(ctx, now)
}

// announceResults announces the end of finished scheduled requests.
func (s *schedules) announceResults(ctx context.Context, now time.Time) {
	done, err := s.store.Requests(ctx, RequestFilter{Statuses: []Status{StatusSucceeded, StatusFailed, StatusCanceled, StatusRejected, StatusExpired}, Limit: 200})
	if err != nil {
		s.log.Error().Err(err).Msg("list finished requests")
		return
	}
	for _, r := range done {
		if r.ScheduleID == 0 || now.Sub(r.FinishedAt) > 24*time.Hour {
			continue
		}
		s.sched.mu.Lock()
		seen := s.sched.results[r.ID]
		s.sched.mu.Unlock()
		if seen {
			continue
		}
		if s.resultAnnounced(ctx, r) {
			s.setResult(r.ID)
			continue
		}
		sch, err := s.store.Schedule(ctx, r.ScheduleID)
		if err != nil {
			continue
		}
		s.audit(ctx, r, "", "schedule_result_announced", string(r.Status))
		s.setResult(r.ID)
		s.announce(ctx, ScheduleAnnouncement{Kind: AnnounceFinished, Schedule: *sch, Request: r,
			Note: Note{Kind: NoteRunEnded, Schedule: sch.ID, Title: s.scheduleTitle(sch), Status: r.Status,
				Request: r.ID, Channel: r.Channel, Card: r.Message, Text: oneLine(r.Outcome, 300)}})
	}
}

// resultAnnounced reads r's audit trail for an announced end.
func (s *schedules) resultAnnounced(ctx context.Context, r *Request) bool {
	log, err := s.store.AuditLog(ctx, r.ID, 0)
	if err != nil {
		return true // better no announcement than one per tick
	}
	for _, e := range log {
		if e.Action == "schedule_result_announced" {
			return true
		}
	}
	return false
}

func (s *schedules) setResult(id int64) {
	s.sched.mu.Lock()
	defer s.sched.mu.Unlock()
	if s.sched.results == nil {
		s.sched.results = map[int64]bool{}
	}
	s.sched.results[id] = true
}

// markAnnounced records key and reports whether it was already there.
func (s *schedules) markAnnounced(key string) bool {
	s.sched.mu.Lock()
	defer s.sched.mu.Unlock()
	if s.sched.upcoming == nil {
		s.sched.upcoming = map[string]bool{}
	}
	if s.sched.upcoming[key] {
		return true
	}
	s.sched.upcoming[key] = true
	return false
}

// loadAnnounced fills the memory of announced upcoming runs and of
// deferred runs from the recent audit trail, so that neither a restart
// nor another replica's work is announced or retried twice.
func (s *schedules) loadAnnounced(ctx context.Context) {
	log, err := s.store.AuditLog(ctx, 0, 500)
	if err != nil {
		s.log.Warn().Err(err).Msg("read audit log")
		return
	}
	for _, e := range log {
		if e.Action == "schedule_upcoming" {
			s.markAnnounced(e.Detail)
		}
	}
	s.loadDeferred(log)
}

// RecoverSchedules handles the runs that fell while deploybot was down:
// for each active schedule, every run after its LastRunAt and up to now is
// announced as missed; with the run_once policy one catch-up run starts
// now, otherwise they are skipped. The scheduler calls it at start, before
// cron runs.
func (s *schedules) RecoverSchedules(ctx context.Context) {
	list, err := s.store.Schedules(ctx)
	if err != nil {
		s.log.Error().Err(err).Msg("list schedules")
		return
	}
	now := s.now()
	others := s.othersUp(ctx, now)
	for _, sch := range list {
		if sch.Status != ScheduleActive {
			continue
		}
		timing, err := s.Timing(sch)
		if err != nil {
			s.log.Error().Err(err).Int64("schedule_id", sch.ID).Msg("schedule timing")
			continue
		}
		from := sch.LastRunAt
		if from.IsZero() {
			from = sch.CreatedAt
		}
		runs, n := timing.Between(from, now, 10)
		if n == 0 {
			continue
		}
		if others && n == 1 && now.Sub(runs[0].At) < dueJustNow {
			// Other replicas are up: their cron fires this run now, and
			// it was not missed. It is started as cron starts it (the
			// schedule's compare-and-set picks one replica), never
			// recorded as missed, which would skip it.
			if _, err := s.TriggerSchedule(ctx, sch.ID, runs[0].At); err != nil {
				s.log.Warn().Err(err).Int64("schedule_id", sch.ID).Msg("scheduled run")
			}
			continue
		}
		last := runs[len(runs)-1]
		if n > len(runs) {
			// Between keeps the first ones; the catch-up is the latest.
			all, _ := timing.Between(from, now, 10000)
			last = all[len(all)-1]
		}
		s.missed(ctx, sch, runs, n, last)
	}
}

// dueJustNow is how recent a run is that a replica starting beside
// running ones leaves to their cron rather than count as missed.
const dueJustNow = time.Minute

// othersUp reports whether another replica sharing the store is up: one
// of them holds the periodic or the schedules lease, which they renew
// every few seconds.
func (s *schedules) othersUp(ctx context.Context, now time.Time) bool {
	all, err := s.store.Leases(ctx, now)
	if err != nil {
		s.log.Warn().Err(err).Msg("list leases")
		return false
	}
	for _, l := range all {
		if (l.Name == periodicLease || l.Name == schedulesLease) && l.Holder != s.Replica {
			return true
		}
	}
	return false
}

// missed announces and records the missed runs of sch and, with run_once,
// starts one catch-up run.
func (s *schedules) missed(ctx context.Context, sch *Schedule, runs []RunTime, n int, last RunTime) {
	catchUp := sch.MissedRuns == MissedRunOnce
	// Said by the process whose compare-and-set records the runs: when
	// several replicas start at once, each finds the same missed runs.
	say := func(sch *Schedule) {
		s.auditSchedule(ctx, sch, "", "schedule_missed", fmt.Sprintf("%s, last %s", CountOf(n, "run"), last.At.UTC().Format(time.RFC3339)))
		s.log.Warn().Int64("schedule_id", sch.ID).Int("missed", n).Bool("catch_up", catchUp).Msg("missed scheduled runs")
		s.announce(ctx, ScheduleAnnouncement{Kind: AnnounceMissed, Schedule: *sch, Run: last,
			Note: Note{Kind: NoteRunsMissed, Schedule: sch.ID, Title: s.scheduleTitle(sch), Count: n, Runs: runs, TZ: sch.TZ, CatchUp: catchUp}})
	}
	if catchUp {
		if _, err := s.trigger(ctx, sch.ID, last.At, say); err != nil {
			s.log.Warn().Err(err).Int64("schedule_id", sch.ID).Msg("catch-up run")
		}
		return
	}
	upd, err := s.updateSchedule(ctx, sch, "record missed runs", func(u *Schedule) error {
		if u.Status != ScheduleActive || !u.LastRunAt.Before(last.At) {
			return errNoChange // paused, deleted or run meanwhile
		}
		u.LastRunAt = last.At
		u.SkipNext = false
		if u.Spec == "" {
			u.Status = ScheduleDone
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, errNoChange) {
			s.log.Error().Err(err).Int64("schedule_id", sch.ID).Msg("record missed runs")
		}
		return
	}
	say(upd)
	s.scheduleChanged(upd)
}
