package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot/slacktest"
	"github.com/deploybot/deploybot/deploy"
)

// The schedule part of fakeDeployer; it announces through the gateway as
// the service does.

func (f *fakeDeployer) CreateSchedule(ctx context.Context, in deploy.ScheduleInput) (*deploy.Schedule, error) {
	f.record("schedule %s %s %s %s cron=%q at=%q attime=%v tz=%q", in.User, in.App, in.Env, in.Version, in.Cron, in.At, !in.AtTime.IsZero(), in.TZ)
	if err := f.refuse(in.App); err != nil {
		return nil, err
	}
	f.smu.Lock()
	s := &deploy.Schedule{ID: int64(len(f.scheds) + 1), App: in.App, Env: in.Env, Version: in.Version, Spec: in.Cron, TZ: in.TZ,
		CreatedBy: in.User, Channel: in.Channel, Status: deploy.SchedulePendingApproval}
	f.scheds = append(f.scheds, s)
	cp := *s
	s = &cp
	f.smu.Unlock()
	_, err := f.gw.AnnounceSchedule(ctx, in.Channel, deploy.ScheduleAnnouncement{Kind: deploy.AnnounceApproval, Schedule: *s,
		Note: deploy.Note{Kind: deploy.NoteText, Text: fmt.Sprintf(":calendar: <@%s> scheduled %s. It needs 1 approval.", in.User, scheduleTitle(s))}, NextRuns: f.NextRuns(s, 3)})
	return s, err
}

func (f *fakeDeployer) schedule(id int64) (*deploy.Schedule, error) {
	f.smu.Lock()
	defer f.smu.Unlock()
	if id < 1 || int(id) > len(f.scheds) {
		return nil, deploy.Errorf(deploy.ENOTFOUND, "There is no schedule S%d.", id)
	}
	return f.scheds[id-1], nil
}

func (f *fakeDeployer) Schedules(context.Context) ([]*deploy.Schedule, error) {
	f.smu.Lock()
	defer f.smu.Unlock()
	out := make([]*deploy.Schedule, 0, len(f.scheds))
	for _, s := range f.scheds {
		cp := *s
		out = append(out, &cp)
	}
	return out, nil
}

func (f *fakeDeployer) set(id int64, user, verb string, st deploy.ScheduleStatus) (*deploy.Schedule, error) {
	f.record("%s schedule %d %s", verb, id, user)
	s, err := f.schedule(id)
	if err != nil {
		return nil, err
	}
	f.smu.Lock()
	s.Status = st
	cp := *s
	f.smu.Unlock()
	return &cp, nil
}

func (f *fakeDeployer) Unschedule(_ context.Context, id int64, user string) (*deploy.Schedule, error) {
	return f.set(id, user, "delete", deploy.ScheduleDeleted)
}

func (f *fakeDeployer) PauseSchedule(_ context.Context, id int64, user string) (*deploy.Schedule, error) {
	return f.set(id, user, "pause", deploy.SchedulePaused)
}

func (f *fakeDeployer) ResumeSchedule(_ context.Context, id int64, user string) (*deploy.Schedule, error) {
	return f.set(id, user, "resume", deploy.ScheduleActive)
}

func (f *fakeDeployer) SkipNextRun(_ context.Context, id int64, user string) (*deploy.Schedule, deploy.RunTime, error) {
	s, err := f.set(id, user, "skip", deploy.ScheduleActive)
	return s, deploy.RunTime{At: t0}, err
}

func (f *fakeDeployer) ApproveSchedule(_ context.Context, id int64, user string) (*deploy.Schedule, error) {
	return f.set(id, user, "approve", deploy.ScheduleActive)
}

func (f *fakeDeployer) RejectSchedule(_ context.Context, id int64, user, _ string) (*deploy.Schedule, error) {
	return f.set(id, user, "reject", deploy.ScheduleRejected)
}

func (f *fakeDeployer) NextRuns(*deploy.Schedule, int) []deploy.RunTime {
	return []deploy.RunTime{{At: t0.Add(4 * time.Hour)}, {At: t0.Add(28 * time.Hour), Note: "moved by DST"}}
}

func TestScheduleCommandsAndButtons(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	h := startBot(t, srv, Config{}, SlackOptions{}, func(d *fakeDeployer) Deployer { return d })
	ctx := testCtx(t)
	run := func(text string) {
		t.Helper()
		if _, err := srv.SendSlashCommand(ctx, slash(text)); err != nil {
			t.Fatal(err)
		}
	}
	run(`schedule shop-web production 1.4.2 "0 18 * * 1-5" --tz Europe/Berlin`)
	eventually(t, "create", func() bool {
		return count(h.d.Calls(), `schedule U1 shop-web production 1.4.2 cron="0 18 * * 1-5" at="" attime=false tz="Europe/Berlin"`) == 1
	})
	ann := cardOf(t, srv, "scheduled shop-web 1.4.2")
	if _, err := srv.AwaitEphemeral(ctx, "U1", func(e slacktest.Ephemeral) bool { return strings.Contains(e.Text, "Schedule S1 created") }); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ClickButton(ctx, "U2", "C1", ann.TS, deploy.ActionScheduleApprove); err != nil {
		t.Fatal(err)
	}
	eventually(t, "approve", func() bool { return count(h.d.Calls(), "approve schedule 1 U2") == 1 })
	run("schedule shop-web staging 2.0.0 at 2026-12-01T18:00:00Z")
	eventually(t, "one-shot", func() bool {
		return count(h.d.Calls(), `schedule U1 shop-web staging 2.0.0 cron="" at="" attime=true`) == 1
	})
	run("pause S1")
	run("resume #1")
	run("unschedule 2")
	eventually(t, "changes", func() bool {
		c := h.d.Calls()
		return count(c, "pause schedule 1 U1") == 1 && count(c, "resume schedule 1 U1") == 1 && count(c, "delete schedule 2 U1") == 1
	})
	run("schedules")
	if _, err := srv.AwaitEphemeral(ctx, "U1", func(e slacktest.Ephemeral) bool {
		return strings.Contains(string(e.Blocks), "*S1*") && strings.Contains(string(e.Blocks), "moved by DST")
	}); err != nil {
		t.Fatal(err)
	}
}

func TestRenderAnnouncementGolden(t *testing.T) {
	sch := deploy.Schedule{ID: 7, App: "shop-web", Env: "production", Version: "1.4.2", Spec: "0 18 * * 1-5", TZ: "Europe/Berlin", CreatedBy: "U1", Status: deploy.SchedulePendingApproval}
	runs := []deploy.RunTime{{At: t0.Add(4 * time.Hour)}}
	cases := []struct {
		name string
		a    deploy.ScheduleAnnouncement
	}{
		{"announce_approval", deploy.ScheduleAnnouncement{Kind: deploy.AnnounceApproval, Schedule: sch, NextRuns: runs,
			Note: deploy.Note{Kind: deploy.NoteText, Text: ":calendar: <@U1> scheduled shop-web 1.4.2 → production. It needs 1 approval(s) from <@U2>."}}},
		{"announce_upcoming", deploy.ScheduleAnnouncement{Kind: deploy.AnnounceUpcoming, Schedule: sch, Run: runs[0],
			Note: deploy.Note{Kind: deploy.NoteText, Text: ":hourglass: shop-web 1.4.2 → production runs at 18:00 <!here> <https://evil.example|x>"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := RenderAnnouncement(tc.a)
			mustValid(t, m.Blocks)
			assertNoInjection(t, m.Blocks)
			golden(t, tc.name, m)
		})
	}
	list := RenderSchedules([]*deploy.Schedule{&sch}, func(*deploy.Schedule) []deploy.RunTime { return runs })
	mustValid(t, list.Blocks)
	golden(t, "schedules", list)
}

// TestOneShotScheduleTitleInItsZone: a one-shot at 18:00 in Seoul reads
// "at 2026-12-24 18:00 (Asia/Seoul)" on the confirmation and in the list,
// not the UTC wall clock (09:00) labelled with the zone; ids read S<n>.
func TestOneShotScheduleTitleInItsZone(t *testing.T) {
	t.Parallel()
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 24, 18, 0, 0, 0, seoul).UTC() // stored as UTC
	sch := &deploy.Schedule{ID: 3, App: "shop-web", Env: "production", Version: "1.4.2", At: at, TZ: "Asia/Seoul", CreatedBy: "U1", Status: deploy.ScheduleActive}
	cases := []struct {
		name string
		sch  deploy.Schedule
		want string
	}{
		{"seoul", *sch, "shop-web 1.4.2 → production, at 2026-12-24 18:00 (Asia/Seoul)"},
		{"no zone reads UTC", deploy.Schedule{App: "a", Env: "b", Version: "1", At: at}, "a 1 → b, at 2026-12-24 09:00 (UTC)"},
		{"cron unchanged", deploy.Schedule{App: "a", Env: "b", Version: "1", Spec: "0 18 * * *", TZ: "Asia/Seoul"}, "a 1 → b, 0 18 * * * (Asia/Seoul)"},
	}
	for _, tc := range cases {
		if got := scheduleTitle(&tc.sch); got != tc.want {
			t.Errorf("%s: scheduleTitle = %q, want %q", tc.name, got, tc.want)
		}
	}
	list := RenderSchedules([]*deploy.Schedule{sch}, func(*deploy.Schedule) []deploy.RunTime { return nil })
	raw, err := json.Marshal(list.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	blocks := string(raw)
	for _, want := range []string{"*S3*", "at 2026-12-24 18:00 (Asia/Seoul)"} {
		if !strings.Contains(blocks, want) {
			t.Errorf("/deploy schedules shows %q, want it to contain %q", blocks, want)
		}
	}
	if strings.Contains(blocks, "09:00") || strings.Contains(blocks, "#3") {
		t.Errorf("/deploy schedules shows the UTC wall clock or a request-like id: %q", blocks)
	}
}
