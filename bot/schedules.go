package bot

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/commands"
	"github.com/deploybot/deploybot/deploy"
)

// Scheduler is the schedule part of the domain. It is optional: with a
// Deployer that does not implement it, schedule commands answer that
// scheduled releases are not available. *deploy.Service implements it.
type Scheduler interface {
	CreateSchedule(ctx context.Context, in deploy.ScheduleInput) (*deploy.Schedule, error)
	Schedules(ctx context.Context) ([]*deploy.Schedule, error)
	Unschedule(ctx context.Context, id int64, user string) (*deploy.Schedule, error)
	PauseSchedule(ctx context.Context, id int64, user string) (*deploy.Schedule, error)
	ResumeSchedule(ctx context.Context, id int64, user string) (*deploy.Schedule, error)
	SkipNextRun(ctx context.Context, id int64, user string) (*deploy.Schedule, deploy.RunTime, error)
	ApproveSchedule(ctx context.Context, id int64, user string) (*deploy.Schedule, error)
	RejectSchedule(ctx context.Context, id int64, user, reason string) (*deploy.Schedule, error)
	NextRuns(sch *deploy.Schedule, n int) []deploy.RunTime
}

var (
	_ Scheduler               = (*deploy.Service)(nil)
	_ deploy.ScheduleNotifier = (*Slack)(nil)
)

// scheduleRef is a schedule's id as users see and type it: "S3", never
// "#3", which is a request's.
func scheduleRef(id int64) string { return "S" + strconv.FormatInt(id, 10) }

// scheduleTitle names a schedule on one line, unescaped. A one-shot time is
// shown in the schedule's zone, the zone it is labelled with.
func scheduleTitle(s *deploy.Schedule) string {
	when := s.Spec
	if when == "" && !s.At.IsZero() {
		when = "at " + s.At.In(scheduleLoc(s)).Format("2006-01-02 15:04")
	}
	t := fmt.Sprintf("%s %s → %s, %s", s.App, s.Version, s.Env, when)
	if s.TZ != "" {
		t += " (" + s.TZ + ")"
	} else if s.Spec == "" {
		t += " (UTC)"
	}
	return t
}

// scheduleLoc is the zone of a schedule (UTC when it has none or it cannot
// be loaded; the domain refuses unknown zones when a schedule is created).
func scheduleLoc(s *deploy.Schedule) *time.Location {
	if s.TZ == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(s.TZ)
	if err != nil {
		return time.UTC
	}
	return loc
}

// RenderSchedules renders /deploy schedules: each schedule with its state,
// creator and next runs (next gives them).
func RenderSchedules(list []*deploy.Schedule, next func(*deploy.Schedule) []deploy.RunTime) Message {
	blocks := []slack.Block{header("title", "Scheduled releases")}
	if len(list) == 0 {
		blocks = append(blocks, section("empty", "No scheduled releases. Create one with `/deploy schedule &lt;app&gt; &lt;env&gt; &lt;version&gt; \"&lt;cron&gt;\"`.", ""))
		return newMessage("Scheduled releases", blocks)
	}
	lines := make([]string, 0, len(list))
	for _, s := range list {
		line := fmt.Sprintf("*%s* %s · %s · by %s", scheduleRef(s.ID), escape(scheduleTitle(s)), strings.ReplaceAll(string(s.Status), "_", " "), userRef(s.CreatedBy))
		if s.SkipNext {
			line += " · next run skipped"
		}
		if runs := next(s); len(runs) > 0 && (s.Status == deploy.ScheduleActive || s.Status == deploy.SchedulePendingApproval) {
			line += "\n    next: " + safeText(deploy.RunsText(runs, s.TZ))
		}
		lines = append(lines, line)
	}
	blocks = append(blocks, listSection("list", "Schedules", lines, "more schedules exist than fit here"))
	return newMessage("Scheduled releases", blocks)
}

// RenderAnnouncement renders a schedule announcement: its note worded by
// RenderNote, the next runs, and the buttons its kind calls for, each carrying only the
// schedule id.
func RenderAnnouncement(a deploy.ScheduleAnnouncement) Message {
	id := strconv.FormatInt(a.Schedule.ID, 10)
	blocks := []slack.Block{section("text", safeText(RenderNote(a.Note)), "")}
	if len(a.NextRuns) > 0 {
		blocks = append(blocks, contextBlock("runs", "Next runs: "+safeText(deploy.RunsText(a.NextRuns, a.Schedule.TZ))))
	}
	var elts []slack.BlockElement
	switch a.Kind {
	case deploy.AnnounceApproval:
		elts = append(elts,
			button(deploy.ActionScheduleApprove, "Approve schedule", id, "primary"),
			button(deploy.ActionScheduleReject, "Reject", id, "danger"))
	case deploy.AnnounceUpcoming:
		elts = append(elts,
			button(deploy.ActionScheduleSkip, "Skip this run", id, ""),
			button(deploy.ActionSchedulePause, "Pause schedule", id, "danger"))
	}
	keep := 0
	if len(elts) > 0 {
		blocks = append(blocks, slack.NewActionBlock("schedule-actions", elts...))
		keep = 1
	}
	return newMessage(safeText(RenderNote(a.Note)), fitBlocks(blocks, keep, "see `/deploy schedules`"))
}

// AnnounceSchedule posts a schedule announcement with its buttons.
func (s *Slack) AnnounceSchedule(ctx context.Context, channel string, a deploy.ScheduleAnnouncement) (deploy.MessageRef, error) {
	ts, err := s.post(ctx, channel, RenderAnnouncement(a))
	if err != nil {
		return deploy.MessageRef{}, fmt.Errorf("announce schedule: %w", err)
	}
	return deploy.MessageRef{Channel: channel, TS: ts}, nil
}

func (b *Bot) cmdSchedule(ctx context.Context, in *slashInput) {
	sc := b.d
	c := in.cmd.(commands.Schedule)
	si := deploy.ScheduleInput{User: in.User, Channel: in.Channel, App: c.App, Env: c.Env, Version: c.Version, Cron: c.Cron, TZ: c.TZ, Missed: c.Missed}
	switch {
	case !c.AtTime.IsZero():
		si.AtTime = c.AtTime
	case c.At != "":
		si.At = c.At
	}
	sch, err := sc.CreateSchedule(ctx, si)
	if err != nil {
		b.failTo(ctx, in, err)
		return
	}
	text := fmt.Sprintf("Schedule %s created: %s (%s).", scheduleRef(sch.ID), escape(scheduleTitle(sch)), strings.ReplaceAll(string(sch.Status), "_", " "))
	if runs := sc.NextRuns(sch, 3); len(runs) > 0 {
		text += "\nNext runs: " + deploy.RunsText(runs, sch.TZ)
	}
	b.replyTo(ctx, in, RenderInfo(text))
}

func (b *Bot) cmdSchedules(ctx context.Context, in *slashInput) {
	sc := b.d
	list, err := sc.Schedules(ctx)
	if err != nil {
		b.failTo(ctx, in, err)
		return
	}
	b.replyTo(ctx, in, RenderSchedules(list, func(s *deploy.Schedule) []deploy.RunTime { return sc.NextRuns(s, 3) }))
}

// scheduleChange runs one of the id commands (unschedule, pause, resume).
func (b *Bot) scheduleChange(ctx context.Context, in *slashInput, idText, done string, change func(Scheduler, int64) (*deploy.Schedule, error)) {
	sc := b.d
	id, err := parseID(idText)
	if err != nil {
		b.failTo(ctx, in, err)
		return
	}
	sch, err := change(sc, id)
	if err != nil {
		b.failTo(ctx, in, err)
		return
	}
	b.replyTo(ctx, in, RenderInfo(fmt.Sprintf("Schedule %s (%s) %s.", scheduleRef(sch.ID), escape(scheduleTitle(sch)), done)))
}

func (b *Bot) cmdUnschedule(ctx context.Context, in *slashInput) {
	b.scheduleChange(ctx, in, in.cmd.(commands.Unschedule).ID, "deleted", func(sc Scheduler, id int64) (*deploy.Schedule, error) {
		return sc.Unschedule(ctx, id, in.User)
	})
}

func (b *Bot) cmdPause(ctx context.Context, in *slashInput) {
	b.scheduleChange(ctx, in, in.cmd.(commands.PauseSchedule).ID, "paused", func(sc Scheduler, id int64) (*deploy.Schedule, error) {
		return sc.PauseSchedule(ctx, id, in.User)
	})
}

func (b *Bot) cmdResume(ctx context.Context, in *slashInput) {
	b.scheduleChange(ctx, in, in.cmd.(commands.ResumeSchedule).ID, "resumed", func(sc Scheduler, id int64) (*deploy.Schedule, error) {
		return sc.ResumeSchedule(ctx, id, in.User)
	})
}

// scheduleClick runs a schedule button; refusals go to the clicker, and a
// short confirmation too, since the announcement itself is not changed.
func (b *Bot) scheduleClick(do func(ctx context.Context, sc Scheduler, id int64, user string) (string, error)) actionHandler {
	return func(ctx context.Context, in *clickInput) {
		sc := b.d
		id, ok := b.clickID(ctx, in)
		if !ok {
			return
		}
		msg, err := do(ctx, sc, id, in.User)
		if err != nil {
			b.fail(ctx, in.log, in.ResponseURL, in.Channel, in.User, err)
			return
		}
		b.reply(ctx, in.ResponseURL, in.Channel, in.User, RenderInfo(msg))
	}
}

// scheduleActions are the handlers of the announcement buttons.
func (b *Bot) scheduleActions() map[string]actionHandler {
	return map[string]actionHandler{
		deploy.ActionScheduleApprove: b.scheduleClick(func(ctx context.Context, sc Scheduler, id int64, user string) (string, error) {
			s, err := sc.ApproveSchedule(ctx, id, user)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("You approved schedule %s; it is now %s.", scheduleRef(s.ID), strings.ReplaceAll(string(s.Status), "_", " ")), nil
		}),
		deploy.ActionScheduleReject: b.scheduleClick(func(ctx context.Context, sc Scheduler, id int64, user string) (string, error) {
			s, err := sc.RejectSchedule(ctx, id, user, "")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("Schedule %s rejected.", scheduleRef(s.ID)), nil
		}),
		deploy.ActionScheduleSkip: b.scheduleClick(func(ctx context.Context, sc Scheduler, id int64, user string) (string, error) {
			s, run, err := sc.SkipNextRun(ctx, id, user)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("The run of schedule %s at %s will be skipped.", scheduleRef(s.ID), deploy.RunsText([]deploy.RunTime{{At: run.At}}, s.TZ)), nil
		}),
		deploy.ActionSchedulePause: b.scheduleClick(func(ctx context.Context, sc Scheduler, id int64, user string) (string, error) {
			s, err := sc.PauseSchedule(ctx, id, user)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("Schedule %s paused; `/deploy resume %s` resumes it.", scheduleRef(s.ID), scheduleRef(s.ID)), nil
		}),
	}
}
