package deploy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DeployInput is a release request as typed in Slack.
type DeployInput struct {
	User, Channel, App, Env, Version string
	// Check asks for a dry run: AWX check mode with diff.
	Check bool
}

// RollbackInput is a rollback request as typed in Slack.
type RollbackInput struct {
	User, Channel, App, Env string
	// To is the release id to restore; "" restores the newest backup.
	To string
}

// RequestDeploy validates and records a release request, freezes its plan
// and posts its card. The request then waits for approval when the
// environment requires it; otherwise it is queued and launched as soon as
// the environment is free. Dry runs (Check) need no approval and never
// hold the environment.
//
// Errors: ENOTFOUND for an unknown app or environment (listing the valid
// ones), EFORBIDDEN for a channel where /deploy is not allowed or a user who
// is not a deployer there, EINVALID for a version that does not match the
// app's version_pattern or a build that does not exist.
func (s *requests) RequestDeploy(ctx context.Context, in DeployInput) (*Request, error) {
	cat, app, env, err := s.authorizeRequest(ctx, in.User, in.Channel, in.App, in.Env)
	if err != nil {
		return nil, err
	}
	if err := checkVersion(app, in.Version); err != nil {
		return nil, err
	}
	var build Build
	if app.Type == TypeWeb {
		url := strings.ReplaceAll(app.ArtifactURL, "{version}", in.Version)
		build, err = s.runner.CheckBuild(ctx, url)
		switch code := ErrorCode(err); code {
		case "":
		case EINVALID, ENOTFOUND:
			return nil, Errorf(EINVALID, "There is no build %s of %s at %s. Check the version, or wait until the build is published.", in.Version, app.Name, url)
		default:
			s.log.Warn().Err(err).Str("app", app.Name).Str("url", url).Msg("check build")
			return nil, Errorf(ECONFLICT, "I could not check the build at %s just now; try again in a minute.", url)
		}
	}
	plan := s.buildPlan(app, env, planInput{cat: cat, kind: KindDeploy, version: in.Version, check: in.Check, build: build})
	req := &Request{
		Kind: KindDeploy, App: app.Name, Env: env.Name, Version: in.Version, Check: in.Check,
		RequestedBy: in.User, Channel: in.Channel, Plan: plan, PlanHash: s.planHash(plan),
	}
	return s.submit(ctx, req, env)
}

// RequestRollback records a rollback request under the same approval
// policy as a release: without in.To the rollback job template brings
// every host to the newest release live on all of them before the current
// one (chooseRollback); with it, each host restores the backup release
// in.To took. Its card says what it restores, and where each host stands.
//
// Errors: as RequestDeploy, and EINVALID for a custom app (which has no
// backups) or a malformed release id.
func (s *requests) RequestRollback(ctx context.Context, in RollbackInput) (*Request, error) {
	cat, app, env, err := s.authorizeRequest(ctx, in.User, in.Channel, in.App, in.Env)
	if err != nil {
		return nil, err
	}
	if app.Type != TypeWeb {
		return nil, Errorf(EINVALID, "%s is a custom app, which keeps no backups to roll back to. Deploy the earlier version instead: `/deploy %s %s <version>`.", app.Name, app.Name, env.Name)
	}
	if in.To != "" && (unsafeText(in.To) || !releaseIDRE.MatchString(in.To)) {
		return nil, Errorf(EINVALID, "%q is not a release id: use letters, digits, '.', '_' or '-' (a request number like 12), or leave it out to restore the newest backup.", printable(in.To))
	}
	restores, choice, err := s.describeRollback(ctx, app.Name, env.Name, in.To, env.Hosts)
	if err != nil {
		return nil, err
	}
	plan := s.buildPlan(app, env, planInput{cat: cat, kind: KindRollback, rollbackTo: in.To, rollback: choice})
	plan.Restores = restores
	req := &Request{
		Kind: KindRollback, App: app.Name, Env: env.Name, RollbackTo: in.To,
		RequestedBy: in.User, Channel: in.Channel, Plan: plan, PlanHash: s.planHash(plan),
	}
	return s.submit(ctx, req, env)
}

// authorizeRequest checks app, env, channel and that user may deploy, in
// the catalog in force, which it returns: the request's plan is built
// from that same catalog, even if a reload replaces it meanwhile.
func (s *requests) authorizeRequest(ctx context.Context, user, channel, appName, envName string) (*Catalog, *App, *Environment, error) {
	cat := s.cat()
	app, env, err := lookupIn(cat, appName, envName)
	if err != nil {
		return nil, nil, nil, err
	}
	if !cat.ChannelAllowed(channel) {
		if len(cat.Channels) == 0 {
			return nil, nil, nil, Errorf(EFORBIDDEN, "Releases are requested in a channel, where the card can be seen, not in a direct message.")
		}
		chans := make([]string, 0, len(cat.Channels))
		for _, c := range cat.Channels {
			chans = append(chans, "<#"+c+">")
		}
		return nil, nil, nil, Errorf(EFORBIDDEN, "/deploy is not used in this channel. Use it in %s.", strings.Join(chans, ", "))
	}
	who, err := s.identity(ctx, user, env.Deployers)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := MayDeploy(app.Name, env, who); err != nil {
		return nil, nil, nil, err
	}
	return cat, app, env, nil
}

// describeRollback says what a rollback of app env to release "to" (or,
// without one, to the newest release live on all hosts) restores, from the
// release history; without "to" it also returns the choice.
func (s *requests) describeRollback(ctx context.Context, app, env, to string, hosts []string) (string, rollbackChoice, error) {
	history, err := s.store.Requests(ctx, RequestFilter{App: app, Env: env, Releases: true,
		Statuses: []Status{StatusSucceeded, StatusFailed, StatusCanceled}, Limit: 200})
	if err != nil {
		return "", rollbackChoice{}, internal("release history", err)
	}
	var launched []*Request
	for _, r := range history {
		if !r.Check && !r.Job.Zero() {
			launched = append(launched, r)
		}
	}
	if to == "" {
		c := chooseRollback(launched, hosts)
		return c.describe(), c, nil
	}
	name := func(r *Request) string { return fmt.Sprintf("%s (#%d)", r.Version, r.ID) }
	// Release N's backup holds what was live before N was installed: what
	// the history before N (rollbacks included) says ran on every host.
	if id, err := strconv.ParseInt(to, 10, 64); err == nil {
		for i, r := range launched {
			if r.ID != id || r.Kind != KindDeploy {
				continue
			}
			if c := chooseRollback(launched[i+1:], hosts); c.current != nil && c.currentDone {
				return fmt.Sprintf("%s, what was live before %s", name(c.current), name(r)), rollbackChoice{}, nil
			}
			return fmt.Sprintf("what was live before %s (from the backup it took)", name(r)), rollbackChoice{}, nil
		}
	}
	return "what was live before release " + to + " (from the backup it took)", rollbackChoice{}, nil
}

// submit records a new request, shows its card and, when it needs no
// approval, queues it and starts it if its environment is free.
func (s *requests) submit(ctx context.Context, req *Request, env *Environment) (*Request, error) {
	now := s.now()
	if req.Check {
		if err := s.dryRunFree(ctx, req.App, req.Env); err != nil {
			return nil, err
		}
	}
	if !req.Check && env.Approval.Required {
		req.Status = StatusPendingApproval
		if env.Approval.ExpiresAfter > 0 {
			req.ExpiresAt = now.Add(env.Approval.ExpiresAfter)
		}
	} else {
		req.Status = StatusQueued
	}
	// The card is where a request is seen, approved and canceled: nothing
	// is recorded, let alone launched, unless a message could be posted
	// in the channel first. That message becomes the card once the
	// request has its id.
	ref, err := s.notifier.Announce(ctx, req.Channel, placeholderNote(req))
	if err != nil {
		return nil, s.cannotPost(req, err)
	}
	req.Message = ref
	if err := s.store.CreateRequest(ctx, req); err != nil {
		if terr := s.notifier.Thread(context.WithoutCancel(ctx), req, Note{Kind: NoteNotRecorded}); terr != nil {
			s.log.Warn().Err(terr).Msg("note an unrecorded request")
		}
		return nil, internal("create request", err)
	}
	s.reqLog(req).Info().Str("slack_user", req.RequestedBy).Str("status", string(req.Status)).
		Str("plan_hash", req.PlanHash).Bool("check", req.Check).Msg("request created")
	s.runs.show(ctx, req)
	if req.Status == StatusQueued {
		if req.Check {
			s.runs.tryStart(ctx, req)
		} else {
			s.runs.startNext(ctx, req.App, req.Env)
		}
	}
	return s.reload(ctx, req), nil
}

// reload returns the stored version of req, or req when it cannot be read.
func (s *requests) reload(ctx context.Context, req *Request) *Request {
	r, err := s.store.Request(ctx, req.ID)
	if err != nil {
		s.reqLog(req).Warn().Err(err).Msg("reload request")
		return req
	}
	return r
}

// dryRunFree refuses a new dry run of app env while another one waits or
// runs: one dry run per environment at a time. (Two asked at the same
// instant may both pass here; the store lets only one of them run, and the
// other waits in the queue.)
func (s *requests) dryRunFree(ctx context.Context, app, env string) error {
	reqs, err := s.store.Requests(ctx, RequestFilter{App: app, Env: env,
		Statuses: []Status{StatusQueued, StatusLaunching, StatusRunning}})
	if err != nil {
		return internal("list dry runs", err)
	}
	for _, r := range reqs {
		if r.Check {
			return Errorf(ECONFLICT, "A dry run of %s %s is already %s: #%d, asked by <@%s>. One dry run per environment runs at a time; ask again once #%d has finished (its card shows the result).",
				app, env, strings.ToLower(r.Status.Label()), r.ID, r.RequestedBy, r.ID)
		}
	}
	return nil
}

// ErrChannelUnavailable is wrapped by a Notifier whose post failed because
// the bot cannot post in that conversation at all (a private channel or
// direct message it is not in, an archived channel), as opposed to a
// passing failure.
var ErrChannelUnavailable = errors.New("cannot post in this conversation")

// placeholderNote is the message a request's card replaces.
func placeholderNote(req *Request) Note {
	what := fmt.Sprintf("deploy %s %s to %s", req.App, req.Version, req.Env)
	if req.Kind == KindRollback {
		what = fmt.Sprintf("roll back %s in %s", req.App, req.Env)
	}
	if req.Check {
		what += " (dry run)"
	}
	return Note{Kind: NotePreparing, User: req.RequestedBy, Title: what}
}

// cannotPost is the answer to a request whose card could not be posted:
// nothing was recorded, and the user is told what to do.
func (s *requests) cannotPost(req *Request, err error) error {
	s.log.Warn().Err(err).Str("channel", req.Channel).Str("app", req.App).Str("env", req.Env).
		Str("slack_user", req.RequestedBy).Msg("request card could not be posted; nothing recorded")
	if !errors.Is(err, ErrChannelUnavailable) {
		return Errorf(ECONFLICT, "Slack did not take the request card just now, so nothing was requested. Please try again in a minute.")
	}
	where := "in a channel I am in"
	if len(s.cat().Channels) > 0 {
		chans := make([]string, 0, len(s.cat().Channels))
		for _, c := range s.cat().Channels {
			chans = append(chans, "<#"+c+">")
		}
		where = "in " + strings.Join(chans, ", ")
	}
	return Errorf(EFORBIDDEN, "I cannot post in this conversation, so nothing was requested. "+
		"In a private channel, invite me first with `/invite @deploybot`, then run the command again; "+
		"from a direct message, run it %s instead.", where)
}
