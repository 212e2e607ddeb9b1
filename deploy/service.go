package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Service carries out the release flow: requests, approvals, the queue and
// locks, launching and following AWX jobs, cancel, rollback and dry runs,
// and scheduled releases. Everything it knows lives in the Store, so a new
// Service over the same store picks up where an old one stopped (see Run).
//
// It is made of three parts over one shared core, each with one concern:
// requests (asking, approving, rejecting, canceling, locks and the
// read-only views: requests.go's type), runs (the queue, the launch, the
// follower, the final card and what is owed to Slack) and schedules
// (scheduled releases). Requests hand approved work to runs; schedules
// create requests. Service wires them and owns the periodic pass.
//
// Its methods return *Error values for anything the user can act on; any
// other error is internal.
type Service struct {
	*core
	*requests
	*runs
	*schedules

	tickMu    sync.Mutex    // one periodic pass at a time
	started   chan struct{} // closed after Run's first pass
	startOnce sync.Once
}

// Tunables are the Service's settings beyond the catalog; NewService sets
// their defaults and the caller may change them before Run.
type Tunables struct {
	// Metrics receives measurements; NopMetrics by default.
	Metrics Metrics
	// PollInterval is how often a follower polls a running job.
	PollInterval time.Duration
	// MaxPollBackoff caps the wait between polls after AWX errors.
	MaxPollBackoff time.Duration
	// TickInterval is how often Run does its periodic work (expiry,
	// reminders, reconciliation, starting queued requests).
	TickInterval time.Duration
	// ReminderBefore is the longest lead of the approval reminder; the
	// reminder goes out at the later of ExpiresAt-ReminderBefore and 80% of
	// the approval window.
	ReminderBefore time.Duration
	// ThreadEvery is the least time between two milestone posts in one
	// request's thread; milestones in between are joined into one post.
	ThreadEvery time.Duration
	// CheckValidFor is how long a dry run's summary is shown on the cards
	// of later requests with the same plan.
	CheckValidFor time.Duration
	// LaunchTimeout bounds one launch call.
	LaunchTimeout time.Duration
	// LaunchGrace is how long a request may stay in launching, its launch
	// outcome unknown, before a FindLaunched that finds nothing marks it
	// failed.
	LaunchGrace time.Duration
	// DigestLines is how many last lines of output the failure digest shows.
	DigestLines int
	// GoneAfter is how many polls in a row must find no job before a
	// running request is failed as lost (a job deleted in AWX).
	GoneAfter int
	// HashPlan digests a plan; Plan.Hash by default. Tests replace it with
	// a truncated digest to force two plans onto one hash.
	HashPlan func(Plan) string
	// RunGrace is how long after its time a scheduled run that could not
	// be checked (the Slack user group lookup failed) is retried on each
	// schedule tick; past it the run is recorded as skipped.
	RunGrace time.Duration
	// AnnounceLead is how long before a scheduled run it is announced
	// with "Skip this run" and "Pause schedule" buttons; zero means 10
	// minutes.
	AnnounceLead time.Duration
	// OutputDir is where job output is spooled on its way to Slack ("" for
	// the system's temporary directory); the files are private and removed
	// at once.
	OutputDir string
	// MaxUpload is the largest output uploaded whole; longer output is
	// uploaded as its last MaxUpload bytes under a note (0: the
	// configuration's limits.max_log_upload).
	MaxUpload int64
	// AWXURL is AWX's base URL, for links to jobs; "" names jobs by id.
	AWXURL string
	// OwedLease is how long a claim on an owed delivery to Slack (the
	// outbox) holds before another deliverer may take it over.
	OwedLease time.Duration
	// OwedRetry is the wait before the second attempt of a failed delivery
	// to Slack; it doubles with each attempt, up to 5 minutes.
	OwedRetry time.Duration
	// OwedKeep is how long delivered (or given up) deliveries to Slack
	// stay on record before a pass deletes them.
	OwedKeep time.Duration
	// OwedAttempts is how many times a delivery to Slack is tried before
	// it is given up (with an error in the log).
	OwedAttempts int
	// Replica names this process on the leases it holds in the store
	// (leases.go); it must differ between processes sharing a store. The
	// default is the host name and the process id.
	Replica string
	// LeaseTTL is how long a lease holds without renewal: how long work
	// owned by a replica that died waits before another replica takes it
	// over. It must exceed the clock skew between replicas.
	LeaseTTL time.Duration
}

// core is what the parts of the Service share: the ports, the catalog in
// force, the tunables, and the helpers every action uses (the catalog
// lookup, the actor's identity, the approval policy's count, the audit
// trail, the thread).
type core struct {
	Tunables
	// catalog is what may be released where; SetCatalog replaces it.
	catalog  atomic.Pointer[Catalog]
	store    Store
	runner   Runner
	notifier Notifier
	dir      Directory
	clock    Clock
	log      zerolog.Logger
}

// NewService returns a Service with default tunables. It does no I/O.
func NewService(cat *Catalog, store Store, runner Runner, notifier Notifier, dir Directory, clock Clock, log zerolog.Logger) *Service {
	if clock == nil {
		clock = SystemClock{}
	}
	c := &core{
		store: store, runner: runner, notifier: notifier, dir: dir, clock: clock,
		log: log.With().Str("component", "deploy").Logger(),
		Tunables: Tunables{
			Metrics:        NopMetrics{},
			PollInterval:   2 * time.Second,
			MaxPollBackoff: 30 * time.Second,
			TickInterval:   5 * time.Second,
			ReminderBefore: 5 * time.Minute,
			ThreadEvery:    5 * time.Second,
			CheckValidFor:  time.Hour,
			LaunchTimeout:  time.Minute,
			LaunchGrace:    time.Minute,
			DigestLines:    15,
			GoneAfter:      5,
			HashPlan:       Plan.Hash,
			RunGrace:       15 * time.Minute,
			OwedLease:      2 * time.Minute,
			OwedRetry:      5 * time.Second,
			OwedAttempts:   10,
			OwedKeep:       7 * 24 * time.Hour,
			Replica:        defaultReplica(),
			LeaseTTL:       15 * time.Second,
		},
	}
	c.SetCatalog(cat)
	r := newRuns(c)
	q := &requests{core: c, runs: r}
	return &Service{
		core: c, runs: r, requests: q,
		schedules: &schedules{core: c, requests: q, runs: r},
		started:   make(chan struct{}),
	}
}

// defaultReplica names this process: host name and process id.
func defaultReplica() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "deploybot"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// SetCatalog makes cat the catalog of every action from now on: a
// configuration reloaded while the bot runs. Requests already made keep
// the plan they were approved with; waiting requests and schedules are
// checked against the new catalog when they act.
func (s *core) SetCatalog(cat *Catalog) {
	if cat == nil {
		cat = &Catalog{}
	}
	s.catalog.Store(cat)
}

// cat returns the catalog in force.
func (s *core) cat() *Catalog { return s.catalog.Load() }

// Run owns the background work until ctx ends: on start it recovers what a
// previous process left (follows running requests again, reconciles
// launching ones, closes expired approvals, re-renders waiting cards), then
// it follows jobs, expires approvals and sends reminders, and starts queued
// requests when their environment frees up. It returns nil once ctx ends
// and every follower has stopped.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.runCtx != nil {
		s.mu.Unlock()
		return errors.New("deploy service: already running")
	}
	s.runCtx = ctx
	s.mu.Unlock()
	defer func() {
		// No follower starts once runCtx is cleared, so Wait sees them all.
		s.mu.Lock()
		s.runCtx = nil
		s.mu.Unlock()
		s.wg.Wait()
		// Expiry and reminders go on at once on another replica.
		s.letGo(ctx, periodicLease)
	}()

	s.rerender(ctx)
	s.Tick(ctx)
	s.startOnce.Do(func() { close(s.started) })

	t := time.NewTicker(s.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.Tick(ctx)
		}
	}
}

// Started is closed once Run has done its first pass: what a previous
// process left is recovered (running jobs followed again, launches
// reconciled, expired approvals closed, owed messages delivered).
func (s *Service) Started() <-chan struct{} { return s.started }

// Tick does one pass of the periodic work: it delivers what is still owed
// to Slack (final cards and notes a crash or a Slack error left
// undelivered) and, once an hour, forgets what was delivered more than
// OwedKeep ago, makes sure every running
// request is followed, reconciles launching requests whose launch outcome
// is unknown, queues pending requests that have every approval they need,
// expires overdue approvals and sends reminders, and starts
// queued requests whose environment is free. Run calls it; tests may call
// it directly.
func (s *Service) Tick(ctx context.Context) {
	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	s.deliverOwed(ctx, 0)
	s.pruneOwed(ctx)
	if err := s.followAll(ctx); err != nil {
		s.log.Error().Err(err).Msg("resume followers")
	}
	if err := s.reconcileLaunching(ctx); err != nil {
		s.log.Error().Err(err).Msg("reconcile launching requests")
	}
	if err := s.queueApproved(ctx); err != nil {
		s.log.Error().Err(err).Msg("queue approved requests")
	}
	if _, ok := s.hold(ctx, periodicLease); ok {
		if err := s.expirePending(ctx); err != nil {
			s.log.Error().Err(err).Msg("expire approvals")
		}
	}
	if err := s.startQueued(ctx); err != nil {
		s.log.Error().Err(err).Msg("start queued requests")
	}
}

// rerender shows the cards of waiting requests again, so that their
// buttons and queue positions are current after a restart.
func (s *runs) rerender(ctx context.Context) {
	reqs, err := s.store.Requests(ctx, RequestFilter{Statuses: []Status{StatusPendingApproval, StatusQueued}})
	if err != nil {
		s.log.Error().Err(err).Msg("list waiting requests")
		return
	}
	for _, r := range reqs {
		s.show(ctx, r)
	}
}

// reqLog returns a logger carrying req's fields.
func (s *core) reqLog(req *Request) *zerolog.Logger {
	l := s.log.With().Int64("request_id", req.ID).Str("app", req.App).Str("env", req.Env).
		Str("kind", logKind(req)).Str("version", req.Version)
	if req.RollbackTo != "" {
		l = l.Str("rollback_to", req.RollbackTo)
	}
	if !req.Job.Zero() {
		l = l.Int64("awx_job_id", req.Job.ID)
	}
	lg := l.Logger()
	return &lg
}

// logKind is what a request does, as its log lines say: deploy, rollback
// or dry_run.
func logKind(req *Request) string {
	if req.Check {
		return "dry_run"
	}
	return string(req.Kind)
}

// planHash is the digest of p that approvals bind.
func (s *core) planHash(p Plan) string { return s.HashPlan(p) }

// now returns the service's time.
func (s *core) now() time.Time { return s.clock.Now() }

// lookup returns the app and env of a request, or an ENOTFOUND listing the
// valid names.
func (s *core) lookup(app, env string) (*App, *Environment, error) {
	return lookupIn(s.cat(), app, env)
}

// lookupIn is lookup in the catalog cat.
func lookupIn(cat *Catalog, app, env string) (*App, *Environment, error) {
	a := cat.Apps[app]
	if a == nil {
		return nil, nil, Errorf(ENOTFOUND, "There is no app %q. Apps: %s.", app, strings.Join(cat.AppNames(), ", "))
	}
	e := a.Environments[env]
	if e == nil {
		return nil, nil, Errorf(ENOTFOUND, "%s has no environment %q. Environments: %s.", app, env, strings.Join(a.EnvNames(), ", "))
	}
	return a, e, nil
}

// actorOn is the opening of every action on an existing request: it loads
// request id, looks up its environment in the catalog, and resolves user
// against the lists of that environment the action's rule reads. A
// request whose app or environment a reloaded configuration no longer
// has keeps its approved plan, and may still run: its requester alone may
// act on it (cancel it, read its output), as on an environment that lists
// nobody.
func (s *core) actorOn(ctx context.Context, id int64, user string, lists func(*Environment) [][]string) (*Request, *Environment, Identity, error) {
	req, err := s.store.Request(ctx, id)
	if err != nil {
		return nil, nil, Identity{}, internal("read request", err)
	}
	_, env, err := s.lookup(req.App, req.Env)
	if ErrorCode(err) == ENOTFOUND {
		env = &Environment{Name: req.Env}
	} else if err != nil {
		return nil, nil, Identity{}, err
	}
	who, err := s.identity(ctx, user, lists(env)...)
	if err != nil {
		return nil, nil, Identity{}, err
	}
	return req, env, who, nil
}

// identity resolves user's groups among the handles named in lists, at
// the moment of the action. The policies check membership of any of the
// lists, so a user named by ID in one of them needs no lookup.
func (s *core) identity(ctx context.Context, user string, lists ...[]string) (Identity, error) {
	who := Identity{User: user}
	var handles []string
	seen := map[string]bool{}
	for _, l := range lists {
		if who.In(l) {
			// Listed by ID: every policy over these lists is met without
			// asking Slack.
			return who, nil
		}
		for _, h := range Handles(l) {
			if !seen[strings.ToLower(h)] {
				seen[strings.ToLower(h)] = true
				handles = append(handles, h)
			}
		}
	}
	if len(handles) == 0 || s.dir == nil {
		return who, nil
	}
	groups, err := s.dir.Groups(ctx, user, handles)
	if err != nil {
		s.log.Error().Err(err).Str("slack_user", user).Msg("resolve user groups")
		return who, Errorf(ECONFLICT, "I could not check your Slack user groups just now; try again in a minute.")
	}
	who.Groups = groups
	return who, nil
}

// audit appends an audit entry; a failure is logged, not returned, because
// the action it records has already happened.
func (s *core) audit(ctx context.Context, req *Request, actor, action, detail string) {
	e := AuditEntry{At: s.now(), Actor: actor, Action: action, Detail: detail}
	if req != nil {
		e.RequestID, e.App, e.Env = req.ID, req.App, req.Env
	}
	if err := s.store.Audit(ctx, e); err != nil {
		s.log.Error().Err(err).Str("action", action).Msg("audit")
	}
}

// thread posts note in req's thread; failures are logged.
func (s *core) thread(ctx context.Context, req *Request, note Note) {
	if err := s.notifier.Thread(ctx, req, note); err != nil {
		s.reqLog(req).Warn().Err(err).Msg("post in thread")
	}
}

// show posts or updates req's card and records where it lives.
func (s *runs) show(ctx context.Context, req *Request) {
	if err := s.showCard(ctx, req); err != nil {
		s.reqLog(req).Warn().Err(err).Msg("show card")
	}
}

// showCard is show, returning whether Slack took the card.
func (s *runs) showCard(ctx context.Context, req *Request) error {
	info := s.cardInfo(ctx, req)
	ref, err := s.notifier.Card(ctx, req, info)
	if err != nil {
		return err
	}
	if ref != req.Message && ref.TS != "" {
		req.Message = ref
		if err := s.store.SetMessage(ctx, req.ID, ref); err != nil {
			s.reqLog(req).Error().Err(err).Msg("save card reference")
		}
	}
	return nil
}

// cardInfo computes what req's card shows beyond the request.
func (s *runs) cardInfo(ctx context.Context, req *Request) CardInfo {
	info := CardInfo{Location: s.cat().Location}
	_, env, err := s.lookup(req.App, req.Env)
	if err == nil {
		pol := env.Approval
		info.Approvers = pol.Approvers
		info.SelfApproval = pol.AllowSelfApproval
		if req.Status == StatusPendingApproval {
			info.ApprovalsMissing = s.approvalsMissing(ctx, req, pol)
		}
	}
	if req.Kind == KindRollback && req.Plan.Restores != "" {
		info.Note = "Restores " + req.Plan.Restores
	}
	switch req.Status {
	case StatusPendingApproval:
		info.CheckSummary = s.checkSummary(ctx, req)
	case StatusQueued:
		if pos, err := s.store.QueuePosition(ctx, req.ID); err == nil {
			info.QueuePosition = pos
		}
		info.Blocker = s.blocker(ctx, req)
	case StatusExpired:
		if req.Outcome == "" { // the outcome says it already
			info.Note = fmt.Sprintf("Expired at %s without approval.", s.clockText(req.ExpiresAt))
		}
	}
	return info
}

// clockText formats t for Slack in the configured time zone, with the
// UTC time in brackets when that zone is not UTC.
func (s *core) clockText(t time.Time) string {
	loc := s.cat().Location
	if loc == nil {
		loc = time.UTC
	}
	local := t.In(loc)
	if _, off := local.Zone(); off == 0 {
		return local.Format("15:04 MST")
	}
	return local.Format("15:04 MST") + " (" + t.UTC().Format("15:04 UTC") + ")"
}

// internal wraps an internal error with context; the user sees "Internal
// error." and the log has the details.
func internal(what string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}
