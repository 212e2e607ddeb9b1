package deploy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// launch starts req's job once (the life cycle is the transitions table in
// status.go). req is already in
// launching, so a crash from here on leaves a trace that reconcile finds;
// the launch itself is never retried.
func (s *runs) launch(ctx context.Context, req *Request) {
	defer s.setInflight(req.ID, false)
	// The caller's context may end with a Slack handler; what follows a
	// launch must still be recorded.
	ctx = context.WithoutCancel(ctx)
	log := s.reqLog(req)
	// What AWX receives is derived from the stored record, checked
	// against what was approved, right before it is sent.
	stored, why := s.approvedPlan(ctx, req)
	if why != "" {
		log.Error().Str("plan_hash", req.PlanHash).Str("reason", why).Msg("launch refused: plan not approved")
		s.audit(ctx, req, "", "launch_refused", why)
		if _, err := s.finishEarly(ctx, req, StatusLaunching, StatusFailed, "", "Launch refused, nothing ran: "+why); err != nil {
			log.Error().Err(err).Msg("fail refused launch")
		}
		return
	}
	req = stored
	s.show(ctx, req)
	// Showing the card may take long (a slow Slack). Meanwhile another
	// replica may have decided the request, if this one's lease lapsed
	// (a stall, or the database out of its reach): only a request still
	// launching is sent to AWX. One that cannot be read stays launching,
	// and reconcileLaunching ends it once AWX is asked.
	if cur, err := s.store.Request(ctx, req.ID); err != nil || cur.Status != StatusLaunching {
		ev := log.Warn().Err(err)
		if cur != nil {
			ev = ev.Str("status", string(cur.Status))
		}
		ev.Msg("launch not sent: the request is no longer launching here")
		return
	}
	lctx, cancel := context.WithTimeout(ctx, s.LaunchTimeout)
	ref, err := s.runner.Launch(lctx, req)
	cancel()
	switch {
	case err == nil:
		s.markRunning(ctx, req, ref, Note{})
	case errors.Is(err, ErrOutcomeUnknown):
		log.Warn().Err(err).Msg("launch outcome unknown; reconciling with AWX")
		s.audit(ctx, req, "", "launch_unknown", "launch outcome unknown; reconciling with AWX")
		s.thread(ctx, req, Note{Kind: NoteLaunchUnknown})
	default:
		log.Error().Err(err).Msg("launch refused")
		s.finishEarly(ctx, req, StatusLaunching, StatusFailed, "", "AWX did not start the job: "+launchReason(err))
	}
}

// approvedPlan reads req again from the store and checks that the plan it
// holds, the one about to be sent to AWX, is exactly the one approved: its
// full hash is the request's, every approval was given to that hash, and
// a run that started on its schedule's approval has the plan the schedule
// approved. It returns the stored request, or why the launch must not
// happen.
func (s *runs) approvedPlan(ctx context.Context, req *Request) (*Request, string) {
	stored, err := s.store.Request(ctx, req.ID)
	if err != nil {
		s.reqLog(req).Error().Err(err).Msg("read request before launch")
		return nil, "I could not read the approved plan back from the database."
	}
	hash := s.planHash(stored.Plan)
	if len(stored.PlanHash) == ShortHashLen && len(hash) > ShortHashLen && strings.HasPrefix(hash, stored.PlanHash) {
		return nil, "it was made by an older deploybot, whose approvals did not bind the full plan. Request it again."
	}
	if hash != stored.PlanHash || hash != req.PlanHash {
		return nil, "its stored plan hashes to " + hashPair(hash, req.PlanHash) + ", the plan on its card."
	}
	for _, a := range stored.Approvals {
		if a.PlanHash != hash {
			return nil, fmt.Sprintf("<@%s> approved plan %s, the plan it would run. Request it again.", a.User, hashPair(a.PlanHash, hash))
		}
	}
	if stored.ScheduleID != 0 && len(stored.Approvals) == 0 {
		sch, err := s.store.Schedule(ctx, stored.ScheduleID)
		if err != nil {
			s.reqLog(req).Error().Err(err).Msg("read schedule before launch")
			return nil, fmt.Sprintf("I could not read schedule S%d, whose approval it runs on.", stored.ScheduleID)
		}
		if _, env, err := s.lookup(stored.App, stored.Env); err == nil && env.Approval.Required && len(sch.ApprovedBy) > 0 {
			if base := s.planHash(buildBase(stored.Plan)); base != sch.PlanHash {
				return nil, fmt.Sprintf("schedule S%d approved plan %s, the plan this run would send.", sch.ID, hashPair(sch.PlanHash, base))
			}
		}
	}
	return stored, ""
}

// hashPair says "a, not b" of two different plan hashes for people:
// their short forms, or the whole hashes when the short forms are the
// same; an empty hash shows as "(none)".
func hashPair(a, b string) string {
	show := ShortHash
	if ShortHash(a) == ShortHash(b) {
		show = func(h string) string { return h }
	}
	none := func(h string) string {
		if h == "" {
			return "(none)"
		}
		return show(h)
	}
	return none(a) + ", not " + none(b)
}

// launchReason is the user-facing reason of a definite launch failure.
func launchReason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return Literal(oneLine(err.Error(), 300))
}

// markRunning records the job of a launching request and starts following
// it; a cancel asked while it was launching is honoured now.
func (s *runs) markRunning(ctx context.Context, req *Request, ref JobRef, note Note) {
	r, err := s.store.Transition(ctx, req.ID, Change{From: StatusLaunching, To: StatusRunning, At: s.now(), Job: ref})
	if err != nil {
		// The job runs but is not recorded: the request stays in
		// launching and reconcile finds the job by its request id.
		s.reqLog(req).Error().Err(err).Int64("awx_job_id", ref.ID).Msg("record launched job")
		return
	}
	s.reqLog(r).Info().Msg("job launched")
	s.show(ctx, r)
	if note.Kind != "" {
		s.thread(ctx, r, note)
	}
	if r.CancelRequested {
		s.cancelJob(ctx, r)
	}
	s.follow(r)
}

// cancelJob asks AWX to cancel r's job; the follower sees the end.
func (s *runs) cancelJob(ctx context.Context, r *Request) {
	if err := s.runner.Cancel(ctx, r.Job); errors.Is(err, ErrJobEnded) {
		// The follower sees how it ended.
		s.reqLog(r).Info().Msg("cancel arrived after the job ended")
		return
	} else if err != nil {
		s.reqLog(r).Error().Err(err).Msg("cancel job")
		s.thread(ctx, r, Note{Kind: NoteCancelRefused, Reason: launchReason(err)})
		return
	}
	s.reqLog(r).Info().Str("slack_user", r.CanceledBy).Msg("job cancel sent")
}

// finishEarly ends a request that did not (or no longer) run a job: moves
// it from → to with outcome, shows the final card, tells the thread, and
// lets the next queued request start.
func (s *runs) finishEarly(ctx context.Context, req *Request, from, to Status, actor, outcome string) (*Request, error) {
	// The final card and the note are owed in the same transaction as the
	// status (see Change.Owed), then delivered.
	r, err := s.store.Transition(ctx, req.ID, Change{From: from, To: to, At: s.now(), Actor: actor, Outcome: outcome,
		Owed: []Owed{{Kind: OwedCard}, {Kind: OwedThread, Note: Note{Kind: NoteEnded, Status: to, Text: outcome}}}})
	if err != nil {
		return nil, err
	}
	s.reqLog(r).Info().Str("status", string(to)).Str("slack_user", actor).Msg(outcome)
	s.deliverOwed(ctx, r.ID)
	s.Metrics.RequestFinished(r.App, r.Env, to, 0)
	if from == StatusLaunching || from == StatusQueued {
		s.startNext(ctx, r.App, r.Env)
	}
	return r, nil
}

// reconcileLaunching decides every launching request whose launch is not
// in progress here: the job AWX has for it (found by its request id) is
// followed; when AWX has none after LaunchGrace, nothing ran and the
// request fails. It never launches again.
func (s *runs) reconcileLaunching(ctx context.Context) error {
	reqs, err := s.store.Requests(ctx, RequestFilter{Statuses: []Status{StatusLaunching}})
	if err != nil {
		return fmt.Errorf("list launching: %w", err)
	}
	for _, r := range reqs {
		if s.isInflight(r.ID) {
			continue
		}
		if _, ok := s.hold(ctx, requestLease(r.ID)); !ok {
			continue // its launcher is alive on another replica
		}
		log := s.reqLog(r)
		ref, found, err := s.runner.FindLaunched(ctx, r)
		if err != nil {
			log.Warn().Err(err).Msg("find launched job")
			continue
		}
		if found {
			log.Info().Int64("awx_job_id", ref.ID).Msg("launched job found")
			s.audit(ctx, r, "", "launch_reconciled", fmt.Sprintf("found AWX job %d", ref.ID))
			s.markRunning(ctx, r, ref, Note{Kind: NoteJobFound, Job: ref.ID})
			continue
		}
		if s.now().Sub(r.UpdatedAt) < s.LaunchGrace {
			continue
		}
		log.Warn().Msg("launch not confirmed by AWX")
		outcome := "Launch not confirmed by AWX: no job was started for this request, so nothing ran. Request it again."
		if _, err := s.finishEarly(ctx, r, StatusLaunching, StatusFailed, "", outcome); err != nil && ErrorCode(err) != ECONFLICT {
			log.Error().Err(err).Msg("fail unconfirmed launch")
		}
	}
	return nil
}

// outcomeText is the one-line summary of a finished job.
func outcomeText(r *Request, to Status, p Progress, canceledBy string, d time.Duration) string {
	hosts := len(p.Hosts)
	if hosts == 0 {
		hosts = len(r.Plan.Hosts)
	}
	took := ""
	if d >= time.Second {
		took = " in " + DurationText(d)
	}
	what := "Deployed " + r.Version
	if r.Kind == KindRollback {
		what = "Rolled back"
	}
	switch to {
	case StatusSucceeded:
		if r.Check {
			return checkOutcome(p)
		}
		return fmt.Sprintf("%s on %s", what, CountOf(hosts, "host")) + took
	case StatusCanceled:
		if canceledBy != "" {
			return fmt.Sprintf("Canceled by <@%s>", canceledBy)
		}
		return "Canceled in AWX"
	}
	if f := p.Failure; f != nil {
		return fmt.Sprintf("Failed on %s at task %s: %s", Literal(f.Host), Literal(strconv.Quote(f.Task)), Literal(oneLine(f.Message, 200))) + took
	}
	return "Failed"
}
