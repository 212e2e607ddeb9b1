package commands

import (
	"strings"
	"time"
)

// Command is one parsed /deploy command. It is sealed: only the types of this
// package implement it. String returns canonical text that Parse turns back
// into an equal Command.
type Command interface {
	// Name is the command word ("deploy" for the bare deploy form, "form"
	// for OpenForm); Usage(Name()) is the usage that fits the command.
	Name() string
	// String is the command as canonical /deploy text, without "/deploy".
	String() string
	command()
}

// Deploy requests a release: /deploy <app> <env> <version> [--check].
type Deploy struct {
	App, Env, Version string
	// Check asks for a dry run (AWX job_type=check, diff mode) first.
	Check bool
}

// Rollback restores a previous release: /deploy rollback <app> <env> [--to <id>].
type Rollback struct {
	App, Env string
	// Release optionally names the backup or release to restore (a request
	// id or a version); empty means the newest backup.
	Release string
}

// Status shows what runs, what waits and who holds which lock:
// /deploy status [<app> [<env>]]. Empty fields mean "all".
type Status struct{ App, Env string }

// History lists recent releases: /deploy history <app> [<env>].
type History struct{ App, Env string }

// Log asks for the playbook output of one release: /deploy log <id>.
type Log struct{ ID string }

// Cancel cancels a waiting or running release: /deploy cancel <id>.
type Cancel struct{ ID string }

// Lock holds an environment: /deploy lock <app> <env> [reason].
type Lock struct{ App, Env, Reason string }

// Unlock releases a manual lock: /deploy unlock <app> <env>.
type Unlock struct{ App, Env string }

// Schedule creates a scheduled release, either recurring (Cron set) or
// one-shot (At set); exactly one of Cron and At is non-empty.
type Schedule struct {
	App, Env, Version string
	// Cron is a validated standard cron spec without any CRON_TZ= prefix.
	Cron string
	// At is the one-shot time as typed (whitespace collapsed): either
	// "YYYY-MM-DD HH:MM" or RFC 3339.
	At string
	// AtTime is the instant of At when At is RFC 3339 (it carries its own
	// offset); it is the zero time for the wall-clock form, whose zone the
	// domain resolves (see AtIn).
	AtTime time.Time
	// TZ is the schedule's IANA time zone from --tz or a CRON_TZ= prefix;
	// empty means the configured default. Only its shape is checked here.
	TZ string
	// Missed is what to do with runs missed while the bot was down:
	// MissedSkip, MissedRunOnce, or "" for the default (skip).
	Missed string
}

// Missed-run policies of --missed.
const (
	MissedSkip    = "skip"
	MissedRunOnce = "run_once"
)

// Schedules lists the schedules: /deploy schedules.
type Schedules struct{}

// Unschedule deletes a schedule: /deploy unschedule S<id>. ID holds the
// digits only (S3, s3, #3 and 3 all give "3").
type Unschedule struct{ ID string }

// PauseSchedule pauses a schedule: /deploy pause S<id>. ID holds the digits.
type PauseSchedule struct{ ID string }

// ResumeSchedule resumes a paused schedule: /deploy resume S<id>. ID holds
// the digits.
type ResumeSchedule struct{ ID string }

// Apps lists what can be deployed where, and by whom: /deploy apps.
type Apps struct{}

// Audit exports the audit trail as a CSV file:
// /deploy audit [<app> [<env>]] [--since <duration>]. Empty fields mean
// "every app (or environment) the asker may see"; Since zero means the
// default (DefaultAuditSince).
type Audit struct {
	App, Env string
	Since    time.Duration
}

// DefaultAuditSince is how far back /deploy audit reaches without --since.
const DefaultAuditSince = 7 * 24 * time.Hour

// Help asks for usage: /deploy help [<command>]. Topic is a command name
// ("deploy" for the bare form) or empty for everything.
type Help struct{ Topic string }

// OpenForm is the empty command: /deploy alone opens the modal form.
type OpenForm struct{}

func (Deploy) command()         {}
func (Rollback) command()       {}
func (Status) command()         {}
func (History) command()        {}
func (Log) command()            {}
func (Cancel) command()         {}
func (Lock) command()           {}
func (Unlock) command()         {}
func (Schedule) command()       {}
func (Schedules) command()      {}
func (Unschedule) command()     {}
func (PauseSchedule) command()  {}
func (ResumeSchedule) command() {}
func (Apps) command()           {}
func (Audit) command()          {}
func (Help) command()           {}
func (OpenForm) command()       {}

// Name returns "deploy".
func (Deploy) Name() string { return WordDeploy }

// Name returns "rollback".
func (Rollback) Name() string { return WordRollback }

// Name returns "status".
func (Status) Name() string { return WordStatus }

// Name returns "history".
func (History) Name() string { return WordHistory }

// Name returns "log".
func (Log) Name() string { return WordLog }

// Name returns "cancel".
func (Cancel) Name() string { return WordCancel }

// Name returns "lock".
func (Lock) Name() string { return WordLock }

// Name returns "unlock".
func (Unlock) Name() string { return WordUnlock }

// Name returns "schedule".
func (Schedule) Name() string { return WordSchedule }

// Name returns "schedules".
func (Schedules) Name() string { return WordSchedules }

// Name returns "unschedule".
func (Unschedule) Name() string { return WordUnschedule }

// Name returns "pause".
func (PauseSchedule) Name() string { return WordPause }

// Name returns "resume".
func (ResumeSchedule) Name() string { return WordResume }

// Name returns "apps".
func (Apps) Name() string { return WordApps }

// Name returns "audit".
func (Audit) Name() string { return WordAudit }

// Name returns "help".
func (Help) Name() string { return WordHelp }

// Name returns "form".
func (OpenForm) Name() string { return WordForm }

// String returns "<app> <env> <version> [--check]".
func (c Deploy) String() string {
	s := join(c.App, c.Env, c.Version)
	if c.Check {
		s += " --check"
	}
	return s
}

// String returns "rollback <app> <env> [--to <id>]".
func (c Rollback) String() string {
	s := join(WordRollback, c.App, c.Env)
	if c.Release != "" {
		s += " --to " + c.Release
	}
	return s
}

// String returns "status [<app> [<env>]]".
func (c Status) String() string { return join(WordStatus, c.App, c.Env) }

// String returns "history <app> [<env>]".
func (c History) String() string { return join(WordHistory, c.App, c.Env) }

// String returns "log <id>".
func (c Log) String() string { return join(WordLog, c.ID) }

// String returns "cancel <id>".
func (c Cancel) String() string { return join(WordCancel, c.ID) }

// String returns "lock <app> <env> [reason]" with &, < and > in the reason
// escaped as Slack escapes them, so that Parse reads the same reason back.
func (c Lock) String() string {
	s := join(WordLock, c.App, c.Env)
	if c.Reason == "" {
		return s
	}
	r := c.Reason
	if strings.HasPrefix(r, `"`) || strings.HasPrefix(r, "'") || strings.HasPrefix(r, "-") {
		r = shellQuote(r)
	}
	return s + " " + slackEscape(r)
}

// String returns "unlock <app> <env>".
func (c Unlock) String() string { return join(WordUnlock, c.App, c.Env) }

// String returns "schedule <app> <env> <version> '<cron>' [--tz <zone>]" or
// "schedule <app> <env> <version> at <time> [--tz <zone>]".
func (c Schedule) String() string {
	s := join(WordSchedule, c.App, c.Env, c.Version)
	if c.At != "" {
		s += " at " + shellQuote(c.At)
	} else {
		s += " " + shellQuote(c.Cron)
	}
	if c.TZ != "" {
		s += " --tz " + c.TZ
	}
	if c.Missed != "" {
		s += " --missed " + c.Missed
	}
	return s
}

// String returns "schedules".
func (Schedules) String() string { return WordSchedules }

// String returns "unschedule S<id>".
func (c Unschedule) String() string { return join(WordUnschedule, scheduleRef(c.ID)) }

// String returns "pause S<id>".
func (c PauseSchedule) String() string { return join(WordPause, scheduleRef(c.ID)) }

// String returns "resume S<id>".
func (c ResumeSchedule) String() string { return join(WordResume, scheduleRef(c.ID)) }

// scheduleRef is a schedule id as deploybot shows it: S and the number.
func scheduleRef(id string) string {
	if id == "" {
		return ""
	}
	return "S" + id
}

// String returns "apps".
func (Apps) String() string { return WordApps }

// String returns "audit [<app> [<env>]] [--since <duration>]".
func (c Audit) String() string {
	s := join(WordAudit, c.App, c.Env)
	if c.Since > 0 {
		s += " " + flagSince + " " + FormatSince(c.Since)
	}
	return s
}

// String returns "help [<topic>]".
func (c Help) String() string { return join(WordHelp, c.Topic) }

// String returns "", the text that opens the form.
func (OpenForm) String() string { return "" }

// Text is the help to show: HelpText() without a topic, otherwise the
// topic's usage and summary.
func (c Help) Text() string {
	if c.Topic == "" {
		return HelpText()
	}
	return TopicHelp(c.Topic)
}

// AtIn returns the one-shot time of s in loc. An RFC 3339 At is an instant
// and is only converted to loc; a "YYYY-MM-DD HH:MM" At is read as a wall
// clock in loc with time.ParseInLocation, which moves a time inside a
// daylight-saving gap forward and picks one of two repeated times; the domain
// decides what to tell the user about such times. It fails when s has no At.
func (s Schedule) AtIn(loc *time.Location) (time.Time, error) {
	if s.At == "" {
		return time.Time{}, errNoAt
	}
	if !s.AtTime.IsZero() {
		return s.AtTime.In(loc), nil
	}
	return time.ParseInLocation(layoutWall, s.At, loc)
}

// join joins the non-empty words with single spaces.
func join(words ...string) string {
	var b strings.Builder
	for _, w := range words {
		if w == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w)
	}
	return b.String()
}

// shellQuote returns s as one shell word: bare when it holds only characters
// that need no quoting, otherwise in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+~@,:/=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// slackEscape escapes &, < and > the way Slack does in command text.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
