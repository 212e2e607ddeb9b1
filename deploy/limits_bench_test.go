package deploy_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
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

// discardUploads is the recording notifier, except that uploads are read
// (as Slack's upload would) and dropped, so that the notifier itself holds
// no output in memory.
type discardUploads struct {
	*deploytest.Notifier
	bytes atomic.Int64
	done  chan struct{}
}

func (d *discardUploads) Upload(_ context.Context, _ *deploy.Request, _, _ string, content io.ReadSeeker) error {
	if _, err := content.Seek(0, io.SeekStart); err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, content)
	d.bytes.Add(n)
	d.done <- struct{}{}
	return err
}

// memSampler records the peak live heap while it runs.
type memSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak atomic.Uint64
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startSampler() *memSampler {
	m := &memSampler{stop: make(chan struct{})}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if h := heapBytes(); h > m.peak.Load() {
				m.peak.Store(h)
			}
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *memSampler) Stop() uint64 {
	close(m.stop)
	m.wg.Wait()
	return m.peak.Load()
}

// procStatus reads a kB figure (VmRSS, VmHWM) of /proc/self/status.
func procStatus(tb testing.TB, key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	tb.Fatalf("%s not in /proc/self/status", key)
	return 0
}

// BenchmarkLimitsFollowOutput follows and finishes a job of 50,000 events
// whose output is 50 MB, through the real Service and SQLite store; the
// fake runner streams the output and the notifier reads the upload and
// drops it. It reports the growth of the peak live heap and of the peak
// RSS over the moment the job was released, and the bytes uploaded. Goal:
// at most 20 MB of growth.
func BenchmarkLimitsFollowOutput(b *testing.B) {
	const outputBytes = 50 << 20
	cfg, err := config.Parse("test.yaml", []byte(testConfig))
	if err != nil {
		b.Fatal(err)
	}
	var heapGrowth, rssGrowth, uploaded float64
	for i := 0; i < b.N; i++ {
		db := storage.NewDB(filepath.Join(b.TempDir(), "deploybot.db"))
		ctx, cancel := context.WithCancel(context.Background())
		if err := db.Open(ctx); err != nil {
			b.Fatal(err)
		}
		runner := deploytest.NewRunner()
		runner.HoldJobs = true
		runner.OutputPad = outputBytes
		stdout := strings.Repeat("x", 1000) + "\n"
		runner.Script = func(req *deploy.Request) []deploy.Update {
			// 500 polls of 100 events of 1 KB of stdout each, then the
			// hosts' script.
			var ups []deploy.Update
			c := int64(0)
			for range 500 {
				evs := make([]deploy.Event, 100)
				for k := range evs {
					c++
					evs[k] = deploy.Event{Counter: c, Type: "other", Stdout: stdout}
				}
				ups = append(ups, deploy.Update{State: deploy.JobRunning, Events: evs})
			}
			for _, u := range deploytest.SuccessScript(req) {
				for k := range u.Events {
					u.Events[k].Counter += c
				}
				ups = append(ups, u)
			}
			return ups
		}
		notifier := &discardUploads{Notifier: deploytest.NewNotifier(), done: make(chan struct{}, 1)}
		dir := deploytest.NewDirectory(map[string][]string{dev: {"@shop-devs"}})
		svc := deploy.NewService(cfg.Catalog(), db, runner, notifier, dir, deploy.SystemClock{}, zerolog.Nop())
		svc.PollInterval = time.Microsecond
		svc.TickInterval = time.Hour
		svc.MaxUpload = 10 << 20
		ran := make(chan struct{})
		go func() { _ = svc.Run(ctx); close(ran) }()

		req, err := svc.RequestDeploy(ctx, deploy.DeployInput{User: dev, Channel: chan1, App: "shop-web", Env: "staging", Version: "1.4.3"})
		if err != nil {
			b.Fatal(err)
		}
		var job deploytest.Job
		for ok := false; !ok; {
			job, ok = runner.Job(req.ID)
			time.Sleep(time.Millisecond)
		}
		runtime.GC()
		baseHeap := heapBytes()
		baseRSS := procStatus(b, "VmRSS")
		// Reset the peak RSS to the current RSS (Linux ≥ 4.0).
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		sampler := startSampler()
		runner.Release(job.Ref.ID)
		select {
		case <-notifier.done:
		case <-time.After(5 * time.Minute):
			b.Fatal("no upload after 5 minutes")
		}
		peakHeap := sampler.Stop()
		peakRSS := procStatus(b, "VmHWM")
		cancel()
		<-ran
		_ = db.Close()
		heapGrowth = float64(int64(peakHeap)-int64(baseHeap)) / (1 << 20)
		rssGrowth = float64(peakRSS-baseRSS) / (1 << 20)
		uploaded = float64(notifier.bytes.Load()) / (1 << 20)
	}
	b.ReportMetric(heapGrowth, "heap-growth-MB")
	b.ReportMetric(rssGrowth, "rss-growth-MB")
	b.ReportMetric(uploaded, "uploaded-MB")
	b.Logf("50 MB of output, 50,000 events: peak heap +%.1f MB, peak RSS +%.1f MB, %.1f MB uploaded (goal: at most 20 MB of growth)",
		heapGrowth, rssGrowth, uploaded)
}
