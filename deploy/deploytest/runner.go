package deploytest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/deploybot/deploybot/deploy"
)

// Job is one job the fake runner launched.
type Job struct {
	Ref deploy.JobRef
	// Req is a copy of the request as it was launched.
	Req deploy.Request
	// Updates are what successive polls return; the last one is Done.
	Updates  []deploy.Update
	Held     bool
	Canceled bool
}

type launchOutcome struct {
	err      error
	launched bool
}

// Runner is a scripted deploy.Runner. Every launched job plays its script,
// one Update per Poll, resuming from the cursor it is given, so a new
// follower (after a restart) continues where the old one stopped.
type Runner struct {
	mu sync.Mutex
	// Script gives the updates of a job; nil uses SuccessScript.
	Script func(req *deploy.Request) []deploy.Update
	// HoldJobs keeps new jobs running (polls return no news) before their
	// final update until Release is called.
	HoldJobs bool
	// MissingBuilds are artifact URLs CheckBuild reports as missing.
	MissingBuilds map[string]bool
	// OutputPad, when set, adds that many bytes of numbered lines to
	// every job's output after its events, written a line at a time, as a
	// long job's output would stream from AWX.
	OutputPad int64

	nextID    int64
	outcomes  []launchOutcome
	jobs      map[int64]*Job
	launches  []deploy.Request
	checked   []string
	cancels   []deploy.JobRef
	finds     int
	pollErrs  int
	polls     int
	outputErr error
}

// NewRunner returns a runner whose jobs succeed.
func NewRunner() *Runner {
	return &Runner{nextID: 100, jobs: map[int64]*Job{}, MissingBuilds: map[string]bool{}}
}

// FailNextLaunch makes the next Launch return err; launched tells whether
// the job was nevertheless created (as when a response is lost).
func (r *Runner) FailNextLaunch(err error, launched bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes = append(r.outcomes, launchOutcome{err: err, launched: launched})
}

// FailPolls makes the next n polls fail, as AWX 5xx answers would.
func (r *Runner) FailPolls(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pollErrs = n
}

// CheckBuild reports the artifact as present unless it is in MissingBuilds.
func (r *Runner) CheckBuild(_ context.Context, url string) (deploy.Build, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked = append(r.checked, url)
	if r.MissingBuilds[url] {
		return deploy.Build{}, deploy.Errorf(deploy.EINVALID, "The build %s does not exist (HTTP 404).", url)
	}
	return deploy.Build{Size: 4096, Checksum: "sha256:0f3a"}, nil
}

// Launch creates a job for req unless FailNextLaunch said otherwise.
func (r *Runner) Launch(_ context.Context, req *deploy.Request) (deploy.JobRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.launches = append(r.launches, *req)
	out := launchOutcome{launched: true}
	if len(r.outcomes) > 0 {
		out, r.outcomes = r.outcomes[0], r.outcomes[1:]
	}
	var ref deploy.JobRef
	if out.launched {
		ref = r.create(req)
	}
	if out.err != nil {
		return deploy.JobRef{}, out.err
	}
	return ref, nil
}

func (r *Runner) create(req *deploy.Request) deploy.JobRef {
	r.nextID++
	kind := deploy.JobTemplateRun
	if req.Plan.AdHoc {
		kind = deploy.AdHocCommand
	}
	ref := deploy.JobRef{Kind: kind, ID: r.nextID}
	script := r.Script
	if script == nil {
		script = SuccessScript
	}
	r.jobs[ref.ID] = &Job{Ref: ref, Req: *req, Updates: script(req), Held: r.HoldJobs}
	return ref
}

// FindLaunched finds the job launched for req, if any.
func (r *Runner) FindLaunched(_ context.Context, req *deploy.Request) (deploy.JobRef, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finds++
	for _, j := range r.jobs {
		if j.Req.ID == req.ID {
			return j.Ref, true, nil
		}
	}
	return deploy.JobRef{}, false, nil
}

// Poll returns the update after cursor.
func (r *Runner) Poll(_ context.Context, job deploy.JobRef, cursor string) (deploy.Update, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.polls++
	if r.pollErrs > 0 {
		r.pollErrs--
		return deploy.Update{}, errors.New("awx: 502 bad gateway")
	}
	j := r.jobs[job.ID]
	if j == nil {
		return deploy.Update{}, deploy.Errorf(deploy.ENOTFOUND, "job %d not found", job.ID)
	}
	pos := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil {
			return deploy.Update{}, fmt.Errorf("bad cursor %q", cursor)
		}
		pos = n
	}
	if j.Canceled {
		return deploy.Update{State: deploy.JobCanceled, Done: true, Cursor: cursor}, nil
	}
	last := len(j.Updates) - 1
	if pos >= last && j.Held || pos > last {
		return deploy.Update{State: deploy.JobRunning, Cursor: cursor}, nil
	}
	u := j.Updates[pos]
	u.Cursor = strconv.Itoa(pos + 1)
	return u, nil
}

// Cancel marks the job canceled; its next poll ends it.
func (r *Runner) Cancel(_ context.Context, job deploy.JobRef) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cancels = append(r.cancels, job)
	if j := r.jobs[job.ID]; j != nil {
		j.Canceled = true
	}
	return nil
}

// Output writes a text rendering of the job's events.
func (r *Runner) Output(_ context.Context, job deploy.JobRef, w io.Writer) error {
	r.mu.Lock()
	j := r.jobs[job.ID]
	err := r.outputErr
	pad := r.OutputPad
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if j == nil {
		return deploy.Errorf(deploy.ENOTFOUND, "job %d not found", job.ID)
	}
	if _, err = io.WriteString(w, RenderOutput(j.Updates)); err != nil {
		return err
	}
	return WritePad(w, pad)
}

// WritePad writes n bytes of numbered lines ("line 0000001 ...") to w, one
// line at a time; the last line ends with "END OF OUTPUT\n" when n allows.
func WritePad(w io.Writer, n int64) error {
	const width = 100
	line := []byte(strings.Repeat(".", width-1) + "\n")
	for i := int64(1); n > 0; i++ {
		if n <= width+int64(len("END OF OUTPUT\n")) {
			end := "END OF OUTPUT\n"
			if int64(len(end)) > n {
				end = end[int64(len(end))-n:]
			}
			_, err := io.WriteString(w, strings.Repeat(".", int(n)-len(end))+end)
			return err
		}
		copy(line, fmt.Sprintf("line %07d ", i))
		if _, err := w.Write(line); err != nil {
			return err
		}
		n -= width
	}
	return nil
}

// Release lets held job id finish.
func (r *Runner) Release(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if j := r.jobs[id]; j != nil {
		j.Held = false
	}
}

// Forget deletes job id, as an AWX admin deleting it would.
func (r *Runner) Forget(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.jobs, id)
}

// Launches returns copies of the requests launched, in order (including
// launches that failed).
func (r *Runner) Launches() []deploy.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]deploy.Request(nil), r.launches...)
}

// LaunchCount returns how many times Launch was called.
func (r *Runner) LaunchCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.launches)
}

// Job returns the job launched for request id.
func (r *Runner) Job(requestID int64) (Job, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range r.jobs {
		if j.Req.ID == requestID {
			return *j, true
		}
	}
	return Job{}, false
}

// Cancels returns the jobs Cancel was called for.
func (r *Runner) Cancels() []deploy.JobRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]deploy.JobRef(nil), r.cancels...)
}

// FindCount returns how many times FindLaunched was called.
func (r *Runner) FindCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.finds
}

// CheckedBuilds returns the URLs CheckBuild was asked about.
func (r *Runner) CheckedBuilds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.checked...)
}

// SuccessScript runs the plan's hosts one by one and succeeds; each host
// changes once.
func SuccessScript(req *deploy.Request) []deploy.Update {
	return HostScript(req.Plan.Hosts, "", "")
}

// FailScript returns a script in which failHost fails at task with msg.
func FailScript(failHost, task, msg string) func(req *deploy.Request) []deploy.Update {
	return func(req *deploy.Request) []deploy.Update {
		return HostScript(req.Plan.Hosts, failHost, task+"\x00"+msg)
	}
}

// HostScript builds a job script over hosts: one update for the start,
// one per host, and a final Done update with the recap. When failHost is
// set, that host fails (failure is "task\x00message") and the run stops.
func HostScript(hosts []string, failHost, failure string) []deploy.Update {
	var c int64
	ev := func(typ, host, play, task, msg string) deploy.Event {
		c++
		return deploy.Event{Counter: c, Type: typ, Host: host, Play: play, Task: task, Message: msg}
	}
	play := "Roll the release"
	ups := []deploy.Update{{State: deploy.JobRunning, Events: []deploy.Event{
		ev("playbook_start", "", "", "", ""),
	}}}
	recap := map[string]deploy.HostProgress{}
	state := deploy.JobSucceeded
	for _, h := range hosts {
		evs := []deploy.Event{
			ev("play_start", "", play, "", ""),
			ev("task_start", "", play, "Download the build", ""),
			ev("host_changed", h, play, "Download the build", ""),
		}
		if h == failHost {
			task, msg, _ := strings.Cut(failure, "\x00")
			evs = append(evs, ev("task_start", "", play, task, ""), ev("host_failed", h, play, task, msg))
			recap[h] = deploy.HostProgress{OK: 1, Change: 1, Failed: 1}
			ups = append(ups, deploy.Update{State: deploy.JobRunning, Events: evs})
			state = deploy.JobFailed
			break
		}
		evs = append(evs, ev("task_start", "", play, "Put the host back in the L4", ""), ev("host_ok", h, play, "Put the host back in the L4", ""))
		recap[h] = deploy.HostProgress{OK: 2, Change: 1}
		ups = append(ups, deploy.Update{State: deploy.JobRunning, Events: evs})
	}
	ups = append(ups, deploy.Update{State: state, Done: true, Recap: recap, Events: []deploy.Event{ev("stats", "", "", "", "")}})
	return ups
}

// RenderOutput renders updates as ansible-playbook-like text.
func RenderOutput(ups []deploy.Update) string {
	var b strings.Builder
	for _, u := range ups {
		for _, e := range u.Events {
			switch e.Type {
			case "play_start":
				fmt.Fprintf(&b, "PLAY [%s] ***\n", e.Play)
			case "task_start":
				fmt.Fprintf(&b, "\nTASK [%s] ***\n", e.Task)
			case "host_ok":
				fmt.Fprintf(&b, "ok: [%s]\n", e.Host)
			case "host_changed":
				fmt.Fprintf(&b, "changed: [%s]\n", e.Host)
			case "host_failed":
				fmt.Fprintf(&b, "fatal: [%s]: FAILED! => {\"msg\": %q}\n", e.Host, e.Message)
			case "stats":
				b.WriteString("\nPLAY RECAP ***\n")
				hosts := make([]string, 0, len(u.Recap))
				for h := range u.Recap {
					hosts = append(hosts, h)
				}
				sort.Strings(hosts)
				for _, h := range hosts {
					p := u.Recap[h]
					fmt.Fprintf(&b, "%s : ok=%d changed=%d failed=%d\n", h, p.OK, p.Change, p.Failed)
				}
			}
		}
	}
	return b.String()
}

var _ deploy.Runner = (*Runner)(nil)
