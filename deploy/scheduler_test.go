package deploy_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/deploy/deploytest"
	"github.com/deploybot/deploybot/storage"
)

// TestSchedulerRealCron is the one slow test: an every-minute schedule
// through the real Service, the real cron and a real SQLite file, with the
// real clock. It waits for the next minute boundary (at most about 60 s)
// and checks the run is announced before, at the start and at the end.
func TestSchedulerRealCron(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(schedConfig))
	if err != nil {
		t.Fatal(err)
	}
	db := storage.NewDB(filepath.Join(t.TempDir(), "deploybot.db"))
	if err := db.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	runner := deploytest.NewRunner()
	sn := deploytest.NewScheduleNotifier()
	dir := deploytest.NewDirectory(map[string][]string{dev: {"@shop-devs"}})
	log := zerolog.New(zerolog.NewTestWriter(t))
	svc := deploy.NewService(cfg.Catalog(), db, runner, sn, dir, deploy.SystemClock{}, log)
	svc.PollInterval = 10 * time.Millisecond
	svc.TickInterval = 100 * time.Millisecond
	svc.AnnounceLead = 2 * time.Minute // the next minute is always announced ahead
	sc := deploy.NewScheduler(svc, log)
	sc.Every = 100 * time.Millisecond

	ctx, cancel := context.WithCancel(context.Background())
	svcDone, scDone := make(chan error, 1), make(chan error, 1)
	go func() { svcDone <- svc.Run(ctx) }()
	go func() { scDone <- sc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for _, c := range []chan error{scDone, svcDone} {
			if err := <-c; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	})

	// Created in the last seconds of a minute, the first run could start
	// before a tick had a chance to announce it; wait for the next minute.
	if time.Now().Second() >= 57 {
		poll(t, 5*time.Second, "a new minute", func() bool { return time.Now().Second() < 57 })
	}
	s, err := svc.CreateSchedule(ctx, deploy.ScheduleInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "* * * * *"})
	if err != nil {
		t.Fatal(err)
	}
	poll(t, 5*time.Second, "a cron entry for the schedule", func() bool { return sc.Entries() == 1 })

	var req *deploy.Request
	poll(t, 75*time.Second, "the scheduled run to succeed", func() bool {
		reqs, err := db.Requests(ctx, deploy.RequestFilter{})
		if err != nil || len(reqs) == 0 {
			return false
		}
		req = reqs[len(reqs)-1]
		return req.Status == deploy.StatusSucceeded
	})
	if req.ScheduleID != s.ID {
		t.Errorf("request #%d has schedule %d, want %d", req.ID, req.ScheduleID, s.ID)
	}
	poll(t, 5*time.Second, "the end announcement", func() bool {
		for _, k := range sn.Kinds(s.ID) {
			if k == deploy.AnnounceFinished {
				return true
			}
		}
		return false
	})
	// The run is announced ahead, at its start and at its end, in that
	// order, in the announce channel.
	all := sn.Announcements()
	at := map[deploy.AnnouncementKind]int{}
	var runAt time.Time
	for i, a := range all {
		if a.Kind == deploy.AnnounceStarted && a.Request != nil && a.Request.ID == req.ID {
			at[a.Kind], runAt = i+1, a.Run.At
			if !strings.Contains(a.Text, "https://slack.com/archives/"+chan1+"/p") {
				t.Errorf("start announcement does not link the card: %q", a.Text)
			}
		}
		if a.Kind == deploy.AnnounceFinished && a.Request != nil && a.Request.ID == req.ID {
			at[a.Kind] = i + 1
			if !strings.Contains(a.Text, "succeeded") {
				t.Errorf("end announcement = %q", a.Text)
			}
		}
		if a.Schedule.ID == s.ID && a.Kind != deploy.AnnounceCreated && a.Channel != announceChan {
			t.Errorf("%s announced in %s", a.Kind, a.Channel)
		}
	}
	for i, a := range all {
		if a.Kind == deploy.AnnounceUpcoming && a.Run.At.Equal(runAt) {
			at[a.Kind] = i + 1
		}
	}
	up, st, fin := at[deploy.AnnounceUpcoming], at[deploy.AnnounceStarted], at[deploy.AnnounceFinished]
	if up == 0 || st == 0 || fin == 0 || !(up < st && st < fin) {
		t.Errorf("announcement positions upcoming %d, started %d, finished %d; want all, in that order", up, st, fin)
	}
	// Pausing removes the cron entry.
	if _, err := svc.PauseSchedule(ctx, s.ID, dev); err != nil {
		t.Fatal(err)
	}
	if n := sc.Entries(); n != 0 {
		t.Errorf("cron entries after pause = %d", n)
	}
}

// poll waits until cond holds, for at most d.
func poll(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tk.C
	}
}

// TestSchedulerLoadsAtStart checks that a scheduler started over a store
// that already holds schedules gives cron an entry for each active one
// (and only those), follows later changes, and stops when asked.
func TestSchedulerLoadsAtStart(t *testing.T) {
	h := newSchedHarness(t)
	ctx := context.Background()
	a := h.schedule(deploy.ScheduleInput{User: dev, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "0 12 * * *"})
	b := h.schedule(deploy.ScheduleInput{User: dev, App: "shop-web", Env: "staging", Version: "1.4.3", Cron: "0 13 * * *"})
	h.schedule(deploy.ScheduleInput{User: alice, App: "shop-web", Env: "production", Version: "1.4.3", Cron: "0 13 * * *"}) // waits for approval
	if _, err := h.svc.PauseSchedule(ctx, b.ID, dev); err != nil {
		t.Fatal(err)
	}
	sc := deploy.NewScheduler(h.svc, zerolog.New(zerolog.NewTestWriter(t)))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sc.Run(runCtx) }()
	poll(t, 5*time.Second, "one cron entry", func() bool { return sc.Entries() == 1 })
	if _, err := h.svc.ResumeSchedule(ctx, b.ID, dev); err != nil {
		t.Fatal(err)
	}
	if n := sc.Entries(); n != 2 {
		t.Errorf("entries after resume = %d, want 2", n)
	}
	if _, err := h.svc.Unschedule(ctx, a.ID, dev); err != nil {
		t.Fatal(err)
	}
	if n := sc.Entries(); n != 1 {
		t.Errorf("entries after unschedule = %d, want 1", n)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("scheduler did not stop")
	}
	if n := sc.Entries(); n != 0 {
		t.Errorf("entries after stop = %d", n)
	}
}
