package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// StatusReport is what /deploy status shows.
type StatusReport struct {
	// Active requests are launching or running.
	Active []*Request
	// Queued requests wait for their environment, first in line first.
	Queued []*Request
	// Pending requests wait for approval, newest first.
	Pending []*Request
	Locks   []Lock
}

// tryStart moves a queued request to launching and launches it. It
// reports whether the environment was busy; a request someone else moved
// meanwhile is left alone.
func (s *runs) tryStart(ctx context.Context, req *Request) (busy bool) {
	// The request's lease makes this replica the one that launches it;
	// another replica holding it is starting it now, so the environment
	// counts as busy (what is behind it must not overtake it).
	name := requestLease(req.ID)
	l, ok := s.hold(ctx, name)
	if !ok {
		return true
	}
	s.setInflight(req.ID, true)
	r, err := s.store.Transition(ctx, req.ID, Change{From: StatusQueued, To: StatusLaunching, At: s.now()})
	if err != nil {
		s.letGo(ctx, name)
		s.setInflight(req.ID, false)
		switch {
		case errors.Is(err, ErrEnvBusy):
			return true
		case ErrorCode(err) != ECONFLICT:
			s.reqLog(req).Error().Err(err).Msg("move to launching")
		}
		return false
	}
	// Renewed while the launch call lasts; the follower renews it next.
	stop := s.keep(context.WithoutCancel(ctx), name, l, func() {})
	s.launch(ctx, r)
	stop()
	return false
}

// startNext starts the requests first in line for app and env while the
// environment is free, and a dry run that waited for another, then shows
// every queued card with its position.
func (s *runs) startNext(ctx context.Context, app, env string) {
	s.drainQueue(ctx, app, env)
	s.startDryRuns(ctx, app, env)
	s.refreshQueue(ctx, app, env)
}

// startDryRuns starts the queued dry runs of app and env; the store lets
// one run at a time, the others stay queued.
func (s *runs) startDryRuns(ctx context.Context, app, env string) {
	queued, err := s.store.Requests(ctx, RequestFilter{App: app, Env: env, Statuses: []Status{StatusQueued}})
	if err != nil {
		s.log.Error().Err(err).Str("app", app).Str("env", env).Msg("list queued dry runs")
		return
	}
	// Oldest first: Requests lists newest first.
	for i := len(queued) - 1; i >= 0; i-- {
		if r := queued[i]; r.Check {
			if busy := s.tryStart(ctx, r); busy {
				return
			}
		}
	}
}

// drainQueue starts the requests first in line for app and env while the
// environment is free and returns how many it tried to start.
func (s *runs) drainQueue(ctx context.Context, app, env string) int {
	started := 0
	for range 20 {
		// Dry runs are not in this line (they hold no environment): they
		// start at once, or when the dry run before them ends.
		next, err := s.store.NextQueued(ctx, app, env)
		if ErrorCode(err) == ENOTFOUND {
			break
		}
		if err != nil {
			s.log.Error().Err(err).Str("app", app).Str("env", env).Msg("next queued request")
			break
		}
		if busy := s.tryStart(ctx, next); busy {
			break
		}
		started++
	}
	return started
}

// startQueued starts what waits: dry runs at once, and the first in line
// of every environment that is free.
func (s *runs) startQueued(ctx context.Context) error {
	queued, err := s.store.Requests(ctx, RequestFilter{Statuses: []Status{StatusQueued}})
	if err != nil {
		return fmt.Errorf("list queued: %w", err)
	}
	type appEnv struct{ app, env string }
	envs := map[appEnv]bool{}
	for i := len(queued) - 1; i >= 0; i-- { // oldest first
		if r := queued[i]; r.Check {
			s.tryStart(ctx, r)
			continue
		}
		envs[appEnv{queued[i].App, queued[i].Env}] = true
	}
	for ae := range envs {
		// Cards are shown again only when the queue moved: a periodic
		// pass must not cost Slack calls for nothing.
		if s.drainQueue(ctx, ae.app, ae.env) > 0 {
			s.refreshQueue(ctx, ae.app, ae.env)
		}
	}
	return nil
}

// refreshQueue shows the cards of app env's queued requests with their
// current positions and reports the queue depth.
func (s *runs) refreshQueue(ctx context.Context, app, env string) {
	queued, err := s.store.Requests(ctx, RequestFilter{App: app, Env: env, Statuses: []Status{StatusQueued}})
	if err != nil {
		s.log.Error().Err(err).Str("app", app).Str("env", env).Msg("list queue")
		return
	}
	n := 0
	for _, r := range queued {
		if !r.Check {
			n++
		}
		s.show(ctx, r)
	}
	s.Metrics.QueueDepth(app, env, n)
}

// blocker says what a queued request waits for.
func (s *runs) blocker(ctx context.Context, req *Request) Note {
	if req.Check {
		// A dry run waits only for the dry run before it.
		active, err := s.store.Requests(ctx, RequestFilter{App: req.App, Env: req.Env, Statuses: []Status{StatusLaunching, StatusRunning}})
		if err == nil {
			for _, a := range active {
				if a.Check && a.ID != req.ID {
					return Note{Kind: NoteWaitDryRun, Request: a.ID, Status: a.Status, User: a.RequestedBy}
				}
			}
		}
		return Note{Kind: NoteWaitTurn}
	}
	if l, ok := s.lockOf(ctx, req.App, req.Env); ok {
		return Note{Kind: NoteWaitLock, User: l.By, At: s.clockText(l.Since), Reason: l.Reason}
	}
	active, err := s.store.Requests(ctx, RequestFilter{App: req.App, Env: req.Env, Statuses: []Status{StatusLaunching, StatusRunning}})
	if err == nil {
		for _, a := range active {
			if !a.Check && a.ID != req.ID {
				what := a.Version
				if a.Kind == KindRollback {
					what = "rollback"
				}
				return Note{Kind: NoteWaitRequest, Request: a.ID, Status: a.Status, Title: what, User: a.RequestedBy}
			}
		}
	}
	if pos, err := s.store.QueuePosition(ctx, req.ID); err == nil && pos <= 1 {
		return Note{Kind: NoteWaitTurn}
	}
	return Note{Kind: NoteWaitAhead}
}

// lockOf returns the manual lock on app env, if any.
func (s *runs) lockOf(ctx context.Context, app, env string) (Lock, bool) {
	locks, err := s.store.Locks(ctx)
	if err != nil {
		s.log.Error().Err(err).Msg("list locks")
		return Lock{}, false
	}
	for _, l := range locks {
		if l.App == app && l.Env == env {
			return l, true
		}
	}
	return Lock{}, false
}

// Lock holds app env: queued requests wait until Unlock. A release that
// already runs is not stopped. Deployers and approvers of the environment
// may lock it.
//
// Errors: ENOTFOUND for an unknown app or env, EFORBIDDEN for other users,
// ECONFLICT when it is already locked (naming who holds it since when).
func (s *requests) Lock(ctx context.Context, user, app, env, reason string) (Lock, error) {
	if err := s.mayHold(ctx, user, app, env, "lock"); err != nil {
		return Lock{}, err
	}
	reason = oneLine(reason, 200)
	l := Lock{App: app, Env: env, By: user, Reason: reason, Since: s.now()}
	if err := s.store.Lock(ctx, l); err != nil {
		return Lock{}, internal("lock", err)
	}
	s.log.Info().Str("app", app).Str("env", env).Str("slack_user", user).Msg("environment locked")
	s.runs.refreshQueue(ctx, app, env)
	return l, nil
}

// Unlock releases the manual lock on app env and starts the next queued
// request. Deployers and approvers of the environment may unlock it.
//
// Errors: ENOTFOUND for an unknown app or env or when it is not locked,
// EFORBIDDEN for other users.
func (s *requests) Unlock(ctx context.Context, user, app, env string) (Lock, error) {
	if err := s.mayHold(ctx, user, app, env, "unlock"); err != nil {
		return Lock{}, err
	}
	l, err := s.store.Unlock(ctx, app, env, user)
	if ErrorCode(err) == ENOTFOUND {
		return Lock{}, Errorf(ENOTFOUND, "%s %s is not locked.", app, env)
	} else if err != nil {
		return Lock{}, internal("unlock", err)
	}
	s.log.Info().Str("app", app).Str("env", env).Str("slack_user", user).Msg("environment unlocked")
	s.runs.startNext(ctx, app, env)
	return l, nil
}

// mayHold checks that user may lock or unlock app env.
func (s *requests) mayHold(ctx context.Context, user, app, env, verb string) error {
	_, e, err := s.lookup(app, env)
	if err != nil {
		return err
	}
	who, err := s.identity(ctx, user, e.Deployers, e.Approval.Approvers)
	if err != nil {
		return err
	}
	if !who.In(e.Deployers) && !who.In(e.Approval.Approvers) {
		return Errorf(EFORBIDDEN, "Only deployers and approvers of %s %s can %s it.", app, env, verb)
	}
	return nil
}

// Status reports what runs, what waits and which locks are held, for one
// app and env, one app, or everything ("" matches all).
//
// Errors: ENOTFOUND for an unknown app or env.
func (s *requests) Status(ctx context.Context, app, env string) (StatusReport, error) {
	if err := s.checkScope(app, env); err != nil {
		return StatusReport{}, err
	}
	reqs, err := s.store.Requests(ctx, RequestFilter{App: app, Env: env,
		Statuses: []Status{StatusPendingApproval, StatusQueued, StatusLaunching, StatusRunning}})
	if err != nil {
		return StatusReport{}, internal("list requests", err)
	}
	var rep StatusReport
	pos := map[int64]int{}
	for _, r := range reqs {
		switch r.Status {
		case StatusPendingApproval:
			rep.Pending = append(rep.Pending, r)
		case StatusQueued:
			rep.Queued = append(rep.Queued, r)
			if p, err := s.store.QueuePosition(ctx, r.ID); err == nil {
				pos[r.ID] = p
			}
		default:
			rep.Active = append(rep.Active, r)
		}
	}
	sort.SliceStable(rep.Queued, func(i, j int) bool {
		a, b := rep.Queued[i], rep.Queued[j]
		if a.App != b.App || a.Env != b.Env {
			return a.App+"/"+a.Env < b.App+"/"+b.Env
		}
		return pos[a.ID] < pos[b.ID]
	})
	locks, err := s.store.Locks(ctx)
	if err != nil {
		return StatusReport{}, internal("list locks", err)
	}
	for _, l := range locks {
		if (app == "" || l.App == app) && (env == "" || l.Env == env) {
			rep.Locks = append(rep.Locks, l)
		}
	}
	return rep, nil
}

// History returns recent requests of app and env ("" matches all), newest
// first, at most limit (10 when 0, at most 100).
//
// Errors: ENOTFOUND for an unknown app or env.
func (s *requests) History(ctx context.Context, app, env string, limit int) ([]*Request, error) {
	if err := s.checkScope(app, env); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 10
	}
	limit = min(limit, 100)
	reqs, err := s.store.Requests(ctx, RequestFilter{App: app, Env: env, Limit: limit})
	if err != nil {
		return nil, internal("history", err)
	}
	return reqs, nil
}

// checkScope validates an optional app and env filter.
func (s *requests) checkScope(app, env string) error {
	switch {
	case app == "" && env == "":
		return nil
	case app == "":
		return Errorf(EINVALID, "Name the app as well as the environment.")
	case env == "":
		if s.cat().Apps[app] == nil {
			return Errorf(ENOTFOUND, "There is no app %q. Apps: %s.", app, strings.Join(s.cat().AppNames(), ", "))
		}
		return nil
	}
	_, _, err := s.lookup(app, env)
	return err
}

func (s *runs) setInflight(id int64, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.inflight[id] = true
	} else {
		delete(s.inflight, id)
	}
}

func (s *runs) isInflight(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight[id]
}
