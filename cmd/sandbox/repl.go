package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deploybot/deploybot/awxclient/awxtest"
	"github.com/deploybot/deploybot/bot/slacktest"
	"github.com/deploybot/deploybot/deploy"
)

const replHelp = `Commands (one a line):
  /deploy <text>          type a slash command as the current user, in the current channel
                          (try: /deploy help, /deploy apps, /deploy shop-web staging 1.4.2)
  click <action> <id>     press a button of request #id's card: approve, reject, cancel, rollback
  click <action> S<id>    press a button of schedule S<id>'s announcement: approve, reject, skip, pause
  submit k=v ...          fill in and submit the form that "/deploy" (no text) opened,
                          e.g. submit app=shop-web env=staging version=1.4.2
                          (the form's dry-run checkbox cannot be ticked here: type --check instead)
  as <user>               act as another user (name or id); "users" lists them
  channel <channel>       type commands in another channel (deploys, releases, random)
  cards                   the request cards of the current channel, one line each
  card <id>               one card as it looks now
  thread <id>             the replies in a card's thread
  uploads                 files the bot uploaded; upload <file-id> prints one
  jobs                    the job launches the fake AWX received, with their extra vars
  wait <id> <status>      wait (up to a minute) until card #id shows a status, e.g. wait 2 succeeded
  users                   who is who, and the user groups
  replicas                each bot: its log, the leases it holds, what it did to which request
  help, quit
What the bot does (new cards, card updates, thread replies, messages only you see)
is printed as it happens.`

// repl is the sandbox's command loop over the fake Slack.
type repl struct {
	slack *slacktest.Server
	awx   *awxtest.Server
	bots  []*botProcess
	out   io.Writer
	names names
	echo  bool // print each command after the prompt (input not a terminal)

	user, channel string // ids
	quiet, most   time.Duration

	mu   sync.Mutex // guards seen
	seen *seen

	changed chan struct{} // the watcher saw something to print
	printed chan struct{} // the loop printed it
}

func newREPL(s *slacktest.Server, a *awxtest.Server, out io.Writer) *repl {
	return &repl{slack: s, awx: a, out: out, names: newNames(), seen: newSeen(),
		user: sandboxUsers[0].ID, channel: sandboxChannels[0].ID,
		quiet: 700 * time.Millisecond, most: 10 * time.Second,
		changed: make(chan struct{}), printed: make(chan struct{}, 1)}
}

// watch tells the loop whenever the fake Slack holds something not yet
// printed, and waits for it to be printed before looking again.
func (r *repl) watch(ctx context.Context) {
	for {
		if err := r.slack.WaitFor(ctx, func(*slacktest.Server) bool { return len(r.changes(false)) > 0 }); err != nil {
			return
		}
		select {
		case r.changed <- struct{}{}:
		case <-ctx.Done():
			return
		}
		select {
		case <-r.printed:
		case <-ctx.Done():
			return
		}
	}
}

// flush prints what changed and lets the watcher go on.
func (r *repl) flush() {
	for _, l := range r.changes(true) {
		fmt.Fprintln(r.out, l)
	}
	r.printed <- struct{}{}
}

func (r *repl) prompt() {
	fmt.Fprintf(r.out, "%s@#%s> ", r.names[r.user], r.names[r.channel])
}

// loop reads commands from lines until quit, the end of input or ctx.
func (r *repl) loop(ctx context.Context, lines <-chan string) {
	go r.watch(ctx)
	r.settle(ctx, nil, r.quiet, r.most)
	r.prompt()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(r.out)
			return
		case <-r.changed:
			fmt.Fprintln(r.out)
			r.flush()
			r.prompt()
		case line, ok := <-lines:
			if !ok {
				fmt.Fprintln(r.out)
				r.settle(ctx, nil, r.quiet, r.most)
				return
			}
			if r.echo {
				fmt.Fprintln(r.out, line)
			}
			if r.do(ctx, strings.TrimSpace(line)) {
				return
			}
			r.prompt()
		}
	}
}

// settle prints what the bot does: first until answered() (when given)
// or for at most most, then until nothing happened for quiet.
func (r *repl) settle(ctx context.Context, answered func() bool, quiet, most time.Duration) {
	end := time.NewTimer(most)
	defer end.Stop()
	for answered != nil && !answered() {
		select {
		case <-r.changed:
			r.flush()
		case <-end.C:
			return
		case <-ctx.Done():
			return
		}
	}
	calm := time.NewTimer(quiet)
	defer calm.Stop()
	for {
		select {
		case <-r.changed:
			r.flush()
			calm.Reset(quiet)
		case <-calm.C:
			return
		case <-end.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// answer returns a condition that holds once the current user got
// something new: a message only they see, a form, or a message in the
// current channel.
func (r *repl) answer() func() bool {
	count := func() int {
		n := len(r.slack.Ephemerals(r.user)) + len(r.slack.Views(r.user))
		for _, m := range r.slack.Messages(r.channel) {
			if !placeholder(m) {
				n++
			}
		}
		return n
	}
	before := count()
	return func() bool { return count() > before }
}

// clickAnswer returns a condition that holds once the click on request
// id's card got an answer: a message only the user sees, or an edit of the
// card or a new reply in its thread.
func (r *repl) clickAnswer(id string) func() bool {
	count := func() int {
		n := len(r.slack.Ephemerals(r.user))
		if m, err := r.findCard(id); err == nil {
			n += m.Edits + len(r.slack.Thread(m.Channel, m.TS))
		}
		return n
	}
	before := count()
	return func() bool { return count() > before }
}

// submitAnswer returns a condition that holds once a submitted form got an
// answer: a new card or message, or errors shown in the form.
func (r *repl) submitAnswer() func() bool {
	answered := r.answer()
	return func() bool {
		for _, v := range r.slack.Views(r.user) {
			if v.Open && len(v.Errors) > 0 {
				return true
			}
		}
		return answered()
	}
}

// do runs one command; it reports whether to quit.
func (r *repl) do(ctx context.Context, line string) bool {
	if line == "" || strings.HasPrefix(line, "#") {
		return false
	}
	word, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	var err error
	var answered func() bool // what shows the bot reacted
	switch strings.ToLower(word) {
	case "quit", "exit":
		return true
	case "help", "?":
		fmt.Fprintln(r.out, replHelp)
	case "users":
		r.users()
	case "replicas":
		r.replicas(ctx)
	case "as":
		err = r.as(rest)
	case "channel":
		err = r.setChannel(rest)
	case "cards":
		r.cards()
	case "card":
		err = r.card(rest)
	case "thread":
		err = r.thread(rest)
	case "uploads":
		r.uploads()
	case "jobs":
		r.jobs()
	case "upload":
		err = r.upload(rest)
	case "click":
		if f := strings.Fields(rest); len(f) == 2 {
			answered = r.clickAnswer(f[1])
		}
		err = r.click(ctx, rest)
	case "submit":
		answered = r.submitAnswer()
		err = r.submit(ctx, rest)
	case "wait":
		err = r.wait(ctx, rest)
	default:
		if strings.HasPrefix(word, "/") {
			answered = r.answer()
			err = r.slash(ctx, word, rest)
			break
		}
		err = fmt.Errorf("unknown command %q; type help", word)
	}
	if err != nil {
		fmt.Fprintln(r.out, "sandbox:", err)
		answered = nil
	}
	r.settle(ctx, answered, r.quiet, r.most)
	return false
}

// slash sends a slash command and waits for its ack.
func (r *repl) slash(ctx context.Context, command, text string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := r.slack.SendSlashCommand(ctx, slacktest.SlashCommand{User: r.user, Channel: r.channel, Command: command, Text: text})
	if errors.Is(err, slacktest.ErrNoAck) || errors.Is(err, slacktest.ErrNoConnection) {
		return fmt.Errorf("%s: %w (is deploybot still running? see its log)", command, err)
	}
	return err
}

// lookupUser finds a user by name or id.
func lookupUser(who string) (string, bool) {
	who = strings.TrimPrefix(strings.TrimSpace(who), "@")
	for _, u := range sandboxUsers {
		if strings.EqualFold(u.Name, who) || u.ID == who {
			return u.ID, true
		}
	}
	return "", false
}

func (r *repl) as(who string) error {
	id, ok := lookupUser(who)
	if !ok {
		return fmt.Errorf("no user %q; type users", who)
	}
	r.user = id
	return nil
}

func (r *repl) setChannel(name string) error {
	name = strings.TrimPrefix(strings.TrimSpace(name), "#")
	for _, c := range sandboxChannels {
		if strings.EqualFold(c.Name, name) || c.ID == name {
			r.channel = c.ID
			return nil
		}
	}
	var all []string
	for _, c := range sandboxChannels {
		all = append(all, c.Name+" ("+c.ID+")")
	}
	return fmt.Errorf("no channel %q; there are %s", name, strings.Join(all, ", "))
}

func (r *repl) users() {
	for _, u := range sandboxUsers {
		fmt.Fprintf(r.out, "  %-8s %s  %s\n", u.Name, u.ID, u.Role)
	}
	for _, g := range sandboxGroups {
		var m []string
		for _, id := range g.Members {
			m = append(m, r.names[id])
		}
		fmt.Fprintf(r.out, "  @%-15s %s\n", g.Handle, strings.Join(m, ", "))
	}
}

// findCard finds request id's card, in the current channel first.
func (r *repl) findCard(arg string) (slacktest.Message, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(arg), "#"), 10, 64)
	if err != nil || id <= 0 {
		return slacktest.Message{}, fmt.Errorf("%q is not a request id (the number after # on a card)", arg)
	}
	chans := []string{r.channel}
	for _, c := range sandboxChannels {
		chans = append(chans, c.ID)
	}
	for _, ch := range chans {
		for _, m := range r.slack.Messages(ch) {
			if m.ThreadTS == "" && cardID(m.Text) == id {
				return m, nil
			}
		}
	}
	return slacktest.Message{}, fmt.Errorf("no card #%d (yet); type cards", id)
}

func (r *repl) cards() {
	n := 0
	for _, m := range r.slack.Messages(r.channel) {
		if m.ThreadTS == "" && cardID(m.Text) > 0 {
			fmt.Fprintln(r.out, "  "+r.names.plain(m.Text))
			n++
		}
	}
	if n == 0 {
		fmt.Fprintf(r.out, "  no request cards in #%s yet\n", r.names[r.channel])
	}
}

func (r *repl) card(arg string) error {
	m, err := r.findCard(arg)
	if err != nil {
		return err
	}
	for _, l := range indent(r.render(m)) {
		fmt.Fprintln(r.out, l)
	}
	return nil
}

func (r *repl) thread(arg string) error {
	m, err := r.findCard(arg)
	if err != nil {
		return err
	}
	th := r.slack.Thread(m.Channel, m.TS)
	if len(th) <= 1 {
		fmt.Fprintf(r.out, "  no replies in the thread of %s yet\n", r.cardName(m))
		return nil
	}
	for _, rep := range th[1:] {
		lines := r.render(rep)
		if strings.TrimSpace(strings.Join(lines, "")) != "" {
			fmt.Fprintln(r.out, "  ▸ "+first(lines))
			for _, l := range indent(lines[1:]) {
				fmt.Fprintln(r.out, l)
			}
		}
		for _, f := range rep.Files {
			fmt.Fprintf(r.out, "    (file %s: upload %s prints it)\n", f, f)
		}
	}
	return nil
}

func (r *repl) uploads() {
	n := 0
	for _, up := range r.slack.Uploads() {
		if !up.Completed {
			continue
		}
		where := "private"
		if up.Channel != "" {
			where = "#" + r.names[up.Channel]
			if parent, ok := r.slack.Message(up.Channel, up.ThreadTS); ok && up.ThreadTS != "" {
				where += ", thread of " + r.cardName(parent)
			}
		}
		fmt.Fprintf(r.out, "  %s  %-28s %7d bytes  %s\n", up.FileID, up.Filename, len(up.Content), where)
		n++
	}
	if n == 0 {
		fmt.Fprintln(r.out, "  no files uploaded yet (the bot uploads a release's output when it ends, and for /deploy log <id>)")
	}
}

func (r *repl) upload(id string) error {
	for _, up := range r.slack.Uploads() {
		if up.FileID == strings.TrimSpace(id) {
			fmt.Fprintf(r.out, "----- %s (%s) -----\n%s\n----- end of %s -----\n", up.Filename, up.Title,
				strings.TrimRight(string(up.Content), "\n"), up.Filename)
			return nil
		}
	}
	return fmt.Errorf("no uploaded file %q; type uploads", id)
}

// jobs lists the job template launches the fake AWX received.
func (r *repl) jobs() {
	names := map[int]string{}
	for _, t := range sandboxTemplates {
		names[r.awx.JobTemplateByName(t.Name)] = t.Name
	}
	launches := r.awx.Launches()
	if len(launches) == 0 {
		fmt.Fprintln(r.out, "  AWX launched no job yet")
		return
	}
	for _, l := range launches {
		vars := ""
		if ev, ok := l.Body["extra_vars"].(map[string]any); ok {
			var parts []string
			for _, k := range []string{"deploybot_request_id", "deploy_app", "deploy_env", "deploy_version"} {
				if v, ok := ev[k]; ok {
					parts = append(parts, fmt.Sprintf("%s=%v", k, v))
				}
			}
			vars = strings.Join(parts, " ")
		}
		if jt, ok := l.Body["job_type"].(string); ok && jt != "" {
			vars += " job_type=" + jt
		}
		status := "refused"
		if l.Job > 0 {
			status = r.awx.JobStatus(l.Job)
		}
		fmt.Fprintf(r.out, "  job %-3d %-24s %-10s %s\n", l.Job, names[l.Template], status, vars)
	}
}

// actionIDs maps what a user may type to the bot's button action ids.
var actionIDs = map[string]string{
	"approve": "approve", "reject": "reject", "cancel": "cancel",
	"rollback": "rollback", "roll-back": "rollback", "roll": "rollback",
}

// scheduleActionIDs maps what a user may type to the buttons of a schedule
// announcement (package deploy's Action* names).
var scheduleActionIDs = map[string]string{
	"approve": deploy.ActionScheduleApprove, "reject": deploy.ActionScheduleReject,
	"skip": deploy.ActionScheduleSkip, "pause": deploy.ActionSchedulePause,
}

func (r *repl) click(ctx context.Context, args string) error {
	f := strings.Fields(args)
	if len(f) != 2 {
		return fmt.Errorf("usage: click <approve|reject|cancel|rollback> <id>, or click <approve|reject|skip|pause> S<id> for a schedule")
	}
	if id, ok := scheduleArg(f[1]); ok {
		return r.clickSchedule(ctx, f[0], id)
	}
	action, ok := actionIDs[strings.ToLower(f[0])]
	if !ok {
		return fmt.Errorf("unknown button %q: approve, reject, cancel or rollback", f[0])
	}
	m, err := r.findCard(f[1])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := r.slack.ClickButton(ctx, r.user, m.Channel, m.TS, action); err != nil {
		if strings.Contains(err.Error(), "no button") {
			var buttons []string
			for _, l := range r.names.blocks(m.Blocks) {
				if strings.HasPrefix(l, "[") {
					buttons = append(buttons, l)
				}
			}
			if len(buttons) == 0 {
				return fmt.Errorf("%s (%s) has no buttons now", r.cardName(m), status(m.Text))
			}
			return fmt.Errorf("%s (%s) has no %s button now, only %s", r.cardName(m), status(m.Text), f[0], strings.Join(buttons, " "))
		}
		return err
	}
	return nil
}

// scheduleArg reads a schedule id as the bot shows it (S3 or s3).
func scheduleArg(s string) (string, bool) {
	if len(s) < 2 || (s[0] != 'S' && s[0] != 's') {
		return "", false
	}
	if _, err := strconv.ParseUint(s[1:], 10, 63); err != nil {
		return "", false
	}
	return strings.TrimLeft(s[1:], "0"), true
}

// clickSchedule presses a button of schedule id's newest announcement that
// has that button.
func (r *repl) clickSchedule(ctx context.Context, name, id string) error {
	action, ok := scheduleActionIDs[strings.ToLower(name)]
	if !ok {
		return fmt.Errorf("unknown schedule button %q: approve, reject, skip or pause", name)
	}
	chans := []string{r.channel}
	for _, c := range sandboxChannels {
		chans = append(chans, c.ID)
	}
	var found *slacktest.Message
	for _, ch := range chans {
		for _, m := range r.slack.Messages(ch) {
			if m.ThreadTS == "" && hasButton(m.Blocks, action, id) {
				found = &m
			}
		}
		if found != nil {
			break
		}
	}
	if found == nil {
		return fmt.Errorf("no announcement of schedule S%s with a %s button (yet); /deploy schedules lists them", id, name)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := r.slack.ClickButton(ctx, r.user, found.Channel, found.TS, action)
	return err
}

// hasButton reports whether blocks hold a button with action id action and
// value value.
func hasButton(blocks json.RawMessage, action, value string) bool {
	var arr []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if json.Unmarshal(blocks, &arr) != nil {
		return false
	}
	for _, b := range arr {
		for _, e := range b.Elements {
			if e.ActionID == action && e.Value == value {
				return true
			}
		}
	}
	return false
}

func (r *repl) submit(ctx context.Context, args string) error {
	var open *slacktest.View
	for _, v := range r.slack.Views(r.user) {
		if v.Open {
			open = &v
		}
	}
	if open == nil {
		return fmt.Errorf("no form is open for %s; type /deploy with no text to open one", r.names[r.user])
	}
	values := map[string]map[string]string{}
	for _, kv := range strings.Fields(args) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("%q: write field=value (app, env, version)", kv)
		}
		values[k] = map[string]string{k: v}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := r.slack.SubmitView(ctx, r.user, open.ID, values)
	return err
}

// wait waits until card #id's status matches, printing what happens.
func (r *repl) wait(ctx context.Context, args string) error {
	id, want, _ := strings.Cut(strings.TrimSpace(args), " ")
	want = strings.TrimSpace(want)
	if id == "" || want == "" {
		return fmt.Errorf("usage: wait <id> <status>, e.g. wait 2 succeeded (statuses: waiting for approval, queued, launching, running, succeeded, failed, canceled, rejected, expired)")
	}
	done := func() bool {
		m, err := r.findCard(id)
		return err == nil && strings.EqualFold(status(m.Text), want)
	}
	end := time.NewTimer(time.Minute)
	defer end.Stop()
	for !done() {
		select {
		case <-r.changed:
			r.flush()
		case <-end.C:
			now := "no card yet"
			if m, err := r.findCard(id); err == nil {
				now = status(m.Text)
			}
			return fmt.Errorf("card #%s did not show %q within a minute (it shows %s)", id, want, now)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// What follows a status (the failure digest, the uploaded output) comes
	// a moment later: Slack writes are paced.
	r.settle(ctx, nil, max(r.quiet, 1500*time.Millisecond), r.most)
	return nil
}
