package commands

import (
	"strings"
)

// Command words: the first word of the /deploy text that selects a
// command (Deploy's has none: it is the default). Each is spelled here
// only; the bot routes by them.
const (
	WordDeploy     = "deploy"
	WordRollback   = "rollback"
	WordStatus     = "status"
	WordHistory    = "history"
	WordLog        = "log"
	WordCancel     = "cancel"
	WordLock       = "lock"
	WordUnlock     = "unlock"
	WordSchedule   = "schedule"
	WordSchedules  = "schedules"
	WordUnschedule = "unschedule"
	WordPause      = "pause"
	WordResume     = "resume"
	WordApps       = "apps"
	WordAudit      = "audit"
	WordHelp       = "help"
	WordForm       = "form"
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
		{WordDeploy, []string{"/deploy <app> <env> <version> [--check]"},
			"request a release; --check shows a dry run before approval"},
		{WordRollback, []string{"/deploy rollback <app> <env> [--to <id>]"},
			"restore the previous release from the hosts' backups; --to <id> undoes release #id (restores what was live before it)"},
		{WordStatus, []string{"/deploy status [<app> [<env>]]"},
			"what runs, what waits, who holds which lock"},
		{WordHistory, []string{"/deploy history <app> [<env>]"},
			"recent releases: who requested, who approved, result"},
		{WordLog, []string{"/deploy log <id>"},
			"the playbook output of one release, as a file in its thread"},
		{WordCancel, []string{"/deploy cancel <id>"},
			"cancel a waiting or running release"},
		{WordLock, []string{"/deploy lock <app> <env> [reason]"},
			"hold an environment: no release starts until it is unlocked"},
		{WordUnlock, []string{"/deploy unlock <app> <env>"},
			"release a lock"},
		{WordSchedule, []string{
			`/deploy schedule <app> <env> <version> "<cron>" [--tz <Area/City>] [--missed skip|run_once]`,
			"/deploy schedule <app> <env> <version> at <YYYY-MM-DD HH:MM | RFC 3339> [--tz <Area/City>]",
		}, `schedule a release: a 5-field cron spec such as "0 18 * * 1-5" or @daily, or one time`},
		{WordSchedules, []string{"/deploy schedules"},
			"list the schedules (ids such as S3) with their next runs"},
		{WordUnschedule, []string{"/deploy unschedule S<id>"},
			"delete a schedule"},
		{WordPause, []string{"/deploy pause S<id>"},
			"pause a schedule"},
		{WordResume, []string{"/deploy resume S<id>"},
			"resume a paused schedule"},
		{WordApps, []string{"/deploy apps"},
			"what can be deployed where, and by whom"},
		{WordAudit, []string{"/deploy audit [<app> [<env>]] [--since <7d|12h|30m>]"},
			"the audit trail (who requested, approved, locked... what) as a CSV file in a thread; deployers and approvers only, of the apps and environments they deploy or approve (default: the last 7 days)"},
		{WordHelp, []string{"/deploy help [<command>]"},
			"this help, or the usage of one command"},
		{WordForm, []string{"/deploy"},
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
	var words []string
	for _, e := range catalogue() {
		// deploy is the default, with no word; the form is the empty text.
		if e.name != WordDeploy && e.name != WordForm {
			words = append(words, e.name)
		}
	}
	return words
}

// ReadOnly reports whether the command selected by word changes nothing
// and answers only the asker (status, history, apps, schedules, help).
func ReadOnly(word string) bool {
	switch word {
	case WordStatus, WordHistory, WordApps, WordSchedules, WordHelp:
		return true
	}
	return false
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
		name = WordDeploy
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
		name = WordDeploy
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
