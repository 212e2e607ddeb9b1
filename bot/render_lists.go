package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
)

// Message is a rendered message: blocks and the notification text that goes
// with them.
type Message struct {
	Text   string
	Blocks []slack.Block
}

// newMessage is a message whose notification text is clipped to a
// readable length.
func newMessage(text string, blocks []slack.Block) Message {
	return Message{Text: clip(text, maxThreadText, ""), Blocks: blocks}
}

// requestLine is one request on one line, for lists.
func requestLine(r *deploy.Request) string {
	line := fmt.Sprintf("%s *#%d* %s · %s · by %s", statusIcon(r.Status), r.ID, escape(title(r)),
		r.Status.Label(), userRef(r.RequestedBy))
	if len(r.Approvals) > 0 {
		line += " · approved by " + approvalList(r)
	}
	if !r.CreatedAt.IsZero() {
		line += " · " + slackDate(r.CreatedAt)
	}
	if r.Outcome != "" && r.Status.Terminal() {
		line += " · " + safeText(clip(r.Outcome, 200, ""))
	}
	return line
}

// listSection renders a titled list as one section, clipped with a note.
func listSection(id, name string, lines []string, more string) *slack.SectionBlock {
	return section(id, "*"+name+"*\n"+strings.Join(lines, "\n"), more)
}

// StatusView is what /deploy status shows.
type StatusView struct {
	Active, Queued, Pending []*deploy.Request
	Locks                   []deploy.Lock
}

// RenderStatus renders /deploy status: what runs, what waits, who holds
// which lock.
func RenderStatus(rep StatusView, app, env string) Message {
	scope := "all apps"
	if app != "" {
		scope = escape(app)
		if env != "" {
			scope += " " + escape(env)
		}
	}
	blocks := []slack.Block{header("title", "Status of "+strings.ReplaceAll(scope, "&amp;", "&"))}
	add := func(id, name string, reqs []*deploy.Request) {
		if len(reqs) == 0 {
			return
		}
		lines := make([]string, 0, len(reqs))
		for _, r := range reqs {
			lines = append(lines, requestLine(r))
		}
		blocks = append(blocks, listSection(id, name, lines, "more with `/deploy status &lt;app&gt; &lt;env&gt;`"))
	}
	add("active", "Running", rep.Active)
	add("queued", "Queued", rep.Queued)
	add("pending", "Waiting for approval", rep.Pending)
	if len(rep.Locks) > 0 {
		lines := make([]string, 0, len(rep.Locks))
		for _, l := range rep.Locks {
			lines = append(lines, lockLine(l))
		}
		blocks = append(blocks, listSection("locks", "Locks", lines, "more with `/deploy status &lt;app&gt; &lt;env&gt;`"))
	}
	if len(blocks) == 1 {
		blocks = append(blocks, section("empty", "Nothing runs, waits or is locked.", ""))
	}
	return newMessage("Status of "+scope, fitBlocks(blocks, 0, "narrow it with `/deploy status &lt;app&gt; &lt;env&gt;`"))
}

// lockLine is one manual lock on one line.
func lockLine(l deploy.Lock) string {
	s := fmt.Sprintf("🔒 %s %s locked by %s", escape(l.App), escape(l.Env), userRef(l.By))
	if !l.Since.IsZero() {
		s += " since " + slackDate(l.Since)
	}
	if l.Reason != "" {
		s += ": " + escape(clip(l.Reason, 300, ""))
	}
	return s
}

// RenderLockNotice tells a channel that user locked (locked) or unlocked
// app env: who, why, and which queued releases the lock holds (held); an
// unlock names whose lock was lifted. Times are in loc.
func RenderLockNotice(l deploy.Lock, user string, locked bool, held []int64, loc *time.Location) Message {
	var b strings.Builder
	if locked {
		fmt.Fprintf(&b, "🔒 %s %s locked by %s", escape(l.App), escape(l.Env), userRef(user))
		if l.Reason != "" {
			b.WriteString(": " + escape(clip(strings.TrimRight(l.Reason, ". "), 300, "")))
		}
		b.WriteString(".\nNo release of it starts until `/deploy unlock " + escape(l.App) + " " + escape(l.Env) + "`; one already running goes on.")
		if len(held) > 0 {
			refs := make([]string, len(held))
			for i, id := range held {
				refs[i] = fmt.Sprintf("#%d", id)
			}
			fmt.Fprintf(&b, "\nHeld in the queue: %s.", strings.Join(refs, ", "))
		}
	} else {
		fmt.Fprintf(&b, "🔓 %s %s unlocked by %s.", escape(l.App), escape(l.Env), userRef(user))
		if l.By != "" {
			b.WriteString(" It lifts the lock " + userRef(l.By))
			if !l.Since.IsZero() {
				b.WriteString(" set on " + zoneTime(l.Since, loc))
			}
			if l.Reason != "" {
				b.WriteString(" for " + escape(clip(strings.TrimRight(l.Reason, ". "), 300, "")))
			}
			b.WriteString(".")
		}
		b.WriteString("\nReleases queued for it start now, in turn.")
	}
	t := b.String()
	return newMessage(t, []slack.Block{section("lock", t, "")})
}

// RenderHistory renders /deploy history.
func RenderHistory(reqs []*deploy.Request, app, env string) Message {
	name := strings.TrimSpace(app + " " + env)
	blocks := []slack.Block{header("title", "History of "+name)}
	if len(reqs) == 0 {
		blocks = append(blocks, section("empty", "No releases yet.", ""))
	} else {
		lines := make([]string, 0, len(reqs))
		for _, r := range reqs {
			lines = append(lines, requestLine(r))
		}
		blocks = append(blocks, listSection("history", "Recent releases, newest first", lines, "older releases are not shown"))
	}
	return newMessage("History of "+escape(name), blocks)
}

// RenderApps renders /deploy apps: what can be deployed where, and by whom.
func RenderApps(conf *config.Config) Message {
	blocks := []slack.Block{header("title", "Apps")}
	for _, name := range conf.AppNames() {
		a := conf.Apps[name]
		var b strings.Builder
		fmt.Fprintf(&b, "*%s* (%s)", escape(a.Name), escape(a.Type))
		for _, en := range a.EnvNames() {
			e := a.Environments[en]
			fmt.Fprintf(&b, "\n• *%s*: %d host%s · deployers %s", escape(e.Name), len(e.Hosts), plural(len(e.Hosts)), approverList(e.Deployers))
			if e.Approval.Required {
				fmt.Fprintf(&b, " · approval: %d of %s", e.Approval.MinApprovals, approverList(e.Approval.Approvers))
				if e.Approval.ExpiresAfter > 0 {
					b.WriteString(", expires after " + e.Approval.ExpiresAfter.String())
				}
				if e.Approval.AllowSelfApproval {
					b.WriteString(", self-approval allowed")
				}
			} else {
				b.WriteString(" · no approval needed")
			}
		}
		blocks = append(blocks, section("app-"+clip(name, 200, ""), b.String(), "see the config file"))
	}
	if len(blocks) == 1 {
		blocks = append(blocks, section("empty", "No apps are configured.", ""))
	}
	return newMessage("Apps", fitBlocks(blocks, 0, "more apps are configured than fit here; see the config file"))
}

// RenderHelp renders help text as fixed-width text.
func RenderHelp(text string) Message {
	return newMessage("deploybot help", []slack.Block{
		section("help", codeBlock(text, maxSectionText, ""), ""),
	})
}

// RenderSyntaxError renders a command the parser could not read, with the
// usage that fits.
func RenderSyntaxError(problem, usage string) Message {
	t := "⚠️ " + escape(problem)
	return newMessage(t, []slack.Block{
		section("problem", t, ""),
		section("usage", "Usage:\n"+codeBlock(usage, maxSectionText-10, ""), ""),
	})
}

// RenderRefusal renders a domain refusal (its message is written for the
// user by package deploy and may hold mentions).
func RenderRefusal(msg string) Message {
	t := "⚠️ " + safeText(msg)
	return newMessage(clip(t, maxThreadText, ""), []slack.Block{section("refusal", t, "")})
}

// RenderInternalError tells the user that something broke on our side, with
// the reference under which it is logged.
func RenderInternalError(ref string) Message {
	t := fmt.Sprintf("💥 internal error (ref %s). Nothing was changed by this message; try again or tell the operators the ref.", escape(ref))
	return newMessage(t, []slack.Block{section("internal", t, "")})
}

// RenderInfo renders a short notice, such as a confirmation.
func RenderInfo(text string) Message {
	t := safeText(text)
	if strings.TrimSpace(t) == "" {
		t = "-"
	}
	return newMessage(clip(t, maxThreadText, ""), []slack.Block{section("info", t, "")})
}

// RenderThread renders text posted in a card's thread (milestones, digests,
// notes composed by package deploy). Text longer than a message gets
// clipped with a pointer to the attached file; Overflow reports that.
func RenderThread(text string) (msg Message, overflow bool) {
	t := safeText(text)
	if strings.TrimSpace(t) == "" {
		t = "-"
	}
	overflow = len([]rune(t)) > maxSectionText
	t = clip(t, maxSectionText, " (full text in the attached file)")
	return newMessage(clip(t, maxThreadText, ""), []slack.Block{section("thread", t, "")}), overflow
}

// RenderFailureDigest renders the failure digest posted in the thread of a
// failed request: failed host, task, module message, last lines of output.
func RenderFailureDigest(req *deploy.Request, output string) Message {
	var b strings.Builder
	fmt.Fprintf(&b, "❌ *#%d failed*", req.ID)
	if f := req.Progress.Failure; f != nil {
		fmt.Fprintf(&b, " on `%s` in task _%s_", escape(f.Host), escape(f.Task))
		if f.Message != "" {
			b.WriteString("\n" + escape(clip(f.Message, 1000, "")))
		}
	}
	if req.Outcome != "" {
		b.WriteString("\n" + safeText(clip(req.Outcome, 500, "")))
	}
	blocks := []slack.Block{section("digest", b.String(), "")}
	if tail := lastLines(output, 20); tail != "" {
		blocks = append(blocks, section("tail", "Last lines of output:\n"+
			codeBlock(tail, maxSectionText-30, ""), ""))
	}
	blocks = append(blocks, contextBlock("more", fmt.Sprintf("Full output: the file in this thread, or `/deploy log %d`", req.ID)))
	return newMessage(fmt.Sprintf("#%d failed", req.ID), blocks)
}
