package deploy

import (
	"time"
)

// Kind says what a request does.
type Kind string

// Request kinds.
const (
	KindDeploy   Kind = "deploy"
	KindRollback Kind = "rollback"
)

// JobKind says which AWX object runs a request.
type JobKind string

// AWX job kinds.
const (
	JobTemplateRun JobKind = "job"
	AdHocCommand   JobKind = "ad_hoc_command"
)

// JobRef identifies the AWX job that runs a request.
type JobRef struct {
	Kind JobKind
	ID   int64
}

// Zero reports whether no job is recorded.
func (j JobRef) Zero() bool { return j.ID == 0 }

// MessageRef identifies a Slack message: the request card.
type MessageRef struct {
	Channel string
	TS      string
}

// Approval is one approver's click.
type Approval struct {
	User string
	At   time.Time
	// PlanHash is the full hash of the plan the approver approved: the
	// plan the card showed. A launch whose plan hashes otherwise is
	// refused.
	PlanHash string
	// Needed, when above zero, is how many distinct approvals the policy
	// needs: when this approval brings the request to Needed, the store
	// moves it from pending approval to queued in the same transaction, so
	// that no crash can leave a fully approved request waiting.
	Needed int
	// Owed, when set, says what the approval makes the bot owe Slack (its
	// note in the thread), given the request as the approval leaves it; the
	// store records it in the outbox in the same transaction (see
	// Change.Owed). It is not stored.
	Owed func(*Request) []Owed `json:"-"`
}

// Request is one release (or rollback) asked for in Slack, with everything
// needed to carry it out and to show it.
type Request struct {
	ID      int64
	Kind    Kind
	App     string
	Env     string
	Version string // empty for a rollback
	// RollbackTo is the release id a rollback restores; empty means the
	// newest backup on each host.
	RollbackTo string
	Check      bool // dry run: AWX check mode with diff
	// RequestedBy is the Slack user ID of the requester.
	RequestedBy string
	// Channel is where the request was made and its card lives.
	Channel string
	Status  Status
	// Plan is frozen at request time and belongs to this request alone;
	// approvals apply to its full hash, PlanHash.
	Plan      Plan
	PlanHash  string
	Approvals []Approval
	// ScheduleID is the schedule that created the request, 0 for none.
	ScheduleID int64
	Job        JobRef
	// CancelRequested is set when a cancel was asked while the request
	// could not be canceled at once (launching); it is honoured as soon as
	// the job id is known.
	CancelRequested bool
	CanceledBy      string
	Message         MessageRef
	// Outcome is a one-line summary of the result or of why it stopped.
	Outcome  string
	Progress Progress
	// Cursor is the job event follower's resume point (see Runner.Poll).
	Cursor     string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	ExpiresAt  time.Time // approval deadline; zero when none applies
	StartedAt  time.Time // set on entering running
	FinishedAt time.Time // set on entering a terminal status
}

// Approved reports whether user has already approved r.
func (r *Request) Approved(user string) bool {
	for _, a := range r.Approvals {
		if a.User == user {
			return true
		}
	}
	return false
}

// Progress is what the card shows of a running job, rebuilt from job events.
type Progress struct {
	Play  string                  `json:"play,omitempty"`
	Task  string                  `json:"task,omitempty"`
	Hosts map[string]HostProgress `json:"hosts,omitempty"`
	// Failed names the first failure, for the digest.
	Failure *Failure `json:"failure,omitempty"`
	// LastCounter is the counter of the last job event applied; events at
	// or below it are not applied again.
	LastCounter int64 `json:"last_counter,omitempty"`
	// Milestones are thread notes not posted yet (posts are coalesced);
	// kept here so that a restart does not lose them. Progress stored
	// before notes were typed holds them as text (see Note.UnmarshalJSON).
	Milestones []Note `json:"milestones,omitempty"`
}

// HostProgress is one host's state in a run.
type HostProgress struct {
	// Phase is the last task seen on this host.
	Phase       string `json:"phase,omitempty"`
	State       string `json:"state,omitempty"` // running, ok, changed, failed, unreachable, skipped
	OK          int    `json:"ok,omitempty"`
	Change      int    `json:"changed,omitempty"`
	Failed      int    `json:"failed,omitempty"`
	Unreachable int    `json:"unreachable,omitempty"`
	Skipped     int    `json:"skipped,omitempty"`
	Done        bool   `json:"done,omitempty"`
}

// RecapState is a host's final state from its recap counts, as Ansible's
// PLAY RECAP reads: unreachable, else failed, else changed, else ok, and
// skipped when every task was skipped.
func (h HostProgress) RecapState() string {
	switch {
	case h.Unreachable > 0:
		return "unreachable"
	case h.Failed > 0:
		return "failed"
	case h.Change > 0:
		return "changed"
	case h.OK > 0:
		return "ok"
	}
	return "skipped"
}

// Failure describes where a run failed.
type Failure struct {
	Host    string `json:"host"`
	Task    string `json:"task"`
	Message string `json:"message"`
}

// RequestFilter selects requests. Zero fields match everything.
type RequestFilter struct {
	App      string
	Env      string
	Statuses []Status
	// Releases leaves dry runs out: only what changed hosts, or could.
	Releases bool
	// Limit caps the result; 0 means no cap. Results are newest first.
	Limit int
}

// Change is one compare-and-set status change.
type Change struct {
	From Status
	To   Status
	At   time.Time
	// Actor is the Slack user who caused the change, "" for the bot.
	Actor string
	// Outcome, when not empty, replaces the request's outcome text.
	Outcome string
	// Job, when not zero, records the AWX job (the launching → running edge).
	Job JobRef
	// Owed is what the change makes the bot owe Slack, recorded in the
	// outbox in the same transaction, in this order.
	Owed []Owed
}

// Lock is a manual hold on an environment, taken with /deploy lock.
type Lock struct {
	App    string
	Env    string
	By     string
	Reason string
	Since  time.Time
}

// AuditEntry is one line of the append-only audit trail.
type AuditEntry struct {
	ID         int64
	At         time.Time
	Actor      string // Slack user ID, "" for the bot
	Action     string // requested, approved, rejected, status, locked, ...
	RequestID  int64
	ScheduleID int64
	App        string
	Env        string
	Detail     string
}
