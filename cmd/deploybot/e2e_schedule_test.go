package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot/slacktest"
)

// TestStoryScheduledRelease: a schedule created in Slack survives a restart,
// fires on a real cron tick, and is announced before, at and after its run;
// the release itself goes through the normal card.
func TestStoryScheduledRelease(t *testing.T) {
	s := newStack(t)
	s.start()
	s.slash(alice, `schedule shop-web staging 1.4.2 "* * * * *"`)
	created := s.reply(alice, "shop-web")
	m := regexp.MustCompile(`(?i)schedule [#S]?(\d+)`).FindStringSubmatch(created.Text + unescapeJSON(created.Blocks))
	if m == nil {
		t.Fatalf("the answer does not name the schedule: %s %s", created.Text, unescapeJSON(created.Blocks))
	}
	id := m[1]

	// The bot restarts before the first run: the schedule is in SQLite.
	s.stop()
	s.start()
	s.slash(alice, "schedules")
	s.reply(alice, "shop-web", "staging", "1.4.2", "UTC")

	// A real cron tick: the run starts within the minute.
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()
	var upcoming, started, ended int = -1, -1, -1
	err := s.slack.WaitFor(ctx, func(srv *slacktest.Server) bool {
		for i, msg := range srv.Messages(release) {
			switch {
			case upcoming < 0 && strings.Contains(msg.Text, "starts in"):
				upcoming = i
			case started < 0 && strings.Contains(msg.Text, "started: see"):
				started = i
			case ended < 0 && strings.Contains(msg.Text, "ended: succeeded"):
				ended = i
			}
		}
		return ended >= 0
	})
	if err != nil {
		var got []string
		for _, msg := range s.slack.Messages(release) {
			got = append(got, msg.Text)
		}
		t.Fatalf("no announced run end; announcements:\n%s\nlogs:\n%s", strings.Join(got, "\n"), s.logs.String())
	}
	if !(upcoming >= 0 && upcoming < started && started < ended) {
		t.Errorf("announcements out of order or missing: upcoming %d, started %d, ended %d", upcoming, started, ended)
	}
	// The run made an ordinary request whose card succeeded.
	reqID, _ := s.newCard(0)
	s.card(reqID, "Succeeded")
	if n := len(s.launchesOf("web")); n < 1 {
		t.Errorf("web launches = %d", n)
	}

	s.slash(alice, "unschedule "+id)
	s.reply(alice, "deleted")
}
