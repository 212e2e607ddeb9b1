package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

// TestLimitsOutputCap: output past the upload limit is uploaded as its last
// part, starting at a line, under a note that gives the sizes and the AWX
// job's link; output within the limit is uploaded whole.
func TestLimitsOutputCap(t *testing.T) {
	h := newHarness(t)
	const limit = 64 << 10
	h.svc.MaxUpload = limit
	h.svc.AWXURL = "https://awx.example.com/"
	h.runner.OutputPad = 1 << 20 // 16 times the limit

	req := h.deploy(dev, "shop-web", "staging", "1.4.3")
	h.waitStatus(req.ID, deploy.StatusSucceeded)
	waitFor(t, func() bool { return len(h.notifier.Uploads(req.ID)) == 1 }, "the output of #%d", req.ID)
	up := h.notifier.Uploads(req.ID)[0]
	job, _ := h.runner.Job(req.ID)
	text := string(up.Content)
	note, body, _ := strings.Cut(text, "\n\n")
	for _, want := range []string{
		"[deploybot] This output is 1 MB", "more than the 64 KB upload limit",
		fmt.Sprintf("https://awx.example.com/#/jobs/playbook/%d", job.Ref.ID),
	} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q lacks %q", note, want)
		}
	}
	if len(body) > limit || len(body) < limit-200 {
		t.Errorf("uploaded %d bytes of output, want the last %d or a line less", len(body), limit)
	}
	if !strings.HasPrefix(body, "line ") || !strings.HasSuffix(body, "END OF OUTPUT\n") {
		t.Errorf("uploaded part does not run from a line start to the end: %.40q … %.40q", body, body[max(0, len(body)-40):])
	}
	if up.Filename != fmt.Sprintf("shop-web-staging-%d.log", req.ID) || !strings.Contains(up.Title, " of 1 MB)") {
		t.Errorf("file %q titled %q", up.Filename, up.Title)
	}

	// Within the limit: whole, with no note.
	h.runner.OutputPad = 1000
	small := h.deploy(dev, "shop-web", "staging", "1.4.4")
	h.waitStatus(small.ID, deploy.StatusSucceeded)
	waitFor(t, func() bool { return len(h.notifier.Uploads(small.ID)) == 1 }, "the output of #%d", small.ID)
	sj, _ := h.runner.Job(small.ID)
	var full bytes.Buffer
	if err := h.runner.Output(context.Background(), sj.Ref, &full); err != nil {
		t.Fatal(err)
	}
	if got := h.notifier.Uploads(small.ID)[0]; !bytes.Equal(got.Content, full.Bytes()) || got.Title != fmt.Sprintf("Playbook output of #%d", small.ID) {
		t.Errorf("small output uploaded as %q (%d bytes), want it whole (%d bytes)", got.Title, len(got.Content), full.Len())
	}
}

// TestLimitsRepeatedLog: /deploy log N again within a minute uploads
// nothing and points to the earlier file; after a minute it uploads again;
// many at once upload once.
func TestLimitsRepeatedLog(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	req := h.deploy(dev, "shop-web", "staging", "1.4.3")
	h.waitStatus(req.ID, deploy.StatusSucceeded)
	waitFor(t, func() bool { return len(h.notifier.Uploads(req.ID)) == 1 }, "the output of #%d", req.ID)

	if _, err := h.svc.SendLog(ctx, req.ID, dev); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(30 * time.Second)
	_, err := h.svc.SendLog(ctx, req.ID, dev)
	wantCode(t, err, deploy.ECONFLICT)
	msg := deploy.ErrorMessage(err)
	for _, want := range []string{"was posted 30s ago", fmt.Sprintf("shop-web-staging-%d.log", req.ID), "<#" + chan1 + ">"} {
		if !strings.Contains(msg, want) {
			t.Errorf("answer %q lacks %q", msg, want)
		}
	}
	if n := len(h.notifier.Uploads(req.ID)); n != 2 {
		t.Fatalf("uploads = %d, want 2 (the repeat uploads nothing)", n)
	}

	h.clock.Advance(31 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent := 0
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.svc.SendLog(ctx, req.ID, dev); err == nil {
				mu.Lock()
				sent++
				mu.Unlock()
			} else if deploy.ErrorCode(err) != deploy.ECONFLICT {
				t.Errorf("SendLog: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := len(h.notifier.Uploads(req.ID)); sent != 1 || n != 3 {
		t.Fatalf("5 commands at once after a minute: %d answered with a file, %d uploads; want 1 and 3", sent, n)
	}
}

// TestLimitsOneDryRun: a second dry run of an app and env is refused with
// the reason while one waits or runs; releases and other environments are
// not held by it; a dry run that slipped in at the same moment waits in
// the queue and starts when the first ends.
func TestLimitsOneDryRun(t *testing.T) {
	h := newHarness(t)
	h.runner.HoldJobs = true
	ctx := context.Background()
	dry := func(user, env string) (*deploy.Request, error) {
		return h.svc.RequestDeploy(ctx, deploy.DeployInput{User: user, Channel: chan1, App: "shop-web", Env: env, Version: "1.4.3", Check: true})
	}
	first, err := dry(dev, "staging")
	if err != nil {
		t.Fatal(err)
	}
	h.waitStatus(first.ID, deploy.StatusRunning)

	_, err = dry(alice, "staging")
	wantCode(t, err, deploy.ECONFLICT)
	if msg := deploy.ErrorMessage(err); !strings.Contains(msg, fmt.Sprintf("#%d", first.ID)) || !strings.Contains(msg, "One dry run per environment") {
		t.Errorf("refusal %q does not say why", msg)
	}
	rel := h.deploy(dev, "shop-web", "staging", "1.4.4")
	h.waitStatus(rel.ID, deploy.StatusRunning)

	// Two asked at the same instant: the store keeps the second queued.
	late := deploy.Request{Kind: first.Kind, App: first.App, Env: first.Env, Version: first.Version, Check: true,
		RequestedBy: alice, Channel: chan1, Plan: first.Plan, PlanHash: first.PlanHash, Status: deploy.StatusQueued}
	if err := h.db.CreateRequest(ctx, &late); err != nil {
		t.Fatal(err)
	}
	h.tick()
	if r := h.request(late.ID); r.Status != deploy.StatusQueued {
		t.Fatalf("second dry run is %s while #%d runs, want queued", r.Status, first.ID)
	}
	h.runner.Release(h.jobOf(first.ID))
	h.waitStatus(first.ID, deploy.StatusSucceeded)
	h.waitStatus(late.ID, deploy.StatusRunning)
	h.runner.Release(h.jobOf(late.ID))
	h.runner.Release(h.jobOf(rel.ID))
	h.waitStatus(late.ID, deploy.StatusSucceeded)

	// Once none runs, a dry run is accepted again.
	again, err := dry(alice, "staging")
	if err != nil {
		t.Fatal(err)
	}
	h.waitStatus(again.ID, deploy.StatusRunning)
	h.runner.Release(h.jobOf(again.ID))
}
