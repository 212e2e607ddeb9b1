package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AnnouncementKind says what a schedule announcement is about, and so which
// buttons it carries.
type AnnouncementKind string

// Announcement kinds.
const (
	// AnnounceApproval: a schedule waits for approval (Approve and Reject
	// buttons, the next runs shown).
	AnnounceApproval AnnouncementKind = "approval"
	// AnnounceCreated: a schedule was created and is active.
	AnnounceCreated AnnouncementKind = "created"
	// AnnounceUpcoming: a run is near ("Skip this run" and "Pause
	// schedule" buttons).
	AnnounceUpcoming AnnouncementKind = "upcoming"
	// AnnounceStarted: a run made its request (running, queued behind a
	// lock or another release, or waiting for approval).
	AnnounceStarted AnnouncementKind = "started"
	// AnnounceFinished: a run's request ended.
	AnnounceFinished AnnouncementKind = "finished"
	// AnnounceMissed: runs fell while the bot was down.
	AnnounceMissed AnnouncementKind = "missed"
	// AnnounceNotStarted: a run was skipped on request or could not start.
	AnnounceNotStarted AnnouncementKind = "not_started"
	// AnnounceChanged: a schedule was approved, rejected, paused, resumed,
	// deleted or had a run skipped.
	AnnounceChanged AnnouncementKind = "changed"
)

// Action ids of the buttons on schedule announcements. A button's value is
// only the schedule id.
const (
	ActionScheduleSkip    = "schedule_skip"
	ActionSchedulePause   = "schedule_pause"
	ActionScheduleApprove = "schedule_approve"
	ActionScheduleReject  = "schedule_reject"
)

// ScheduleAnnouncement is one message about a scheduled release.
type ScheduleAnnouncement struct {
	Kind     AnnouncementKind
	Schedule Schedule
	// Run is the run concerned, when there is one.
	Run RunTime
	// NextRuns are the schedule's next runs, shown on approval cards.
	NextRuns []RunTime
	// Request is the run's request, when there is one.
	Request *Request
	// Note is what the announcement tells, complete on its own (without
	// the next runs); the bot words it and adds the buttons.
	Note Note
}

// ScheduleNotifier is an optional Notifier capability: announcements with
// buttons (see the Action… ids). A Notifier without it gets the note
// with the next runs (see PlainNote) through Announce.
type ScheduleNotifier interface {
	// AnnounceSchedule posts a in channel and returns where it is.
	AnnounceSchedule(ctx context.Context, channel string, a ScheduleAnnouncement) (MessageRef, error)
}

// PlainNote is the announcement as a note only, next runs included: what
// a Notifier without ScheduleNotifier posts.
func (a ScheduleAnnouncement) PlainNote() Note {
	n := a.Note
	if len(a.NextRuns) > 0 {
		n.NextRuns, n.TZ = a.NextRuns, a.Schedule.TZ
	}
	return n
}

// RunsText lists runs in zone tz and in UTC, with their notes.
func RunsText(runs []RunTime, tz string) string {
	parts := make([]string, 0, len(runs))
	for _, r := range runs {
		p := runText(r.At, tz)
		if r.Note != "" {
			p += " [" + r.Note + "]"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// announceChannel is where announcements of sch go: the announce channel,
// or the schedule's own channel when none is configured. Approval cards go
// to the schedule's channel, where its approvers look.
func (s *schedules) announceChannel(a ScheduleAnnouncement) string {
	if a.Kind == AnnounceApproval && a.Schedule.Channel != "" {
		return a.Schedule.Channel
	}
	if c := s.cat().AnnounceChannel; c != "" {
		return c
	}
	return a.Schedule.Channel
}

// announce posts a; failures are logged.
func (s *schedules) announce(ctx context.Context, a ScheduleAnnouncement) {
	ch := s.announceChannel(a)
	if ch == "" {
		return
	}
	var err error
	if sn, ok := s.notifier.(ScheduleNotifier); ok {
		_, err = sn.AnnounceSchedule(ctx, ch, a)
	} else {
		_, err = s.notifier.Announce(ctx, ch, a.PlainNote())
	}
	if err != nil {
		s.log.Warn().Err(err).Int64("schedule_id", a.Schedule.ID).Str("kind", string(a.Kind)).Msg("announce schedule")
	}
}

// announcementKey names one announced upcoming run.
func announcementKey(id int64, at time.Time) string {
	return fmt.Sprintf("%d@%d", id, at.Unix())
}
