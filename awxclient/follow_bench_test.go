package awxclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/awxclient/awxtest"
)

// bench2000 builds a 2,000-event job: 10 hosts, 95 tasks. The benchmark
// releases benchBatch events per poll interval, saved out of order (lag 8).
func bench2000() []awxtest.EventSpec {
	pb := awxtest.NewPlaybook("web_deploy.yml").Play("web")
	for i := 0; i < 95; i++ {
		pb.Task(fmt.Sprintf("deploy step %d", i), "command")
		for h := 0; h < 10; h++ {
			host := fmt.Sprintf("web%02d.shop.example.com", h)
			if i%4 == 0 {
				pb.Changed(host, "")
			} else {
				pb.OK(host, "")
			}
		}
	}
	pb.Play("notify").Task("announce", "debug")
	return pb.Events()
}

// benchBatch is how many events the job emits per poll interval: 20
// events/s with the awx CLI's default 5 s interval.
const benchBatch = 100

type strategyResult struct {
	requests     int
	bytes        int64
	seen         map[int]int // counter → times delivered
	seenAtStop   int         // distinct events seen when the real stop rule fires
	stdoutBytes  int
	totalEvents  int
	statusChecks int
}

// runStrategy launches the job on a fresh fake and follows it with one of
// the strategies, counting the requests and answer bytes it made.
func runStrategy(tb testing.TB, gzip bool, follow func(ctx context.Context, srv *awxtest.Server, c *awxclient.Client, id int, r *strategyResult, advance func())) strategyResult {
	tb.Helper()
	opts := []awxtest.Option{awxtest.WithEventLag(8, 77), awxtest.WithLogf(nil)}
	if gzip {
		opts = append(opts, awxtest.WithGzip())
	}
	srv := awxtest.NewServer(tb, opts...)
	hosts := map[string]map[string]any{}
	for h := 0; h < 10; h++ {
		hosts[fmt.Sprintf("web%02d.shop.example.com", h)] = map[string]any{}
	}
	inv := srv.AddInventory("deploybot-shop-web-production", hosts)
	events := bench2000()
	// One batch of events per poll interval: advance() lets the job emit
	// its next batch and returns once it has.
	tick, ack := make(chan struct{}), make(chan struct{})
	behavior := awxtest.BehaviorFunc(func(ctx context.Context, r *awxtest.Run) error {
		r.SetStatus("running")
		for i := 0; i < len(events); i += benchBatch {
			select {
			case <-tick:
			case <-ctx.Done():
				return ctx.Err()
			}
			r.Emit(events[i:min(i+benchBatch, len(events))]...)
			ack <- struct{}{}
		}
		return nil
	})
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "deploy", Playbook: "web_deploy.yml", Inventory: inv, Behavior: behavior})
	c, err := awxclient.NewClient(srv.URL, awxclient.WithToken(srv.Token))
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	id, err := c.LaunchJobTemplate(ctx, jt, awxclient.LaunchOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	srv.ResetTraffic()
	r := strategyResult{seen: map[int]int{}, totalEvents: len(events)}
	batches := (len(events) + benchBatch - 1) / benchBatch
	advance := func() {
		if batches == 0 {
			return
		}
		tick <- struct{}{}
		<-ack
		batches--
		if batches == 0 {
			if err := srv.AwaitJob(ctx, id); err != nil {
				tb.Fatal(err)
			}
		}
	}
	follow(ctx, srv, c, id, &r, advance)
	r.requests, r.bytes = srv.Traffic()
	var out bytes.Buffer
	if _, err := c.JobStdout(ctx, id, &out); err != nil {
		tb.Fatal(err)
	}
	r.stdoutBytes = out.Len()
	return r
}

// ourFollower is awxclient's EventFollower, polling back to back.
func ourFollower(ctx context.Context, _ *awxtest.Server, c *awxclient.Client, id int, r *strategyResult, advance func()) {
	f := c.FollowJobEvents(id, awxclient.FollowOptions{})
	for {
		advance()
		evs, done, err := f.Poll(ctx)
		if err != nil {
			panic(err)
		}
		for _, ev := range evs {
			r.seen[ev.Counter]++
		}
		r.statusChecks++
		if done {
			r.seenAtStop = len(r.seen)
			return
		}
	}
}

// cliMonitor is the awx CLI's --monitor loop (ansible/awx:
// awxkit/awxkit/cli/stdout.py, monitor): each
// iteration reads one page (25) of events ordered by start_line from
// next_line, prints those starting at next_line, then reads the job. The
// CLI stops once event_processing_finished is true; to compare like with
// like we keep its loop going until a page brings nothing new, and record
// how much it had received when its own stop rule fired. Events saved late
// behind next_line are never read by this strategy.
func cliMonitor(ctx context.Context, srv *awxtest.Server, c *awxclient.Client, id int, r *strategyResult, advance func()) {
	nextLine := -1
	stopped := false
	for i := 0; i < 10000; i++ {
		advance()
		q := url.Values{"order_by": {"start_line"}, "no_truncate": {"True"}}
		if nextLine >= 0 {
			q.Set("start_line__gte", fmt.Sprint(nextLine))
		}
		page := rawGet(ctx, srv, fmt.Sprintf("/api/v2/jobs/%d/job_events/", id), q)
		var p struct {
			Results []awxclient.Event `json:"results"`
		}
		_ = json.Unmarshal(page, &p)
		fresh := 0
		for _, ev := range p.Results {
			if r.seen[ev.Counter] == 0 {
				fresh++
			}
			r.seen[ev.Counter] = 1 // received (it re-reads events by design)
			if nextLine < 0 {
				nextLine = ev.StartLine
			}
			if ev.StartLine == nextLine {
				nextLine = ev.EndLine
			}
		}
		job, err := c.GetJob(ctx, id)
		if err != nil {
			panic(err)
		}
		r.statusChecks++
		if job.EventProcessingFinished && !stopped {
			stopped = true
			r.seenAtStop = len(r.seen)
		}
		if stopped && len(r.seen) >= r.totalEvents {
			return
		}
		if stopped && fresh == 0 {
			return // drained: what is left sits behind next_line for good
		}
	}
}

func rawGet(ctx context.Context, srv *awxtest.Server, path string, q url.Values) []byte {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path+"?"+q.Encode(), nil)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return buf.Bytes()
}

func BenchmarkFollow(b *testing.B) {
	for _, gz := range []bool{false, true} {
		for _, s := range []struct {
			name string
			fn   func(context.Context, *awxtest.Server, *awxclient.Client, int, *strategyResult, func())
		}{{"follower", ourFollower}, {"cli-monitor", cliMonitor}} {
			name := s.name
			if gz {
				name += "/gzip"
			}
			b.Run(name, func(b *testing.B) {
				var r strategyResult
				for i := 0; i < b.N; i++ {
					r = runStrategy(b, gz, s.fn)
				}
				dup := 0
				for _, n := range r.seen {
					if n > 1 {
						dup++
					}
				}
				b.ReportMetric(float64(r.requests), "requests/job")
				b.ReportMetric(float64(r.bytes), "bytes/job")
				b.ReportMetric(float64(r.bytes)/float64(r.stdoutBytes), "bytes/stdout")
				b.ReportMetric(float64(len(r.seen)), "events-seen")
				b.ReportMetric(float64(r.seenAtStop), "seen-at-stop")
				b.ReportMetric(float64(dup), "events-seen-twice")
				b.ReportMetric(float64(r.stdoutBytes), "stdout-bytes")
			})
		}
	}
}

// TestFollowEfficiency holds the follower to the goals against the
// CLI strategy on the same 2,000-event job: at least 5x fewer requests and
// every event exactly once. (Byte figures are reported by BenchmarkFollow.)
func TestFollowEfficiency(t *testing.T) {
	t.Parallel()
	ours := runStrategy(t, false, ourFollower)
	cli := runStrategy(t, false, cliMonitor)
	if ours.totalEvents != 2000 {
		t.Fatalf("job has %d events, want 2000", ours.totalEvents)
	}
	if len(ours.seen) != 2000 {
		t.Fatalf("follower saw %d events", len(ours.seen))
	}
	for counter, n := range ours.seen {
		if n != 1 {
			t.Fatalf("event %d seen %d times", counter, n)
		}
	}
	if ours.requests*5 > cli.requests {
		t.Fatalf("follower made %d requests, CLI strategy %d: want at least 5x fewer", ours.requests, cli.requests)
	}
	t.Logf("follower: %d requests, %d bytes; cli --monitor: %d requests, %d bytes, %d/%d events seen when it would stop; stdout %d bytes",
		ours.requests, ours.bytes, cli.requests, cli.bytes, cli.seenAtStop, cli.totalEvents, ours.stdoutBytes)
}
