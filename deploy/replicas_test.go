package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/deploy/deploytest"
	"github.com/deploybot/deploybot/storage"
)

// cluster is several Services, each with its own database handle and
// replica name, over one database file: replicas of the bot sharing one
// store. They share the fakes of AWX, Slack and the clock, as replicas
// share the real ones.
type cluster struct {
	t      *testing.T
	cfg    *config.Config
	path   string
	runner *deploytest.Runner
	sn     *deploytest.ScheduleNotifier
	clock  *deploytest.Clock
	dir    *deploytest.Directory
	reps   []*replica
}

// replica is one member of a cluster.
type replica struct {
	name string
	db   *storage.DB
	svc  *deploy.Service
	logs syncBuffer
	stop func(release bool)
	dead bool
}

// mortalStore is a replica's store that, once its process is dead, takes
// no more lease changes: a process killed with kill -9 neither renews nor
// releases what it held.
type mortalStore struct {
	deploy.Store
	dead *atomic.Bool
}

var errDead = errors.New("the process was killed")

func (m mortalStore) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (deploy.Lease, bool, error) {
	if m.dead.Load() {
		return deploy.Lease{}, false, errDead
	}
	return m.Store.AcquireLease(ctx, name, holder, now, ttl)
}

func (m mortalStore) ReleaseLease(ctx context.Context, name, holder string) error {
	if m.dead.Load() {
		return errDead
	}
	return m.Store.ReleaseLease(ctx, name, holder)
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(schedConfig))
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{
		t: t, cfg: cfg,
		path:   filepath.Join(t.TempDir(), "deploybot.db"),
		runner: deploytest.NewRunner(),
		sn:     deploytest.NewScheduleNotifier(),
		clock:  deploytest.NewClock(t0),
		dir: deploytest.NewDirectory(map[string][]string{
			alice: {"@shop-devs"}, carol: {"@shop-leads"}, dan: {"@shop-leads"}, dev: {"@shop-devs"},
		}),
	}
	for i := range n {
		c.reps = append(c.reps, c.start(fmt.Sprintf("replica-%d", i+1)))
	}
	t.Cleanup(func() {
		for _, r := range c.reps {
			r.stop(true)
		}
	})
	return c
}

// start starts a replica named name, as a new process would.
func (c *cluster) start(name string) *replica {
	c.t.Helper()
	r := &replica{name: name, db: storage.NewDB(c.path)}
	r.db.Now = c.clock.Now
	if err := r.db.Open(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	dead := &atomic.Bool{}
	r.svc = deploy.NewService(c.cfg.Catalog(), mortalStore{Store: r.db, dead: dead}, c.runner, c.sn, c.dir, c.clock,
		zerolog.New(zerolog.MultiLevelWriter(zerolog.NewTestWriter(c.t), &r.logs)).With().Str("replica", name).Logger())
	r.svc.Replica = name
	r.svc.PollInterval = time.Millisecond
	r.svc.MaxPollBackoff = 10 * time.Millisecond
	r.svc.TickInterval = time.Hour // the tests tick by hand
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.svc.Run(ctx) }()
	var once sync.Once
	r.stop = func(release bool) {
		once.Do(func() {
			if !release {
				// kill -9: nothing is released.
				dead.Store(true)
			}
			cancel()
			if err := <-done; err != nil {
				c.t.Errorf("%s: Run: %v", name, err)
			}
			if err := r.db.Close(); err != nil {
				c.t.Errorf("%s: close db: %v", name, err)
			}
		})
	}
	<-r.svc.Started()
	return r
}

// tick runs one periodic pass on every live replica.
func (c *cluster) tick() {
	for _, r := range c.reps {
		if !r.dead {
			r.svc.Tick(context.Background())
		}
	}
}

// kill stops replica i as kill -9 would: its leases stay until they
// expire.
func (c *cluster) kill(i int) {
	c.reps[i].stop(false)
	c.reps[i].dead = true
}

// following returns the replicas that started following request id's job.
func (c *cluster) following(id int64) []string {
	var out []string
	for _, r := range c.reps {
		if strings.Contains(r.logs.String(), fmt.Sprintf(`"request_id":%d,`, id)) &&
			strings.Contains(r.logs.String(), `"message":"following job"`) {
			out = append(out, r.name)
		}
	}
	return out
}

// holder returns the replica holding lease name, or "".
func (c *cluster) holder(name string) string {
	c.t.Helper()
	for _, r := range c.reps {
		if r.dead {
			continue
		}
		held, err := r.svc.LeasesHeld(context.Background())
		if err != nil {
			c.t.Fatal(err)
		}
		for _, l := range held {
			if l.Name == name {
				return r.name
			}
		}
	}
	return ""
}

// heldRelease asks for a staging release through the first replica, its
// job held running, and waits until one replica follows it.
func (c *cluster) heldRelease(ctx context.Context) *deploy.Request {
	c.t.Helper()
	c.runner.HoldJobs = true
	req, err := c.reps[0].svc.RequestDeploy(ctx, deploy.DeployInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.4.2"})
	if err != nil {
		c.t.Fatal(err)
	}
	c.waitStatus(req.ID, deploy.StatusRunning)
	waitFor(c.t, func() bool { return len(c.following(req.ID)) == 1 }, "a follower of #%d", req.ID)
	return req
}

// finalCards counts the cards of request id shown succeeded.
func (c *cluster) finalCards(id int64) int { return c.finalCardsOf(id, deploy.StatusSucceeded) }

// finalCardsOf counts the cards of request id shown in status st.
func (c *cluster) finalCardsOf(id int64, st deploy.Status) int {
	n := 0
	for _, card := range c.sn.Cards(id) {
		if card.Req.Status == st {
			n++
		}
	}
	return n
}

func (c *cluster) request(id int64) *deploy.Request {
	c.t.Helper()
	for _, r := range c.reps {
		if !r.dead {
			req, err := r.db.Request(context.Background(), id)
			if err != nil {
				c.t.Fatal(err)
			}
			return req
		}
	}
	c.t.Fatal("no live replica")
	return nil
}

func (c *cluster) waitStatus(id int64, want deploy.Status) {
	c.t.Helper()
	waitFor(c.t, func() bool { return c.request(id).Status == want }, "request #%d to be %s", id, want)
}

// TestReplicas_RequestedOnOneApprovedOnAnother: a release asked through
// one replica and approved through another runs once, followed by one
// replica, and its card reaches its final state once.
func TestReplicas_RequestedOnOneApprovedOnAnother(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	req, err := c.reps[0].svc.RequestDeploy(ctx, deploy.DeployInput{User: alice, Channel: chan1, App: "shop-web", Env: "production", Version: "1.4.2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.reps[1].svc.Approve(ctx, req.ID, bob); err != nil {
		t.Fatal(err)
	}
	c.tick()
	c.waitStatus(req.ID, deploy.StatusSucceeded)
	// The follower delivers the final card and lets the lease go just
	// after the final status is stored.
	lease := "request/" + fmt.Sprint(req.ID)
	waitFor(t, func() bool { return c.holder(lease) == "" }, "the lease of finished #%d released", req.ID)
	c.tick()
	if n := c.runner.LaunchCount(); n != 1 {
		t.Fatalf("%d launches, want 1", n)
	}
	if f := c.following(req.ID); len(f) != 1 {
		t.Fatalf("followed by %v, want one replica", f)
	}
	waitFor(t, func() bool { return c.finalCards(req.ID) >= 1 }, "the final card of #%d", req.ID)
	c.tick()
	if n := c.finalCards(req.ID); n != 1 {
		t.Fatalf("%d final cards, want 1", n)
	}
	// The follower lets the lease go once it is done with the job.
	waitFor(t, func() bool { return c.holder("request/"+fmt.Sprint(req.ID)) == "" }, "the lease of finished #%d to be released", req.ID)
}

// TestReplicas_FollowerKilled: the replica following a job dies (kill -9)
// mid-release. Until its lease expires nobody else follows the job; then
// another replica takes it over from the stored cursor, the job is not
// launched again, and the card reaches its final state once.
func TestReplicas_FollowerKilled(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	req := c.heldRelease(ctx)
	first := c.following(req.ID)[0]
	victim := -1
	for i, r := range c.reps {
		if r.name == first {
			victim = i
		}
	}
	c.kill(victim)

	c.clock.Advance(10 * time.Second) // the lease has 5 s left
	c.tick()
	if f := c.following(req.ID); len(f) != 1 || f[0] != first {
		t.Fatalf("followed by %v while %s's lease holds, want only %s", f, first, first)
	}
	c.clock.Advance(6 * time.Second) // expired
	c.tick()
	waitFor(t, func() bool { return len(c.following(req.ID)) == 2 }, "another replica to follow #%d", req.ID)
	c.runner.Release(c.request(req.ID).Job.ID)
	c.waitStatus(req.ID, deploy.StatusSucceeded)
	c.tick()
	if n := c.runner.LaunchCount(); n != 1 {
		t.Fatalf("%d launches, want 1", n)
	}
	waitFor(t, func() bool { return c.finalCards(req.ID) >= 1 }, "the final card of #%d", req.ID)
	c.tick()
	if n := c.finalCards(req.ID); n != 1 {
		t.Fatalf("%d final cards, want 1", n)
	}
}

// TestReplicas_KilledDuringLaunching: the replica launching a request
// dies after the move to launching, its launch outcome unknown. Another
// replica waits for its lease, finds the job AWX started by the request
// id and follows it: one launch.
func TestReplicas_KilledDuringLaunching(t *testing.T) {
	for _, tc := range []struct {
		name     string
		launched bool
		want     deploy.Status
	}{
		{name: "AWX has the job", launched: true, want: deploy.StatusSucceeded},
		{name: "AWX has no job", launched: false, want: deploy.StatusFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 3)
			c.runner.FailNextLaunch(fmt.Errorf("connection reset: %w", deploy.ErrOutcomeUnknown), tc.launched)
			ctx := context.Background()
			req, err := c.reps[0].svc.RequestDeploy(ctx, deploy.DeployInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.4.2"})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.request(req.ID).Status; got != deploy.StatusLaunching {
				t.Fatalf("status %s, want launching", got)
			}
			c.kill(0)
			c.tick()
			if n := c.runner.FindCount(); n != 0 {
				t.Fatalf("AWX asked %d times while the launcher's lease holds", n)
			}
			c.clock.Advance(2 * time.Minute)
			c.tick()
			c.waitStatus(req.ID, tc.want)
			if n := c.runner.LaunchCount(); n != 1 {
				t.Fatalf("%d launches, want 1", n)
			}
		})
	}
}

// TestReplicas_ScheduleFiresOnce: every replica's cron fires the same
// run at once; one request starts, and the run is announced once before
// and once after.
func TestReplicas_ScheduleFiresOnce(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	sch, err := c.reps[0].svc.CreateSchedule(ctx, deploy.ScheduleInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "0 6 * * *"})
	if err != nil {
		t.Fatal(err)
	}
	runs := c.reps[0].svc.NextRuns(sch, 3)
	for i, run := range runs {
		c.clock.Set(run.At.Add(-5 * time.Minute))
		for _, r := range c.reps {
			r.svc.ScheduleTick(ctx)
		}
		c.clock.Set(run.At)
		var wg sync.WaitGroup
		for _, r := range c.reps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := r.svc.TriggerSchedule(ctx, sch.ID, run.At); err != nil {
					t.Errorf("%s: %v", r.name, err)
				}
			}()
		}
		wg.Wait()
		if n := c.runner.LaunchCount(); n != i+1 {
			t.Fatalf("after fire %d: %d launches, want %d", i+1, n, i+1)
		}
		reqs, err := c.reps[1].db.Requests(ctx, deploy.RequestFilter{})
		if err != nil {
			t.Fatal(err)
		}
		c.waitStatus(reqs[0].ID, deploy.StatusSucceeded)
		for _, r := range c.reps {
			r.svc.ScheduleTick(ctx)
		}
	}
	kinds := map[deploy.AnnouncementKind]int{}
	for _, k := range c.sn.Kinds(sch.ID) {
		kinds[k]++
	}
	for _, k := range []deploy.AnnouncementKind{deploy.AnnounceUpcoming, deploy.AnnounceStarted, deploy.AnnounceFinished} {
		if kinds[k] != len(runs) {
			t.Errorf("%d %q announcements over %d runs, want one per run (all: %v)", kinds[k], k, len(runs), kinds)
		}
	}
}

// TestReplicas_AllRestartedAtOnce: every replica was down over a run
// with the run_once policy; all start again at once. The missed run is
// announced once and caught up once.
func TestReplicas_AllRestartedAtOnce(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	sch, err := c.reps[0].svc.CreateSchedule(ctx, deploy.ScheduleInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "0 6 * * *", Missed: deploy.MissedRunOnce})
	if err != nil {
		t.Fatal(err)
	}
	next := c.reps[0].svc.NextRuns(sch, 1)[0]
	for i := range c.reps {
		c.kill(i)
	}
	c.clock.Set(next.At.Add(time.Hour))
	for i := range c.reps {
		c.reps[i] = c.start(c.reps[i].name + "-new")
	}
	var wg sync.WaitGroup
	for _, r := range c.reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.svc.RecoverSchedules(ctx)
		}()
	}
	wg.Wait()
	if n := c.runner.LaunchCount(); n != 1 {
		t.Fatalf("%d catch-up launches, want 1", n)
	}
	missed := 0
	for _, k := range c.sn.Kinds(sch.ID) {
		if k == deploy.AnnounceMissed {
			missed++
		}
	}
	if missed != 1 {
		t.Fatalf("%d missed-run announcements, want 1", missed)
	}
}

// TestReplicas_ExpiryAndRemindersOnce: the approval reminder and the
// expiry of a request are said once, whichever replicas tick.
func TestReplicas_ExpiryAndRemindersOnce(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	req, err := c.reps[2].svc.RequestDeploy(ctx, deploy.DeployInput{User: alice, Channel: chan1, App: "shop-web", Env: "production", Version: "1.4.2"})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		c.clock.Advance(7 * time.Minute)
		c.tick()
	}
	c.waitStatus(req.ID, deploy.StatusExpired)
	c.tick()
	reminders := 0
	for _, line := range c.sn.Threads(req.ID) {
		if strings.Contains(line, "still needs") {
			reminders++
		}
	}
	if reminders != 1 {
		t.Fatalf("%d reminders, want 1:\n%s", reminders, strings.Join(c.sn.Threads(req.ID), "\n"))
	}
	// A replica that dies holding the periodic lease hands it over once
	// it expires.
	holder := c.holder("periodic")
	for i, r := range c.reps {
		if r.name == holder {
			c.kill(i)
		}
	}
	c.clock.Advance(16 * time.Second)
	c.tick()
	if h := c.holder("periodic"); h == "" || h == holder {
		t.Fatalf("periodic lease held by %q after %s died, want another replica", h, holder)
	}
}

// TestReplicas_ScheduledRunOneCard: while the replica that fired a
// schedule's run posts the card of its request, another replica's
// periodic pass starts the queued request. The request keeps one card,
// which reaches its final state: no second card, and none left showing
// "Queued".
func TestReplicas_ScheduledRunOneCard(t *testing.T) {
	c := newCluster(t, 2)
	ctx := context.Background()
	sch, err := c.reps[0].svc.CreateSchedule(ctx, deploy.ScheduleInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "0 6 * * *"})
	if err != nil {
		t.Fatal(err)
	}
	run := c.reps[0].svc.NextRuns(sch, 1)[0]
	c.clock.Set(run.At)
	var once sync.Once
	c.sn.BeforeCard(func(_ context.Context, req *deploy.Request) {
		if req.ScheduleID == sch.ID && req.Status == deploy.StatusQueued {
			once.Do(func() { c.reps[1].svc.Tick(ctx) })
		}
	})
	req, err := c.reps[0].svc.TriggerSchedule(ctx, sch.ID, run.At)
	if err != nil || req == nil {
		t.Fatalf("TriggerSchedule = %v, %v", req, err)
	}
	c.waitStatus(req.ID, deploy.StatusSucceeded)
	if n := c.runner.LaunchCount(); n != 1 {
		t.Errorf("%d launches, want 1", n)
	}
	last := map[string]deploy.Status{}
	for _, call := range c.sn.Cards(req.ID) {
		last[call.Req.Message.TS] = call.Req.Status
	}
	if len(last) != 1 {
		t.Errorf("request #%d has %d cards (last states by message: %v), want 1", req.ID, len(last), last)
	}
}

// TestReplicas_SchedulerSeesOthersSchedules: a schedule created (or
// resumed) through one replica gets a cron entry on every replica, and
// loses it on every replica when paused, so that its runs still fire when
// the replica that took the command is gone.
func TestReplicas_SchedulerSeesOthersSchedules(t *testing.T) {
	c := newCluster(t, 2)
	ctx := context.Background()
	var scheds []*deploy.Scheduler
	for _, r := range c.reps {
		sc := deploy.NewScheduler(r.svc, zerolog.New(zerolog.NewTestWriter(t)))
		sc.Every = 10 * time.Millisecond
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sc.Run(runCtx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: scheduler: %v", r.name, err)
			}
		})
		scheds = append(scheds, sc)
	}
	sch, err := c.reps[0].svc.CreateSchedule(ctx, deploy.ScheduleInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "0 6 * * *"})
	if err != nil {
		t.Fatal(err)
	}
	poll(t, 5*time.Second, "a cron entry on the replica that did not create the schedule", func() bool { return scheds[1].Entries() == 1 })
	if _, err := c.reps[0].svc.PauseSchedule(ctx, sch.ID, dev); err != nil {
		t.Fatal(err)
	}
	poll(t, 5*time.Second, "the paused schedule's entry gone on the other replica", func() bool { return scheds[1].Entries() == 0 })
	if _, err := c.reps[1].svc.ResumeSchedule(ctx, sch.ID, dev); err != nil {
		t.Fatal(err)
	}
	poll(t, 5*time.Second, "a cron entry again on the first replica after a resume on the second", func() bool { return scheds[0].Entries() == 1 })
}

// TestReplicas_DeferredRunRetriedOnce: a scheduled run deferred because
// Slack could not check the rights is retried by the holder of the
// schedules lease. When that retry is slow (the Slack lookup hangs) for
// longer than the lease's TTL, the holder still holds the lease (it
// renews it while it works), so no other replica retries the same run:
// one request, not two.
func TestReplicas_DeferredRunRetriedOnce(t *testing.T) {
	c := newCluster(t, 2)
	const ttl = 90 * time.Millisecond
	for _, r := range c.reps {
		r.svc.LeaseTTL = ttl // of the fake clock; renewed every ttl/3 of real time
	}
	ctx := context.Background()
	sch, err := c.reps[0].svc.CreateSchedule(ctx, deploy.ScheduleInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "0 6 * * *"})
	if err != nil {
		t.Fatal(err)
	}
	run := c.reps[0].svc.NextRuns(sch, 1)[0]
	c.clock.Set(run.At)
	c.dir.Err = errSlackDown
	if _, err := c.reps[0].svc.TriggerSchedule(ctx, sch.ID, run.At); err == nil {
		t.Fatal("the run started while Slack could not check the rights")
	}
	c.clock.Advance(31 * time.Second) // a retry is due

	// Slack answers again, but the first lookup of the retry hangs.
	c.dir.Err = nil
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c.dir.Hook = func() {
		first := false
		once.Do(func() { first = true })
		if first {
			close(entered)
			<-release
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.reps[0].svc.ScheduleTick(ctx)
	}()
	<-entered
	// The retry lasts several TTLs; the holder is alive all along.
	for range 5 {
		c.clock.Advance(ttl / 2)
		now := c.clock.Now()
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) && !renewedBy(t, c.reps[1].db, now, "schedules", "replica-1", ttl/3) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	c.reps[1].svc.ScheduleTick(ctx)
	close(release)
	<-done

	reqs, err := c.reps[1].db.Requests(ctx, deploy.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range reqs {
		if r.ScheduleID == sch.ID {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d requests for the deferred run, want 1", n)
	}
}

// renewedBy reports whether lease name is held by holder at now for at
// least left more.
func renewedBy(t *testing.T, db *storage.DB, now time.Time, name, holder string, left time.Duration) bool {
	t.Helper()
	all, err := db.Leases(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range all {
		if l.Name == name {
			return l.Holder == holder && !l.Expires.Before(now.Add(left))
		}
	}
	return false
}

// TestReplicas_OwedDeliveredOnce: a replica delivering what a request
// owes Slack is held up by a slow Slack call for longer than its claim
// on the items (OwedLease); another replica claims them and delivers
// them. The first one then leaves the rest to it: only the note in flight
// when Slack hung may be posted twice (delivery is at least once), no
// other.
func TestReplicas_OwedDeliveredOnce(t *testing.T) {
	c := newCluster(t, 2)
	c.runner.HoldJobs = true
	ctx := context.Background()
	req, err := c.reps[0].svc.RequestDeploy(ctx, deploy.DeployInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.4.2"})
	if err != nil {
		t.Fatal(err)
	}
	c.waitStatus(req.ID, deploy.StatusRunning)
	// Slack is down when the job ends: the final card and notes stay owed.
	c.sn.Notifier.SetErr(fmt.Errorf("slack down"))
	c.runner.Release(c.request(req.ID).Job.ID)
	c.waitStatus(req.ID, deploy.StatusSucceeded)
	lease := "request/" + fmt.Sprint(req.ID)
	waitFor(t, func() bool { return c.holder(lease) == "" }, "the follower of #%d to end", req.ID)
	before := len(c.sn.Threads(req.ID))

	// Slack is back, but the first call of replica-1's delivery hangs.
	c.sn.Notifier.SetErr(nil)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c.sn.Notifier.SetHook(func(string) {
		first := false
		once.Do(func() { first = true })
		if first {
			close(entered)
			<-release
		}
	})
	c.clock.Advance(time.Minute) // the retry is due
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.reps[0].svc.Tick(ctx)
	}()
	<-entered
	c.clock.Advance(3 * time.Minute) // past the claim's lease
	c.reps[1].svc.Tick(ctx)
	close(release)
	<-done

	seen := map[string]int{}
	var twice []string
	for _, line := range c.sn.Threads(req.ID)[before:] {
		if seen[line]++; seen[line] == 2 {
			twice = append(twice, line)
		}
	}
	if len(seen) < 2 {
		t.Fatalf("%d notes delivered, want the milestones and the outcome", len(seen))
	}
	if len(twice) > 1 {
		t.Fatalf("posted twice in the thread of #%d besides the note in flight: %q", req.ID, twice[1:])
	}
}

// TestReplicas_StartingReplicaLeavesDueRunToCron: a replica starts just
// after a run fell due, while the others are up and one of their crons is
// about to fire it. The starting replica's recovery must not record the
// run as missed (with the skip policy that would skip it): the run starts
// once and is not announced as missed.
func TestReplicas_StartingReplicaLeavesDueRunToCron(t *testing.T) {
	c := newCluster(t, 2)
	ctx := context.Background()
	sch, err := c.reps[0].svc.CreateSchedule(ctx, deploy.ScheduleInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.4.2", Cron: "0 6 * * *", Missed: deploy.MissedSkip})
	if err != nil {
		t.Fatal(err)
	}
	run := c.reps[0].svc.NextRuns(sch, 1)[0]
	c.clock.Set(run.At.Add(-time.Second))
	c.tick() // the replicas are up
	c.clock.Set(run.At.Add(500 * time.Millisecond))
	late := c.start("replica-3") // a rolling restart, say
	c.reps = append(c.reps, late)
	late.svc.RecoverSchedules(ctx)
	if _, err := c.reps[0].svc.TriggerSchedule(ctx, sch.ID, run.At); err != nil { // replica-1's cron
		t.Fatal(err)
	}
	if n := c.runner.LaunchCount(); n != 1 {
		t.Errorf("%d launches of the run due as replica-3 started, want 1", n)
	}
	for _, k := range c.sn.Kinds(sch.ID) {
		if k == deploy.AnnounceMissed {
			t.Errorf("the run was announced as missed while replicas were up")
		}
	}
}

// TestReplicas_StalledLauncherDoesNotLaunchDecidedRequest: the replica
// launching a request stalls before it calls AWX (its leases lapse: a
// network partition from the database, say) for longer than the launch
// grace. Another replica takes the request over, finds no job in AWX and
// fails it ("nothing ran"). When the stalled replica resumes, it must not
// launch the job of a request recorded as failed.
func TestReplicas_StalledLauncherDoesNotLaunchDecidedRequest(t *testing.T) {
	c := newCluster(t, 2)
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c.sn.Notifier.SetHook(func(call string) {
		if call != "card" || c.request(1).Status != deploy.StatusLaunching {
			return
		}
		once.Do(func() {
			close(entered)
			<-release
		})
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := c.reps[0].svc.RequestDeploy(ctx, deploy.DeployInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.4.2"}); err != nil {
			t.Error(err)
		}
	}()
	<-entered // replica-1 shows the launching card, then stalls
	c.clock.Advance(2 * time.Minute)
	c.reps[1].svc.Tick(ctx)
	if got := c.request(1).Status; got != deploy.StatusFailed {
		t.Fatalf("status %s after the take-over, want failed", got)
	}
	close(release)
	<-done
	if n := c.runner.LaunchCount(); n != 0 {
		t.Fatalf("%d launches of a request recorded as failed with nothing run, want 0", n)
	}
}

// TestReplicas_StoppedReplicaLetsPeriodicWorkGo: a replica stopped
// gracefully releases the periodic lease, so that approval expiry and
// reminders go on at once on another replica instead of after the TTL.
func TestReplicas_StoppedReplicaLetsPeriodicWorkGo(t *testing.T) {
	c := newCluster(t, 2)
	c.tick()
	holder := c.holder("periodic")
	if holder == "" {
		t.Fatal("nobody holds the periodic lease")
	}
	for i, r := range c.reps {
		if r.name == holder {
			r.stop(true)
			c.reps[i].dead = true
		}
	}
	c.tick()
	if h := c.holder("periodic"); h == "" || h == holder {
		t.Fatalf("periodic lease held by %q right after %s stopped, want the other replica", h, holder)
	}
}

// TestReplicas_CancelThroughAnotherLeavesTheFinalCard: a running release
// followed by one replica is canceled through another. The card is the
// follower's to write: a card written by the canceling replica, delayed
// on its way to Slack past the final one, would leave the card showing
// the release running, its buttons live, after it ended.
func TestReplicas_CancelThroughAnotherLeavesTheFinalCard(t *testing.T) {
	c := newCluster(t, 2)
	ctx := context.Background()
	req := c.heldRelease(ctx)
	type canceling struct{}
	c.sn.BeforeCard(func(ctx context.Context, r *deploy.Request) {
		if r.ID == req.ID && ctx.Value(canceling{}) != nil {
			// This write is slow to reach Slack: the job ends and its
			// final card is written first.
			waitFor(t, func() bool { return c.finalCardsOf(req.ID, deploy.StatusCanceled) == 1 }, "the final card of #%d", req.ID)
		}
	})
	if _, err := c.reps[1].svc.Cancel(context.WithValue(ctx, canceling{}, true), req.ID, dev); err != nil {
		t.Fatal(err)
	}
	c.waitStatus(req.ID, deploy.StatusCanceled)
	waitFor(t, func() bool { return c.finalCardsOf(req.ID, deploy.StatusCanceled) == 1 }, "the final card of #%d", req.ID)
	c.tick()
	cards := c.sn.Cards(req.ID)
	if last := cards[len(cards)-1].Req.Status; last != deploy.StatusCanceled {
		t.Fatalf("the card of #%d was last written %s, after its final state", req.ID, last)
	}
}
