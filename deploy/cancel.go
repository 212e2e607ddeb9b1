package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Cancel stops request id for user (the requester, a deployer or an
// approver of its environment). A request waiting for approval or in the
// queue is canceled at once; a running job is canceled in AWX and the
// request ends when AWX confirms; a request being launched is marked and
// canceled as soon as its job id is known.
//
// Errors: ENOTFOUND for an unknown request, EFORBIDDEN for other users,
// ECONFLICT when it has already ended, including when its AWX job ended
// before AWX received the cancel.
func (s *requests) Cancel(ctx context.Context, id int64, user string) (*Request, error) {
	req, env, who, err := s.actorOn(ctx, id, user, concerning)
	if err != nil {
		return nil, err
	}
	if err := MayCancel(req, env, who); err != nil {
		s.audit(ctx, req, user, "cancel_refused", ErrorMessage(err))
		return nil, err
	}
	s.audit(ctx, req, user, "cancel", string(req.Status))
	switch req.Status {
	case StatusPendingApproval, StatusQueued:
		outcome := fmt.Sprintf("Canceled by <@%s> before it started", user)
		r, err := s.runs.finishEarly(ctx, req, req.Status, StatusCanceled, user, outcome)
		if ErrorCode(err) == ECONFLICT {
			// It moved meanwhile (approved, launched): try again on the new state.
			return s.Cancel(ctx, id, user)
		} else if err != nil {
			return nil, internal("cancel", err)
		}
		return r, nil
	}
	r, err := s.store.RequestCancel(ctx, id, user)
	if err != nil {
		return nil, internal("request cancel", err)
	}
	switch r.Status {
	case StatusRunning:
		// AWX first: the thread says "stopping" only once AWX took the
		// cancel, and a job that ended meanwhile is told to the user.
		if err := s.runner.Cancel(ctx, r.Job); errors.Is(err, ErrJobEnded) {
			s.reqLog(r).Info().Str("slack_user", user).Msg("cancel arrived after the job ended")
			s.audit(ctx, r, user, "cancel_too_late", "the AWX job had already ended")
			return nil, Errorf(ECONFLICT, "#%d had already finished in AWX when your cancel reached it, so nothing was stopped. Its card shows how it ended.", id)
		} else if err != nil {
			s.reqLog(r).Error().Err(err).Msg("cancel job")
			s.thread(ctx, r, Note{Kind: NoteCancelRefused, User: user, Reason: launchReason(err)})
			break
		}
		s.reqLog(r).Info().Str("slack_user", user).Msg("job cancel sent")
		s.thread(ctx, r, Note{Kind: NoteCanceling, User: user})
	case StatusLaunching:
		s.thread(ctx, r, Note{Kind: NoteCancelWhileLaunching, User: user})
	}
	// The card of a launching or running request is written by whoever
	// launches and follows it (the holder of its lease, perhaps another
	// replica), up to its final state; a card written from here could
	// reach Slack after that final one and show the release running
	// again. The thread says what the cancel did.
	return r, nil
}

// ErrJobEnded is returned (wrapped) by Runner.Cancel when AWX refuses the
// cancel because the job has already ended.
var ErrJobEnded = errors.New("job already ended")

// SendLog uploads the full playbook output of request id as a file in the
// request's thread. The requester, deployers and approvers of its
// environment may ask for it.
//
// Errors: ENOTFOUND for an unknown request, EFORBIDDEN for other users,
// ECONFLICT when no job ran for it yet.
func (s *requests) SendLog(ctx context.Context, id int64, user string) (*Request, error) {
	req, env, who, err := s.actorOn(ctx, id, user, concerning)
	if err != nil {
		return nil, err
	}
	if err := MayReadOutput(req, env, who); err != nil {
		return nil, err
	}
	if req.Job.Zero() {
		return nil, Errorf(ECONFLICT, "#%d has no AWX job yet (it is %s), so there is no output.", id, req.Status.Label())
	}
	// One upload per request per LogRepeatWindow: a repeated command is
	// answered with where the earlier file is.
	now := s.now()
	if at, ok := s.runs.recentLog(id, now); ok {
		where := "its card's thread"
		if req.Message.Channel != "" {
			where = fmt.Sprintf("the thread of its card in <#%s>", req.Message.Channel)
		}
		return nil, Errorf(ECONFLICT, "The output of #%d was posted %s ago as %s in %s: open that file. A fresh copy can be asked for a minute after the last one.",
			id, DurationText(max(now.Sub(at), time.Second)), logName(req), where)
	}
	sent := false
	defer func() {
		if !sent {
			s.runs.releaseLog(id)
		}
	}()
	out, err := s.runs.spoolOutput(ctx, req.Job)
	if err != nil {
		return nil, internal("read job output", err)
	}
	defer out.Close()
	if out.size == 0 {
		return nil, Errorf(ECONFLICT, "AWX has no output for #%d yet; try again in a moment.", id)
	}
	if err := s.runs.uploadOutput(ctx, req, out); err != nil {
		if errors.Is(err, ErrChannelUnavailable) {
			// Slack shares files only where the bot is a member; the
			// user still gets the end of the output, and the fix.
			last, terr := out.tail(64 << 10)
			if terr != nil {
				return nil, internal("read job output", terr)
			}
			tail := strings.ReplaceAll(truncate(lastLines(last, 20), 2500), "```", "ʼʼʼ")
			return nil, Errorf(ECONFLICT, "I could not attach the output of #%d in <#%s>: Slack lets an app share files only in channels it is a member of. "+
				"Invite me there with `/invite @deploybot` and run `/deploy log %d` again. The last lines:\n```\n%s\n```", id, req.Message.Channel, id, tail)
		}
		return nil, internal("upload output", err)
	}
	sent = true
	s.audit(ctx, req, user, "log_sent", logName(req))
	return req, nil
}

// concerning are the lists that say whom a request concerns (MayCancel,
// MayReadOutput).
func concerning(e *Environment) [][]string { return [][]string{e.Deployers, e.Approval.Approvers} }
