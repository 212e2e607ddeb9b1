package deploytest

import (
	"context"
	"fmt"
	"sync"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deploy"
)

// Announces returns the texts posted with Announce, oldest first.
func (n *Notifier) Announces() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.announces...)
}

// Announcement is one ScheduleNotifier.AnnounceSchedule call, with its
// note as the bot words it (bot.RenderNote).
type Announcement struct {
	Channel string
	deploy.ScheduleAnnouncement
	Text string
}

// ScheduleNotifier is a Notifier that also records schedule
// announcements (deploy.ScheduleNotifier).
type ScheduleNotifier struct {
	*Notifier
	smu  sync.Mutex
	list []Announcement
	ts   int
}

// NewScheduleNotifier returns an empty recorder with the schedule
// capability.
func NewScheduleNotifier() *ScheduleNotifier {
	return &ScheduleNotifier{Notifier: NewNotifier()}
}

// AnnounceSchedule records a.
func (n *ScheduleNotifier) AnnounceSchedule(_ context.Context, channel string, a deploy.ScheduleAnnouncement) (deploy.MessageRef, error) {
	n.smu.Lock()
	defer n.smu.Unlock()
	n.ts++
	n.list = append(n.list, Announcement{Channel: channel, ScheduleAnnouncement: a, Text: bot.RenderNote(a.Note)})
	return deploy.MessageRef{Channel: channel, TS: fmt.Sprintf("1800000000.%06d", n.ts)}, nil
}

// Announcements returns the schedule announcements, oldest first.
func (n *ScheduleNotifier) Announcements() []Announcement {
	n.smu.Lock()
	defer n.smu.Unlock()
	return append([]Announcement(nil), n.list...)
}

// Kinds returns the kinds of the announcements about schedule id, oldest
// first.
func (n *ScheduleNotifier) Kinds(id int64) []deploy.AnnouncementKind {
	var out []deploy.AnnouncementKind
	for _, a := range n.Announcements() {
		if a.Schedule.ID == id {
			out = append(out, a.Kind)
		}
	}
	return out
}

var _ deploy.ScheduleNotifier = (*ScheduleNotifier)(nil)
