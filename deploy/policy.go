package deploy

import (
	"fmt"
	"strings"
	"time"
)

// Identity is a Slack user as the policies see them: the user ID and the
// user group handles (like "@shop-leads") the user belongs to, resolved at
// the moment of the action.
type Identity struct {
	User   string
	Groups []string
}

// In reports whether the identity is named by list, which holds user IDs
// and @group handles.
func (id Identity) In(list []string) bool {
	for _, e := range list {
		if e == id.User {
			return true
		}
		for _, g := range id.Groups {
			if strings.EqualFold(e, g) {
				return true
			}
		}
	}
	return false
}

// Handles returns the @group handles of list: the groups whose membership
// must be resolved to evaluate a policy over list.
func Handles(list []string) []string {
	var hs []string
	for _, e := range list {
		if strings.HasPrefix(e, "@") {
			hs = append(hs, e)
		}
	}
	return hs
}

// MayDeploy decides whether who may request a release of app to env.
func MayDeploy(app string, env *Environment, who Identity) error {
	if who.In(env.Deployers) {
		return nil
	}
	return Errorf(EFORBIDDEN, "You are not allowed to deploy %s to %s. Deployers there: %s. Ask one of them, or ask to be added to the config.",
		app, env.Name, strings.Join(mentions(env.Deployers), ", "))
}

// MayApprove decides whether who may approve req now under policy pol.
func MayApprove(req *Request, pol ApprovalPolicy, who Identity, now time.Time) error {
	if err := decidable(req, now); err != nil {
		return err
	}
	if !who.In(pol.Approvers) {
		return Errorf(EFORBIDDEN, "You are not an approver for %s %s. Approvers: %s.",
			req.App, req.Env, strings.Join(mentions(pol.Approvers), ", "))
	}
	if who.User == req.RequestedBy && !pol.AllowSelfApproval {
		return Errorf(EFORBIDDEN, "You requested #%d yourself, and %s does not allow self-approval. Another approver must approve it.", req.ID, req.Env)
	}
	if req.Approved(who.User) {
		return Errorf(ECONFLICT, "You have already approved #%d; it needs %s more from other approvers.", req.ID, countOf(ApprovalsMissing(req, pol), "approval"))
	}
	return nil
}

// MayReject decides whether who may reject req now: approvers may reject,
// and requesters may withdraw their own request.
func MayReject(req *Request, pol ApprovalPolicy, who Identity, now time.Time) error {
	if err := decidable(req, now); err != nil {
		return err
	}
	if who.User == req.RequestedBy || who.In(pol.Approvers) {
		return nil
	}
	return Errorf(EFORBIDDEN, "Only an approver for %s %s (%s) or the requester can reject #%d.",
		req.App, req.Env, strings.Join(mentions(pol.Approvers), ", "), req.ID)
}

func decidable(req *Request, now time.Time) error {
	if req.Status != StatusPendingApproval {
		return Errorf(ECONFLICT, "Request #%d is %s; it no longer waits for approval.", req.ID, strings.ToLower(req.Status.Label()))
	}
	if !req.ExpiresAt.IsZero() && !now.Before(req.ExpiresAt) {
		return Errorf(ECONFLICT, "Request #%d expired at %s; request it again.", req.ID, req.ExpiresAt.UTC().Format("15:04 MST"))
	}
	return nil
}

// ApprovalsMissing returns how many more distinct approvals req needs.
func ApprovalsMissing(req *Request, pol ApprovalPolicy) int {
	distinct := map[string]bool{}
	for _, a := range req.Approvals {
		distinct[a.User] = true
	}
	if n := pol.MinApprovals - len(distinct); n > 0 {
		return n
	}
	return 0
}

// MayCancel decides whether who may cancel req: the requester, a deployer
// or an approver of the environment.
func MayCancel(req *Request, env *Environment, who Identity) error {
	if req.Status.Terminal() {
		return Errorf(ECONFLICT, "Request #%d is already %s.", req.ID, strings.ToLower(req.Status.Label()))
	}
	if concerned(req, env, who) {
		return nil
	}
	return Errorf(EFORBIDDEN, "Only the requester, a deployer or an approver of %s %s can cancel #%d.", req.App, req.Env, req.ID)
}

// MayReadOutput decides whether who may have the playbook output of req
// posted: the same people who may cancel it, at any time.
func MayReadOutput(req *Request, env *Environment, who Identity) error {
	if concerned(req, env, who) {
		return nil
	}
	return Errorf(EFORBIDDEN, "Only the requester, deployers and approvers of %s %s can read the output of #%d.", req.App, req.Env, req.ID)
}

// concerned reports whether who requested req or deploys or approves in
// its environment.
func concerned(req *Request, env *Environment, who Identity) bool {
	return who.User == req.RequestedBy || who.In(env.Deployers) || who.In(env.Approval.Approvers)
}

// mentions renders a list of user IDs and @handles as Slack text.
func mentions(list []string) []string {
	out := make([]string, 0, len(list))
	for _, e := range list {
		if strings.HasPrefix(e, "@") {
			out = append(out, e)
		} else {
			out = append(out, fmt.Sprintf("<@%s>", e))
		}
	}
	return out
}
