package bot

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/deploy"
)

// Action ids of the card's buttons. A button's value is only the request id.
const (
	ActionApprove  = "approve"
	ActionReject   = "reject"
	ActionCancel   = "cancel"
	ActionRollback = "rollback"
)

// statusIcon is the emoji shown next to a status.
func statusIcon(s deploy.Status) string {
	switch s {
	case deploy.StatusPendingApproval:
		return "⏳"
	case deploy.StatusQueued:
		return "🕒"
	case deploy.StatusLaunching:
		return "🚀"
	case deploy.StatusRunning:
		return "🔄"
	case deploy.StatusSucceeded:
		return "✅"
	case deploy.StatusFailed:
		return "❌"
	case deploy.StatusCanceled:
		return "🚫"
	case deploy.StatusRejected:
		return "⛔"
	case deploy.StatusExpired:
		return "⌛"
	}
	return "•"
}

// hostIcon is the emoji of a host's state on the card.
func hostIcon(state string) string {
	switch state {
	case "ok", "changed":
		// A changed host is a host that did its work: success, not a
		// warning.
		return "✅"
	case "failed":
		return "❌"
	case "unreachable":
		return "📵"
	case "skipped":
		return "⏭"
	case "running":
		return "🔄"
	}
	return "▫️"
}

// CardText is the notification text of a request card (the top-level
// "text" that Slack shows in notifications and where blocks cannot be shown).
func CardText(req *deploy.Request) string {
	return fmt.Sprintf("#%d %s: %s", req.ID, escape(title(req)), req.Status.Label())
}

// title is the one-line name of a request, unescaped.
func title(req *deploy.Request) string {
	var t string
	switch {
	case req.Kind == deploy.KindRollback:
		t = fmt.Sprintf("Rollback %s %s", req.App, req.Env)
	default:
		t = fmt.Sprintf("%s %s → %s", req.App, req.Version, req.Env)
	}
	if req.Check {
		t = "Dry run: " + t
	}
	return t
}

// RenderCard renders the request card: what is released where, by whom,
// in which state, with the buttons that fit that state. It is a pure
// function of its arguments and always stays within Slack's limits.
func RenderCard(req *deploy.Request, info deploy.CardInfo) []slack.Block {
	id := strconv.FormatInt(req.ID, 10)
	more := fmt.Sprintf("full details in the thread; output: `/deploy log %d`", req.ID)
	blocks := []slack.Block{
		header("title", fmt.Sprintf("%s #%d %s", statusIcon(req.Status), req.ID, title(req))),
		slack.NewSectionBlock(nil, cardFields(req), nil, slack.SectionBlockOptionBlockID("fields")),
	}
	if c := buildContext(req); c != nil {
		blocks = append(blocks, c)
	}
	if t := rollbackHostsText(req); t != "" {
		blocks = append(blocks, section("rollback-hosts", t, more))
	}
	for i, text := range stateSections(req, info, info.Location) {
		blocks = append(blocks, section("state-"+strconv.Itoa(i), text, more))
	}
	if summary := RenderNote(info.CheckSummary); summary != "" {
		blocks = append(blocks, section("check", "*Dry run summary*\n"+codeBlock(summary, maxSectionText-40, ""), more))
	}
	if info.Note != "" {
		blocks = append(blocks, contextBlock("note", safeText(info.Note)))
	}
	keep := 0
	if a := cardActions(req, id); a != nil {
		blocks = append(blocks, a)
		keep = 1
	}
	return fitBlocks(blocks, keep, more)
}

// cardFields are the request's facts as section fields (at most 10).
func cardFields(req *deploy.Request) []*slack.TextBlockObject {
	field := func(name, value string) *slack.TextBlockObject {
		return mrkdwn(clip("*"+name+"*\n"+value, maxFieldText, ""))
	}
	fs := []*slack.TextBlockObject{
		field("App", escape(req.App)),
		field("Environment", escape(req.Env)),
	}
	if req.Kind == deploy.KindRollback {
		// The service's description (Plan.Restores) says what --to means:
		// release N's backup, which is what was live before N.
		to := "the newest backup"
		switch {
		case req.Plan.Restores != "":
			to = escape(req.Plan.Restores)
		case req.RollbackTo != "":
			to = "the backup taken by release " + escape(req.RollbackTo)
		}
		fs = append(fs, field("Restores", to))
	} else {
		fs = append(fs, field("Version", "`"+escape(req.Version)+"`"))
	}
	fs = append(fs,
		field("Requested by", userRef(req.RequestedBy)),
		field("Status", statusIcon(req.Status)+" "+req.Status.Label()),
	)
	if req.PlanHash != "" {
		fs = append(fs, field("Plan", "`"+escape(deploy.ShortHash(req.PlanHash))+"`"))
	}
	return fs
}

// rollbackHostsText shows, before a rollback to one version runs, where
// each host stands as the release history says and where it will end:
// hosts grouped by what they run, so that a long host list stays short.
func rollbackHostsText(req *deploy.Request) string {
	p := req.Plan
	if req.Kind != deploy.KindRollback || p.RollbackVersion == "" ||
		(req.Status != deploy.StatusPendingApproval && req.Status != deploy.StatusQueued) {
		return ""
	}
	to := "`" + escape(p.RollbackVersion) + "`"
	var order []string
	groups := map[string][]string{}
	for _, h := range p.Hosts {
		var line string
		switch vs := p.HostVersions[h]; {
		case len(vs) == 0:
			line = "not on record → " + to
		case len(vs) == 1 && vs[0] == p.RollbackVersion:
			line = "already " + to + ", left alone if healthy"
		default:
			from := make([]string, len(vs))
			for i, v := range vs {
				from[i] = "`" + escape(v) + "`"
			}
			line = strings.Join(from, " or ") + " → " + to
		}
		if _, ok := groups[line]; !ok {
			order = append(order, line)
		}
		groups[line] = append(groups[line], escape(h))
	}
	var b strings.Builder
	b.WriteString("*Hosts* (as the release history says)")
	for _, line := range order {
		b.WriteString("\n" + line + ": " + strings.Join(groups[line], ", "))
	}
	return b.String()
}

// buildContext shows the build's size and checksum and the hosts.
func buildContext(req *deploy.Request) *slack.ContextBlock {
	var parts []string
	p := req.Plan
	if p.ArtifactSize > 0 {
		parts = append(parts, "Build: "+humanBytes(p.ArtifactSize))
	}
	if p.ArtifactChecksum != "" {
		parts = append(parts, "Checksum: `"+escape(clip(p.ArtifactChecksum, 80, ""))+"`")
	} else if unverifiedDownload(p) {
		parts = append(parts, ":warning: unverified download (plain HTTP, no checksum published)")
	}
	if n := len(p.Hosts); n > 0 {
		parts = append(parts, fmt.Sprintf("%d host%s", n, plural(n)))
	}
	if p.AdHoc {
		parts = append(parts, "ad-hoc command")
	}
	if len(parts) == 0 {
		return nil
	}
	return contextBlock("build", strings.Join(parts, " · "))
}

// unverifiedDownload reports whether the hosts fetch the build over plain
// HTTP with no checksum to check it against: anyone on the path could
// swap it.
func unverifiedDownload(p deploy.Plan) bool {
	return p.ArtifactURL != "" && p.ArtifactChecksum == "" &&
		len(p.ArtifactURL) > len("http://") && strings.EqualFold(p.ArtifactURL[:len("http://")], "http://")
}

// stateSections are the lines that depend on the request's state.
func stateSections(req *deploy.Request, info deploy.CardInfo, loc *time.Location) []string {
	var out []string
	switch req.Status {
	case deploy.StatusPendingApproval:
		out = append(out, approvalText(req, info, loc))
	case deploy.StatusQueued:
		t := "*Queued*"
		if info.QueuePosition > 0 {
			t += fmt.Sprintf(": position %d", info.QueuePosition)
		}
		switch blocker := RenderNote(info.Blocker); {
		case strings.HasPrefix(blocker, "#"):
			t += ", waiting for " + safeText(blocker)
		case strings.HasPrefix(blocker, "locked by "):
			// A manual lock holds it: show it as one.
			t += " · 🔒 " + safeText(blocker)
		case blocker != "":
			t += " · " + safeText(blocker)
		}
		out = append(out, t)
	case deploy.StatusLaunching, deploy.StatusRunning:
		out = append(out, progressText(req, false))
	default:
		if t := resultText(req, loc); t != "" {
			out = append(out, t)
		}
		if len(req.Progress.Hosts) > 0 {
			out = append(out, progressText(req, true))
		}
	}
	if len(req.Approvals) > 0 && req.Status != deploy.StatusPendingApproval {
		out = append(out, "Approved by "+approvalList(req))
	}
	return out
}

// approvalText says who approved so far, what is missing, and until when.
func approvalText(req *deploy.Request, info deploy.CardInfo, loc *time.Location) string {
	var b strings.Builder
	b.WriteString("*Waiting for approval*")
	if len(req.Approvals) > 0 {
		fmt.Fprintf(&b, "\nApproved so far: %s", approvalList(req))
	}
	if info.ApprovalsMissing > 0 {
		fmt.Fprintf(&b, "\nNeeds %d more approval%s", info.ApprovalsMissing, plural(info.ApprovalsMissing))
		if len(info.Approvers) > 0 {
			b.WriteString(" from " + approverList(info.Approvers))
		}
	}
	if !info.SelfApproval {
		b.WriteString("\nThe requester cannot approve their own request.")
	}
	if !req.ExpiresAt.IsZero() {
		b.WriteString("\nExpires " + zoneTime(req.ExpiresAt, loc))
	}
	return b.String()
}

func approvalList(req *deploy.Request) string {
	names := make([]string, 0, len(req.Approvals))
	for _, a := range req.Approvals {
		names = append(names, userRef(a.User))
	}
	return strings.Join(names, ", ")
}

// approverList renders user IDs as mentions and @handles as text.
func approverList(list []string) string {
	out := make([]string, 0, len(list))
	for _, e := range list {
		if strings.HasPrefix(e, "@") {
			out = append(out, escape(e))
		} else {
			out = append(out, userRef(e))
		}
	}
	return strings.Join(out, ", ")
}

// progressText lists the play, the task and every host's phase.
func progressText(req *deploy.Request, recap bool) string {
	p := req.Progress
	var b strings.Builder
	if !recap {
		b.WriteString("*" + req.Status.Label() + "*")
		if req.Job.ID != 0 {
			fmt.Fprintf(&b, " (AWX %s %d)", strings.ReplaceAll(string(req.Job.Kind), "_", " "), req.Job.ID)
		}
		if p.Play != "" {
			b.WriteString("\nPlay: " + escape(clip(p.Play, 300, "")))
		}
		if p.Task != "" {
			b.WriteString("\nTask: " + escape(clip(p.Task, 300, "")))
		}
	} else {
		b.WriteString("*Hosts*")
	}
	hosts := make([]string, 0, len(p.Hosts))
	for h := range p.Hosts {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	// Stop listing hosts before the section is full, and say how many
	// are left out, rather than cutting a line in the middle.
	used := utf8.RuneCountInString(b.String())
	for i, h := range hosts {
		hp := p.Hosts[h]
		line := fmt.Sprintf("\n%s `%s`", hostIcon(hp.State), escape(clip(h, 200, "")))
		if recap || hp.Done {
			line += fmt.Sprintf(" ok=%d changed=%d failed=%d unreachable=%d skipped=%d", hp.OK, hp.Change, hp.Failed, hp.Unreachable, hp.Skipped)
		} else if hp.Phase != "" {
			line += " " + escape(clip(hp.Phase, 200, ""))
		}
		n := utf8.RuneCountInString(line)
		if used+n > maxSectionText-120 {
			fmt.Fprintf(&b, "\n%s and %d more host%s; `/deploy log %d` has the full output", ellipsis, len(hosts)-i, plural(len(hosts)-i), req.ID)
			break
		}
		b.WriteString(line)
		used += n
	}
	return b.String()
}

// resultText says how a finished request ended.
func resultText(req *deploy.Request, loc *time.Location) string {
	var b strings.Builder
	b.WriteString("*" + req.Status.Label() + "*")
	if !req.FinishedAt.IsZero() {
		b.WriteString(" " + zoneTime(req.FinishedAt, loc))
		if !req.StartedAt.IsZero() && req.FinishedAt.After(req.StartedAt) {
			b.WriteString(" after " + deploy.DurationText(req.FinishedAt.Sub(req.StartedAt)))
		}
	}
	if req.CanceledBy != "" && req.Status == deploy.StatusCanceled {
		b.WriteString(" by " + userRef(req.CanceledBy))
	}
	f := req.Progress.Failure
	if f != nil && req.Status != deploy.StatusFailed {
		f = nil
	}
	// The outcome of a failed job names the failure again: the card says
	// it once, below.
	if req.Outcome != "" && f == nil {
		b.WriteString("\n" + safeText(req.Outcome))
	}
	if f != nil {
		fmt.Fprintf(&b, "\nFailed on `%s` in task _%s_", escape(f.Host), escape(f.Task))
		if f.Message != "" {
			b.WriteString(": " + escape(clip(f.Message, 500, "")))
		}
		b.WriteString("\nThe failure digest and the full output are in the thread.")
	}
	return b.String()
}

// cardActions are the buttons that fit the state; each carries only the
// request id.
func cardActions(req *deploy.Request, id string) *slack.ActionBlock {
	var elts []slack.BlockElement
	switch req.Status {
	case deploy.StatusPendingApproval:
		elts = append(elts,
			button(ActionApprove, "Approve", id, "primary"),
			button(ActionReject, "Reject", id, "danger"))
	case deploy.StatusQueued, deploy.StatusLaunching, deploy.StatusRunning:
		b := button(ActionCancel, "Cancel", id, "danger")
		b.Confirm = confirm(fmt.Sprintf("Cancel #%d?", req.ID),
			fmt.Sprintf("This stops %s. Hosts already done stay on the new release.", title(req)), "Cancel it", "Keep it")
		elts = append(elts, b)
	case deploy.StatusSucceeded, deploy.StatusFailed:
		// Only web releases keep backups to roll back to.
		if req.Kind == deploy.KindDeploy && !req.Check && req.Plan.ArtifactURL != "" {
			b := button(ActionRollback, "Roll back", id, "")
			b.Confirm = confirm(fmt.Sprintf("Roll back %s %s?", req.App, req.Env),
				fmt.Sprintf("This asks for a rollback of %s %s to what was live before #%d, from the backup it took, under the same approval policy.", req.App, req.Env, req.ID),
				"Roll back", "Not now")
			elts = append(elts, b)
		}
	}
	if len(elts) == 0 {
		return nil
	}
	return slack.NewActionBlock("actions-"+string(req.Status), elts...)
}

// confirm is the dialog Slack shows before a button with consequences
// acts (title <= 100, text <= 300, buttons <= 30 characters).
func confirm(titleText, text, yes, no string) *slack.ConfirmationBlockObject {
	c := slack.NewConfirmationBlockObject(plain(titleText, 100), plain(text, 300), plain(yes, 30), plain(no, 30))
	c.Style = slack.StyleDanger
	return c
}

// userRef mentions a Slack user ID; anything that is not an ID is escaped.
func userRef(u string) string {
	if u == "" {
		return "the bot"
	}
	if isSlackID(u) {
		return "<@" + u + ">"
	}
	return escape(u)
}

// isSlackID reports whether s looks like a Slack ID (U…, W…, C…, S…):
// upper-case letters and digits only.
func isSlackID(s string) bool {
	if len(s) < 2 || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// zoneTime shows t in loc, the configured time zone, with the UTC time in
// brackets when loc is not UTC, so that a card shows one zone whoever
// reads it (nil loc shows UTC).
func zoneTime(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	local, utc := t.In(loc), t.UTC()
	if _, off := local.Zone(); off == 0 {
		return local.Format("2006-01-02 15:04 MST")
	}
	in := utc.Format("15:04 UTC")
	if utc.YearDay() != local.YearDay() {
		in = utc.Format("Jan 2 15:04 UTC")
	}
	return local.Format("2006-01-02 15:04 MST") + " (" + in + ")"
}

// slackDate shows t in the reader's time zone, with a UTC fallback.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} at {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// safeText makes text composed by the domain safe to show. The domain
// writes mentions of users and channels (<@U1>, <#C1>) and links to request
// cards, and escapes every piece of user or AWX text it places next to them
// (deploy.Literal). safeText keeps exactly those forms and escapes every
// other &, < and >, so a broadcast (<!channel>, <!here>), a group mention
// (<!subteam^…>), a labelled mention or a link elsewhere shows literally
// even if unescaped text reached it. Entities already escaped are kept, so
// text is escaped exactly once.
func safeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch c {
		case '<':
			// Control sequences are short; looking further would make
			// text full of '<' quadratic.
			if j := strings.IndexByte(s[i:min(len(s), i+maxControlSeq)], '>'); j > 1 && controlSeq(s[i+1:i+j]) {
				b.WriteString(s[i : i+j+1])
				i += j + 1
				continue
			}
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			rest := s[i:]
			if strings.HasPrefix(rest, "&amp;") || strings.HasPrefix(rest, "&lt;") || strings.HasPrefix(rest, "&gt;") {
				b.WriteByte('&')
			} else {
				b.WriteString("&amp;")
			}
		default:
			b.WriteByte(c)
		}
		i++
	}
	return b.String()
}

// maxControlSeq is the longest control sequence safeText keeps.
const maxControlSeq = 128

// slackArchive starts the links to Slack messages that safeText keeps.
const slackArchive = "https://slack.com/archives/"

// controlSeq reports whether inner (the text between < and >) is one of
// the forms the domain writes: a mention of a user or a channel by ID with
// no label, or a link to a Slack message labelled with a request number
// (<https://slack.com/archives/C1/p123|#12>).
func controlSeq(inner string) bool {
	if strings.ContainsAny(inner, "<>\n") {
		return false
	}
	switch {
	case strings.HasPrefix(inner, "@"), strings.HasPrefix(inner, "#"):
		return isSlackID(inner[1:])
	case strings.HasPrefix(inner, slackArchive):
		u, label, labelled := strings.Cut(inner, "|")
		channel, msg, ok := strings.Cut(u[len(slackArchive):], "/")
		if !ok || !isSlackID(channel) || !strings.HasPrefix(msg, "p") || !digits(msg[1:]) {
			return false
		}
		return !labelled || (strings.HasPrefix(label, "#") && digits(label[1:]))
	}
	return false
}

// digits reports whether s is a non-empty run of ASCII digits.
func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
