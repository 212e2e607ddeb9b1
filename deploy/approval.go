package deploy

import (
	"context"
	"fmt"
	"time"
)

// Approve records user's approval of request id. The user's groups are
// resolved now, at click time. When the last needed approval arrives the
// request is queued and starts as soon as its environment is free. Two
// clicks at once apply once.
//
// Errors: ENOTFOUND for an unknown request; EFORBIDDEN for a user who may
// not approve it (not an approver, or the requester where self-approval is
// forbidden), and nothing changes; ECONFLICT when it no longer waits for
// approval, has expired, or the user already approved it.
func (s *requests) Approve(ctx context.Context, id int64, user string) (*Request, error) {
	req, env, who, err := s.actorOn(ctx, id, user, approvers)
	if err != nil {
		return nil, err
	}
	pol := env.Approval
	now := s.now()
	if err := MayApprove(req, pol, who, now); err != nil {
		s.audit(ctx, req, user, "approve_refused", ErrorMessage(err))
		s.reqLog(req).Info().Str("slack_user", user).Str("reason", ErrorCode(err)).Msg("approval refused")
		return nil, err
	}
	if req.PlanHash != s.planHash(req.Plan) {
		s.audit(ctx, req, user, "approve_refused", "stored plan does not match its hash "+req.PlanHash)
		return nil, Errorf(ECONFLICT, "Request #%d's stored plan is not the plan `%s` its card shows (or it was made by an older deploybot), so it cannot be approved. Request it again.", id, ShortHash(req.PlanHash))
	}
	// Earlier approvals count only while their approvers may still
	// approve under the policy in force (a reload may have removed them):
	// the store queues the request once it has that many more.
	stale, err := s.staleApprovals(ctx, req, pol)
	if err != nil {
		return nil, err
	}
	// The last needed approval queues the request in the same transaction,
	// and the note in the thread is owed in it too (see Change.Owed).
	owed := func(r *Request) []Owed {
		note := Note{Kind: NoteApproved, User: user, Count: max(pol.missing(distinctApprovers(r)-stale), 0)}
		return []Owed{{Kind: OwedThread, Note: note}}
	}
	req, err = s.store.AddApproval(ctx, id, Approval{User: user, At: now, PlanHash: req.PlanHash, Needed: max(pol.MinApprovals, 1) + stale, Owed: owed})
	if err != nil {
		return nil, internal("add approval", err)
	}
	missing := pol.missing(distinctApprovers(req) - stale)
	s.reqLog(req).Info().Str("slack_user", user).Int("missing", missing).Msg("approved")
	s.runs.deliverOwed(ctx, req.ID)
	if missing > 0 {
		s.runs.show(ctx, req)
		return req, nil
	}
	r := req
	if r.Status == StatusPendingApproval {
		// A store that did not queue it with the approval.
		r, err = s.store.Transition(ctx, id, Change{From: StatusPendingApproval, To: StatusQueued, At: now, Actor: user})
		if ErrorCode(err) == ECONFLICT {
			// Another approver's click completed it first.
			return s.reload(ctx, req), nil
		} else if err != nil {
			return nil, internal("queue approved request", err)
		}
	}
	s.Metrics.Approved(r.App, r.Env, now.Sub(r.CreatedAt))
	s.runs.show(ctx, r)
	s.runs.startNext(ctx, r.App, r.Env)
	return s.reload(ctx, r), nil
}

// Reject closes request id without running it. Approvers may reject; the
// requester may withdraw their own request.
//
// Errors: ENOTFOUND for an unknown request, EFORBIDDEN for other users,
// ECONFLICT when it no longer waits for approval.
func (s *requests) Reject(ctx context.Context, id int64, user, reason string) (*Request, error) {
	req, env, who, err := s.actorOn(ctx, id, user, approvers)
	if err != nil {
		return nil, err
	}
	if err := MayReject(req, env.Approval, who, s.now()); err != nil {
		s.audit(ctx, req, user, "reject_refused", ErrorMessage(err))
		return nil, err
	}
	reason = oneLine(reason, 300)
	outcome := fmt.Sprintf("Rejected by <@%s>", user)
	if reason != "" {
		outcome += ": " + reason
	}
	s.audit(ctx, req, user, "rejected", reason)
	r, err := s.runs.finishEarly(ctx, req, StatusPendingApproval, StatusRejected, user, outcome)
	if err != nil {
		return nil, internal("reject", err)
	}
	return r, nil
}

// queueApproved queues every pending request that already has all the
// approvals its policy needs: what a crash (or a failed write) between an
// approval and the queueing left behind, from a database written before
// both were one transaction.
func (s *requests) queueApproved(ctx context.Context) error {
	reqs, err := s.store.Requests(ctx, RequestFilter{Statuses: []Status{StatusPendingApproval}})
	if err != nil {
		return fmt.Errorf("list pending: %w", err)
	}
	now := s.now()
	for _, r := range reqs {
		_, env, err := s.lookup(r.App, r.Env)
		if err != nil || len(r.Approvals) == 0 || ApprovalsMissing(r, env.Approval) > 0 {
			continue
		}
		if stale, err := s.staleApprovals(ctx, r, env.Approval); err != nil || stale > 0 {
			continue // an approval no longer holds: it waits for another
		}
		if !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
			continue // expirePending closes it
		}
		q, err := s.store.Transition(ctx, r.ID, Change{From: StatusPendingApproval, To: StatusQueued, At: now})
		if ErrorCode(err) == ECONFLICT {
			continue
		} else if err != nil {
			s.reqLog(r).Error().Err(err).Msg("queue approved request")
			continue
		}
		s.reqLog(q).Warn().Int("approvals", len(q.Approvals)).Msg("fully approved request was still pending; queued it")
		s.Metrics.Approved(q.App, q.Env, now.Sub(q.CreatedAt))
		s.runs.show(ctx, q)
		s.runs.startNext(ctx, q.App, q.Env)
	}
	return nil
}

// expirePending closes overdue approvals with a note and reminds approvers
// shortly before a request expires (once).
func (s *requests) expirePending(ctx context.Context) error {
	reqs, err := s.store.Requests(ctx, RequestFilter{Statuses: []Status{StatusPendingApproval}})
	if err != nil {
		return fmt.Errorf("list pending: %w", err)
	}
	now := s.now()
	for _, r := range reqs {
		if r.ExpiresAt.IsZero() {
			continue
		}
		if !now.Before(r.ExpiresAt) {
			outcome := fmt.Sprintf("Expired at %s without approval. Request it again if it is still wanted.", s.clockText(r.ExpiresAt))
			if _, err := s.runs.finishEarly(ctx, r, StatusPendingApproval, StatusExpired, "", outcome); err != nil && ErrorCode(err) != ECONFLICT {
				s.reqLog(r).Error().Err(err).Msg("expire request")
			}
			continue
		}
		if now.Before(r.ExpiresAt.Add(-s.reminderLead(r))) {
			continue
		}
		if s.reminded(ctx, r) {
			continue
		}
		_, env, err := s.lookup(r.App, r.Env)
		if err != nil {
			continue
		}
		missing := s.approvalsMissing(ctx, r, env.Approval)
		s.audit(ctx, r, "", "reminded", fmt.Sprintf("expires at %s", r.ExpiresAt.UTC().Format(time.RFC3339)))
		s.thread(ctx, r, Note{Kind: NoteReminder, Request: r.ID, Count: missing, At: s.clockText(r.ExpiresAt), Users: env.Approval.Approvers})
	}
	return nil
}

// reminderLead is how long before expiry the reminder goes out: at most
// ReminderBefore, and no earlier than 80% into the approval window.
func (s *requests) reminderLead(r *Request) time.Duration {
	lead := s.ReminderBefore
	if w := r.ExpiresAt.Sub(r.CreatedAt); w > 0 && w/5 < lead {
		lead = w / 5
	}
	return lead
}

// reminded reports whether r's reminder was already sent; the audit trail
// remembers it across restarts.
func (s *requests) reminded(ctx context.Context, r *Request) bool {
	log, err := s.store.AuditLog(ctx, r.ID, 0)
	if err != nil {
		s.reqLog(r).Warn().Err(err).Msg("read audit log")
		return true // better no reminder than one per tick
	}
	for _, e := range log {
		if e.Action == "reminded" {
			return true
		}
	}
	return false
}

// approvers are the lists an approval decision reads.
func approvers(e *Environment) [][]string { return [][]string{e.Approval.Approvers} }

// staleApprovals counts the distinct approvals of r whose approvers may no
// longer approve it under pol (removed from the approvers, or the
// requester where self-approval is now off): they stay on record but no
// longer count. An error means membership could not be checked; the caller
// fails closed.
func (s *core) staleApprovals(ctx context.Context, r *Request, pol ApprovalPolicy) (int, error) {
	stale := 0
	seen := map[string]bool{}
	for _, a := range r.Approvals {
		if seen[a.User] {
			continue
		}
		seen[a.User] = true
		who, err := s.identity(ctx, a.User, pol.Approvers)
		if err != nil {
			return 0, err
		}
		if !who.In(pol.Approvers) || (a.User == r.RequestedBy && !pol.AllowSelfApproval) {
			stale++
		}
	}
	return stale, nil
}

// approvalsMissing is how many more approvals r needs under pol, counting
// only the approvals that still hold (staleApprovals); when that cannot be
// checked, none of them counts.
func (s *core) approvalsMissing(ctx context.Context, r *Request, pol ApprovalPolicy) int {
	stale, err := s.staleApprovals(ctx, r, pol)
	if err != nil {
		return pol.missing(0)
	}
	return pol.missing(distinctApprovers(r) - stale)
}
