package awxtest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Behavior drives one job or ad-hoc command from "waiting" to its end: it
// sets the status to running, emits events and returns. When it returns
// nil the job ends "successful", or "failed" if a saved stats event reports
// failures or unreachable hosts; an error ends it as "error" (with the
// error as result_traceback); a cancel ends it as "canceled".
type Behavior interface {
	Run(ctx context.Context, r *Run) error
}

// BehaviorFunc adapts a function to Behavior.
type BehaviorFunc func(ctx context.Context, r *Run) error

// Run calls f.
func (f BehaviorFunc) Run(ctx context.Context, r *Run) error { return f(ctx, r) }

// RunInfo is what a behaviour needs to know about its job.
type RunInfo struct {
	// Kind is "job" or "ad_hoc_command".
	Kind string
	ID   int
	// Playbook is the template's playbook (jobs).
	Playbook string
	// ModuleName and ModuleArgs describe an ad-hoc command.
	ModuleName string
	ModuleArgs string
	// Hosts maps each inventory host to its parsed variables.
	Hosts     map[string]map[string]any
	ExtraVars map[string]any
	Limit     string
	Check     bool
	Diff      bool
}

// Targets returns the inventory hosts the job runs on: those that match
// its limit, sorted. A limit is an Ansible host pattern; names, "all", "*"
// and shell-style globs separated by commas or colons are understood here,
// as ansible-playbook --limit does for them (Ansible's "Patterns: targeting
// hosts and groups"); an empty limit targets every host.
func (i RunInfo) Targets() []string {
	var out []string
	for _, h := range sortedKeys(i.Hosts) {
		if limitMatches(i.Limit, h) {
			out = append(out, h)
		}
	}
	return out
}

func limitMatches(limit, host string) bool {
	if strings.TrimSpace(limit) == "" {
		return true
	}
	sep := ","
	if !strings.Contains(limit, ",") {
		sep = ":"
	}
	for _, p := range strings.Split(limit, sep) {
		p = strings.TrimSpace(p)
		if p == "all" || p == "*" || p == host {
			return true
		}
		if ok, err := path.Match(p, host); err == nil && ok {
			return true
		}
	}
	return false
}

// JobError, returned by a behaviour, ends the job "error" with AWX's
// job_explanation and result_traceback as given, e.g. an execution
// environment image that cannot be pulled (the job ends before any event;
// awx/main/tasks/jobs.py sets job_explanation and result_traceback).
type JobError struct {
	Explanation string
	Traceback   string
}

func (e *JobError) Error() string { return e.Explanation }

// Run is a behaviour's handle on its job.
type Run struct {
	s    *Server
	job  *unifiedJob
	info RunInfo
	lag  int
}

// Info describes the job.
func (r *Run) Info() RunInfo { return r.info }

// SetEventLag overrides the server's event lag (WithEventLag) for this job
// from now on: up to n emitted events are held back and saved in random
// order, the rest after the final status.
func (r *Run) SetEventLag(n int) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.lag = max(0, n)
}

// SetStatus moves the job to status ("running" for example). Final
// statuses are better left to the return value of Behavior.Run.
func (r *Run) SetStatus(status string) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.job.setStatus(status, time.Now())
	r.s.broadcastLocked()
}

// WaitPoll blocks until the job's detail has been requested once more
// since the previous call, so a scripted job advances one step per
// client poll. It returns at once for jobs not paced by polls.
func (r *Run) WaitPoll(ctx context.Context) error {
	r.s.mu.Lock()
	pace := r.job.pace
	r.s.mu.Unlock()
	if !pace {
		return nil
	}
	return r.s.await(ctx, func() bool {
		if r.job.polls > 0 {
			r.job.polls = 0
			return true
		}
		return false
	})
}

// EventSpec is an event as a behaviour emits it; the server assigns the
// counter, lines, ids and times.
type EventSpec struct {
	Event      string
	UUID       string
	ParentUUID string
	Host       string
	Playbook   string
	Play       string
	Task       string
	Role       string
	// Stdout is the event's output, lines joined by "\r\n", usually
	// without a final newline.
	Stdout    string
	Data      map[string]any
	Failed    bool
	Changed   bool
	Verbosity int
}

// Emit hands events to the callback receiver. Depending on the server's
// event lag they are saved at once or later, possibly out of order.
func (r *Run) Emit(specs ...EventSpec) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	now := time.Now()
	j := r.job
	for _, sp := range specs {
		j.counter++
		lines := 0
		if sp.Stdout != "" {
			lines = strings.Count(sp.Stdout, "\n") + 1
		}
		e := &event{job: j, counter: j.counter, name: sp.Event, data: sp.Data, uuid: sp.UUID,
			parentUUID: sp.ParentUUID, hostName: sp.Host, playbook: sp.Playbook, play: sp.Play, task: sp.Task,
			role: sp.Role, stdout: sp.Stdout, startLine: j.lines, endLine: j.lines + lines,
			failed: sp.Failed, changed: sp.Changed, verbosity: sp.Verbosity, created: now, modified: now}
		if e.uuid == "" {
			e.uuid = newUUID()
		}
		if e.data == nil {
			e.data = map[string]any{}
		}
		if failureEvents[e.name] {
			if ie, _ := e.data["ignore_errors"].(bool); !ie {
				e.failed = true
			}
		}
		if h := r.s.db.hostByName(j.inventory, e.hostName); h != nil {
			e.host = h.id
		}
		j.lines += lines
		j.held = append(j.held, e)
	}
	for len(j.held) > r.lag {
		i := 0
		if r.lag > 0 {
			i = r.s.db.rnd.IntN(len(j.held))
		}
		r.s.saveLocked(j, i)
	}
	r.s.broadcastLocked()
}

// saveLocked saves held event i of j, as a callback receiver worker does.
func (s *Server) saveLocked(j *unifiedJob, i int) {
	e := j.held[i]
	j.held = append(j.held[:i], j.held[i+1:]...)
	e.id = s.db.nextID("event")
	e.created = time.Now()
	e.modified = e.created
	j.saved = append(j.saved, e)
	if j.byUUID == nil {
		j.byUUID = map[string]*event{}
	}
	j.byUUID[e.uuid] = e
	s.db.events[e.id] = e
	switch {
	case e.name == "playbook_on_stats":
		s.processStatsLocked(j, e)
	case j.statsSaved:
		// A late event may be a child or a parent of saved ones.
		for _, x := range j.saved {
			propagate(j, x)
		}
	}
}

// propagate marks the parents of a failed or changed event.
func propagate(j *unifiedJob, e *event) {
	if !e.failed && !e.changed {
		return
	}
	for p := j.byUUID[e.parentUUID]; p != nil && p != e; p = j.byUUID[p.parentUUID] {
		if p.name == "playbook_on_start" {
			break
		}
		p.failed = p.failed || e.failed
		p.changed = p.changed || e.changed
		p.modified = time.Now()
	}
}

// releaseLocked saves one late event of a finished job; requests about the
// job call it, standing in for the callback receiver's progress. A status
// poll (detail) also lets a paced behaviour take its next step.
func (s *Server) releaseLocked(j *unifiedJob, detail bool) {
	if detail {
		j.polls++
	}
	if isFinal(j.status) && len(j.held) > 0 {
		s.saveLocked(j, s.db.rnd.IntN(len(j.held)))
	}
	s.broadcastLocked()
}

// processStatsLocked builds host summaries from the stats event and
// propagates failed/changed flags to parent events, as AWX does.
func (s *Server) processStatsLocked(j *unifiedJob, stats *event) {
	j.statsSaved = true
	count := func(key, host string) int {
		m, _ := stats.data[key].(map[string]any)
		switch v := m[host].(type) {
		case float64:
			return int(v)
		case int:
			return v
		case json.Number:
			n, _ := v.Int64()
			return int(n)
		}
		return 0
	}
	seen := map[string]bool{}
	for _, key := range []string{"processed", "ok", "changed", "failures", "dark", "skipped", "ignored", "rescued"} {
		m, _ := stats.data[key].(map[string]any)
		for h := range m {
			seen[h] = true
		}
	}
	j.summaries = nil
	for _, name := range sortedNames(seen) {
		hs := &hostSummary{id: s.db.nextID("host_summary"), hostName: name,
			changed: count("changed", name), dark: count("dark", name), failures: count("failures", name),
			ok: count("ok", name), processed: count("processed", name), skipped: count("skipped", name),
			ignored: count("ignored", name), rescued: count("rescued", name)}
		if h := s.db.hostByName(j.inventory, name); h != nil {
			hs.host = h.id
			h.lastJob = j.id
		}
		j.summaries = append(j.summaries, hs)
	}
	for _, e := range j.saved {
		propagate(j, e)
	}
}

func (j *unifiedJob) statsFailed() bool {
	for _, s := range j.summaries {
		if s.failures > 0 || s.dark > 0 {
			return true
		}
	}
	return false
}

// start runs the job's behaviour in the background.
func (s *Server) startLocked(j *unifiedJob, b Behavior, info RunInfo) {
	ctx, cancel := context.WithCancel(s.runCtx)
	j.cancel = cancel
	r := &Run{s: s, job: j, info: info, lag: s.cfg.eventLag}
	s.runs.Add(1)
	go func() {
		defer s.runs.Done()
		defer cancel()
		r.SetStatus("waiting")
		err := b.Run(ctx, r)
		s.mu.Lock()
		defer s.mu.Unlock()
		now := time.Now()
		j.runnerDone = true
		// A runner flushes what it buffered when it exits.
		for len(j.held) > r.lag {
			s.saveLocked(j, 0)
		}
		switch {
		case isFinal(j.status):
		case j.cancelRequested():
			j.setStatus("canceled", now)
		case err != nil && ctx.Err() != nil:
			j.setStatus("canceled", now)
		case err != nil:
			j.traceback = err.Error()
			j.explanation = "Job terminated due to error"
			var je *JobError
			if errors.As(err, &je) {
				j.traceback, j.explanation = je.Traceback, je.Explanation
			}
			j.setStatus("error", now)
		case j.statsFailed() || r.unsavedStatsFailed():
			j.setStatus("failed", now)
		default:
			j.setStatus("successful", now)
		}
		if s.cfg.logf != nil {
			s.cfg.logf("awxtest: %s %d %s (%d events emitted)", j.kind, j.id, j.status, j.counter)
		}
		s.broadcastLocked()
	}()
}

func (j *unifiedJob) cancelRequested() bool { return !j.canceledOn.IsZero() }

// unsavedStatsFailed looks at a stats event still held back: the runner
// knows the outcome before AWX has saved it.
func (r *Run) unsavedStatsFailed() bool {
	for _, e := range r.job.held {
		if e.name != "playbook_on_stats" {
			continue
		}
		for _, key := range []string{"failures", "dark"} {
			m, _ := e.data[key].(map[string]any)
			for _, v := range m {
				if fmt.Sprint(v) != "0" {
					return true
				}
			}
		}
	}
	return false
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
