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
	var approved []string
	for _, a := range req.Approvals {
		approved = append(approved, a.User)
	}
	return pol.mayApprove(ballot{app: req.App, env: req.Env, name: fmt.Sprintf("#%d", req.ID),
		by: req.RequestedBy, verb: "requested", approved: approved}, who)
}

// MayReject decides whether who may reject req now: approvers may reject,
// and requesters may withdraw their own request.
func MayReject(req *Request, pol ApprovalPolicy, who Identity, now time.Time) error {
	if err := decidable(req, now); err != nil {
		return err
	}
	return pol.mayReject(ballot{app: req.App, env: req.Env, name: fmt.Sprintf("#%d", req.ID),
		by: req.RequestedBy, verb: "requester"}, who)
}

// ballot is what an approval policy judges: a request or a schedule
// waiting for approval.
type ballot struct {
	app, env string
	// name is how messages name it: "#12", "schedule S3".
	name string
	// by asked for it; verb says how ("requested", "created") or, for a
	// rejection, who that person is ("requester", "creator").
	by, verb string
	// approved are the users who approved it so far.
	approved []string
}

// mayApprove is the one approval rule of requests and schedules: an
// approver of the environment, not the person who asked where
// self-approval is off, and once per person.
func (pol ApprovalPolicy) mayApprove(b ballot, who Identity) error {
	if !who.In(pol.Approvers) {
		return Errorf(EFORBIDDEN, "You are not an approver for %s %s. Approvers: %s.",
			b.app, b.env, strings.Join(mentions(pol.Approvers), ", "))
	}
	if who.User == b.by && !pol.AllowSelfApproval {
		return Errorf(EFORBIDDEN, "You %s %s yourself, and %s does not allow self-approval. Another approver must approve it.", b.verb, b.name, b.env)
	}
	distinct := map[string]bool{}
	for _, u := range b.approved {
		distinct[u] = true
	}
	if distinct[who.User] {
		return Errorf(ECONFLICT, "You have already approved %s; it needs %s more from other approvers.", b.name, CountOf(pol.missing(len(distinct)), "approval"))
	}
	return nil
}

// mayReject is the one rejection rule: approvers may reject, and the
// person who asked may withdraw.
func (pol ApprovalPolicy) mayReject(b ballot, who Identity) error {
	if who.User == b.by || who.In(pol.Approvers) {
		return nil
	}
	return Errorf(EFORBIDDEN, "Only an approver for %s %s (%s) or the %s can reject %s.",
		b.app, b.env, strings.Join(mentions(pol.Approvers), ", "), b.verb, b.name)
}

// missing is how many more distinct approvals are needed after have.
func (pol ApprovalPolicy) missing(have int) int {
	return max(max(pol.MinApprovals, 1)-have, 0)
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
	return pol.missing(distinctApprovers(req))
}

// distinctApprovers counts the distinct users who approved req.
func distinctApprovers(req *Request) int {
	distinct := map[string]bool{}
	for _, a := range req.Approvals {
		distinct[a.User] = true
	}
	return len(distinct)
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
