package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot/slacktest"
)

// The replica stories run three bots on one PostgreSQL database behind one
// fake Slack (which gives each envelope to one random open connection, as
// Slack does with an app's several Socket Mode connections) and one fake
// AWX. In-process replicas (runBotWith) keep -race over the bot's code;
// real processes (DEPLOYBOT_BIN) can be killed with SIGKILL.

// replicas is a stack of several bots sharing its fakes and one database.
type replicas struct {
	*stack
	bin  string // the binary of process replicas; "" in-process
	reps []*replica
}

// replica is one bot of a replicas stack.
type replica struct {
	name string
	env  map[string]string

	mu     sync.Mutex
	cancel context.CancelFunc // in-process
	done   chan error         // in-process
	proc   *process           // real process
}

// url is the replica's HTTP address with path.
func (r *replica) url(path string) string { return "http://" + r.env["DEPLOYBOT_HTTP_ADDR"] + path }

// newReplicas is a stack of n replicas on a fresh PostgreSQL database with
// DEPLOYBOT_LEASE_TTL=ttl; bin runs them as processes ("" in-process).
// None is started.
func newReplicas(t testing.TB, n int, bin string, ttl time.Duration) *replicas {
	t.Helper()
	return newReplicasOf(t, newStack(t), n, bin, ttl)
}

// newReplicasOf is newReplicas over the stack s (its config and fakes);
// ttl 0 keeps the bot's default.
func newReplicasOf(t testing.TB, s *stack, n int, bin string, ttl time.Duration) *replicas {
	t.Helper()
	s.env["DEPLOYBOT_DB"] = pg.URL(t)
	if ttl > 0 {
		s.env["DEPLOYBOT_LEASE_TTL"] = ttl.String()
	}
	s.logs = &syncBuffer{} // every replica's log lines, each naming its replica
	rs := &replicas{stack: s, bin: bin}
	for i := range n {
		env := maps.Clone(s.env)
		env["DEPLOYBOT_REPLICA"] = fmt.Sprintf("r%d", i+1)
		env["DEPLOYBOT_HTTP_ADDR"] = loopbackAddr(t)
		rs.reps = append(rs.reps, &replica{name: env["DEPLOYBOT_REPLICA"], env: env})
	}
	t.Cleanup(rs.stopAll)
	return rs
}

// startAll starts every replica at once and waits until each is ready.
func (rs *replicas) startAll() {
	rs.t.Helper()
	for i := range rs.reps {
		rs.launch(i)
	}
	for i := range rs.reps {
		rs.awaitUp(i)
	}
}

// start starts replica i and waits until it is ready.
func (rs *replicas) start(i int) {
	rs.t.Helper()
	rs.launch(i)
	rs.awaitUp(i)
}

// launch starts replica i without waiting.
func (rs *replicas) launch(i int) {
	rs.t.Helper()
	r := rs.reps[i]
	r.mu.Lock()
	defer r.mu.Unlock()
	env := maps.Clone(r.env)
	if rs.bin == "" {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		r.cancel, r.done = cancel, done
		tun := rs.tun
		go func() { done <- runBotWith(ctx, nil, func(k string) string { return env[k] }, rs.logs, tun) }()
		return
	}
	cmd := exec.Command(rs.bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = rs.logs, rs.logs
	if err := cmd.Start(); err != nil {
		rs.t.Fatalf("start %s: %v", rs.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	r.proc = &process{cmd, exited}
}

// awaitUp waits until replica i answers 200 on /readyz.
func (rs *replicas) awaitUp(i int) {
	rs.t.Helper()
	r := rs.reps[i]
	rs.await(r.name+"'s /readyz to answer 200", func() bool {
		r.mu.Lock()
		done, proc := r.done, r.proc
		r.mu.Unlock()
		if proc != nil {
			select {
			case <-proc.exited:
				rs.t.Fatalf("%s exited while starting\nlogs:\n%s", r.name, rs.logs.String())
			default:
			}
		} else if done != nil {
			select {
			case err := <-done:
				rs.t.Fatalf("%s stopped while starting: %v\nlogs:\n%s", r.name, err, rs.logs.String())
			default:
			}
		}
		resp, err := http.Get(r.url("/readyz"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// stop stops replica i as SIGTERM does and checks that it stopped cleanly.
func (rs *replicas) stop(i int) {
	r := rs.reps[i]
	r.mu.Lock()
	cancel, done, proc := r.cancel, r.done, r.proc
	r.cancel, r.done, r.proc = nil, nil, nil
	r.mu.Unlock()
	switch {
	case cancel != nil:
		cancel()
		select {
		case err := <-done:
			if err != nil {
				rs.t.Errorf("%s stopped with %v", r.name, err)
			}
		case <-time.After(30 * time.Second):
			rs.t.Errorf("%s did not stop within 30 s", r.name)
		}
	case proc != nil:
		_ = proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-proc.exited:
		case <-time.After(30 * time.Second):
			rs.t.Errorf("%s did not stop within 30 s of SIGTERM", r.name)
			_ = proc.Process.Kill()
			<-proc.exited
		}
	}
}

// kill kills replica i's process with SIGKILL: it finishes nothing.
func (rs *replicas) kill(i int) {
	rs.t.Helper()
	r := rs.reps[i]
	r.mu.Lock()
	proc := r.proc
	r.proc = nil
	r.mu.Unlock()
	if proc == nil {
		rs.t.Fatalf("%s is not running as a process", r.name)
	}
	if err := proc.Process.Kill(); err != nil {
		rs.t.Fatalf("kill -9 %s: %v", r.name, err)
	}
	<-proc.exited
}

// stopAll stops every replica at once.
func (rs *replicas) stopAll() {
	var wg sync.WaitGroup
	for i := range rs.reps {
		wg.Go(func() { rs.stop(i) })
	}
	wg.Wait()
	if os.Getenv("E2E_LOGS") != "" {
		rs.t.Logf("replica logs:\n%s", rs.logs.String())
	}
	for _, secret := range []string{rs.slack.AppToken, rs.slack.BotToken, rs.awx.Token} {
		if strings.Contains(rs.logs.String(), secret) {
			rs.t.Errorf("a token appears in the logs")
		}
	}
}

// leases is what replica i's /readyz says of its leases ("" when it does
// not answer).
func (rs *replicas) leases(i int) string {
	resp, err := http.Get(rs.reps[i].url("/readyz"))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.Contains(line, "leases:") {
			return line
		}
	}
	return ""
}

// holder is the index of the replica whose /readyz lists lease name, or
// -1.
func (rs *replicas) holder(name string) int {
	for i := range rs.reps {
		if holds(rs.leases(i), name) {
			return i
		}
	}
	return -1
}

// holds reports whether a /readyz leases line lists lease name.
func holds(line, name string) bool {
	_, list, ok := strings.Cut(line, " held: ")
	if !ok {
		return false
	}
	for _, n := range strings.Split(strings.TrimSuffix(strings.TrimSpace(list), ")"), ", ") {
		if n == name {
			return true
		}
	}
	return false
}

// finals counts the writes to Slack that showed card's final state
// label.
func (rs *replicas) finals(card slacktest.Message, label string) int {
	n := 0
	for _, c := range rs.slack.Calls("") {
		if (c.Method == "chat.update" || c.Method == "chat.postMessage") && c.Args.Get("ts") == card.TS &&
			c.Status == http.StatusOK && strings.HasSuffix(c.Args.Get("text"), ": "+label) {
			n++
		}
	}
	return n
}

// endedOnce checks what the users of a release that ended with label see
// once it is over: its card written in its final state once, each line
// of its thread and its output file once (two followers would each post
// them).
func (rs *replicas) endedOnce(t *testing.T, id int64, card slacktest.Message, label string) {
	t.Helper()
	if n := rs.finals(card, label); n != 1 {
		t.Errorf("request #%d: the card was written %q %d times, want once", id, label, n)
	}
	rs.await(fmt.Sprintf("the output of request #%d", id), func() bool {
		for _, u := range rs.slack.Uploads() {
			if u.ThreadTS == card.TS && u.Completed {
				return true
			}
		}
		return false
	})
	uploads := 0
	for _, u := range rs.slack.Uploads() {
		if u.ThreadTS == card.TS {
			uploads++
		}
	}
	if uploads != 1 {
		t.Errorf("request #%d: %d output uploads, want 1", id, uploads)
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(rs.threadText(card)), "\n") {
		if seen[line]++; seen[line] == 2 {
			t.Errorf("request #%d: this line is twice in the thread: %q\n%s", id, line, rs.threadText(card))
		}
	}
}

// launchesFor counts the AWX launches carrying request id.
func (rs *replicas) launchesFor(id int64) int {
	n := 0
	for _, l := range rs.awx.Launches() {
		vars, ok := l.Body["extra_vars"].(map[string]any)
		if text, isText := l.Body["extra_vars"].(string); isText { // AWX takes both
			ok = json.Unmarshal([]byte(text), &vars) == nil
		}
		if ok && fmt.Sprint(vars["deploybot_request_id"]) == fmt.Sprint(id) {
			n++
		}
	}
	return n
}

// TestStoryReplicas runs three replicas of the bot on one PostgreSQL
// database, each envelope going to one of them at random: what users rely
// on holds whichever replica gets a command or a click, and when replicas
// die or all restart.
func TestStoryReplicas(t *testing.T) {
	// The cron story mostly waits for the minute to turn: it runs beside
	// the others.
	t.Run("Cron", func(t *testing.T) {
		t.Parallel()
		storyReplicasCron(t)
	})
	t.Run("Others", func(t *testing.T) {
		t.Parallel()
		t.Run("ApprovedThroughAnother", storyReplicasCrossApproval)
		t.Run("DoubleClick", storyReplicasDoubleClick)
		t.Run("RestartAll", storyReplicasRestartAll)
		t.Run("KillFollower", storyReplicasKillFollower)
		t.Run("KillLaunching", storyReplicasKillLaunching)
	})
}

// approveLoop makes requests for shop-web production and has them approved
// by click until one was approved through another connection than the one
// check names; each request must end Succeeded with one launch and its
// card turned final once. It gives up after 8 requests: each is on
// another connection with probability 2/3 or more.
func (rs *replicas) approveLoop(t *testing.T, click func(card slacktest.Message) []slacktest.Ack, crossed func(asked slacktest.Ack, clicks []slacktest.Ack) bool) {
	t.Helper()
	var last int64
	var ids []int64
	var cards []slacktest.Message
	for attempt := 1; ; attempt++ {
		asked := rs.slash(alice, fmt.Sprintf("shop-web production 1.4.%d", attempt))
		id, _ := rs.newCard(last)
		last = id
		card := rs.card(id, "Waiting for approval")
		clicks := click(card)
		rs.card(id, "Succeeded")
		ids, cards = append(ids, id), append(cards, card)
		if crossed(asked, clicks) {
			break
		}
		if attempt == 8 {
			t.Fatalf("8 requests and never the wanted spread over the connections")
		}
	}
	// Every job is over in AWX: a second launch or card update would be
	// there by now.
	rs.await("every job to end in AWX", func() bool { return rs.awxJobs("successful") == len(rs.awx.Launches()) })
	for i, id := range ids {
		if n := rs.launchesFor(id); n != 1 {
			t.Errorf("request #%d: %d launches, want 1", id, n)
		}
		rs.endedOnce(t, id, cards[i], "Succeeded")
	}
	if n, want := rs.jobLaunchingWrites(), len(ids); n != want {
		t.Errorf("%d job launching POSTs to AWX for %d requests", n, want)
	}
}

// storyReplicasCrossApproval: a release requested through one replica and
// approved through another is launched once and its card finished once.
func storyReplicasCrossApproval(t *testing.T) {
	rs := newReplicas(t, 3, "", 3*time.Second)
	rs.startAll()
	rs.approveLoop(t, func(card slacktest.Message) []slacktest.Ack {
		ack, err := rs.slack.ClickButton(rs.ctx(), bob, deploys, card.TS, "approve")
		if err != nil {
			t.Fatalf("bob approves: %v", err)
		}
		return []slacktest.Ack{ack}
	}, func(asked slacktest.Ack, clicks []slacktest.Ack) bool { return clicks[0].Conn != asked.Conn })
}

// storyReplicasDoubleClick: an approver's double click whose two clicks
// land on two replicas approves once: one launch, one approval in the
// thread.
func storyReplicasDoubleClick(t *testing.T) {
	rs := newReplicas(t, 3, "", 3*time.Second)
	rs.startAll()
	var cards []slacktest.Message
	rs.approveLoop(t, func(card slacktest.Message) []slacktest.Ack {
		cards = append(cards, card)
		acks := make([]slacktest.Ack, 2)
		var wg sync.WaitGroup
		for i := range acks {
			wg.Go(func() {
				ack, err := rs.slack.ClickButton(rs.ctx(), carol, deploys, card.TS, "approve")
				if err != nil {
					t.Errorf("carol's click %d: %v", i+1, err)
				}
				acks[i] = ack
			})
		}
		wg.Wait()
		return acks
	}, func(_ slacktest.Ack, clicks []slacktest.Ack) bool { return clicks[0].Conn != clicks[1].Conn })
	for _, card := range cards {
		if n := strings.Count(rs.threadText(card), "Approved by"); n != 1 {
			t.Errorf("the thread of %s tells of %d approvals, want 1:\n%s", card.TS, n, rs.threadText(card))
		}
	}
}

// storyReplicasRestartAll: every replica stops at once and starts again; a
// request waiting for approval still takes the click and a running job is
// still followed to its end, each launched once.
func storyReplicasRestartAll(t *testing.T) {
	rs := newReplicas(t, 3, "", 3*time.Second)
	open := make(chan struct{})
	rs.awx.SetBehavior(rs.tmpl["web"], gate(open), false)
	rs.startAll()
	rs.slash(alice, "shop-web staging 1.4.2")
	running, _ := rs.newCard(0)
	runningCard := rs.card(running, "Running")
	rs.slash(alice, "shop-web production 1.4.2")
	waiting, _ := rs.newCard(running)
	waitingCard := rs.card(waiting, "Waiting for approval")

	rs.stopAll()
	rs.startAll()

	rs.click(bob, waitingCard, "approve")
	close(open)
	rs.card(running, "Succeeded")
	rs.card(waiting, "Succeeded")
	rs.await("every job to end in AWX", func() bool { return rs.awxJobs("successful") == 2 })
	for _, c := range []struct {
		id   int64
		card slacktest.Message
	}{{running, runningCard}, {waiting, waitingCard}} {
		if n := rs.launchesFor(c.id); n != 1 {
			t.Errorf("request #%d: %d launches, want 1", c.id, n)
		}
		rs.endedOnce(t, c.id, c.card, "Succeeded")
	}
	if n := rs.jobLaunchingWrites(); n != 2 {
		t.Errorf("%d job launching POSTs to AWX, want 2", n)
	}
}

// storyReplicasKillFollower: the replica following a running job is
// killed (kill -9); once its lease has expired another replica takes the
// job over and finishes its card, and nothing is launched again.
func storyReplicasKillFollower(t *testing.T) {
	bin, _ := deploybotBinary(t)
	rs := newReplicas(t, 3, bin, 3*time.Second)
	open := make(chan struct{})
	rs.awx.SetBehavior(rs.tmpl["web"], gate(open), false)
	rs.startAll()
	rs.slash(alice, "shop-web staging 1.4.2")
	id, _ := rs.newCard(0)
	card := rs.card(id, "Running")
	lease := fmt.Sprintf("request/%d", id)
	var follower int
	rs.await("a replica to hold "+lease, func() bool { follower = rs.holder(lease); return follower >= 0 })

	rs.kill(follower)
	rs.await("another replica to take "+lease+" over", func() bool { return rs.holder(lease) >= 0 })
	close(open)
	rs.card(id, "Succeeded")
	rs.await("the job to end in AWX", func() bool { return rs.awxJobs("successful") == 1 })
	if n := rs.jobLaunchingWrites(); n != 1 {
		t.Errorf("%d job launching POSTs to AWX, want 1", n)
	}
	rs.endedOnce(t, id, card, "Succeeded")
}

// storyReplicasKillLaunching: the replica launching a job is killed
// (kill -9) while its launch request is on its way to AWX, which then
// creates the job; another replica finds the job by its
// deploybot_request_id and follows it, without launching again.
func storyReplicasKillLaunching(t *testing.T) {
	bin, _ := deploybotBinary(t)
	rs := newReplicas(t, 3, bin, 3*time.Second)
	held, release := make(chan struct{}, 1), make(chan struct{})
	rs.proxy.Hold(1, http.MethodPost, "/api/v2/job_templates/", held, release)
	rs.startAll()
	rs.slash(alice, "shop-web staging 1.4.2")
	id, _ := rs.newCard(0)
	select {
	case <-held:
	case <-rs.ctx().Done():
		t.Fatalf("no launch reached AWX\nlogs:\n%s", rs.logs.String())
	}
	lease := fmt.Sprintf("request/%d", id)
	var launcher int
	rs.await("a replica to hold "+lease, func() bool { launcher = rs.holder(lease); return launcher >= 0 })
	rs.kill(launcher)
	close(release) // AWX gets the launch of the dead replica
	rs.await("AWX to create the job", func() bool { l := rs.awx.Launches(); return len(l) > 0 && l[0].Job != 0 })

	card := rs.card(id, "Succeeded")
	if !strings.Contains(rs.threadText(card), "following it") {
		t.Errorf("the thread does not say the job was found:\n%s", rs.threadText(card))
	}
	if n := rs.jobLaunchingWrites(); n != 1 {
		t.Errorf("%d job launching POSTs to AWX, want 1", n)
	}
	rs.endedOnce(t, id, card, "Succeeded")
}

// storyReplicasCron: three schedules firing every minute, with all three
// replicas up: each fire launches once and is announced once. A fire comes
// with the wall clock's minute (the bot's cron has no test clock), so the
// story waits for one minute boundary, where the three schedules fire
// together.
func storyReplicasCron(t *testing.T) {
	rs := newReplicas(t, 3, "", 3*time.Second)
	rs.startAll()
	apps := []string{"shop-web staging", "batch-api production", "cache-warmer production"}
	var ids []string
	for _, app := range apps {
		rs.slash(alice, fmt.Sprintf(`schedule %s 2.0.0 "* * * * *"`, app))
		created := rs.reply(alice, strings.Fields(app)[0])
		m := scheduleIDRE.FindStringSubmatch(created.Text + unescapeJSON(created.Blocks))
		if m == nil {
			t.Fatalf("the answer does not name the schedule: %s", created.Text)
		}
		ids = append(ids, m[1])
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Second)
	defer cancel()
	announced := func(text string) int {
		n := 0
		for _, m := range rs.slack.Messages(release) {
			if strings.Contains(m.Text, text) {
				n++
			}
		}
		return n
	}
	if err := rs.slack.WaitFor(ctx, func(*slacktest.Server) bool { return announced("ended: succeeded") >= len(apps) }); err != nil {
		var got []string
		for _, m := range rs.slack.Messages(release) {
			got = append(got, m.Text)
		}
		t.Fatalf("the runs did not all end; announcements:\n%s\nlogs:\n%s", strings.Join(got, "\n"), rs.logs.String())
	}
	for _, id := range ids {
		rs.slash(alice, "unschedule "+id)
		rs.reply(alice, "deleted", "S"+id)
	}
	rs.await("every job to end in AWX", func() bool { return rs.awxJobs("successful") == len(rs.awx.Launches()) })
	// batch-api and cache-warmer run as ad-hoc commands: every POST that
	// starts work in AWX counts.
	if n := rs.jobLaunchingWrites(); n != len(apps) {
		t.Errorf("%d job launching POSTs to AWX for %d fires, want one each", n, len(apps))
	}
	for _, what := range []string{"started: see", "ended: succeeded"} {
		if n := announced(what); n != len(apps) {
			t.Errorf("%q announced %d times for %d fires", what, n, len(apps))
		}
	}
	if n := rs.cards([]string{deploys}); n != len(apps) {
		t.Errorf("%d request cards for %d fires", n, len(apps))
	}
	if t.Failed() {
		t.Logf("announcements:\n%s\ncards:\n%s", messagesText(rs.slack.Messages(release)), messagesText(rs.slack.Messages(deploys)))
	}
}

// messagesText is the text of messages, one a line.
func messagesText(ms []slacktest.Message) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.Text + "\n")
	}
	return b.String()
}

var scheduleIDRE = regexp.MustCompile(`(?i)schedule [#S]?(\d+)`)
