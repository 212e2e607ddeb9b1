package deploy

import (
	"context"
	"errors"
	"fmt"
)

// ApproveSchedule records user's approval of a schedule that waits for
// one, under the environment's approval policy (approvers resolved now,
// self-approval as configured, min_approvals distinct approvers). The
// approval binds the schedule's plan hash: a run whose plan differs asks
// for approval again.
//
// Errors: ENOTFOUND; EFORBIDDEN for a user who may not approve it;
// ECONFLICT when it no longer waits, the user already approved it, or a
// one-shot's time has passed.
func (s *schedules) ApproveSchedule(ctx context.Context, id int64, user string) (*Schedule, error) {
	sch, err := s.Schedule(ctx, id)
	if err != nil {
		return nil, err
	}
	_, env, err := s.lookup(sch.App, sch.Env)
	if err != nil {
		return nil, err
	}
	pol := env.Approval
	who, err := s.identity(ctx, user, pol.Approvers)
	if err != nil {
		return nil, err
	}
	now := s.now()
	refuse := func(e *Error) error {
		s.auditSchedule(ctx, sch, user, "schedule_approve_refused", e.Message)
		return e
	}
	// The checks and the change are applied to the schedule as stored
	// when it is written: an approval stored meanwhile is kept and
	// counted.
	var missing int
	upd, err := s.updateSchedule(ctx, sch, "approve schedule", func(u *Schedule) error {
		if u.Status != SchedulePendingApproval {
			return refuse(Errorf(ECONFLICT, "Schedule S%d is %s; it no longer waits for approval.", id, scheduleLabel(u.Status)))
		}
		if err := pol.mayApprove(scheduleBallot(u, "created"), who); err != nil {
			var e *Error
			if errors.As(err, &e) {
				return refuse(e)
			}
			return err
		}
		if u.Spec == "" && !u.At.After(now) {
			return refuse(Errorf(ECONFLICT, "Schedule S%d was for %s, which has passed; create a new one.", id, u.At.UTC().Format("2006-01-02 15:04 UTC")))
		}
		u.ApprovedBy = append(u.ApprovedBy, user)
		missing = pol.missing(len(u.ApprovedBy))
		if missing <= 0 {
			u.Status = ScheduleActive
			if u.LastRunAt.Before(now) {
				u.LastRunAt = now // runs before the approval are not missed runs
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.auditSchedule(ctx, upd, user, "schedule_approved", fmt.Sprintf("plan %s; %d more needed", upd.PlanHash, max(missing, 0)))
	s.log.Info().Int64("schedule_id", id).Str("slack_user", user).Int("missing", max(missing, 0)).Msg("schedule approved")
	s.scheduleChanged(upd)
	kind := AnnounceChanged
	if missing > 0 {
		kind = AnnounceApproval
	}
	s.announce(ctx, ScheduleAnnouncement{Kind: kind, Schedule: *upd, NextRuns: s.NextRuns(upd, 3),
		Note: Note{Kind: NoteScheduleApproved, User: user, Schedule: upd.ID, Title: s.scheduleTitle(upd), Count: max(missing, 0)}})
	return upd, nil
}

// RejectSchedule rejects a schedule that waits for approval; approvers may
// reject it and its creator may withdraw it.
//
// Errors: ENOTFOUND, EFORBIDDEN, ECONFLICT when it no longer waits.
func (s *schedules) RejectSchedule(ctx context.Context, id int64, user, reason string) (*Schedule, error) {
	sch, err := s.Schedule(ctx, id)
	if err != nil {
		return nil, err
	}
	_, env, err := s.lookup(sch.App, sch.Env)
	if err != nil {
		return nil, err
	}
	who, err := s.identity(ctx, user, env.Approval.Approvers)
	if err != nil {
		return nil, err
	}
	if sch.Status != SchedulePendingApproval {
		return nil, Errorf(ECONFLICT, "Schedule S%d is %s; it no longer waits for approval.", id, scheduleLabel(sch.Status))
	}
	if err := env.Approval.mayReject(scheduleBallot(sch, "creator"), who); err != nil {
		s.auditSchedule(ctx, sch, user, "schedule_reject_refused", ErrorMessage(err))
		return nil, err
	}
	upd, err := s.updateSchedule(ctx, sch, "reject schedule", func(u *Schedule) error {
		if u.Status != SchedulePendingApproval {
			return Errorf(ECONFLICT, "Schedule S%d is %s; it no longer waits for approval.", id, scheduleLabel(u.Status))
		}
		u.Status = ScheduleRejected
		return nil
	})
	if err != nil {
		return nil, err
	}
	reason = oneLine(reason, 300)
	s.auditSchedule(ctx, upd, user, "schedule_rejected", reason)
	s.scheduleChanged(upd)
	s.announce(ctx, ScheduleAnnouncement{Kind: AnnounceChanged, Schedule: *upd,
		Note: Note{Kind: NoteScheduleRejected, User: user, Schedule: upd.ID, Title: s.scheduleTitle(upd), Reason: reason}})
	return upd, nil
}

// scheduleBallot is sch as the approval policy judges it; verb says how
// its creator is named ("created" for an approval, "creator" for a
// rejection).
func scheduleBallot(sch *Schedule, verb string) ballot {
	return ballot{app: sch.App, env: sch.Env, name: fmt.Sprintf("schedule S%d", sch.ID),
		by: sch.CreatedBy, verb: verb, approved: sch.ApprovedBy}
}
