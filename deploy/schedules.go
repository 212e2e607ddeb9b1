package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// ScheduleInput is a scheduled release as typed in Slack: exactly one of
// Cron, At (a "YYYY-MM-DD HH:MM" wall time or RFC 3339) and AtTime (an
// instant) is set.
type ScheduleInput struct {
	User, Channel, App, Env, Version string
	// Cron is a standard 5-field spec or a descriptor such as @daily,
	// without a CRON_TZ= prefix.
	Cron string
	// At is a one-shot time as typed.
	At string
	// AtTime is a one-shot instant (an RFC 3339 time already parsed).
	AtTime time.Time
	// TZ is the IANA zone the schedule is read in; "" means the config's
	// timezone.
	TZ string
	// Missed is the missed-run policy, MissedSkip (the default, "") or
	// MissedRunOnce.
	Missed string
}

// scheduleState is the Service's in-memory part of scheduled releases:
// the scheduler's hook and what was already announced.
type scheduleState struct {
	mu sync.Mutex
	// trigger serialises runs, so a catch-up and a cron fire of the same
	// schedule cannot both start a release.
	trigger sync.Mutex
	// hook keeps the scheduler's cron entries in step with a change.
	hook func(*Schedule)
	// upcoming remembers the runs announced ahead ("id@unix").
	upcoming map[string]bool
	// results remembers the scheduled requests whose end was announced.
	results map[int64]bool
	// deferred are claimed runs waiting for their checks to be possible
	// ("id@unix"), retried by ScheduleTick (schedcheck.go).
	deferred map[string]deferredRun
}

// changed tells the scheduler about a schedule change.
func (s *schedules) scheduleChanged(sch *Schedule) {
	s.sched.mu.Lock()
	h := s.sched.hook
	s.sched.mu.Unlock()
	if h != nil {
		h(sch)
	}
}

// setScheduleHook installs (or with nil removes) the scheduler's hook.
func (s *schedules) setScheduleHook(h func(*Schedule)) {
	s.sched.mu.Lock()
	defer s.sched.mu.Unlock()
	s.sched.hook = h
}

// announceLead is AnnounceLead with its default.
func (s *schedules) announceLead() time.Duration {
	if s.AnnounceLead > 0 {
		return s.AnnounceLead
	}
	return 10 * time.Minute
}

// CreateSchedule validates and stores a scheduled release. The creator
// needs deployer rights; the version is checked as for RequestDeploy. The
// zone defaults to the config's timezone. A one-shot wall time inside a
// daylight-saving gap is refused; a repeated one takes its first
// occurrence and the returned schedule's Note says so. Where the
// environment requires approval the schedule waits for it (an approval
// card with the next runs is posted); otherwise it is active at once.
//
// Errors: as RequestDeploy (ENOTFOUND, EFORBIDDEN, EINVALID), and EINVALID
// for an unknown zone, an invalid cron spec (with the reason), a time in
// the past or an unknown missed-run policy.
func (s *schedules) CreateSchedule(ctx context.Context, in ScheduleInput) (*Schedule, error) {
	_, app, env, err := s.requests.authorizeRequest(ctx, in.User, in.Channel, in.App, in.Env)
	if err != nil {
		return nil, err
	}
	if err := checkVersion(app, in.Version); err != nil {
		return nil, err
	}
	tz := in.TZ
	if tz == "" {
		if loc := s.cat().Location; loc != nil {
			tz = loc.String()
		}
	}
	if tz == "" {
		tz = "UTC"
	}
	loc, err := loadZone(tz)
	if err != nil {
		return nil, err
	}
	missed := in.Missed
	switch missed {
	case "":
		missed = MissedSkip
	case MissedSkip, MissedRunOnce:
	default:
		return nil, Errorf(EINVALID, "Unknown missed-run policy %q: use %s or %s.", printable(missed), MissedSkip, MissedRunOnce)
	}
	now := s.now()
	sch := &Schedule{
		App: app.Name, Env: env.Name, Version: in.Version, TZ: tz, CreatedBy: in.User, Channel: in.Channel,
		MissedRuns: missed, Status: ScheduleActive,
	}
	switch {
	case in.Cron != "" && (in.At != "" || !in.AtTime.IsZero()):
		return nil, Errorf(EINVALID, "Give either a cron spec or a time after `at`, not both.")
	case in.Cron != "":
		if unsafeCron(in.Cron) {
			return nil, Errorf(EINVALID, "%q is not a valid cron spec: it holds characters no cron field uses.", printable(in.Cron))
		}
		t, err := ParseTiming(in.Cron, time.Time{}, loc)
		if err != nil {
			return nil, err
		}
		if t.Next(now).IsZero() {
			return nil, Errorf(EINVALID, "%q never fires after now.", printable(in.Cron))
		}
		sch.Spec = in.Cron
	default:
		at, note, err := s.oneShot(in, loc)
		if err != nil {
			return nil, err
		}
		if !at.After(now) {
			return nil, Errorf(EINVALID, "%s is in the past (it is %s now in %s). Give a later time.",
				at.In(loc).Format("2006-01-02 15:04 MST"), now.In(loc).Format("2006-01-02 15:04 MST"), loc)
		}
		sch.At, sch.Note = at, note
	}
	sch.PlanHash = s.schedulePlanHash(app, env, in.Version)
	if env.Approval.Required {
		sch.Status = SchedulePendingApproval
	}
	// Runs are counted from here: nothing before the schedule existed is
	// ever "missed".
	sch.LastRunAt = now
	if err := s.store.CreateSchedule(ctx, sch); err != nil {
		return nil, internal("create schedule", err)
	}
	s.log.Info().Int64("schedule_id", sch.ID).Str("app", sch.App).Str("env", sch.Env).Str("slack_user", in.User).
		Str("spec", sch.Spec).Str("tz", tz).Str("status", string(sch.Status)).Msg("schedule created")
	s.scheduleChanged(sch)
	kind, note := AnnounceCreated, Note{Kind: NoteScheduleCreated, User: in.User, Schedule: sch.ID, Title: s.scheduleTitle(sch), Text: sch.Note}
	if sch.Status == SchedulePendingApproval {
		kind = AnnounceApproval
		note.Kind, note.Count, note.Users, note.Detail = NoteScheduleNeedsApproval, max(env.Approval.MinApprovals, 1), env.Approval.Approvers, ShortHash(sch.PlanHash)
	}
	s.announce(ctx, ScheduleAnnouncement{Kind: kind, Schedule: *sch, Note: note, NextRuns: s.NextRuns(sch, 3)})
	return sch, nil
}

// oneShot resolves the time of a one-shot schedule.
func (s *schedules) oneShot(in ScheduleInput, loc *time.Location) (time.Time, string, error) {
	if !in.AtTime.IsZero() {
		return in.AtTime.In(loc), "", nil
	}
	if in.At == "" {
		return time.Time{}, "", Errorf(EINVALID, "Give a cron spec in quotes, e.g. \"30 2 * * *\", or `at YYYY-MM-DD HH:MM`.")
	}
	if t, err := time.Parse(time.RFC3339, in.At); err == nil {
		return t.In(loc), "", nil
	}
	return ResolveAt(in.At, loc)
}

// unsafeCron reports whether spec holds anything no cron spec needs.
func unsafeCron(spec string) bool {
	for _, r := range spec {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune(" */,-@?", r)) {
			return true
		}
	}
	return false
}

// loadZone loads an IANA zone name; EINVALID when unknown.
func loadZone(tz string) (*time.Location, error) {
	if unsafeText(strings.ReplaceAll(tz, "/", "")) || strings.Contains(tz, "..") {
		return nil, Errorf(EINVALID, "%q is not a time zone: use an IANA name such as Europe/Berlin or UTC.", printable(tz))
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, Errorf(EINVALID, "Unknown time zone %q: use an IANA name such as Europe/Berlin or UTC.", printable(tz))
	}
	return loc, nil
}

// schedulePlanHash is the hash of what a run of app env version would do,
// without what the build server says of the build (a run checks the build
// when it starts). A run whose plan hash differs from the approved one
// needs a new approval.
func (s *schedules) schedulePlanHash(app *App, env *Environment, version string) string {
	return s.planHash(s.requests.buildPlan(app, env, planInput{kind: KindDeploy, version: version}))
}

// Timing returns the parsed timing of a stored schedule.
func (s *schedules) Timing(sch *Schedule) (*Timing, error) {
	loc, err := loadZone(sch.TZ)
	if err != nil {
		return nil, err
	}
	return ParseTiming(sch.Spec, sch.At, loc)
}

// NextRuns returns the next n runs of sch after now, in the schedule's
// zone (RunTime.At.UTC() gives them in UTC); none for a schedule that is
// paused, done, rejected or deleted.
func (s *schedules) NextRuns(sch *Schedule, n int) []RunTime {
	if sch.Status != ScheduleActive && sch.Status != SchedulePendingApproval {
		return nil
	}
	t, err := s.Timing(sch)
	if err != nil {
		return nil
	}
	from := s.now()
	if sch.LastRunAt.After(from) {
		from = sch.LastRunAt
	}
	runs := t.Runs(from, n)
	if sch.SkipNext && len(runs) > 0 {
		runs[0].Note = strings.TrimPrefix(runs[0].Note+"; skipped (Skip this run)", "; ")
	}
	return runs
}

// Schedules lists the schedules that are not deleted, oldest first.
func (s *schedules) Schedules(ctx context.Context) ([]*Schedule, error) {
	list, err := s.store.Schedules(ctx)
	if err != nil {
		return nil, internal("list schedules", err)
	}
	return list, nil
}

// Schedule returns one schedule; ENOTFOUND when there is none or it was
// deleted.
func (s *schedules) Schedule(ctx context.Context, id int64) (*Schedule, error) {
	sch, err := s.store.Schedule(ctx, id)
	if ErrorCode(err) == ENOTFOUND || err == nil && sch.Status == ScheduleDeleted {
		return nil, Errorf(ENOTFOUND, "There is no schedule S%d. `/deploy schedules` lists them.", id)
	} else if err != nil {
		return nil, internal("read schedule", err)
	}
	return sch, nil
}

// mayManage checks that user may pause, resume, skip or delete sch: its
// creator, or a deployer or approver of its environment.
func (s *schedules) mayManage(ctx context.Context, sch *Schedule, user, verb string) error {
	if user == sch.CreatedBy {
		return nil
	}
	_, env, err := s.lookup(sch.App, sch.Env)
	if err != nil {
		return Errorf(EFORBIDDEN, "Only <@%s>, who created schedule S%d, can %s it.", sch.CreatedBy, sch.ID, verb)
	}
	who, err := s.identity(ctx, user, env.Deployers, env.Approval.Approvers)
	if err != nil {
		return err
	}
	if !who.In(env.Deployers) && !who.In(env.Approval.Approvers) {
		return Errorf(EFORBIDDEN, "Only the creator, deployers and approvers of %s %s can %s schedule S%d.", sch.App, sch.Env, verb, sch.ID)
	}
	return nil
}

// changeSchedule applies one change to schedule id: it checks the rights
// and the current status (one of from), lets edit change a copy, writes
// it as a compare-and-set, audits it and tells the scheduler.
func (s *schedules) changeSchedule(ctx context.Context, id int64, user, verb, action string, from []ScheduleStatus, edit func(*Schedule) error) (*Schedule, error) {
	sch, err := s.Schedule(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.mayManage(ctx, sch, user, verb); err != nil {
		s.auditSchedule(ctx, sch, user, action+"_refused", ErrorMessage(err))
		return nil, err
	}
	upd, err := s.updateSchedule(ctx, sch, verb+" schedule", func(u *Schedule) error {
		ok := false
		for _, f := range from {
			ok = ok || u.Status == f
		}
		if !ok {
			return Errorf(ECONFLICT, "Schedule S%d is %s; it cannot be %s.", id, scheduleLabel(u.Status), pastTense(verb))
		}
		return edit(u)
	})
	if err != nil {
		return nil, err
	}
	s.auditSchedule(ctx, upd, user, action, s.scheduleTitle(upd))
	s.log.Info().Int64("schedule_id", id).Str("slack_user", user).Str("status", string(upd.Status)).Msg("schedule " + pastTense(verb))
	s.scheduleChanged(upd)
	return upd, nil
}

// errNoChange, returned by an edit of updateSchedule, leaves the schedule
// as it is.
var errNoChange = errors.New("no change")

// scheduleWriteTries bounds how often updateSchedule re-applies a change
// that lost the race to another writer.
const scheduleWriteTries = 10

// updateSchedule applies edit to a copy of sch and stores it as a
// compare-and-set on its status and revision (Schedule.Rev). When another
// change was stored since sch was read (a cron fire, a click), it reads the
// schedule again and applies edit to that, so that no change is lost and
// none is written over stale fields: edit sees the current state each
// time and may refuse it. An error of edit is returned as it is (errNoChange
// included); an error of the store is wrapped with what.
func (s *schedules) updateSchedule(ctx context.Context, sch *Schedule, what string, edit func(*Schedule) error) (*Schedule, error) {
	for try := 1; ; try++ {
		upd := *sch
		upd.ApprovedBy = slices.Clone(sch.ApprovedBy)
		if err := edit(&upd); err != nil {
			return nil, err
		}
		err := s.store.UpdateSchedule(ctx, &upd, sch.Status)
		if err == nil {
			return &upd, nil
		}
		if ErrorCode(err) != ECONFLICT || try >= scheduleWriteTries {
			return nil, internal(what, err)
		}
		if sch, err = s.store.Schedule(ctx, sch.ID); err != nil {
			return nil, internal(what, err)
		}
	}
}

// Unschedule deletes schedule id. Its creator, deployers and approvers of
// its environment may. A release it already started is not stopped.
//
// Errors: ENOTFOUND, EFORBIDDEN, ECONFLICT (already deleted meanwhile).
func (s *schedules) Unschedule(ctx context.Context, id int64, user string) (*Schedule, error) {
	sch, err := s.changeSchedule(ctx, id, user, "delete", "schedule_deleted",
		[]ScheduleStatus{SchedulePendingApproval, ScheduleActive, SchedulePaused, ScheduleDone, ScheduleRejected},
		func(u *Schedule) error { u.Status = ScheduleDeleted; return nil })
	if err != nil {
		return nil, err
	}
	s.announce(ctx, ScheduleAnnouncement{Kind: AnnounceChanged, Schedule: *sch,
		Note: Note{Kind: NoteScheduleDeleted, User: user, Schedule: sch.ID, Title: s.scheduleTitle(sch)}})
	return sch, nil
}

// PauseSchedule pauses an active schedule: no run starts until
// ResumeSchedule.
//
// Errors: ENOTFOUND, EFORBIDDEN, ECONFLICT when it is not active.
func (s *schedules) PauseSchedule(ctx context.Context, id int64, user string) (*Schedule, error) {
	sch, err := s.changeSchedule(ctx, id, user, "pause", "schedule_paused", []ScheduleStatus{ScheduleActive},
		func(u *Schedule) error { u.Status = SchedulePaused; u.SkipNext = false; return nil })
	if err != nil {
		return nil, err
	}
	s.announce(ctx, ScheduleAnnouncement{Kind: AnnounceChanged, Schedule: *sch,
		Note: Note{Kind: NoteSchedulePaused, User: user, Schedule: sch.ID, Title: s.scheduleTitle(sch)}})
	return sch, nil
}

// PauseOrphanedSchedules pauses every active schedule whose app or
// environment the catalog in force no longer has (a reload removed it) and
// returns them, so that the caller can say so; nothing is announced here.
// They are not deleted, and they stay paused when the app or environment
// comes back: a user resumes them. The audit trail records the bot as the
// actor (schedule_paused). A schedule waiting for approval is left as it
// is: resuming a paused one would skip its approval. On a failure it goes
// on with the others and returns what it paused with the errors.
func (s *Service) PauseOrphanedSchedules(ctx context.Context) ([]*Schedule, error) {
	list, err := s.Schedules(ctx)
	if err != nil {
		return nil, err
	}
	orphaned := func(sch *Schedule) bool {
		_, env := s.cat().Environment(sch.App, sch.Env)
		return sch.Status == ScheduleActive && env == nil
	}
	var paused []*Schedule
	var errs []error
	for _, sch := range list {
		if !orphaned(sch) {
			continue
		}
		upd, err := s.updateSchedule(ctx, sch, "pause schedule", func(u *Schedule) error {
			if !orphaned(u) {
				return errNoChange
			}
			u.Status, u.SkipNext = SchedulePaused, false
			return nil
		})
		if errors.Is(err, errNoChange) {
			continue
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		s.auditSchedule(ctx, upd, "", "schedule_paused", s.scheduleTitle(upd)+": its app or environment is no longer configured")
		s.log.Info().Int64("schedule_id", upd.ID).Str("app", upd.App).Str("env", upd.Env).
			Msg("schedule paused: its app or environment is no longer configured")
		s.scheduleChanged(upd)
		paused = append(paused, upd)
	}
	return paused, errors.Join(errs...)
}

// ResumeSchedule resumes a paused schedule. Runs that fell in the pause
// are not caught up.
//
// Errors: ENOTFOUND, EFORBIDDEN, ECONFLICT when it is not paused.
func (s *schedules) ResumeSchedule(ctx context.Context, id int64, user string) (*Schedule, error) {
	now := s.now()
	sch, err := s.changeSchedule(ctx, id, user, "resume", "schedule_resumed", []ScheduleStatus{SchedulePaused},
		func(u *Schedule) error {
			if u.Spec == "" && !u.At.After(now) {
				return Errorf(ECONFLICT, "Schedule S%d was for %s, which has passed; create a new one.", u.ID, u.At.UTC().Format("2006-01-02 15:04 UTC"))
			}
			u.Status = ScheduleActive
			if u.LastRunAt.Before(now) {
				u.LastRunAt = now // runs during the pause are not missed runs
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	s.announce(ctx, ScheduleAnnouncement{Kind: AnnounceChanged, Schedule: *sch, NextRuns: s.NextRuns(sch, 3),
		Note: Note{Kind: NoteScheduleResumed, User: user, Schedule: sch.ID, Title: s.scheduleTitle(sch)}})
	return sch, nil
}

// SkipNextRun skips the next run of an active schedule only ("Skip this
// run"); it returns the schedule and the run that will be skipped.
//
// Errors: ENOTFOUND, EFORBIDDEN, ECONFLICT when it is not active or the
// next run is already skipped.
func (s *schedules) SkipNextRun(ctx context.Context, id int64, user string) (*Schedule, RunTime, error) {
	var next RunTime
	sch, err := s.changeSchedule(ctx, id, user, "skip a run of", "schedule_skip_next", []ScheduleStatus{ScheduleActive},
		func(u *Schedule) error {
			if u.SkipNext {
				return Errorf(ECONFLICT, "The next run of schedule S%d is already skipped.", u.ID)
			}
			runs := s.NextRuns(u, 1)
			if len(runs) == 0 {
				return Errorf(ECONFLICT, "Schedule S%d has no next run to skip.", u.ID)
			}
			next = runs[0]
			u.SkipNext = true
			return nil
		})
	if err != nil {
		return nil, RunTime{}, err
	}
	s.announce(ctx, ScheduleAnnouncement{Kind: AnnounceChanged, Schedule: *sch, Run: next,
		Note: Note{Kind: NoteRunSkippedBy, User: user, Schedule: sch.ID, Title: s.scheduleTitle(sch), At: runText(next.At, sch.TZ)}})
	return sch, next, nil
}

// auditSchedule appends an audit entry about a schedule.
func (s *schedules) auditSchedule(ctx context.Context, sch *Schedule, actor, action, detail string) {
	e := AuditEntry{At: s.now(), Actor: actor, Action: action, ScheduleID: sch.ID, App: sch.App, Env: sch.Env, Detail: detail}
	if err := s.store.Audit(ctx, e); err != nil {
		s.log.Error().Err(err).Str("action", action).Msg("audit")
	}
}

// scheduleTitle names a schedule in text: "S3 (shop-web 1.4.2 →
// production, "30 2 * * *" Europe/Berlin)".
func (s *schedules) scheduleTitle(sch *Schedule) string {
	when := fmt.Sprintf("%q %s", sch.Spec, sch.TZ)
	if sch.Spec == "" {
		when = "at " + runText(sch.At, sch.TZ)
	}
	return fmt.Sprintf("S%d (%s %s → %s, %s)", sch.ID, sch.App, sch.Version, sch.Env, when)
}

// runText shows a run time in the schedule's zone and in UTC.
func runText(t time.Time, tz string) string {
	if t.IsZero() {
		return "-"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC
	}
	l := t.In(loc)
	if loc == time.UTC {
		return l.Format("Mon 2006-01-02 15:04 MST")
	}
	return l.Format("Mon 2006-01-02 15:04 MST") + " (" + t.UTC().Format("15:04 UTC") + ")"
}

// scheduleLabel is a schedule status in words.
func scheduleLabel(st ScheduleStatus) string {
	if st == SchedulePendingApproval {
		return "waiting for approval"
	}
	return string(st)
}

// pastTense turns a verb of changeSchedule into its participle.
func pastTense(verb string) string {
	switch verb {
	case "delete":
		return "deleted"
	case "pause":
		return "paused"
	case "resume":
		return "resumed"
	}
	return "changed"
}
