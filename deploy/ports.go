package deploy

import (
	"context"
	"errors"
	"io"
	"time"
)

// Clock tells the time; tests inject a controllable one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// ErrEnvBusy is returned (wrapped in an ECONFLICT *Error) by
// Store.Transition when a request cannot enter launching because another
// release of the same app and environment is active or the environment is
// locked by hand.
var ErrEnvBusy = errors.New("environment busy")

// RequestStore keeps requests. Every status change is a compare-and-set.
type RequestStore interface {
	// CreateRequest stores req, sets its ID, CreatedAt and UpdatedAt, and
	// appends a "requested" audit entry.
	CreateRequest(ctx context.Context, req *Request) error
	// Request returns one request; ENOTFOUND when there is none.
	Request(ctx context.Context, id int64) (*Request, error)
	// Requests returns requests matching f, newest first.
	Requests(ctx context.Context, f RequestFilter) ([]*Request, error)
	// Transition moves request id from ch.From to ch.To atomically, stamps
	// StartedAt/FinishedAt, records ch.Job and ch.Outcome, and appends a
	// status audit entry. It returns ECONFLICT when the request is not in
	// ch.From (someone else changed it first) or the edge is illegal, and
	// an ECONFLICT wrapping ErrEnvBusy when ch.To is launching but another
	// request of the same app and env is launching or running, or the env
	// is locked by hand; likewise when a dry run enters launching while
	// another dry run of the same app and env is launching or running.
	// Leaving launching/running frees the environment in the same
	// transaction.
	Transition(ctx context.Context, id int64, ch Change) (*Request, error)
	// AddApproval records one approval of a pending request, once per user
	// (ECONFLICT for a second one from the same user, when the request is
	// no longer pending, or when a.PlanHash is not the request's plan
	// hash), and appends an audit entry. When a.Needed > 0 and the request
	// then has that many distinct approvals, the same transaction moves it
	// to queued (with its status audit entry).
	AddApproval(ctx context.Context, id int64, a Approval) (*Request, error)
	// SetMessage records where the request card lives.
	SetMessage(ctx context.Context, id int64, m MessageRef) error
	// SetProgress saves the follower's cursor and what the card shows.
	SetProgress(ctx context.Context, id int64, cursor string, p Progress) error
	// RequestCancel marks a non-terminal request for cancel by user.
	RequestCancel(ctx context.Context, id int64, by string) (*Request, error)
	// QueuePosition returns the 1-based place of a queued request among the
	// queued requests of its app and env (FIFO by the time it was queued;
	// releases and dry runs wait in separate lines).
	QueuePosition(ctx context.Context, id int64) (int, error)
	// NextQueued returns the oldest queued release (not dry run) of app and
	// env; ENOTFOUND when none waits.
	NextQueued(ctx context.Context, app, env string) (*Request, error)
}

// LockStore keeps manual environment locks.
type LockStore interface {
	// Lock takes a manual lock; ECONFLICT when already locked.
	Lock(ctx context.Context, l Lock) error
	// Unlock removes a manual lock; ENOTFOUND when none is held.
	Unlock(ctx context.Context, app, env, by string) (Lock, error)
	// Locks lists the manual locks held.
	Locks(ctx context.Context) ([]Lock, error)
}

// ScheduleStore keeps scheduled releases.
type ScheduleStore interface {
	// CreateSchedule stores s and sets its ID and CreatedAt.
	CreateSchedule(ctx context.Context, s *Schedule) error
	// Schedule returns one schedule; ENOTFOUND when there is none.
	Schedule(ctx context.Context, id int64) (*Schedule, error)
	// Schedules lists schedules, oldest first; deleted ones are not listed.
	Schedules(ctx context.Context) ([]*Schedule, error)
	// UpdateSchedule writes s back if its status is still from and its
	// revision still s.Rev (a compare-and-set), and advances s.Rev;
	// ECONFLICT otherwise (read it again and re-apply the change).
	UpdateSchedule(ctx context.Context, s *Schedule, from ScheduleStatus) error
}

// AuditStore is the append-only audit trail.
type AuditStore interface {
	// Audit appends an entry.
	Audit(ctx context.Context, e AuditEntry) error
	// AuditLog returns the entries of one request (or all when id is 0),
	// oldest first, at most limit (0 for all).
	AuditLog(ctx context.Context, requestID int64, limit int) ([]AuditEntry, error)
}

// OutboxStore keeps what the bot owes Slack (see Change.Owed) until it is
// delivered.
type OutboxStore interface {
	// ClaimOwed leases to owner, until now+lease, the owed items that are
	// due at now and not leased to anyone (or whose lease has expired), of
	// request requestID or of all requests when it is 0, oldest first, at
	// most limit. An item is not claimed while an earlier item of its
	// request is still owed and not claimable, so that one request's items
	// are delivered in order.
	ClaimOwed(ctx context.Context, owner string, requestID int64, now time.Time, lease time.Duration, limit int) ([]OwedItem, error)
	// SettleOwed records what became of item id, claimed by owner.
	SettleOwed(ctx context.Context, id int64, owner string, r OwedResult) error
	// PruneOwed deletes the items delivered or given up before before, and
	// returns how many it deleted. Items still owed are never deleted.
	PruneOwed(ctx context.Context, before time.Time) (int64, error)
}

// Store is everything deploy keeps. storage.DB implements it on SQLite
// and on PostgreSQL.
type Store interface {
	RequestStore
	LockStore
	ScheduleStore
	AuditStore
	OutboxStore
	ReplicaStore
}

// ErrOutcomeUnknown is wrapped by Runner.Launch errors when the launch may or
// may not have happened (a timeout, a dropped connection, a 5xx). The
// request then stays in launching and is reconciled with Runner.FindLaunched;
// the launch is never retried blindly.
var ErrOutcomeUnknown = errors.New("launch outcome unknown")

// JobState is a job's status in deploy's terms.
type JobState string

// Job states.
const (
	JobPending   JobState = "pending"
	JobRunning   JobState = "running"
	JobSucceeded JobState = "succeeded"
	JobFailed    JobState = "failed"
	JobCanceled  JobState = "canceled"
)

// Final reports whether the job has ended.
func (s JobState) Final() bool {
	return s == JobSucceeded || s == JobFailed || s == JobCanceled
}

// Event is one job event in deploy's terms.
type Event struct {
	Counter int64
	// Type is one of: playbook_start, play_start, task_start, host_ok,
	// host_changed, host_failed, host_unreachable, host_skipped, stats,
	// other.
	Type    string
	Host    string
	Play    string
	Task    string
	Message string // the module's message for host events
	Stdout  string
}

// Update is what one Runner.Poll call learned.
type Update struct {
	State JobState
	// Events are new events, in counter order, each delivered once.
	Events []Event
	// Cursor resumes following after a restart.
	Cursor string
	// Done is true once the job is final and all its events were read.
	Done bool
	// Recap is per-host counts, once known.
	Recap map[string]HostProgress
	// Explanation is AWX's job explanation, when it gives one.
	Explanation string
	// Notes are lines the runner wants shown once in the request's thread
	// (hosts the launch's limit kept out, output that may be incomplete).
	Notes []string
}

// Build is what the build server says of an artifact.
type Build struct {
	Size     int64
	Checksum string
}

// Runner runs plans on AWX. An adapter over awxclient implements it.
type Runner interface {
	// CheckBuild asks whether the artifact exists (an HTTP HEAD);
	// EINVALID when it does not.
	CheckBuild(ctx context.Context, url string) (Build, error)
	// Launch starts req's plan once. It is never retried automatically;
	// see ErrOutcomeUnknown.
	Launch(ctx context.Context, req *Request) (JobRef, error)
	// FindLaunched looks for a job launched for req (its extra vars carry
	// deploybot_request_id) since req.CreatedAt.
	FindLaunched(ctx context.Context, req *Request) (JobRef, bool, error)
	// Poll reads the job's state and the events after cursor.
	Poll(ctx context.Context, job JobRef, cursor string) (Update, error)
	// Cancel asks AWX to cancel the job; an error wrapping ErrJobEnded
	// when the job had already ended.
	Cancel(ctx context.Context, job JobRef) error
	// Output writes the job's full plain-text output to w.
	Output(ctx context.Context, job JobRef, w io.Writer) error
}

// Directory resolves Slack user groups.
type Directory interface {
	// Groups returns which of handles (like "@shop-leads") user belongs to.
	Groups(ctx context.Context, user string, handles []string) ([]string, error)
}

// Notifier shows requests in Slack. The bot implements it; it renders the
// request card from the request, coalesces updates, and posts in the card's
// thread.
type Notifier interface {
	// Card posts (when req.Message is empty) or updates the request card
	// of req and returns where it is.
	Card(ctx context.Context, req *Request, info CardInfo) (MessageRef, error)
	// Thread posts note in the card's thread, worded by the notifier.
	Thread(ctx context.Context, req *Request, note Note) error
	// Upload posts a file in the card's thread. content is read from its
	// start on every attempt and is not kept after Upload returns, so a
	// file on disk can be passed without loading it into memory.
	Upload(ctx context.Context, req *Request, filename, title string, content io.ReadSeeker) error
	// Ephemeral shows text to one user in a channel.
	Ephemeral(ctx context.Context, channel, user, text string) error
	// Announce posts note in a channel (a request's placeholder, schedule
	// announcements), worded by the notifier.
	Announce(ctx context.Context, channel string, note Note) (MessageRef, error)
}

// CardFlusher is a Notifier whose Card may only queue an update of a posted
// card. FlushCard waits until what is queued for the card at ref is
// written to Slack (or refused for good), so that the final card is
// recorded as delivered (see Change.Owed) only once Slack shows it.
type CardFlusher interface {
	FlushCard(ctx context.Context, ref MessageRef) error
}

// CardInfo is what a request card shows beyond the request itself.
type CardInfo struct {
	// QueuePosition is the 1-based place of a queued request.
	QueuePosition int
	// Blocker says what a queued request waits for (a NoteWait… note).
	Blocker Note
	// ApprovalsMissing is how many more approvals a pending request needs.
	ApprovalsMissing int
	// Approvers are who may approve (user IDs and @handles).
	Approvers []string
	// SelfApproval tells whether the requester may approve.
	SelfApproval bool
	// CheckSummary is the summary of a dry run of the same plan, shown on
	// the approval card (a NoteCheckSummary note; zero when none).
	CheckSummary Note
	// Note is one more line, e.g. "Expired at 18:30 without approval".
	Note string
	// Location is the time zone the card shows its times in (the
	// configured one); nil shows UTC.
	Location *time.Location
}

// Metrics receives the service's measurements. cmd/deploybot backs it with
// Prometheus; NopMetrics discards them.
type Metrics interface {
	// RequestFinished counts a request reaching a terminal status; d is
	// how long its job ran (zero when it never ran).
	RequestFinished(app, env string, status Status, d time.Duration)
	// Approved observes the time from request to the last needed approval.
	Approved(app, env string, d time.Duration)
	// QueueDepth reports how many requests wait for app and env.
	QueueDepth(app, env string, n int)
}

// NopMetrics discards measurements.
type NopMetrics struct{}

// RequestFinished does nothing.
func (NopMetrics) RequestFinished(string, string, Status, time.Duration) {}

// Approved does nothing.
func (NopMetrics) Approved(string, string, time.Duration) {}

// QueueDepth does nothing.
func (NopMetrics) QueueDepth(string, string, int) {}

// Lease is a named lease: who holds it and until when. Replicas sharing one
// database own work that must happen once (following a job, the outbox, a
// schedule) through leases.
type Lease struct {
	// Name names the work, e.g. "job/42" or "outbox".
	Name string
	// Holder is who holds the lease (a replica id); "" once released.
	Holder string
	// Token is the fencing token: it goes up by one each time the lease
	// changes hands (a take-over, or a taking after a release), and stays
	// the same when the holder renews. A holder that sees another token
	// than the one it had lost the lease in between, even if it holds it
	// again now.
	Token int64
	// Since is when Holder took the lease (the first AcquireLease of this
	// holding, not the last renewal).
	Since time.Time
	// Expires is when the lease ends unless renewed.
	Expires time.Time
}

// Live reports whether l is held at now.
func (l Lease) Live(now time.Time) bool {
	return l.Holder != "" && now.Before(l.Expires)
}

// LeaseStore keeps named leases with a holder and an expiry. Every change is
// a compare-and-set in one transaction, so two replicas never both hold a
// lease. Times come from the caller (now), never from the database's clock:
// a replica whose clock lags behind sees a lease as live longer, and the
// TTL must exceed the clock skew between replicas.
type LeaseStore interface {
	// AcquireLease gives lease name to holder until now+ttl when it is
	// free (never taken, released, or expired at now) or already held by
	// holder (a renewal, which never shortens the expiry and keeps the
	// token). It returns the lease as it now stands and whether holder
	// holds it; when another holder's lease is live at now it returns that
	// lease and false. EINVALID for an empty name or holder, a zero now,
	// or a ttl under a millisecond (times are kept to the millisecond).
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (Lease, bool, error)
	// ReleaseLease frees lease name if holder holds it, so that another
	// holder may take it at once; it does nothing otherwise.
	ReleaseLease(ctx context.Context, name, holder string) error
	// Leases lists the leases live at now, by name (for /readyz).
	Leases(ctx context.Context, now time.Time) ([]Lease, error)
}

// ScheduleFireStore records which holder fired which schedule at which fire
// time, so that each fire happens once whatever the number of replicas.
type ScheduleFireStore interface {
	// ClaimScheduleFire records that holder fires schedule scheduleID for
	// fireAt (claimed at now) and reports whether this call made the
	// claim: exactly one claim per schedule and fire time ever succeeds;
	// every later one returns false. Fire times are compared to the
	// millisecond. ENOTFOUND when there is no such schedule; EINVALID for
	// an empty holder or a zero fireAt or now.
	ClaimScheduleFire(ctx context.Context, scheduleID int64, fireAt time.Time, holder string, now time.Time) (bool, error)
	// PruneScheduleFires deletes the claims of fire times before before
	// and returns how many it deleted. A fire time older than before may
	// then be claimed again: callers never claim fire times that old.
	PruneScheduleFires(ctx context.Context, before time.Time) (int64, error)
}

// PacingStore spaces out work shared between replicas, such as the
// messages of one Slack channel (Slack's rate limits are per app and
// channel, not per process).
type PacingStore interface {
	// ReserveSlot reserves the next slot of key: max(now, last+interval),
	// where last is the slot reserved before, and records it as last, in
	// one transaction. So callers of any replica that each wait until
	// their slot get slots interval apart in total. Slots are in
	// milliseconds. EINVALID for an empty key, a zero now or a negative
	// interval.
	ReserveSlot(ctx context.Context, key string, now time.Time, interval time.Duration) (time.Time, error)
}

// ReplicaStore is what replicas sharing one database coordinate through.
type ReplicaStore interface {
	LeaseStore
	ScheduleFireStore
	PacingStore
}
