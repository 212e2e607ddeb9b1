package deploy_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/deploy/deploytest"
)

const announceChan = "C0ANNOUNCE1"

// schedConfig is testConfig with schedules read in Europe/Berlin and an
// announce channel.
var schedConfig = strings.NewReplacer(
	"timezone: UTC", "timezone: Europe/Berlin",
	"  channels: [C0DEPLOYS01]", "  channels: [C0DEPLOYS01]\n  announce_channel: "+announceChan,
).Replace(testConfig)

// schedHarness is the harness with a notifier that records schedule
// announcements.
type schedHarness struct {
	*harness
	sn *deploytest.ScheduleNotifier
}

func newSchedHarness(t *testing.T) *schedHarness {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(schedConfig))
	if err != nil {
		t.Fatal(err)
	}
	sn := deploytest.NewScheduleNotifier()
	h := &schedHarness{harness: &harness{
		t: t, cfg: cfg,
		path:     filepath.Join(t.TempDir(), "deploybot.db"),
		runner:   deploytest.NewRunner(),
		notifier: sn.Notifier,
		clock:    deploytest.NewClock(t0),
		metrics:  deploytest.NewMetrics(),
		dir: deploytest.NewDirectory(map[string][]string{
			alice: {"@shop-devs"}, carol: {"@shop-leads"}, dan: {"@shop-leads"}, dev: {"@shop-devs"},
		}),
	}, sn: sn}
	h.startSched()
	t.Cleanup(h.shutdown)
	return h
}

// startSched is harness.start with the schedule notifier (which records
// the request notes too).
func (h *schedHarness) startSched() {
	h.t.Helper()
	h.wrapNotifier = func(deploy.Notifier) deploy.Notifier { return h.sn }
	h.start()
}

func (h *schedHarness) restartSched() {
	h.t.Helper()
	h.stop()
	h.startSched()
}

func (h *schedHarness) schedule(in deploy.ScheduleInput) *deploy.Schedule {
	h.t.Helper()
	if in.Channel == "" {
		in.Channel = chan1
	}
	s, err := h.svc.CreateSchedule(context.Background(), in)
	if err != nil {
		h.t.Fatalf("CreateSchedule(%+v): %v", in, err)
	}
	return s
}

func (h *schedHarness) stored(id int64) *deploy.Schedule {
	h.t.Helper()
	s, err := h.db.Schedule(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// trigger fires run at of schedule id with the clock set to it.
func (h *schedHarness) trigger(id int64, at time.Time) *deploy.Request {
	h.t.Helper()
	h.clock.Set(at)
	r, err := h.svc.TriggerSchedule(context.Background(), id, at)
	if err != nil {
		h.t.Fatalf("TriggerSchedule(%d, %v): %v", id, at, err)
	}
	return r
}

// last returns the latest announcement about schedule id of kind.
func (h *schedHarness) last(id int64, kind deploy.AnnouncementKind) (deploytest.Announcement, bool) {
	var out deploytest.Announcement
	ok := false
	for _, a := range h.sn.Announcements() {
		if a.Schedule.ID == id && a.Kind == kind {
			out, ok = a, true
		}
	}
	return out, ok
}

func (h *schedHarness) count(id int64, kind deploy.AnnouncementKind) int {
	n := 0
	for _, k := range h.sn.Kinds(id) {
		if k == kind {
			n++
		}
	}
	return n
}

func TestCreateScheduleRefused(t *testing.T) {
	h := newSchedHarness(t)
	ok := deploy.ScheduleInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "30 2 * * *"}
	for _, tc := range []struct {
		name string
		edit func(*deploy.ScheduleInput)
		code string
		msg  string
	}{
		{"not a deployer", func(in *deploy.ScheduleInput) { in.User = eve }, deploy.EFORBIDDEN, "not allowed to deploy"},
		{"wrong channel", func(in *deploy.ScheduleInput) { in.Channel = "C0OTHER0001" }, deploy.EFORBIDDEN, "not used in this channel"},
		{"unknown app", func(in *deploy.ScheduleInput) { in.App = "nope" }, deploy.ENOTFOUND, "no app"},
		{"bad version", func(in *deploy.ScheduleInput) { in.Version = "1.4" }, deploy.EINVALID, "must match"},
		{"injection in version", func(in *deploy.ScheduleInput) { in.Version = "1.4.2;reboot" }, deploy.EINVALID, "not a valid version"},
		{"bad spec", func(in *deploy.ScheduleInput) { in.Cron = "61 * * * *" }, deploy.EINVALID, "not a valid cron spec"},
		{"every", func(in *deploy.ScheduleInput) { in.Cron = "@every 1h" }, deploy.EINVALID, "@every"},
		{"shell in spec", func(in *deploy.ScheduleInput) { in.Cron = "0 1 * * *;id" }, deploy.EINVALID, "not a valid cron spec"},
		{"never fires", func(in *deploy.ScheduleInput) { in.Cron = "0 0 30 2 *" }, deploy.EINVALID, "never fires"},
		{"unknown zone", func(in *deploy.ScheduleInput) { in.TZ = "Mars/Base" }, deploy.EINVALID, "Unknown time zone"},
		{"zone with dots", func(in *deploy.ScheduleInput) { in.TZ = "../../etc/passwd" }, deploy.EINVALID, "not a time zone"},
		{"both", func(in *deploy.ScheduleInput) { in.At = "2026-12-01 10:00" }, deploy.EINVALID, "not both"},
		{"past", func(in *deploy.ScheduleInput) { in.Cron, in.At = "", "2026-11-24 09:59" }, deploy.EINVALID, "in the past"},
		{"past instant", func(in *deploy.ScheduleInput) { in.Cron, in.AtTime = "", t0.Add(-time.Minute) }, deploy.EINVALID, "in the past"},
		{"spring-forward gap", func(in *deploy.ScheduleInput) { in.Cron, in.At = "", "2027-03-28 02:30" }, deploy.EINVALID, "does not exist on 2027-03-28 in Europe/Berlin"},
		{"missed policy", func(in *deploy.ScheduleInput) { in.Missed = "always" }, deploy.EINVALID, "missed-run policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := ok
			tc.edit(&in)
			_, err := h.svc.CreateSchedule(context.Background(), in)
			wantCode(t, err, tc.code)
			if !strings.Contains(deploy.ErrorMessage(err), tc.msg) {
				t.Errorf("message %q does not say %q", deploy.ErrorMessage(err), tc.msg)
			}
		})
	}
	list, err := h.svc.Schedules(context.Background())
	if err != nil || len(list) != 0 {
		t.Errorf("schedules after refusals = %v, %v", list, err)
	}
}

func TestScheduleWithoutApproval(t *testing.T) {
	h := newSchedHarness(t)
	s := h.schedule(deploy.ScheduleInput{User: dev, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "30 2 * * *"})
	if s.Status != deploy.ScheduleActive || s.TZ != "Europe/Berlin" || s.MissedRuns != deploy.MissedSkip {
		t.Fatalf("schedule = %+v", s)
	}
	a, ok := h.last(s.ID, deploy.AnnounceCreated)
	if !ok || a.Channel != announceChan || len(a.NextRuns) != 3 || !a.NextRuns[0].At.Equal(utc("2026-11-25T01:30:00Z")) {
		t.Fatalf("created announcement = %+v", a)
	}
	if a.NextRuns[0].At.Location().String() != "Europe/Berlin" {
		t.Errorf("next runs in %s", a.NextRuns[0].At.Location())
	}

	run := a.NextRuns[0].At
	req := h.trigger(s.ID, run)
	if req == nil || req.ScheduleID != s.ID || req.RequestedBy != dev || req.Version != "1.4.2" {
		t.Fatalf("run request = %+v", req)
	}
	h.waitStatus(req.ID, deploy.StatusSucceeded)
	st, ok := h.last(s.ID, deploy.AnnounceStarted)
	if !ok || !strings.Contains(st.Text, "started: see <https://slack.com/archives/C0DEPLOYS01/p1700000000") || st.Request == nil || st.Request.ID != req.ID {
		t.Errorf("started announcement = %+v", st)
	}
	// The same run again (a second fire, a restart) starts nothing.
	if again := h.trigger(s.ID, run); again != nil {
		t.Errorf("second trigger of the same run made #%d", again.ID)
	}
	if n := h.runner.LaunchCount(); n != 1 {
		t.Errorf("launches = %d, want 1", n)
	}
	h.svc.ScheduleTick(context.Background())
	h.svc.ScheduleTick(context.Background())
	fin, ok := h.last(s.ID, deploy.AnnounceFinished)
	if !ok || !strings.Contains(fin.Text, "ended: succeeded") || h.count(s.ID, deploy.AnnounceFinished) != 1 {
		t.Errorf("finished announcements = %d, last %+v", h.count(s.ID, deploy.AnnounceFinished), fin)
	}
	// A restart does not announce the end again.
	h.restartSched()
	h.svc.ScheduleTick(context.Background())
	if n := h.count(s.ID, deploy.AnnounceFinished); n != 1 {
		t.Errorf("finished announced %d times after a restart", n)
	}

	// A one-shot at a repeated wall time takes the first one and says so.
	o := h.schedule(deploy.ScheduleInput{User: dev, App: "shop-web", Env: "staging", Version: "1.4.3", At: "2027-10-31 02:30"})
	if !o.At.Equal(utc("2027-10-31T00:30:00Z")) || !strings.Contains(o.Note, "first one") {
		t.Errorf("one-shot = %v, note %q", o.At.UTC(), o.Note)
	}
	if a, _ := h.last(o.ID, deploy.AnnounceCreated); !strings.Contains(a.Text, "occurs twice") {
		t.Errorf("one-shot announcement %q does not tell about the repeated time", a.Text)
	}
	r := h.trigger(o.ID, o.At)
	if r == nil {
		t.Fatal("one-shot did not run")
	}
	h.waitStatus(r.ID, deploy.StatusSucceeded)
	if got := h.stored(o.ID).Status; got != deploy.ScheduleDone {
		t.Errorf("one-shot after its run is %s, want done", got)
	}
	list, err := h.svc.Schedules(context.Background())
	if err != nil || len(list) != 2 {
		t.Errorf("schedules = %d, %v", len(list), err)
	}
}

func TestScheduleApproval(t *testing.T) {
	h := newSchedHarness(t)
	ctx := context.Background()
	s := h.schedule(deploy.ScheduleInput{User: alice, App: "shop-web", Env: "production", Version: "1.4.2", Cron: "0 6 * * 1-5"})
	if s.Status != deploy.SchedulePendingApproval {
		t.Fatalf("status = %s", s.Status)
	}
	card, ok := h.last(s.ID, deploy.AnnounceApproval)
	if !ok || card.Channel != chan1 || len(card.NextRuns) != 3 || !strings.Contains(card.Text, "needs 1 approval") {
		t.Fatalf("approval card = %+v", card)
	}
	if r := h.trigger(s.ID, utc("2026-11-25T05:00:00Z")); r != nil {
		t.Fatalf("a schedule waiting for approval ran: #%d", r.ID)
	}
	h.clock.Set(t0)
	for _, tc := range []struct {
		user, code string
	}{{alice, deploy.EFORBIDDEN}, {eve, deploy.EFORBIDDEN}} {
		_, err := h.svc.ApproveSchedule(ctx, s.ID, tc.user)
		wantCode(t, err, tc.code)
	}
	if got := h.stored(s.ID); got.Status != deploy.SchedulePendingApproval || len(got.ApprovedBy) != 0 {
		t.Fatalf("refused clicks changed the schedule: %+v", got)
	}
	s, err := h.svc.ApproveSchedule(ctx, s.ID, bob)
	if err != nil || s.Status != deploy.ScheduleActive {
		t.Fatalf("approve = %+v, %v", s, err)
	}
	_, err = h.svc.ApproveSchedule(ctx, s.ID, bob)
	wantCode(t, err, deploy.ECONFLICT)

	// An approved run with an unchanged plan needs no new approval.
	req := h.trigger(s.ID, utc("2026-11-25T05:00:00Z"))
	h.waitStatus(req.ID, deploy.StatusSucceeded)
	if len(h.request(req.ID).Approvals) != 0 {
		t.Error("the run asked for approvals")
	}

	// Hosts edited in the config: the plan changed, the run asks again.
	env := h.cfg.Apps["shop-web"].Environments["production"]
	env.Hosts = append(append([]string(nil), env.Hosts...), "web-04.example.com")
	req = h.trigger(s.ID, utc("2026-11-26T05:00:00Z"))
	if req.Status != deploy.StatusPendingApproval {
		t.Fatalf("run with a changed plan is %s, want pending_approval", req.Status)
	}
	st, _ := h.last(s.ID, deploy.AnnounceStarted)
	if !strings.Contains(st.Text, "waits for approval because its plan changed") {
		t.Errorf("started announcement = %q", st.Text)
	}
	h.waitThread(req.ID, "needs approval because its plan changed")
	if _, err := h.svc.Approve(ctx, req.ID, bob); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(req.ID, deploy.StatusSucceeded)

	// Two approvals needed; a creator may withdraw, others may not reject.
	eu := h.schedule(deploy.ScheduleInput{User: alice, App: "shop-web", Env: "prod-eu", Version: "1.4.2", Cron: "@daily"})
	if eu, err = h.svc.ApproveSchedule(ctx, eu.ID, carol); err != nil || eu.Status != deploy.SchedulePendingApproval {
		t.Fatalf("first of two approvals = %+v, %v", eu, err)
	}
	if eu, err = h.svc.ApproveSchedule(ctx, eu.ID, dan); err != nil || eu.Status != deploy.ScheduleActive {
		t.Fatalf("second approval = %+v, %v", eu, err)
	}
	rj := h.schedule(deploy.ScheduleInput{User: alice, App: "shop-web", Env: "production", Version: "1.4.3", At: "2026-12-01 10:00"})
	_, err = h.svc.RejectSchedule(ctx, rj.ID, eve, "")
	wantCode(t, err, deploy.EFORBIDDEN)
	if rj, err = h.svc.RejectSchedule(ctx, rj.ID, carol, "freeze"); err != nil || rj.Status != deploy.ScheduleRejected {
		t.Fatalf("reject = %+v, %v", rj, err)
	}
	_, err = h.svc.ApproveSchedule(ctx, rj.ID, bob)
	wantCode(t, err, deploy.ECONFLICT)
	log, err := h.db.AuditLog(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range log {
		if e.ScheduleID != 0 {
			actions = append(actions, e.Action)
		}
	}
	for _, want := range []string{"schedule_created", "schedule_approve_refused", "schedule_approved", "schedule_run", "schedule_reject_refused", "schedule_rejected"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit %v lacks %s", actions, want)
		}
	}
}

func TestScheduleRunQueuedWhenLocked(t *testing.T) {
	h := newSchedHarness(t)
	ctx := context.Background()
	s := h.schedule(deploy.ScheduleInput{User: dev, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "0 12 * * *"})
	if _, err := h.svc.Lock(ctx, dev, "shop-web", "staging", "db migration"); err != nil {
		t.Fatal(err)
	}
	req := h.trigger(s.ID, utc("2026-11-24T11:00:00Z"))
	if req.Status != deploy.StatusQueued {
		t.Fatalf("run in a locked env is %s, want queued", req.Status)
	}
	a, _ := h.last(s.ID, deploy.AnnounceStarted)
	if !strings.Contains(a.Text, "is queued") || !strings.Contains(a.Text, "locked by <@"+dev+">") || !strings.Contains(a.Text, "db migration") {
		t.Errorf("queued announcement = %q", a.Text)
	}
	if _, err := h.svc.Unlock(ctx, dev, "shop-web", "staging"); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(req.ID, deploy.StatusSucceeded)

	// Busy with another release: queued too, never dropped.
	h.runner.HoldJobs = true
	other := h.deploy(dev, "shop-web", "staging", "1.4.1")
	h.waitStatus(other.ID, deploy.StatusRunning)
	req = h.trigger(s.ID, utc("2026-11-25T11:00:00Z"))
	if req.Status != deploy.StatusQueued {
		t.Fatalf("run in a busy env is %s, want queued", req.Status)
	}
	if a, _ := h.last(s.ID, deploy.AnnounceStarted); !strings.Contains(a.Text, "is queued") {
		t.Errorf("busy announcement = %q", a.Text)
	}
	h.runner.Release(h.jobOf(other.ID))
	h.waitStatus(req.ID, deploy.StatusRunning)
	h.runner.Release(h.jobOf(req.ID))
	h.waitStatus(req.ID, deploy.StatusSucceeded)
}

func TestScheduleSkipPauseResumeDelete(t *testing.T) {
	h := newSchedHarness(t)
	ctx := context.Background()
	s := h.schedule(deploy.ScheduleInput{User: dev, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "0 12 * * *"})
	_, _, err := h.svc.SkipNextRun(ctx, s.ID, eve)
	wantCode(t, err, deploy.EFORBIDDEN)
	s, next, err := h.svc.SkipNextRun(ctx, s.ID, alice) // a deployer there, not the creator
	if err != nil || !s.SkipNext || !next.At.Equal(utc("2026-11-24T11:00:00Z")) {
		t.Fatalf("skip = %+v %v %v", s, next, err)
	}
	_, _, err = h.svc.SkipNextRun(ctx, s.ID, dev)
	wantCode(t, err, deploy.ECONFLICT)
	if runs := h.svc.NextRuns(s, 2); !strings.Contains(runs[0].Note, "skipped") || runs[1].Note != "" {
		t.Errorf("next runs after skip = %+v", runs)
	}
	if r := h.trigger(s.ID, next.At); r != nil {
		t.Fatalf("skipped run made #%d", r.ID)
	}
	if a, _ := h.last(s.ID, deploy.AnnounceNotStarted); !strings.Contains(a.Text, "was skipped") {
		t.Errorf("skip announcement = %q", a.Text)
	}
	if got := h.stored(s.ID); got.SkipNext || !got.LastRunAt.Equal(next.At) {
		t.Errorf("after the skipped run: %+v", got)
	}
	req := h.trigger(s.ID, utc("2026-11-25T11:00:00Z"))
	if req == nil {
		t.Fatal("the run after a skipped one did not start")
	}
	h.waitStatus(req.ID, deploy.StatusSucceeded)

	if s, err = h.svc.PauseSchedule(ctx, s.ID, dev); err != nil || s.Status != deploy.SchedulePaused {
		t.Fatalf("pause = %+v, %v", s, err)
	}
	if r := h.trigger(s.ID, utc("2026-11-26T11:00:00Z")); r != nil {
		t.Fatalf("paused schedule ran #%d", r.ID)
	}
	if len(h.svc.NextRuns(s, 3)) != 0 {
		t.Error("a paused schedule lists next runs")
	}
	_, err = h.svc.PauseSchedule(ctx, s.ID, dev)
	wantCode(t, err, deploy.ECONFLICT)
	h.clock.Set(utc("2026-11-28T09:00:00Z"))
	if s, err = h.svc.ResumeSchedule(ctx, s.ID, dev); err != nil || s.Status != deploy.ScheduleActive || !s.LastRunAt.Equal(h.clock.Now()) {
		t.Fatalf("resume = %+v, %v", s, err)
	}
	if _, err = h.svc.Unschedule(ctx, s.ID, eve); deploy.ErrorCode(err) != deploy.EFORBIDDEN {
		t.Errorf("unschedule by eve: %v", err)
	}
	if s, err = h.svc.Unschedule(ctx, s.ID, dev); err != nil || s.Status != deploy.ScheduleDeleted {
		t.Fatalf("unschedule = %+v, %v", s, err)
	}
	_, err = h.svc.Schedule(ctx, s.ID)
	wantCode(t, err, deploy.ENOTFOUND)
	if list, _ := h.svc.Schedules(ctx); len(list) != 0 {
		t.Errorf("deleted schedule still listed")
	}
	if r := h.trigger(s.ID, utc("2026-11-28T11:00:00Z")); r != nil {
		t.Errorf("deleted schedule ran #%d", r.ID)
	}
}

func TestScheduleUpcomingAnnouncedOnce(t *testing.T) {
	h := newSchedHarness(t)
	ctx := context.Background()
	s := h.schedule(deploy.ScheduleInput{User: dev, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "0 12 * * *"})
	for _, tc := range []struct {
		at   string
		want int
	}{
		{"2026-11-24T10:49:00Z", 0}, // 11 minutes ahead: not yet
		{"2026-11-24T10:51:00Z", 1},
		{"2026-11-24T10:55:00Z", 1}, // once
	} {
		h.clock.Set(utc(tc.at))
		h.svc.ScheduleTick(ctx)
		if n := h.count(s.ID, deploy.AnnounceUpcoming); n != tc.want {
			t.Fatalf("at %s: %d upcoming announcements, want %d", tc.at, n, tc.want)
		}
	}
	a, _ := h.last(s.ID, deploy.AnnounceUpcoming)
	if a.Channel != announceChan || !a.Run.At.Equal(utc("2026-11-24T11:00:00Z")) || !strings.Contains(a.Text, "starts in 9m") {
		t.Errorf("upcoming = %+v", a)
	}
	h.restartSched()
	h.svc.ScheduleTick(ctx)
	if n := h.count(s.ID, deploy.AnnounceUpcoming); n != 1 {
		t.Errorf("a restart announced the run again (%d)", n)
	}
}

func TestScheduleMissedRuns(t *testing.T) {
	for _, policy := range []string{"", deploy.MissedRunOnce} {
		t.Run("policy="+policy, func(t *testing.T) {
			h := newSchedHarness(t)
			ctx := context.Background()
			s := h.schedule(deploy.ScheduleInput{User: dev, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "30 2 * * *", Missed: policy})
			h.stop()
			h.clock.Advance(72 * time.Hour) // down for three nights
			h.startSched()
			h.svc.RecoverSchedules(ctx)
			a, ok := h.last(s.ID, deploy.AnnounceMissed)
			if !ok || !strings.Contains(a.Text, "missed 3 runs") || !a.Run.At.Equal(utc("2026-11-27T01:30:00Z")) {
				t.Fatalf("missed announcement = %+v", a)
			}
			reqs, err := h.db.Requests(ctx, deploy.RequestFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if policy == deploy.MissedRunOnce {
				if len(reqs) != 1 || reqs[0].ScheduleID != s.ID || !strings.Contains(a.Text, "one catch-up run starts now") {
					t.Fatalf("run_once made %d requests", len(reqs))
				}
				h.waitStatus(reqs[0].ID, deploy.StatusSucceeded)
				if st, _ := h.last(s.ID, deploy.AnnounceStarted); !strings.Contains(st.Text, "catch-up") {
					t.Errorf("catch-up start = %q", st.Text)
				}
			} else if len(reqs) != 0 || !strings.Contains(a.Text, "they do not run") {
				t.Fatalf("skip made %d requests", len(reqs))
			}
			if got := h.stored(s.ID).LastRunAt; !got.Equal(utc("2026-11-27T01:30:00Z")) {
				t.Errorf("LastRunAt = %v", got)
			}
			// A second recovery finds nothing new.
			h.restartSched()
			h.svc.RecoverSchedules(ctx)
			if n := h.count(s.ID, deploy.AnnounceMissed); n != 1 {
				t.Errorf("missed announced %d times", n)
			}
		})
	}
}

// TestScheduleDSTNights runs a daily 02:30 Europe/Berlin schedule across
// the fall-back night (one run, not two) and the spring-forward night
// (one run at 03:00, not none).
func TestScheduleDSTNights(t *testing.T) {
	h := newSchedHarness(t)
	h.clock.Set(utc("2027-10-30T12:00:00Z"))
	s := h.schedule(deploy.ScheduleInput{User: dev, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "30 2 * * *"})
	runs := h.svc.NextRuns(s, 2)
	if !runs[0].At.Equal(utc("2027-10-31T00:30:00Z")) || !runs[1].At.Equal(utc("2027-11-01T01:30:00Z")) {
		t.Fatalf("fall-back runs = %v", runs)
	}
	req := h.trigger(s.ID, runs[0].At)
	h.waitStatus(req.ID, deploy.StatusSucceeded)
	// 02:30 CET, the repeated 02:30: what robfig would fire a second time.
	if r := h.trigger(s.ID, utc("2027-10-31T01:30:00Z")); r != nil {
		t.Fatalf("the repeated 02:30 ran again: #%d", r.ID)
	}

	h.clock.Set(utc("2028-03-25T12:00:00Z"))
	runs = h.svc.NextRuns(h.stored(s.ID), 1)
	if !runs[0].At.Equal(utc("2028-03-26T01:00:00Z")) || !strings.Contains(runs[0].Note, "does not exist") {
		t.Fatalf("spring-forward run = %+v", runs[0])
	}
	req = h.trigger(s.ID, runs[0].At)
	if req == nil {
		t.Fatal("the spring-forward day got no run")
	}
	h.waitStatus(req.ID, deploy.StatusSucceeded)
	if n := h.runner.LaunchCount(); n != 2 {
		t.Errorf("launches = %d, want 2", n)
	}
}

func TestScheduleAnnounceFallback(t *testing.T) {
	h := newHarness(t) // a Notifier without the schedule capability
	if _, err := h.svc.CreateSchedule(context.Background(), deploy.ScheduleInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "0 6 * * *"}); err != nil {
		t.Fatal(err)
	}
	got := h.notifier.Announces()
	if len(got) != 1 || !strings.Contains(got[0], "scheduled S1 (shop-web 1.4.2 → staging") || !strings.Contains(got[0], "Next runs: Wed 2026-11-25 06:00 UTC") {
		t.Errorf("announcements = %q", got)
	}
}
