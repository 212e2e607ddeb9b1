package bot

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/deploybot/deploybot/deploy"
)

// RenderNote words a note of the service as Slack mrkdwn (see
// https://api.slack.com/reference/surfaces/formatting): mentions as
// <@U…>, channels as <#C…>, emoji as :name:. Text the note carries from
// users or AWX (play, host and task names, reasons) is escaped with
// deploy.Literal where the service's own wording used to escape it.
func RenderNote(n deploy.Note) string {
	t := noteText(n)
	if len(n.NextRuns) > 0 {
		t += "\nNext runs: " + deploy.RunsText(n.NextRuns, n.TZ)
	}
	return t
}

// noteText is the note without its next runs.
func noteText(n deploy.Note) string {
	switch n.Kind {
	case deploy.NoteApproved:
		t := fmt.Sprintf(":heavy_check_mark: Approved by <@%s>", n.User)
		if n.Count > 0 {
			t += fmt.Sprintf("; %s more needed", deploy.CountOf(n.Count, "approval"))
		}
		return t
	case deploy.NoteReminder:
		return fmt.Sprintf(":alarm_clock: #%d still needs %s and expires at %s. Approvers: %s.",
			n.Request, deploy.CountOf(n.Count, "approval"), n.At, strings.Join(mentions(n.Users), ", "))
	case deploy.NoteCancelRefused:
		if n.User != "" {
			return fmt.Sprintf(":warning: <@%s> asked to cancel, but AWX did not accept the cancel: %s", n.User, n.Reason)
		}
		return ":warning: AWX did not accept the cancel: " + n.Reason
	case deploy.NoteCanceling:
		return fmt.Sprintf(":octagonal_sign: <@%s> canceled it; AWX is stopping the job.", n.User)
	case deploy.NoteCancelWhileLaunching:
		return fmt.Sprintf(":octagonal_sign: <@%s> asked to cancel; the job is being launched and will be canceled as soon as AWX confirms it.", n.User)
	case deploy.NoteRunner:
		return ":information_source: " + n.Text
	case deploy.NoteMilestones:
		lines := make([]string, 0, len(n.Lines))
		for _, l := range n.Lines {
			lines = append(lines, noteText(l))
		}
		return strings.Join(lines, "\n")
	case deploy.NotePlay:
		return ":arrow_forward: Play: " + deploy.Literal(n.Title)
	case deploy.NoteHostFailed:
		return fmt.Sprintf(":x: %s %s at task %s: %s", deploy.Literal(n.Host), n.State, deploy.Literal(strconv.Quote(n.Task)), deploy.Literal(n.Reason))
	case deploy.NoteHostDone:
		return ":white_check_mark: " + deploy.Literal(n.Host) + " done"
	case deploy.NoteEnded:
		return endIcon(n.Status) + " " + n.Text
	case deploy.NoteDigest:
		return digestText(n)
	case deploy.NoteLaunchUnknown:
		return ":warning: I could not tell whether AWX started the job. I am asking AWX before doing anything else; it will not be launched twice."
	case deploy.NoteJobFound:
		return fmt.Sprintf(":mag: AWX has job %d for this request; following it.", n.Job)
	case deploy.NoteScheduleStart:
		if n.Reason != "" {
			return fmt.Sprintf(":calendar: Started by schedule S%d. It needs approval because %s.", n.Schedule, n.Reason)
		}
		return fmt.Sprintf(":calendar: Started by schedule S%d.", n.Schedule)
	case deploy.NoteNotRecorded:
		return "This request could not be recorded, so nothing will run. Please try again."
	case deploy.NotePreparing:
		return fmt.Sprintf("<@%s> asked to %s; preparing the request…", n.User, n.Title)

	case deploy.NoteWaitDryRun:
		return fmt.Sprintf("dry run #%d (%s, by <@%s>): one dry run per environment at a time", n.Request, strings.ToLower(n.Status.Label()), n.User)
	case deploy.NoteWaitTurn:
		return "its turn: it starts in a moment"
	case deploy.NoteWaitLock:
		t := fmt.Sprintf("locked by <@%s> since %s", n.User, n.At)
		if n.Reason != "" {
			t += ": " + deploy.Literal(n.Reason)
		}
		return t
	case deploy.NoteWaitRequest:
		return fmt.Sprintf("#%d (%s, %s by <@%s>)", n.Request, strings.ToLower(n.Status.Label()), n.Title, n.User)
	case deploy.NoteWaitAhead:
		return "the requests ahead of it"
	case deploy.NoteCheckSummary:
		return fmt.Sprintf("Dry run #%d by <@%s>, %s ago: %s", n.Request, n.User, n.Detail, n.Text)

	case deploy.NoteScheduleCreated:
		return withNote(fmt.Sprintf(":calendar: <@%s> scheduled %s.", n.User, n.Title), n.Text)
	case deploy.NoteScheduleNeedsApproval:
		return withNote(fmt.Sprintf(":calendar: <@%s> scheduled %s. It needs %s from %s before it runs. Approving it approves plan `%s`; a run whose plan differs asks again.",
			n.User, n.Title, deploy.CountOf(n.Count, "approval"), strings.Join(mentions(n.Users), ", "), n.Detail), n.Text)
	case deploy.NoteScheduleApproved:
		t := fmt.Sprintf(":heavy_check_mark: <@%s> approved schedule %s.", n.User, n.Title)
		if n.Count > 0 {
			return t + fmt.Sprintf(" It needs %s more.", deploy.CountOf(n.Count, "approval"))
		}
		return t + " It is active."
	case deploy.NoteScheduleRejected:
		t := fmt.Sprintf(":no_entry_sign: <@%s> rejected schedule %s.", n.User, n.Title)
		if n.Reason != "" {
			t += " Reason: " + deploy.Literal(n.Reason)
		}
		return t
	case deploy.NoteScheduleDeleted:
		return fmt.Sprintf(":wastebasket: <@%s> deleted schedule %s.", n.User, n.Title)
	case deploy.NoteSchedulePaused:
		return fmt.Sprintf(":double_vertical_bar: <@%s> paused schedule %s. `/deploy resume S%d` resumes it.", n.User, n.Title, n.Schedule)
	case deploy.NoteScheduleResumed:
		return fmt.Sprintf(":arrow_forward: <@%s> resumed schedule %s.", n.User, n.Title)
	case deploy.NoteRunSkippedBy:
		return fmt.Sprintf(":fast_forward: <@%s> skipped the run of %s at %s.", n.User, n.Title, n.At)
	case deploy.NoteRunDeferred:
		return fmt.Sprintf(":warning: The run of %s at %s did not start: %s I will try again until %s; if I still cannot check by then, the run is skipped.",
			n.Title, n.At, n.Reason, n.Until)
	case deploy.NoteRunSkipped:
		if n.Reason == "" {
			return fmt.Sprintf(":fast_forward: The run of %s at %s was skipped, as asked.", n.Title, n.At)
		}
		return fmt.Sprintf(":fast_forward: The run of %s at %s was skipped: %s. Nothing ran.", n.Title, n.At, n.Reason)
	case deploy.NoteRunNotStarted:
		return fmt.Sprintf(":x: The run of %s at %s did not start: %s", n.Title, n.At, n.Reason)
	case deploy.NoteRunStarted:
		var t string
		switch n.Status {
		case deploy.StatusPendingApproval:
			t = fmt.Sprintf(":raised_hand: The run of %s at %s waits for approval because %s: see %s.", n.Title, n.At, n.Reason, cardLink(n))
		case deploy.StatusQueued:
			var wait string
			if n.Wait != nil {
				wait = noteText(*n.Wait)
			}
			t = fmt.Sprintf(":hourglass_flowing_sand: The run of %s at %s is queued: the environment is busy (%s). It starts when it is free: see %s.",
				n.Title, n.At, wait, cardLink(n))
		default:
			t = fmt.Sprintf(":rocket: The run of %s at %s started: see %s.", n.Title, n.At, cardLink(n))
		}
		if n.CatchUp {
			t += " (catch-up of a run missed while deploybot was down)"
		}
		return t
	case deploy.NoteRunUpcoming:
		t := fmt.Sprintf(":alarm_clock: %s starts in %s, at %s.", n.Title, n.Detail, n.At)
		if n.Text != "" {
			t += " Note: " + n.Text + "."
		}
		return t
	case deploy.NoteRunEnded:
		icon := ":no_entry_sign:"
		switch n.Status {
		case deploy.StatusSucceeded:
			icon = ":white_check_mark:"
		case deploy.StatusFailed:
			icon = ":x:"
		}
		t := fmt.Sprintf("%s The run of %s ended: %s. %s", icon, n.Title, strings.ToLower(n.Status.Label()), cardLink(n))
		if n.Text != "" {
			t += " — " + n.Text
		}
		return t
	case deploy.NoteRunsMissed:
		var b strings.Builder
		fmt.Fprintf(&b, ":warning: %s missed %s while deploybot was down: %s", n.Title, deploy.CountOf(n.Count, "run"), deploy.RunsText(n.Runs, n.TZ))
		if n.Count > len(n.Runs) {
			fmt.Fprintf(&b, " and %d more", n.Count-len(n.Runs))
		}
		b.WriteString(".")
		if n.CatchUp {
			b.WriteString(" Its missed-run policy is run_once: one catch-up run starts now.")
		} else {
			b.WriteString(" Its missed-run policy is skip: they do not run; the next run is as planned.")
		}
		return b.String()
	}
	// NoteText, and a kind this version does not know (stored by a newer
	// one): its text as it is.
	return n.Text
}

// withNote adds a schedule's note to t.
func withNote(t, note string) string {
	if note != "" {
		return t + " " + note
	}
	return t
}

// endIcon is the emoji of a request that ended in s.
func endIcon(s deploy.Status) string {
	switch s {
	case deploy.StatusSucceeded:
		return ":white_check_mark:"
	case deploy.StatusCanceled, deploy.StatusRejected:
		return ":no_entry_sign:"
	case deploy.StatusExpired:
		return ":hourglass:"
	}
	return ":x:"
}

// digestText is the failure digest of a NoteDigest.
func digestText(n deploy.Note) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*Failure digest for #%d*\n", n.Request)
	if f := n.Failure; f != nil {
		fmt.Fprintf(&b, "• Host: `%s`\n• Task: %s\n• Message: %s\n", deploy.Literal(f.Host), deploy.Literal(f.Task), deploy.Literal(f.Message))
	}
	if n.Reason != "" {
		fmt.Fprintf(&b, "• AWX: %s\n", deploy.Literal(n.Reason))
	}
	if tail := n.Text; tail != "" {
		fmt.Fprintf(&b, "Last %d lines of output:\n```\n%s\n```", strings.Count(tail, "\n")+1, deploy.Literal(strings.ReplaceAll(tail, "```", "'''")))
	}
	return strings.TrimRight(b.String(), "\n")
}

// cardLink links to the card of the note's request: a Slack archive link
// (https://api.slack.com/reference/surfaces/formatting#linking-urls) where
// the card is known, otherwise "#12 in #channel".
func cardLink(n deploy.Note) string {
	if n.Card.Channel != "" && n.Card.TS != "" {
		return fmt.Sprintf("<https://slack.com/archives/%s/p%s|#%d>", n.Card.Channel, strings.Replace(n.Card.TS, ".", "", 1), n.Request)
	}
	if n.Channel != "" {
		return fmt.Sprintf("#%d in <#%s>", n.Request, n.Channel)
	}
	return fmt.Sprintf("#%d", n.Request)
}

// mentions writes user IDs as mentions and keeps @handles as they are.
func mentions(list []string) []string {
	out := make([]string, 0, len(list))
	for _, e := range list {
		if strings.HasPrefix(e, "@") {
			out = append(out, e)
		} else {
			out = append(out, fmt.Sprintf("<@%s>", e))
		}
	}
	return out
}
