package commands

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mattn/go-shellwords"
	"github.com/robfig/cron/v3"
)

// Limits of the syntax.
const (
	maxInputBytes  = 2000
	maxNameLen     = 63
	maxVersionLen  = 128
	maxIDDigits    = 18
	maxTZLen       = 64
	maxReasonRunes = 200
	// layoutWall is the wall-clock form of a one-shot time.
	layoutWall = "2006-01-02 15:04"
)

// Flags.
const (
	flagCheck = "--check"
	flagTo    = "--to"
	flagTZ    = "--tz"
	flagMiss  = "--missed"
	flagSince = "--since"
)

// maxSince is the longest --since: ten years.
const maxSince = 3650 * 24 * time.Hour

// Parse parses the text of a /deploy slash command (without "/deploy").
// Empty text gives OpenForm. Every error is a *SyntaxError.
func Parse(text string) (Command, error) {
	cmd, p := parse(text)
	if p != nil {
		name := p.cmd
		if name == "" {
			name = WordDeploy
		}
		return nil, &SyntaxError{
			Input:   text,
			Command: name,
			Problem: p.msg,
			Usage:   Usage(name),
			Err:     p.err,
		}
	}
	return cmd, nil
}

// verbSpec says which flags a command accepts (true: the flag takes a
// value) and how its arguments are read.
type verbSpec struct {
	flags map[string]bool
	parse func(args []string, flags map[string]string) (Command, *problem)
}

// spec returns the grammar of the command word name.
func spec(name string) (verbSpec, bool) {
	switch name {
	case WordDeploy:
		return verbSpec{map[string]bool{flagCheck: false}, parseDeploy}, true
	case WordRollback:
		return verbSpec{map[string]bool{flagTo: true}, parseRollback}, true
	case WordStatus:
		return verbSpec{nil, parseStatus}, true
	case WordHistory:
		return verbSpec{nil, parseHistory}, true
	case WordLog:
		return verbSpec{nil, idCommand(func(id string) Command { return Log{ID: id} })}, true
	case WordCancel:
		return verbSpec{nil, idCommand(func(id string) Command { return Cancel{ID: id} })}, true
	case WordUnlock:
		return verbSpec{nil, parseUnlock}, true
	case WordSchedule:
		return verbSpec{map[string]bool{flagTZ: true, flagMiss: true}, parseSchedule}, true
	case WordSchedules:
		return verbSpec{nil, noArgs(Schedules{})}, true
	case WordUnschedule:
		return verbSpec{nil, scheduleIDCommand(func(id string) Command { return Unschedule{ID: id} })}, true
	case WordPause:
		return verbSpec{nil, scheduleIDCommand(func(id string) Command { return PauseSchedule{ID: id} })}, true
	case WordResume:
		return verbSpec{nil, scheduleIDCommand(func(id string) Command { return ResumeSchedule{ID: id} })}, true
	case WordApps:
		return verbSpec{nil, noArgs(Apps{})}, true
	case WordAudit:
		return verbSpec{map[string]bool{flagSince: true}, parseAudit}, true
	case WordHelp:
		return verbSpec{nil, parseHelp}, true
	}
	return verbSpec{}, false
}

func parse(text string) (Command, *problem) {
	norm, p := normalize(text)
	if p != nil {
		return nil, p
	}
	if norm == "" {
		return OpenForm{}, nil
	}
	// lock keeps the rest of the line as typed, so it is split by hand.
	fs := rawFields(norm)
	if w, ok := splitOne(fs[0].s); ok && lowerASCII(w) == WordLock {
		return withCmd(WordLock)(parseLock(norm, fs))
	}

	words, p := split(norm)
	if p != nil {
		return nil, p
	}
	if len(words) == 0 { // only quotes such as ""
		return nil, fail("the command is empty")
	}
	name, args := WordDeploy, words
	if w := lowerASCII(words[0]); w != WordLock && isReserved(w) {
		name, args = w, words[1:]
	}
	sp, _ := spec(name)
	args, flags, help, p := extractFlags(args, sp.flags)
	if help {
		return Help{Topic: name}, nil
	}
	if p != nil {
		p.cmd = name
		return nil, p
	}
	return withCmd(name)(sp.parse(args, flags))
}

// withCmd attaches the command name to a problem that has none.
func withCmd(name string) func(Command, *problem) (Command, *problem) {
	return func(c Command, p *problem) (Command, *problem) {
		if p != nil && p.cmd == "" {
			p.cmd = name
		}
		return c, p
	}
}

// normalize checks the raw text and rewrites what Slack clients change:
// HTML escapes, typographic quotes and Unicode spaces.
func normalize(s string) (string, *problem) {
	if len(s) > maxInputBytes {
		return "", fail("the command is too long (%d bytes, at most %d)", len(s), maxInputBytes)
	}
	if !utf8.ValidString(s) {
		return "", fail("the command is not valid UTF-8 text")
	}
	s = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case isDoubleQuote(r):
			b.WriteByte('"')
		case isSingleQuote(r):
			b.WriteByte('\'')
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteRune(r)
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		case unicode.IsControl(r) || isBidi(r):
			return "", fail("the command contains an invisible control character (%U)", r)
		default:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String()), nil
}

func isDoubleQuote(r rune) bool {
	switch r {
	case '\u201c', '\u201d', '\u201e', '\u201f', '\u2033', '\u00ab', '\u00bb', '\uff02':
		return true
	}
	return false
}

func isSingleQuote(r rune) bool {
	switch r {
	case '\u2018', '\u2019', '\u201a', '\u201b', '\u2032', '\u2039', '\u203a', '\uff07':
		return true
	}
	return false
}

// isBidi reports bidirectional embedding, override and isolate controls,
// which can make text read differently from what it is.
func isBidi(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') || r == '\u200e' || r == '\u200f'
}

// field is a whitespace-separated word of the raw text and its byte span.
type field struct {
	s          string
	start, end int
}

func isASCIISpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

func rawFields(s string) []field {
	var fs []field
	start := -1
	for i, r := range s {
		switch {
		case isASCIISpace(r) && start >= 0:
			fs = append(fs, field{s[start:i], start, i})
			start = -1
		case !isASCIISpace(r) && start < 0:
			start = i
		}
	}
	if start >= 0 {
		fs = append(fs, field{s[start:], start, len(s)})
	}
	return fs
}

// newSplitter returns a shell-words parser that expands nothing: no
// environment variables, no backticks, no $(...), no comments.
func newSplitter() *shellwords.Parser {
	p := shellwords.NewParser()
	p.ParseEnv = false
	p.ParseBacktick = false
	p.ParseComment = false
	p.Getenv = func(string) string { return "" }
	return p
}

// split splits s into words with shell quoting. An unquoted ; & | < or >,
// where a shell would end the command, is an error, not a silent cut.
func split(s string) ([]string, *problem) {
	sp := newSplitter()
	words, err := sp.Parse(s)
	if err != nil {
		return nil, &problem{msg: "a quote is not closed, or a ( ) or ` is not inside quotes", err: err}
	}
	if sp.Position >= 0 {
		return nil, fail("unexpected %s: put it inside quotes if it belongs to an argument", operatorAt(s, sp.Position))
	}
	for i, w := range words {
		words[i] = fixDash(w)
	}
	return words, nil
}

// splitOne returns the single word w stands for, unquoted, and whether w is
// exactly one well-formed word.
func splitOne(w string) (string, bool) {
	sp := newSplitter()
	words, err := sp.Parse(w)
	if err != nil || sp.Position >= 0 || len(words) != 1 {
		return "", false
	}
	return fixDash(words[0]), true
}

// operatorAt names the shell operator where the splitter stopped (pos is a
// rune index).
func operatorAt(s string, pos int) string {
	runes := []rune(s)
	for i := max(pos, 0); i < len(runes); i++ {
		if strings.ContainsRune(";&|<>", runes[i]) {
			return fmt.Sprintf("%q", runes[i])
		}
	}
	return "shell operator"
}

// fixDash turns a leading em or en dash (which macOS substitutes for a typed
// "--") into "--".
func fixDash(w string) string {
	for _, d := range []string{"\u2014", "\u2013"} {
		if rest, ok := strings.CutPrefix(w, d); ok {
			return "--" + strings.TrimLeft(rest, "-")
		}
	}
	return w
}

// isFlag reports whether the word w is a flag: it starts with "-" and holds
// no whitespace (a quoted "- * * * *" is an argument).
func isFlag(w string) bool {
	return strings.HasPrefix(w, "-") && !strings.ContainsAny(w, " \t\r\n")
}

func startsLikeFlag(s string) bool {
	return strings.HasPrefix(s, "-") || strings.HasPrefix(s, "\u2014") || strings.HasPrefix(s, "\u2013")
}

// extractFlags separates the flags from the positional arguments. allowed
// maps each accepted flag to whether it takes a value. help reports --help
// or -h anywhere.
func extractFlags(words []string, allowed map[string]bool) (args []string, flags map[string]string, help bool, p *problem) {
	for _, w := range words {
		if name, _, _ := strings.Cut(w, "="); isFlag(w) && (name == "--help" || name == "-h") {
			return nil, nil, true, nil
		}
	}
	flags = map[string]string{}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !isFlag(w) {
			args = append(args, w)
			continue
		}
		name, val, hasVal := strings.Cut(w, "=")
		takesValue, ok := allowed[name]
		if !ok {
			return nil, nil, false, fail("unknown flag %s", quoteArg(name))
		}
		if _, dup := flags[name]; dup {
			return nil, nil, false, fail("%s is given twice", name)
		}
		switch {
		case takesValue && !hasVal:
			if i+1 >= len(words) || isFlag(words[i+1]) {
				return nil, nil, false, fail("%s needs a value", name)
			}
			i++
			val = words[i]
		case !takesValue && hasVal:
			return nil, nil, false, fail("%s takes no value", name)
		}
		if takesValue && val == "" {
			return nil, nil, false, fail("%s needs a value", name)
		}
		flags[name] = val
	}
	return args, flags, false, nil
}

// positional reads the arguments named by names; a name ending in "?" is
// optional (and so are all after it). Missing optional ones are "".
func positional(args []string, names ...string) ([]string, *problem) {
	out := make([]string, len(names))
	for i, n := range names {
		optional := strings.HasSuffix(n, "?")
		if i >= len(args) {
			if !optional {
				return nil, fail("missing %s", n)
			}
			continue
		}
		out[i] = args[i]
	}
	if len(args) > len(names) {
		return nil, fail("unexpected argument %s", quoteArg(args[len(names)]))
	}
	return out, nil
}

func parseDeploy(args []string, flags map[string]string) (Command, *problem) {
	if len(args) != 3 && len(args) > 0 {
		first := lowerASCII(args[0])
		if first == WordDeploy && len(args) == 4 {
			return nil, fail(`leave out the word "deploy": write /deploy <app> <env> <version>`)
		}
		if s := suggest(first); s != "" {
			return nil, &problem{msg: fmt.Sprintf("unknown command %s; did you mean %q?", quoteArg(args[0]), s), cmd: s}
		}
	}
	v, p := positional(args, "<app>", "<env>", "<version>")
	if p != nil {
		return nil, p
	}
	app, env, p := appEnv(v[0], v[1])
	if p != nil {
		return nil, p
	}
	version, p := parseVersion("version", v[2])
	if p != nil {
		return nil, p
	}
	_, check := flags[flagCheck]
	return Deploy{App: app, Env: env, Version: version, Check: check}, nil
}

func parseRollback(args []string, flags map[string]string) (Command, *problem) {
	v, p := positional(args, "<app>", "<env>")
	if p != nil {
		return nil, p
	}
	app, env, p := appEnv(v[0], v[1])
	if p != nil {
		return nil, p
	}
	c := Rollback{App: app, Env: env}
	if to, ok := flags[flagTo]; ok {
		if c.Release, p = parseVersion("release", strings.TrimPrefix(to, "#")); p != nil {
			return nil, p
		}
	}
	return c, nil
}

func parseStatus(args []string, _ map[string]string) (Command, *problem) {
	v, p := positional(args, "<app>?", "<env>?")
	if p != nil {
		return nil, p
	}
	var c Status
	if len(args) > 0 {
		if c.App, p = parseApp(v[0]); p != nil {
			return nil, p
		}
	}
	if len(args) > 1 {
		if c.Env, p = parseName("env", v[1]); p != nil {
			return nil, p
		}
	}
	return c, nil
}

func parseHistory(args []string, _ map[string]string) (Command, *problem) {
	v, p := positional(args, "<app>", "<env>?")
	if p != nil {
		return nil, p
	}
	var c History
	if c.App, p = parseApp(v[0]); p != nil {
		return nil, p
	}
	if len(args) > 1 {
		if c.Env, p = parseName("env", v[1]); p != nil {
			return nil, p
		}
	}
	return c, nil
}

func parseAudit(args []string, flags map[string]string) (Command, *problem) {
	st, p := parseStatus(args, nil)
	if p != nil {
		return nil, p
	}
	c := Audit{App: st.(Status).App, Env: st.(Status).Env}
	if v, ok := flags[flagSince]; ok {
		d, err := ParseSince(v)
		if err != nil {
			return nil, &problem{msg: err.Error(), err: err}
		}
		c.Since = d
	}
	return c, nil
}

// ParseSince reads how far back to look: a whole number of minutes, hours,
// days or weeks (30m, 12h, 7d, 2w), or a Go duration such as 1h30m; at
// least a minute and at most ten years.
func ParseSince(s string) (time.Duration, error) {
	bad := fmt.Errorf("invalid --since %s: write how far back to look, such as 7d, 12h, 30m or 2w (at most 3650d)", quoteArg(s))
	units := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	var d time.Duration
	if u, ok := units[lastByte(s)]; ok {
		n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
		if err != nil || n < 1 || n > int64(maxSince/u) {
			return 0, bad
		}
		d = time.Duration(n) * u
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d < time.Minute || d > maxSince {
		return 0, bad
	}
	return d, nil
}

// FormatSince writes d as ParseSince reads it: 7d, 12h, 30m, or a Go
// duration when d is not a whole number of minutes.
func FormatSince(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

func lastByte(s string) byte {
	if s == "" {
		return 0
	}
	return s[len(s)-1]
}

func parseUnlock(args []string, _ map[string]string) (Command, *problem) {
	v, p := positional(args, "<app>", "<env>")
	if p != nil {
		return nil, p
	}
	app, env, p := appEnv(v[0], v[1])
	if p != nil {
		return nil, p
	}
	return Unlock{App: app, Env: env}, nil
}

// parseLock reads "lock <app> <env> [reason]" from the normalised text; fs
// are its raw fields, fs[0] being the command word.
func parseLock(norm string, fs []field) (Command, *problem) {
	var head []string
	for _, f := range fs[1:min(3, len(fs))] {
		w, ok := splitOne(f.s)
		if !ok {
			return nil, fail("cannot read %s: check its quotes, and quote any ; & | < or >", quoteArg(f.s))
		}
		if startsLikeFlag(w) {
			return lockFlag(w)
		}
		head = append(head, w)
	}
	v, p := positional(head, "<app>", "<env>")
	if p != nil {
		return nil, p
	}
	app, env, p := appEnv(v[0], v[1])
	if p != nil {
		return nil, p
	}
	reason, help, p := parseReason(strings.TrimSpace(norm[fs[2].end:]))
	if p != nil {
		return nil, p
	}
	if help {
		return Help{Topic: WordLock}, nil
	}
	return Lock{App: app, Env: env, Reason: reason}, nil
}

// lockFlag handles a flag given to lock: only --help exists.
func lockFlag(w string) (Command, *problem) {
	w = fixDash(w)
	if name, _, _ := strings.Cut(w, "="); name == "--help" || name == "-h" {
		return Help{Topic: WordLock}, nil
	}
	return nil, fail("unknown flag %s (put a reason that starts with - inside quotes)", quoteArg(w))
}

// parseReason reads the reason of lock: the rest of the line, unquoted when
// it is one quoted word, whitespace collapsed. help reports a --help flag.
func parseReason(rest string) (reason string, help bool, p *problem) {
	if rest == "" {
		return "", false, nil
	}
	if startsLikeFlag(rest) {
		if _, p := lockFlag(strings.Fields(rest)[0]); p != nil {
			return "", false, p
		}
		return "", true, nil
	}
	r := rest
	if rest[0] == '"' || rest[0] == '\'' {
		if w, ok := splitOne(rest); ok {
			r = w
		}
	}
	r = strings.Join(strings.Fields(r), " ")
	if n := utf8.RuneCountInString(r); n > maxReasonRunes {
		return "", false, fail("the reason is too long (%d characters, at most %d)", n, maxReasonRunes)
	}
	return r, false, nil
}

func parseSchedule(args []string, flags map[string]string) (Command, *problem) {
	names := []string{"<app>", "<env>", "<version>"}
	if len(args) < len(names) {
		_, p := positional(args, names...)
		return nil, p
	}
	if len(args) == len(names) {
		return nil, fail(`missing the cron spec (in quotes, such as "0 18 * * 1-5") or "at <time>"`)
	}
	app, env, p := appEnv(args[0], args[1])
	if p != nil {
		return nil, p
	}
	c := Schedule{App: app, Env: env}
	if c.Version, p = parseVersion("version", args[2]); p != nil {
		return nil, p
	}
	when := args[3:]
	if lowerASCII(when[0]) == "at" {
		if len(when) == 1 {
			return nil, fail("missing the time after at")
		}
		if c.At, c.AtTime, p = parseAt(strings.Join(when[1:], " ")); p != nil {
			return nil, p
		}
	} else if c.Cron, c.TZ, p = parseCron(strings.Join(when, " ")); p != nil {
		return nil, p
	}
	if tz, ok := flags[flagTZ]; ok {
		if c.TZ != "" {
			return nil, fail("give the time zone once: either as a CRON_TZ= prefix or with --tz")
		}
		if !ValidTZ(tz) {
			return nil, fail("invalid time zone %s: use an IANA name such as UTC or Europe/Paris", quoteArg(tz))
		}
		c.TZ = tz
	}
	if m, ok := flags[flagMiss]; ok {
		switch lowerASCII(m) {
		case MissedSkip, MissedRunOnce:
			c.Missed = lowerASCII(m)
		default:
			return nil, fail("invalid --missed %s: use skip (runs missed while the bot was down are only announced) or run_once (one catch-up run)", quoteArg(m))
		}
	}
	return c, nil
}

// parseAt reads a one-shot time: "YYYY-MM-DD HH:MM" or RFC 3339.
func parseAt(s string) (string, time.Time, *problem) {
	s = strings.Join(strings.Fields(s), " ")
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return s, t, nil
	}
	if _, err := time.Parse(layoutWall, s); err == nil {
		return s, time.Time{}, nil
	}
	return "", time.Time{}, fail("invalid time %s: write YYYY-MM-DD HH:MM (such as 2026-03-01 18:00) or RFC 3339 (such as 2026-03-01T18:00:00+01:00)", quoteArg(s))
}

// parseCron validates a cron spec and splits off a CRON_TZ= or TZ= prefix.
func parseCron(s string) (spec, tz string, p *problem) {
	spec = strings.Join(strings.Fields(s), " ")
	for _, r := range spec {
		if !isCronRune(r) {
			return "", "", fail("invalid cron spec %s: no cron field contains %q", quoteArg(spec), r)
		}
	}
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if rest, ok := strings.CutPrefix(spec, prefix); ok {
			tz, spec, _ = strings.Cut(rest, " ")
			if !ValidTZ(tz) {
				return "", "", fail("invalid time zone %s: use an IANA name such as UTC or Europe/Paris", quoteArg(tz))
			}
			if spec == "" {
				return "", "", fail("missing the cron spec after %s%s", prefix, tz)
			}
			break
		}
	}
	if strings.Contains(spec, "=") {
		return "", "", fail("invalid cron spec %s: a time zone goes first, once, as CRON_TZ=Area/City, or with --tz", quoteArg(spec))
	}
	if strings.HasPrefix(spec, "@every") {
		return "", "", fail(`@every is not supported: use a 5-field spec such as "*/30 * * * *" or a descriptor such as @daily`)
	}
	if !strings.HasPrefix(spec, "@") {
		for _, f := range strings.Fields(spec) {
			for _, item := range strings.Split(f, ",") {
				if item == "" {
					return "", "", fail("invalid cron spec %s: the field %q has an empty list item", quoteArg(spec), f)
				}
			}
		}
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return "", "", &problem{msg: fmt.Sprintf("invalid cron spec %s: %v", quoteArg(spec), err), err: err}
	}
	// A spec such as "0 0 31 2 *" parses but never fires; the parser searches
	// five years ahead, so any fixed starting point finds such a spec.
	if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return "", "", fail("invalid cron spec %s: it never fires (no such date)", quoteArg(spec))
	}
	return spec, tz, nil
}

func isCronRune(r rune) bool {
	return r < utf8.RuneSelf && (isAlnum(byte(r)) || strings.ContainsRune(" */,-?@=_+", r))
}

func parseHelp(args []string, _ map[string]string) (Command, *problem) {
	v, p := positional(args, "<command>?")
	if p != nil {
		return nil, p
	}
	if len(args) == 0 {
		return Help{}, nil
	}
	topic := lowerASCII(v[0])
	if _, ok := lookup(topic); !ok || topic == "" {
		p := fail("there is no command %s; /deploy help lists them all", quoteArg(v[0]))
		if s := suggest(topic); s != "" {
			p.msg = fmt.Sprintf("there is no command %s; did you mean %q?", quoteArg(v[0]), s)
		}
		return nil, p
	}
	return Help{Topic: topic}, nil
}

func noArgs(c Command) func([]string, map[string]string) (Command, *problem) {
	return func(args []string, _ map[string]string) (Command, *problem) {
		if _, p := positional(args); p != nil {
			return nil, p
		}
		return c, nil
	}
}

func idCommand(mk func(id string) Command) func([]string, map[string]string) (Command, *problem) {
	return func(args []string, _ map[string]string) (Command, *problem) {
		v, p := positional(args, "<id>")
		if p != nil {
			return nil, p
		}
		id, p := parseID(v[0])
		if p != nil {
			return nil, p
		}
		return mk(id), nil
	}
}

// scheduleIDCommand reads a schedule id (S3, 3 or #3), also after the word
// "schedule", as in "/deploy pause schedule S3".
func scheduleIDCommand(mk func(id string) Command) func([]string, map[string]string) (Command, *problem) {
	return func(args []string, _ map[string]string) (Command, *problem) {
		if len(args) == 2 && lowerASCII(args[0]) == WordSchedule {
			args = args[1:]
		}
		v, p := positional(args, "<schedule id>")
		if p != nil {
			return nil, p
		}
		id, p := parseScheduleID(v[0])
		if p != nil {
			return nil, p
		}
		return mk(id), nil
	}
}

// appEnv validates an app and an env name.
func appEnv(app, env string) (string, string, *problem) {
	a, p := parseApp(app)
	if p != nil {
		return "", "", p
	}
	e, p := parseName("env", env)
	if p != nil {
		return "", "", p
	}
	return a, e, nil
}

func parseApp(s string) (string, *problem) {
	a, p := parseName("app", s)
	if p != nil {
		return "", p
	}
	if isReserved(a) {
		return "", fail("%q is a command, not an app name", a)
	}
	return a, nil
}

// parseName folds s to lower case and checks it with ValidName.
func parseName(kind, s string) (string, *problem) {
	l := lowerASCII(s)
	if !ValidName(l) {
		return "", fail("invalid %s name %s: use up to %d lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", kind, quoteArg(s), maxNameLen)
	}
	return l, nil
}

func parseVersion(kind, s string) (string, *problem) {
	if !ValidVersion(s) {
		return "", fail("invalid %s %s: use up to %d letters, digits, '.', '_', '+', '~' or '-', starting with a letter or digit", kind, quoteArg(s), maxVersionLen)
	}
	return s, nil
}

// parseID reads a request id: digits with an optional "#". A schedule id
// (S3) is refused with a pointer to the schedule commands.
func parseID(s string) (string, *problem) {
	if len(s) > 1 && (s[0] == 'S' || s[0] == 's') && strings.Trim(s[1:], "0123456789") == "" {
		return "", fail("%s is a schedule id, not a request id: schedules are managed with /deploy schedules, pause, resume and unschedule", quoteArg(s))
	}
	return digitsID(s, "#", fail("invalid id %s: a request id is a number such as 123 or #123", quoteArg(s)))
}

// parseScheduleID reads a schedule id: S3 (as deploybot shows it), s3, #3
// or 3.
func parseScheduleID(s string) (string, *problem) {
	d, prefix := s, "#"
	if len(d) > 0 && (d[0] == 'S' || d[0] == 's') {
		d, prefix = d[1:], ""
	}
	return digitsID(d, prefix, fail("invalid schedule id %s: a schedule id is S and a number, such as S3 (see /deploy schedules)", quoteArg(s)))
}

// digitsID reads digits with an optional prefix, without leading zeros.
func digitsID(s, prefix string, bad *problem) (string, *problem) {
	d := strings.TrimPrefix(s, prefix)
	if d == "" || strings.Trim(d, "0123456789") != "" {
		return "", bad
	}
	d = strings.TrimLeft(d, "0")
	if d == "" || len(d) > maxIDDigits {
		return "", bad
	}
	return d, nil
}

// ValidName reports whether s is a valid app or environment name: 1 to 63
// characters from a-z 0-9 . _ -, the first a letter or digit. (The parser
// folds input to lower case before checking.)
func ValidName(s string) bool {
	if s == "" || len(s) > maxNameLen || !isLowerAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLowerAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// ValidVersion reports whether s may be a version (or a rollback release):
// 1 to 128 characters from A-Z a-z 0-9 . _ + ~ -, the first a letter or
// digit. No whitespace, slash, quote or shell metacharacter can pass.
func ValidVersion(s string) bool {
	if s == "" || len(s) > maxVersionLen || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && !strings.ContainsRune("._+~-", rune(c)) {
			return false
		}
	}
	return true
}

// ValidTZ reports whether s has the shape of an IANA time-zone name such as
// UTC, Europe/Paris or America/Argentina/Buenos_Aires: up to three
// "/"-separated parts of A-Z a-z 0-9 _ + -, the first starting with a letter.
// "Local" is refused. Whether the zone exists is for time.LoadLocation.
func ValidTZ(s string) bool {
	if s == "" || len(s) > maxTZLen || s == "Local" {
		return false
	}
	parts := strings.Split(s, "/")
	if len(parts) > 3 || !isLetter(s[0]) {
		return false
	}
	for _, part := range parts {
		if part == "" || !isAlnum(part[0]) {
			return false
		}
		for i := 0; i < len(part); i++ {
			if c := part[i]; !isAlnum(c) && c != '_' && c != '+' && c != '-' {
				return false
			}
		}
	}
	return true
}

func isLetter(c byte) bool     { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }
func isAlnum(c byte) bool      { return isLetter(c) || ('0' <= c && c <= '9') }
func isLowerAlnum(c byte) bool { return ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') }

// quoteArg quotes user text for an error message, clipped to 40 characters.
func quoteArg(s string) string {
	const limit = 40
	if utf8.RuneCountInString(s) > limit {
		s = string([]rune(s)[:limit]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// suggest returns the command word closest to w, if w looks like a typo of
// one (at most one edit, or two for words of five letters or more).
func suggest(w string) string {
	best, bestDist := "", 3
	for _, r := range ReservedWords() {
		d := editDistance(w, r)
		limit := 1
		if len(w) >= 5 {
			limit = 2
		}
		if d <= limit && d < bestDist {
			best, bestDist = r, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b
// (insertions, deletions, substitutions and adjacent transpositions).
func editDistance(a, b string) int {
	if len(a) > 32 {
		return len(a)
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// lowerASCII folds A-Z to a-z and leaves every other rune alone, so that no
// non-ASCII letter (such as the Kelvin sign) folds into a valid name.
func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}
