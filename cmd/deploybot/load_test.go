package main

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot/slacktest"
)

// The load harness: run it with
//
//	go test -run XXX -bench Load -benchtime 1x ./cmd/deploybot/
//
// Each sub-benchmark is one scenario through the fakes with the bot's
// production pacing (default tunables) and slacktest's rate limits on. It
// prints its figures with b.ReportMetric and b.Logf.

// loadChannels are the channels of the load configuration.
func loadChannels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("C0LOAD%05d", i)
	}
	return out
}

// loadConfig is a configuration of apps web apps, each with a staging
// environment of hosts hosts that needs no approval.
func loadConfig(apps, hosts int, channels []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `slack:
  channels: [%s]
awx:
  organization: Default
  inventory_prefix: deploybot
  credential: Demo Credential
  job_templates:
    web: deploybot-web-deploy
    custom: deploybot-custom-deploy
    rollback: deploybot-rollback
apps:
`, strings.Join(channels, ", "))
	for i := range apps {
		fmt.Fprintf(&b, `  app-%03d:
    type: web
    server: nginx
    artifact_url: BUILDS/app-%03d/{version}/app-{version}.tar.gz
    docroot: /var/www/app-%03d
    deploy_path: /opt/deploy/app-%03d
    pid_file: /run/nginx.pid
    environments:
      staging:
        hosts: [`, i, i, i, i)
		for h := range hosts {
			if h > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "app%03d-%02d.example.com", i, h)
		}
		b.WriteString("]\n        deployers: [U01ALICE00]\n        approval: {required: false}\n")
	}
	return b.String()
}

// newLoadStack is a stack over the load configuration with the bot's
// production tunables.
func newLoadStack(b *testing.B, apps, hosts int, channels []string) *stack {
	s := newStackConfig(b, loadConfig(apps, hosts, channels), slacktest.WithRateLimits(true))
	for _, c := range channels {
		s.slack.AddChannel(c, strings.ToLower(c), true, true)
	}
	s.tun = defaultTunables()
	s.env["LOG_LEVEL"] = "info"
	return s
}

// slashIn types /deploy text as alice in channel and returns the ack.
func (s *stack) slashIn(channel, text string) slacktest.Ack {
	ack, err := s.slack.SendSlashCommand(s.ctx(), slacktest.SlashCommand{User: alice, Channel: channel, Command: "/deploy", Text: text})
	if err != nil {
		s.t.Errorf("/deploy %s: %v", text, err)
	}
	return ack
}

// finished counts the request cards in channels that show a final state.
func (s *stack) finished(channels []string, label string) int {
	n := 0
	for _, c := range channels {
		for _, m := range s.slack.Messages(c) {
			if cardRE.MatchString(m.Text) && strings.HasSuffix(m.Text, ": "+label) {
				n++
			}
		}
	}
	return n
}

// awxJobs counts the launched jobs whose AWX status is status.
func (s *stack) awxJobs(status string) int {
	n := 0
	for _, l := range s.awx.Launches() {
		if l.Job != 0 && s.awx.JobStatus(l.Job) == status {
			n++
		}
	}
	return n
}

// cards counts the request cards in channels.
func (s *stack) cards(channels []string) int {
	n := 0
	for _, c := range channels {
		for _, m := range s.slack.Messages(c) {
			if cardRE.MatchString(m.Text) {
				n++
			}
		}
	}
	return n
}

// awaitLong is await with a longer deadline, for paced scenarios.
func (s *stack) awaitLong(what string, d time.Duration, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out after %s waiting for %s\nlogs:\n%s", d, what, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling the fakes, under the deadline above
	}
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkLoad runs the load scenarios of issue 5 §6.
func BenchmarkLoad(b *testing.B) {
	b.Run("ack50", benchAck)
	b.Run("releases20", func(b *testing.B) { benchReleases(b, 2) })
	b.Run("releases20x10hosts", func(b *testing.B) { benchReleases(b, 10) })
	b.Run("inflight100", benchInFlight)
}

// benchAck: 50 release commands at once; the ack latency of each as
// slacktest measures it (envelope written to ack read).
func benchAck(b *testing.B) {
	const n = 50
	for range b.N {
		channels := loadChannels(10)
		s := newLoadStack(b, n, 2, channels)
		s.start()
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				ack := s.slashIn(channels[i%len(channels)], fmt.Sprintf("app-%03d staging 1.0.%d", i, i))
				mu.Lock()
				lat = append(lat, ack.Latency)
				mu.Unlock()
			})
		}
		wg.Wait()
		s.awaitLong("every request card", time.Minute, func() bool { return s.cards(channels) == n })
		s.stop()
		p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
		b.ReportMetric(ms(p50), "ack-p50-ms")
		b.ReportMetric(ms(p99), "ack-p99-ms")
		b.Logf("%d concurrent /deploy commands: ack p50 %.1f ms, p99 %.1f ms, max %.1f ms (goal: p99 < 50 ms)",
			n, ms(p50), ms(p99), ms(percentile(lat, 1)))
		if p99 > 50*time.Millisecond {
			b.Errorf("ack p99 %s over the 50 ms goal", p99)
		}
	}
}

// benchReleases: 20 releases at once in one channel with Slack's rate
// limits on: 429s, Slack calls and AWX requests per release.
func benchReleases(b *testing.B, hosts int) {
	const n = 20
	for range b.N {
		channels := loadChannels(1)
		s := newLoadStack(b, n, hosts, channels)
		s.start()
		slackBefore, awxBefore := len(s.slack.Calls("")), len(s.awx.Requests())
		began := time.Now()
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { s.slashIn(channels[0], fmt.Sprintf("app-%03d staging 1.0.%d", i, i)) })
		}
		wg.Wait()
		s.awaitLong("every release to finish", 5*time.Minute, func() bool { return s.finished(channels, "Succeeded") == n })
		// Wait for the thread posts and uploads that follow the final card.
		s.awaitLong("every output upload", time.Minute, func() bool {
			c := 0
			for _, u := range s.slack.Uploads() {
				if u.Completed {
					c++
				}
			}
			return c >= n
		})
		took := time.Since(began)
		s.stop()
		calls := s.slack.Calls("")[slackBefore:]
		perMethod := map[string]int{}
		for _, c := range calls {
			perMethod[c.Method]++
		}
		awxReqs := len(s.awx.Requests()) - awxBefore
		limited := s.slack.RateLimited("")
		perRelease := float64(len(calls)) / n
		b.ReportMetric(perRelease, "slack-calls/release")
		b.ReportMetric(float64(awxReqs)/n, "awx-requests/release")
		b.ReportMetric(float64(limited), "429s")
		b.Logf("%d releases of %d hosts in one channel in %s: %.1f Slack calls per release %v, %.1f AWX requests per release, %d 429s (goals: 0 429s, at most %d Slack calls per release)",
			n, hosts, took.Round(time.Second), perRelease, perMethod, float64(awxReqs)/n, limited, 2*hosts+10)
		if limited > 0 {
			b.Errorf("%d 429s received", limited)
		}
		if perRelease > float64(2*hosts+10) {
			b.Errorf("%.1f Slack calls per release, over 2 × hosts + 10 = %d", perRelease, 2*hosts+10)
		}
	}
}

// benchInFlight: 100 releases held running at once in a bot run as its own
// process; its peak RSS (VmHWM).
func benchInFlight(b *testing.B) {
	const n = 100
	bin, _ := deploybotBinary(b)
	b.ResetTimer()
	for range b.N {
		channels := loadChannels(20)
		s := newLoadStack(b, n, 2, channels)
		open := make(chan struct{})
		s.awx.SetBehavior(s.tmpl["web"], gate(open), false)
		p := s.startProcess(bin)
		for i := range n {
			s.slashIn(channels[i%len(channels)], fmt.Sprintf("app-%03d staging 1.0.%d", i, i))
		}
		s.awaitLong("every job to run in AWX", 3*time.Minute, func() bool { return s.awxJobs("running") == n })
		hwm, rss := procStatus(b, p.Process.Pid, "VmHWM"), procStatus(b, p.Process.Pid, "VmRSS")
		close(open)
		s.awaitLong("every job to end in AWX", time.Minute, func() bool { return s.awxJobs("successful") == n })
		s.awaitLong("every output upload", 5*time.Minute, func() bool {
			c := 0
			for _, u := range s.slack.Uploads() {
				if u.Completed {
					c++
				}
			}
			return c >= n
		})
		hwmEnd := procStatus(b, p.Process.Pid, "VmHWM")
		s.stopProcess(p)
		b.ReportMetric(float64(hwm)/1024, "peak-RSS-MB")
		b.Logf("%d releases in flight: VmHWM %.1f MB (VmRSS %.1f MB); VmHWM once they all finished and uploaded their output %.1f MB (goal: < 60 MB)",
			n, float64(hwm)/1024, float64(rss)/1024, float64(hwmEnd)/1024)
		if hwmEnd > 60*1024 {
			b.Errorf("peak RSS %.1f MB over the 60 MB goal", float64(hwmEnd)/1024)
		}
	}
}

// procStatus reads a kB field of /proc/<pid>/status.
func procStatus(b *testing.B, pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatalf("read /proc status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("%s: %v", line, err)
			}
			return kb
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// process is the bot run as its own process.
type process struct {
	*exec.Cmd
	exited chan struct{}
}

// startProcess runs the built bot as its own process with the stack's
// environment and waits until it is ready.
func (s *stack) startProcess(bin string) *process {
	s.t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	s.logs = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	s.awaitReady(func() {
		select {
		case <-exited:
			s.t.Fatalf("the bot exited while starting\nlogs:\n%s", s.logs.String())
		default:
		}
	})
	return &process{cmd, exited}
}

// stopProcess sends SIGTERM and waits for a clean exit.
func (s *stack) stopProcess(p *process) {
	s.t.Helper()
	if err := p.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Errorf("SIGTERM: %v", err)
	}
	select {
	case <-p.exited:
		if !p.ProcessState.Success() {
			s.t.Errorf("the bot exited with %v\nlogs:\n%s", p.ProcessState, s.logs.String())
		}
	case <-time.After(30 * time.Second):
		s.t.Errorf("the bot did not stop within 30 s of SIGTERM")
	}
}
