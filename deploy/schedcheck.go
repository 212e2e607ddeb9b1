package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// errUnverified is wrapped by the error of a scheduled run whose checks
// could not be made (a Slack user group lookup failed). Such a run does
// not start; it is retried on the next schedule ticks within RunGrace.
var errUnverified = errors.New("rights could not be verified")

// unverified is the error of a check that could not be made: what it
// wanted to verify, as a clause.
func unverified(format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	return fmt.Errorf("%w: %w", Errorf(ECONFLICT, "I could not check in Slack that %s (the user group lookup failed), so the run did not start.", what), errUnverified)
}

// approvalHolds re-evaluates sch's approval under the current policy pol:
// it still holds when at least max(min_approvals, 1) of its approvers may
// approve now (are approvers, and are not its creator unless
// self-approval is allowed). It returns why the approval no longer holds,
// "" when it does, and an error wrapping errUnverified when an approver's
// groups could not be looked up.
func (s *schedules) approvalHolds(ctx context.Context, sch *Schedule, pol ApprovalPolicy) (string, error) {
	need := max(pol.MinApprovals, 1)
	var valid, lost []string
	for _, u := range sch.ApprovedBy {
		who, err := s.identity(ctx, u, pol.Approvers)
		if err != nil {
			return "", unverified("<@%s>, who approved the schedule, is still an approver of %s %s", u, sch.App, sch.Env)
		}
		switch {
		case !who.In(pol.Approvers):
			lost = append(lost, fmt.Sprintf("<@%s> is no longer an approver", u))
		case u == sch.CreatedBy && !pol.AllowSelfApproval:
			lost = append(lost, fmt.Sprintf("<@%s> created it and self-approval is no longer allowed", u))
		default:
			valid = append(valid, u)
		}
	}
	if len(valid) >= need {
		return "", nil
	}
	why := fmt.Sprintf("its approval no longer holds under the current policy of %s: it needs %s and %d of its approvals still count", sch.Env, CountOf(need, "approval"), len(valid))
	if len(lost) > 0 {
		why += " (" + strings.Join(lost, "; ") + ")"
	}
	return why, nil
}

// deferredRun is a claimed scheduled run that did not start because its
// checks could not be made.
type deferredRun struct {
	ScheduleID int64
	At         time.Time
	// Since is when it was first deferred; it is retried until
	// Since+RunGrace.
	Since time.Time
	// Tried is when it was last tried; retries are at least
	// deferredRetryEvery apart, not to press a Slack API that is failing.
	Tried time.Time
}

// deferredRetryEvery is the least time between two tries of a deferred
// run.
const deferredRetryEvery = 30 * time.Second

func (d deferredRun) key() string { return announcementKey(d.ScheduleID, d.At) }

// deferRun remembers sch's run for a retry (in memory, and in the audit
// trail for a restart) and tells the announce channel why it did not
// start.
func (s *schedules) deferRun(ctx context.Context, sch *Schedule, run RunTime, err error) {
	d := deferredRun{ScheduleID: sch.ID, At: run.At, Since: s.now(), Tried: s.now()}
	s.sched.mu.Lock()
	if s.sched.deferred == nil {
		s.sched.deferred = map[string]deferredRun{}
	}
	s.sched.deferred[d.key()] = d
	s.sched.mu.Unlock()
	s.auditSchedule(ctx, sch, "", "schedule_run_deferred", d.key()+" "+ErrorMessage(err))
	s.announce(ctx, ScheduleAnnouncement{Kind: AnnounceNotStarted, Schedule: *sch, Run: run,
		Note: Note{Kind: NoteRunDeferred, Schedule: sch.ID, Title: s.scheduleTitle(sch), At: runText(run.At, sch.TZ),
			Reason: ErrorMessage(err), Until: runText(d.Since.Add(s.RunGrace), sch.TZ)}})
}

// endDeferred forgets a deferred run and records how it ended.
func (s *schedules) endDeferred(ctx context.Context, sch *Schedule, d deferredRun, outcome string) {
	s.sched.mu.Lock()
	delete(s.sched.deferred, d.key())
	s.sched.mu.Unlock()
	s.auditSchedule(ctx, sch, "", "schedule_run_deferral_ended", d.key()+" "+outcome)
}

// retryDeferred retries each deferred run: within RunGrace of its time it
// starts once its checks can be made; past RunGrace, or when its schedule
// was paused or deleted or a later run is due, it is recorded as skipped
// and announced.
func (s *schedules) retryDeferred(ctx context.Context, now time.Time) {
	s.sched.mu.Lock()
	runs := make([]deferredRun, 0, len(s.sched.deferred))
	for _, d := range s.sched.deferred {
		runs = append(runs, d)
	}
	s.sched.mu.Unlock()
	sort.Slice(runs, func(i, j int) bool { return runs[i].At.Before(runs[j].At) })
	for _, d := range runs {
		if ctx.Err() != nil {
			return // the schedules lease was lost: its new holder retries
		}
		if now.Sub(d.Tried) < deferredRetryEvery && now.Sub(d.Since) <= s.RunGrace {
			continue
		}
		s.retryRun(ctx, d, now)
	}
}

// retryRun is retryDeferred for one run.
func (s *schedules) retryRun(ctx context.Context, d deferredRun, now time.Time) {
	s.sched.trigger.Lock()
	defer s.sched.trigger.Unlock()
	log := s.log.With().Int64("schedule_id", d.ScheduleID).Time("run", d.At).Logger()
	sch, err := s.store.Schedule(ctx, d.ScheduleID)
	if ErrorCode(err) == ENOTFOUND {
		s.sched.mu.Lock()
		delete(s.sched.deferred, d.key())
		s.sched.mu.Unlock()
		return
	}
	if err != nil {
		log.Warn().Err(err).Msg("read schedule of a deferred run")
		return
	}
	timing, err := s.Timing(sch)
	if err != nil {
		log.Error().Err(err).Msg("schedule timing")
		return
	}
	run := RunTime{At: d.At.In(timing.Location())}
	skip := ""
	switch {
	case sch.Status != ScheduleActive && !(sch.Status == ScheduleDone && timing.OneShot()):
		skip = fmt.Sprintf("the schedule is %s", scheduleLabel(sch.Status))
	case sch.LastRunAt.After(d.At):
		skip = "a later run of the schedule was due"
	case now.Sub(d.Since) > s.RunGrace:
		skip = fmt.Sprintf("the rights it needs could not be checked within %s of its time", DurationText(s.RunGrace))
	}
	if skip != "" {
		log.Warn().Str("reason", skip).Msg("deferred scheduled run skipped")
		s.endDeferred(ctx, sch, d, "skipped: "+skip)
		s.auditSchedule(ctx, sch, "", "schedule_run_skipped", d.At.UTC().Format(time.RFC3339)+": "+skip)
		s.announce(ctx, ScheduleAnnouncement{Kind: AnnounceNotStarted, Schedule: *sch, Run: run,
			Note: Note{Kind: NoteRunSkipped, Schedule: sch.ID, Title: s.scheduleTitle(sch), At: runText(d.At, sch.TZ), Reason: skip}})
		return
	}
	if ctx.Err() != nil {
		return // the schedules lease was lost while its checks were made
	}
	req, err := s.startRun(ctx, sch, run)
	switch {
	case errors.Is(err, errUnverified):
		// Still unverifiable: a later tick tries again.
		s.sched.mu.Lock()
		if _, ok := s.sched.deferred[d.key()]; ok {
			d.Tried = now
			s.sched.deferred[d.key()] = d
		}
		s.sched.mu.Unlock()
	case err != nil:
		s.endDeferred(ctx, sch, d, "failed: "+ErrorMessage(err))
	default:
		s.endDeferred(ctx, sch, d, fmt.Sprintf("started: request #%d", req.ID))
	}
}

// loadDeferred fills the deferred runs from the audit trail, so that a
// restart keeps retrying them.
func (s *schedules) loadDeferred(log []AuditEntry) {
	ended := map[string]bool{}
	for _, e := range log {
		if e.Action == "schedule_run_deferral_ended" {
			key, _, _ := strings.Cut(e.Detail, " ")
			ended[key] = true
		}
	}
	s.sched.mu.Lock()
	defer s.sched.mu.Unlock()
	// Ended here or by another replica: never retried again.
	for key := range ended {
		delete(s.sched.deferred, key)
	}
	for _, e := range log {
		key, _, _ := strings.Cut(e.Detail, " ")
		if e.Action != "schedule_run_deferred" || ended[key] {
			continue
		}
		if _, known := s.sched.deferred[key]; known {
			continue // keeps its retry times
		}
		d, ok := parseRunKey(key)
		if !ok {
			continue
		}
		d.Since = e.At
		if s.sched.deferred == nil {
			s.sched.deferred = map[string]deferredRun{}
		}
		s.sched.deferred[key] = d
	}
}

// parseRunKey reads an announcementKey back.
func parseRunKey(key string) (deferredRun, bool) {
	id, at, ok := strings.Cut(key, "@")
	if !ok {
		return deferredRun{}, false
	}
	sid, err1 := strconv.ParseInt(id, 10, 64)
	unix, err2 := strconv.ParseInt(at, 10, 64)
	if err1 != nil || err2 != nil {
		return deferredRun{}, false
	}
	return deferredRun{ScheduleID: sid, At: time.Unix(unix, 0).UTC()}, true
}
