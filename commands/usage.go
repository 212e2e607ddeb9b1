package commands

import (
	"strings"
)

// Command words.
const (
	cmdDeploy     = "deploy"
	cmdRollback   = "rollback"
	cmdStatus     = "status"
	cmdHistory    = "history"
	cmdLog        = "log"
	cmdCancel     = "cancel"
	cmdLock       = "lock"
	cmdUnlock     = "unlock"
	cmdSchedule   = "schedule"
	cmdSchedules  = "schedules"
	cmdUnschedule = "unschedule"
	cmdPause      = "pause"
	cmdResume     = "resume"
	cmdApps       = "apps"
	cmdAudit      = "audit"
	cmdHelp       = "help"
	cmdForm       = "form"
)

// entry documents one command: its usage lines and a one-line summary.
type entry struct {
	name    string
	usage   []string
	summary string
}

// catalogue returns the commands in the order HelpText lists them.
func catalogue() []entry {
	return []entry{
		{cmdDeploy, []string{"/deploy <app> <env> <version> [--check]"},
			"request a release; --check shows a dry run before approval"},
		{cmdRollback, []string{"/deploy rollback <app> <env> [--to <id>]"},
			"restore the previous release from the hosts' backups; --to <id> undoes release #id (restores what was live before it)"},
		{cmdStatus, []string{"/deploy status [<app> [<env>]]"},
			"what runs, what waits, who holds which lock"},
		{cmdHistory, []string{"/deploy history <app> [<env>]"},
			"recent releases: who requested, who approved, result"},
		{cmdLog, []string{"/deploy log <id>"},
			"the playbook output of one release, as a file in its thread"},
		{cmdCancel, []string{"/deploy cancel <id>"},
			"cancel a waiting or running release"},
		{cmdLock, []string{"/deploy lock <app> <env> [reason]"},
			"hold an environment: no release starts until it is unlocked"},
		{cmdUnlock, []string{"/deploy unlock <app> <env>"},
			"release a lock"},
		{cmdSchedule, []string{
			`/deploy schedule <app> <env> <version> "<cron>" [--tz <Area/City>] [--missed skip|run_once]`,
			"/deploy schedule <app> <env> <version> at <YYYY-MM-DD HH:MM | RFC 3339> [--tz <Area/City>]",
		}, `schedule a release: a 5-field cron spec such as "0 18 * * 1-5" or @daily, or one time`},
		{cmdSchedules, []string{"/deploy schedules"},
			"list the schedules (ids such as S3) with their next runs"},
		{cmdUnschedule, []string{"/deploy unschedule S<id>"},
			"delete a schedule"},
		{cmdPause, []string{"/deploy pause S<id>"},
			"pause a schedule"},
		{cmdResume, []string{"/deploy resume S<id>"},
			"resume a paused schedule"},
		{cmdApps, []string{"/deploy apps"},
			"what can be deployed where, and by whom"},
		{cmdAudit, []string{"/deploy audit [<app> [<env>]] [--since <7d|12h|30m>]"},
			"the audit trail (who requested, approved, locked... what) as a CSV file in a thread; deployers and approvers only, of the apps and environments they deploy or approve (default: the last 7 days)"},
		{cmdHelp, []string{"/deploy help [<command>]"},
			"this help, or the usage of one command"},
		{cmdForm, []string{"/deploy"},
			"(no text) open a form: app, env, version"},
	}
}

func lookup(name string) (entry, bool) {
	for _, e := range catalogue() {
		if e.name == name {
			return e, true
		}
	}
	return entry{}, false
}

// ReservedWords returns the command words, in lower case. A first word equal
// to one of them (in any case) selects that command, so no app may be named
// like one; the config validator refuses such app names.
func ReservedWords() []string {
	return []string{
		cmdRollback, cmdStatus, cmdHistory, cmdLog, cmdCancel, cmdLock, cmdUnlock,
		cmdSchedule, cmdSchedules, cmdUnschedule, cmdPause, cmdResume, cmdApps, cmdAudit, cmdHelp,
	}
}

// isReserved reports whether w (already lower case) is a command word.
func isReserved(w string) bool {
	for _, r := range ReservedWords() {
		if w == r {
			return true
		}
	}
	return false
}

// Usage returns the usage line(s) of the command named name ("deploy" or ""
// for the bare deploy form, otherwise a command word, in any case), one per
// line. For an unknown name it returns the usage of every command.
func Usage(name string) string {
	name = lowerASCII(strings.TrimSpace(name))
	if name == "" {
		name = cmdDeploy
	}
	e, ok := lookup(name)
	if !ok {
		var lines []string
		for _, e := range catalogue() {
			lines = append(lines, e.usage...)
		}
		return strings.Join(lines, "\n")
	}
	return strings.Join(e.usage, "\n")
}

// TopicHelp returns the usage and summary of one command, for "/deploy help
// <command>"; for an unknown name it returns HelpText().
func TopicHelp(name string) string {
	name = lowerASCII(strings.TrimSpace(name))
	if name == "" {
		name = cmdDeploy
	}
	e, ok := lookup(name)
	if !ok {
		return HelpText()
	}
	return strings.Join(e.usage, "\n") + "\n    " + e.summary
}

// HelpText returns the usage and summary of every command, one command per
// paragraph, followed by a short note on quoting.
func HelpText() string {
	var b strings.Builder
	for _, e := range catalogue() {
		for _, u := range e.usage {
			b.WriteString(u)
			b.WriteByte('\n')
		}
		b.WriteString("    ")
		b.WriteString(e.summary)
		b.WriteByte('\n')
	}
	b.WriteString("Quote arguments that contain spaces, such as a cron spec. A request id may be written 123 or #123; a schedule id is written S3.")
	return b.String()
}
