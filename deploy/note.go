package deploy

import (
	"encoding/json"
	"fmt"
	"strings"
)

// NoteKind says what a Note tells; the bot words each kind.
type NoteKind string

// Note kinds posted in a request's thread.
const (
	// NoteText is Text as it is: a literal payload (a note from the
	// runner's adapter, or text stored before notes were typed).
	NoteText NoteKind = "text"
	// NoteApproved: User approved; Count more approvals are needed.
	NoteApproved NoteKind = "approved"
	// NoteReminder: Request still needs Count approvals and expires at
	// At; Users may approve.
	NoteReminder NoteKind = "reminder"
	// NoteCancelRefused: AWX did not accept the cancel (Reason); User
	// asked for it, when known.
	NoteCancelRefused NoteKind = "cancel_refused"
	// NoteCanceling: User canceled a running job; AWX stops it.
	NoteCanceling NoteKind = "canceling"
	// NoteCancelWhileLaunching: User canceled while the job was being
	// launched.
	NoteCancelWhileLaunching NoteKind = "cancel_launching"
	// NoteRunner: a line the runner wants shown (Text).
	NoteRunner NoteKind = "runner"
	// NoteMilestones: Lines, the milestones of a job (NotePlay,
	// NoteHostFailed, NoteHostDone), posted together.
	NoteMilestones NoteKind = "milestones"
	// NotePlay: the play Title started.
	NotePlay NoteKind = "play"
	// NoteHostFailed: Host ended in State at Task with Reason.
	NoteHostFailed NoteKind = "host_failed"
	// NoteHostDone: Host is done.
	NoteHostDone NoteKind = "host_done"
	// NoteEnded: the request ended in Status with the outcome Text.
	NoteEnded NoteKind = "ended"
	// NoteDigest: the failure digest of Request: Failure, AWX's
	// explanation (Reason) and the last lines of output (Text).
	NoteDigest NoteKind = "digest"
	// NoteLaunchUnknown: whether AWX started the job is not known yet.
	NoteLaunchUnknown NoteKind = "launch_unknown"
	// NoteJobFound: AWX has Job for the request; it is followed.
	NoteJobFound NoteKind = "job_found"
	// NoteScheduleStart: Schedule started the request; Reason, when set,
	// is why it needs approval.
	NoteScheduleStart NoteKind = "schedule_start"
	// NoteNotRecorded: the request could not be recorded.
	NoteNotRecorded NoteKind = "not_recorded"
	// NotePreparing: User asked for Title (e.g. "deploy shop 1.2 to
	// prod"); the card replaces this message.
	NotePreparing NoteKind = "preparing"
)

// Note kinds shown on request cards (CardInfo).
const (
	// NoteWaitDryRun: a dry run waits for the dry run Request (in Status,
	// asked by User).
	NoteWaitDryRun NoteKind = "wait_dry_run"
	// NoteWaitTurn: a queued request is next; it starts in a moment.
	NoteWaitTurn NoteKind = "wait_turn"
	// NoteWaitLock: User locked the environment at At for Reason.
	NoteWaitLock NoteKind = "wait_lock"
	// NoteWaitRequest: a release waits for Request (in Status, Title, the
	// version or "rollback", asked by User).
	NoteWaitRequest NoteKind = "wait_request"
	// NoteWaitAhead: a release waits for the requests ahead of it.
	NoteWaitAhead NoteKind = "wait_ahead"
	// NoteCheckSummary: the dry run Request by User, Detail ago, ended
	// with the outcome Text.
	NoteCheckSummary NoteKind = "check_summary"
)

// Note kinds of schedule announcements. Title is the schedule's title, At
// the run's time as shown.
const (
	// NoteScheduleCreated: User scheduled Title; Text is the schedule's
	// note, if any.
	NoteScheduleCreated NoteKind = "schedule_created"
	// NoteScheduleNeedsApproval: User scheduled Title, which needs Count
	// approvals from Users; Detail is the short plan hash approved.
	NoteScheduleNeedsApproval NoteKind = "schedule_needs_approval"
	// NoteScheduleApproved: User approved Title; Count more are needed.
	NoteScheduleApproved NoteKind = "schedule_approved"
	// NoteScheduleRejected: User rejected Title for Reason.
	NoteScheduleRejected NoteKind = "schedule_rejected"
	// NoteScheduleDeleted: User deleted Title.
	NoteScheduleDeleted NoteKind = "schedule_deleted"
	// NoteSchedulePaused: User paused Title (schedule Schedule).
	NoteSchedulePaused NoteKind = "schedule_paused"
	// NoteScheduleResumed: User resumed Title.
	NoteScheduleResumed NoteKind = "schedule_resumed"
	// NoteRunSkippedBy: User skipped the run of Title at At.
	NoteRunSkippedBy NoteKind = "run_skipped_by"
	// NoteRunDeferred: the run at At did not start for Reason; it is
	// tried again until Until.
	NoteRunDeferred NoteKind = "run_deferred"
	// NoteRunSkipped: the run at At was skipped for Reason (as asked when
	// Reason is empty).
	NoteRunSkipped NoteKind = "run_skipped"
	// NoteRunNotStarted: the run at At did not start for Reason.
	NoteRunNotStarted NoteKind = "run_not_started"
	// NoteRunStarted: the run at At made Request (card Card in Channel),
	// now in Status; Reason is why it waits for approval, Wait what it is
	// queued behind; CatchUp marks a run missed while down.
	NoteRunStarted NoteKind = "run_started"
	// NoteRunUpcoming: the run at At of Title starts in Detail; Text is
	// the run's note.
	NoteRunUpcoming NoteKind = "run_upcoming"
	// NoteRunEnded: the run's Request (card Card in Channel) ended in
	// Status with the outcome Text.
	NoteRunEnded NoteKind = "run_ended"
	// NoteRunsMissed: Title missed Count runs (the first ones in Runs,
	// zone TZ) while down; CatchUp says one catch-up run starts.
	NoteRunsMissed NoteKind = "runs_missed"
)

// Note is what the service tells Slack users, as data: the bot words it
// (bot/render_notes.go). Which fields a kind uses is said beside the kind.
// Text fields hold domain text (names, reasons, times as shown), never
// Slack markup; only the bot writes mentions and emoji.
type Note struct {
	Kind NoteKind `json:"kind"`
	// User is who acted (a Slack user ID).
	User string `json:"user,omitempty"`
	// Users are user IDs and @handles (approvers).
	Users    []string `json:"users,omitempty"`
	Request  int64    `json:"request,omitempty"`
	Schedule int64    `json:"schedule,omitempty"`
	Job      int64    `json:"job,omitempty"`
	Count    int      `json:"count,omitempty"`
	Status   Status   `json:"status,omitempty"`
	// Title is what the note is about: a schedule's title, a play's name,
	// what a request asks.
	Title string `json:"title,omitempty"`
	Host  string `json:"host,omitempty"`
	State string `json:"state,omitempty"`
	Task  string `json:"task,omitempty"`
	// At and Until are times as shown to users.
	At     string `json:"at,omitempty"`
	Until  string `json:"until,omitempty"`
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Channel and Card say where a request's card is.
	Channel string     `json:"channel,omitempty"`
	Card    MessageRef `json:"card,omitzero"`
	Failure *Failure   `json:"failure,omitempty"`
	// Wait is what a queued request waits for (a NoteWait… note).
	Wait  *Note  `json:"wait,omitempty"`
	Text  string `json:"text,omitempty"`
	Lines []Note `json:"lines,omitempty"`
	// Runs are schedule runs in zone TZ (NoteRunsMissed).
	Runs []RunTime `json:"runs,omitempty"`
	// NextRuns are a schedule's next runs, in zone TZ, shown after the
	// note when set.
	NextRuns []RunTime `json:"next_runs,omitempty"`
	TZ       string    `json:"tz,omitempty"`
	CatchUp  bool      `json:"catch_up,omitempty"`
}

// UnmarshalJSON reads a note, or a plain string as a NoteText: progress
// stored before notes were typed keeps its milestones as text.
func (n *Note) UnmarshalJSON(b []byte) error {
	if s := strings.TrimSpace(string(b)); strings.HasPrefix(s, `"`) {
		var t string
		if err := json.Unmarshal(b, &t); err != nil {
			return err
		}
		*n = Note{Kind: NoteText, Text: t}
		return nil
	}
	type plain Note
	return json.Unmarshal(b, (*plain)(n))
}

// notePrefix marks a stored note body (see EncodeNote).
const notePrefix = "note/1 "

// EncodeNote is n as stored in an outbox body: a version prefix and JSON.
func EncodeNote(n Note) string {
	b, err := json.Marshal(n)
	if err != nil { // a Note has only plain fields
		panic(fmt.Sprintf("encode note: %v", err))
	}
	return notePrefix + string(b)
}

// DecodeNote reads a body written by EncodeNote. A body without its prefix
// is text stored before notes were typed, delivered as it is (NoteText).
func DecodeNote(body string) (Note, error) {
	j, ok := strings.CutPrefix(body, notePrefix)
	if !ok {
		return Note{Kind: NoteText, Text: body}, nil
	}
	var n Note
	if err := json.Unmarshal([]byte(j), &n); err != nil {
		return Note{}, fmt.Errorf("decode stored note: %w", err)
	}
	return n, nil
}
