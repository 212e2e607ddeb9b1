package deploy

import "time"

// ScheduleStatus is the state of a schedule.
type ScheduleStatus string

// Schedule states.
const (
	SchedulePendingApproval ScheduleStatus = "pending_approval"
	ScheduleActive          ScheduleStatus = "active"
	SchedulePaused          ScheduleStatus = "paused"
	ScheduleDone            ScheduleStatus = "done" // a one-shot that ran
	ScheduleDeleted         ScheduleStatus = "deleted"
	ScheduleRejected        ScheduleStatus = "rejected"
)

// Missed-run policies: what to do with runs missed while the bot was down.
const (
	MissedSkip    = "skip"
	MissedRunOnce = "run_once"
)

// Schedule is a scheduled release.
type Schedule struct {
	ID      int64
	App     string
	Env     string
	Version string
	// Spec is a cron spec (5 fields, descriptor, optional CRON_TZ=); empty
	// for a one-shot.
	Spec string
	// At is the one-shot time; zero for a cron schedule.
	At time.Time
	// TZ is the zone the spec is read in.
	TZ         string
	CreatedBy  string
	Channel    string
	Status     ScheduleStatus
	MissedRuns string
	// PlanHash is the hash of the plan that was approved; a run whose plan
	// hash differs needs a new approval.
	PlanHash   string
	ApprovedBy []string
	// LastRunAt is the scheduled time of the last run handled (started,
	// skipped or announced as missed), or when the schedule was created,
	// approved or resumed if later: runs are counted from it, so a run is
	// never started twice and missed runs are those after it.
	LastRunAt time.Time
	// SkipNext skips the next run only ("Skip this run").
	SkipNext  bool
	CreatedAt time.Time
	// Rev counts the stored changes of the schedule. UpdateSchedule writes
	// only over the revision a schedule was read at (a compare-and-set).
	Rev int64
	// Note, set by CreateSchedule only and not stored, says how a given
	// time was read (e.g. the first of two repeated wall times).
	Note string
}
