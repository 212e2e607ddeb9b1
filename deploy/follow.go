package deploy

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// follow starts a follower goroutine for running request r, unless one
// already runs here, Run is not running (Run starts it then), or another
// replica holds the request's lease (it follows the job). The follower
// renews the lease while it runs, stops when another replica takes it
// over, and releases it when the job is final or the service stops.
func (s *runs) follow(r *Request) {
	s.mu.Lock()
	ctx := s.runCtx
	if ctx == nil || s.following[r.ID] {
		s.mu.Unlock()
		return
	}
	s.following[r.ID] = true
	s.mu.Unlock()
	name := requestLease(r.ID)
	l, ok := s.hold(ctx, name)
	if ok {
		// Read again under the lease: the previous holder may have
		// finished the job, or moved its cursor on, since r was read.
		fresh, err := s.store.Request(ctx, r.ID)
		switch {
		case err != nil:
			s.reqLog(r).Warn().Err(err).Msg("read request before following it")
			ok = false
		case fresh.Status != StatusRunning:
			ok = false
			s.letGo(ctx, name)
		default:
			r = fresh
		}
	}
	s.mu.Lock()
	if !ok || s.runCtx == nil {
		delete(s.following, r.ID)
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.following, r.ID)
			s.mu.Unlock()
		}()
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := s.keep(fctx, name, l, cancel)
		s.followJob(fctx, r)
		stop()
		if ctx.Err() != nil || fctx.Err() == nil {
			// Stopping, or the job is final: the next holder may start at
			// once. A lost lease is not ours to release.
			s.letGo(ctx, name)
		}
	}()
}

// followAll makes sure every running request is followed, here or by
// the replica holding its lease.
func (s *runs) followAll(ctx context.Context) error {
	reqs, err := s.store.Requests(ctx, RequestFilter{Statuses: []Status{StatusRunning}})
	if err != nil {
		return fmt.Errorf("list running: %w", err)
	}
	for _, r := range reqs {
		s.follow(r)
	}
	return nil
}

// follower is the state of one followed job.
type follower struct {
	s        *runs
	req      *Request
	p        Progress
	cursor   string
	lastPost time.Time
	// inPlay holds the hosts that had results since the last play start:
	// when the same play starts again (the next serial batch), their part
	// is over. It is not stored: after a restart, those hosts are marked
	// done by the final stats instead.
	inPlay map[string]bool
}

// followJob polls r's job from its stored cursor until the job is done and
// all its events are read, then finishes the request.
func (s *runs) followJob(ctx context.Context, r *Request) {
	log := s.reqLog(r)
	f := &follower{s: s, req: r, p: r.Progress.clone(), cursor: r.Cursor}
	if f.p.Hosts == nil {
		f.p.Hosts = map[string]HostProgress{}
	}
	for _, h := range r.Plan.Hosts {
		if _, ok := f.p.Hosts[h]; !ok {
			f.p.Hosts[h] = HostProgress{Phase: "waiting"}
		}
	}
	log.Info().Str("cursor", f.cursor).Msg("following job")
	wait := s.PollInterval
	gone := 0 // consecutive answers that the job does not exist
	for {
		upd, err := s.runner.Poll(ctx, r.Job, f.cursor)
		if ctx.Err() != nil {
			return
		}
		if ErrorCode(err) == ENOTFOUND {
			if gone++; gone >= s.GoneAfter {
				log.Error().Err(err).Msg("job gone from AWX")
				s.finish(ctx, f, Update{State: JobFailed, Done: true,
					Explanation: fmt.Sprintf("AWX no longer has job %d, so its result is unknown. Check the hosts before deploying again.", r.Job.ID)})
				return
			}
		} else {
			gone = 0
		}
		if err != nil {
			wait = min(wait*2, s.MaxPollBackoff)
			log.Warn().Err(err).Int64("retry_in_ms", wait.Milliseconds()).Msg("poll job")
			if !pause(ctx, wait) {
				return
			}
			continue
		}
		wait = s.PollInterval
		for _, note := range upd.Notes {
			s.thread(ctx, f.snapshot(), Note{Kind: NoteRunner, Text: note})
		}
		changed := f.apply(upd)
		if upd.Cursor != "" && upd.Cursor != f.cursor || changed {
			if upd.Cursor != "" {
				f.cursor = upd.Cursor
			}
			if err := s.store.SetProgress(ctx, r.ID, f.cursor, f.p); err != nil {
				log.Error().Err(err).Msg("save progress")
			}
		}
		if upd.Done {
			s.finish(ctx, f, upd)
			return
		}
		if changed {
			s.show(ctx, f.snapshot())
		}
		f.flush(ctx, false)
		if !pause(ctx, wait) {
			return
		}
	}
}

// pause waits d or until ctx ends; it reports whether to go on.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// snapshot returns a copy of the request with the current progress, safe
// to hand to the notifier.
func (f *follower) snapshot() *Request {
	c := *f.req
	c.Progress = f.p.clone()
	c.Cursor = f.cursor
	return &c
}

// apply turns an update's events into progress and milestones; it reports
// whether the card would change.
func (f *follower) apply(upd Update) bool {
	changed := false
	for _, ev := range upd.Events {
		if ev.Counter != 0 && ev.Counter <= f.p.LastCounter {
			continue // already applied (a replay after a restart)
		}
		f.p.LastCounter = max(f.p.LastCounter, ev.Counter)
		changed = true
		switch ev.Type {
		case "play_start":
			// The same play again is the next serial batch: the hosts of
			// the last batch are done. A different play (preparing all
			// hosts first, tidying after) says nothing of that.
			if ev.Play != "" && ev.Play == f.p.Play {
				f.hostsDone(f.inPlay)
			}
			f.inPlay = map[string]bool{}
			f.p.Task = ""
			// A serial play starts again for every batch of hosts; its
			// name is worth one milestone.
			if ev.Play != "" && ev.Play != f.p.Play {
				f.p.Play = ev.Play
				f.milestone(Note{Kind: NotePlay, Title: ev.Play})
			}
		case "task_start":
			f.p.Task = ev.Task
		case "host_ok", "host_changed", "host_skipped":
			f.seen(ev.Host)
			hp := f.p.Hosts[ev.Host]
			hp.Phase = ev.Task
			switch ev.Type {
			case "host_ok":
				hp.OK++
			case "host_changed":
				// Ansible's recap counts a changed result as ok too.
				hp.OK++
				hp.Change++
			default:
				hp.Skipped++
			}
			if !hp.Done && hp.State != "failed" && hp.State != "unreachable" {
				hp.State = "running"
			}
			f.p.Hosts[ev.Host] = hp
		case "host_failed", "host_unreachable":
			f.seen(ev.Host)
			hp := f.p.Hosts[ev.Host]
			hp.Phase = ev.Task
			if ev.Type == "host_failed" {
				hp.Failed++
				hp.State = "failed"
			} else {
				hp.Unreachable++
				hp.State = "unreachable"
			}
			f.p.Hosts[ev.Host] = hp
			if f.p.Failure == nil {
				f.p.Failure = &Failure{Host: ev.Host, Task: ev.Task, Message: ev.Message}
				f.milestone(Note{Kind: NoteHostFailed, Host: ev.Host, State: hp.State, Task: ev.Task, Reason: oneLine(ev.Message, 200)})
			}
		case "stats":
			f.hostsDone(nil)
		}
	}
	if len(upd.Recap) > 0 {
		changed = true
		for h, rc := range upd.Recap {
			hp := f.p.Hosts[h]
			hp.OK, hp.Change, hp.Failed, hp.Unreachable, hp.Skipped = rc.OK, rc.Change, rc.Failed, rc.Unreachable, rc.Skipped
			hp.State = hp.RecapState()
			hp.Done = true
			f.p.Hosts[h] = hp
		}
	}
	return changed
}

func (f *follower) seen(host string) {
	if f.inPlay == nil {
		f.inPlay = map[string]bool{}
	}
	f.inPlay[host] = true
}

// hostsDone marks the working hosts among only (all when only is nil) as
// done: the next serial batch or the final stats mean their part is over.
func (f *follower) hostsDone(only map[string]bool) {
	hosts := make([]string, 0, len(f.p.Hosts))
	for h := range f.p.Hosts {
		if only == nil || only[h] {
			hosts = append(hosts, h)
		}
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		hp := f.p.Hosts[h]
		if hp.Done || hp.State != "running" {
			continue
		}
		hp.Done = true
		hp.State = "ok"
		if hp.Change > 0 {
			hp.State = "changed"
		}
		f.p.Hosts[h] = hp
		f.milestone(Note{Kind: NoteHostDone, Host: h})
	}
}

func (f *follower) milestone(n Note) { f.p.Milestones = append(f.p.Milestones, n) }

// flush posts pending milestones, at most one post per ThreadEvery unless
// force is set, and saves that they were posted.
func (f *follower) flush(ctx context.Context, force bool) {
	if len(f.p.Milestones) == 0 {
		return
	}
	now := f.s.now()
	if !force && !f.lastPost.IsZero() && now.Sub(f.lastPost) < f.s.ThreadEvery {
		return
	}
	f.s.thread(ctx, f.req, Note{Kind: NoteMilestones, Lines: f.p.Milestones})
	f.p.Milestones = nil
	f.lastPost = now
	if err := f.s.store.SetProgress(ctx, f.req.ID, f.cursor, f.p); err != nil {
		f.s.reqLog(f.req).Error().Err(err).Msg("save progress")
	}
}

// finish ends a followed request once its job is done: final progress,
// status and outcome, final card, failure digest, the full output as a
// file, metrics, and the next queued request.
func (s *runs) finish(ctx context.Context, f *follower, upd Update) {
	r := f.req
	log := s.reqLog(r)
	f.hostsDone(nil)
	to := StatusFailed
	switch upd.State {
	case JobSucceeded:
		to = StatusSucceeded
	case JobCanceled:
		to = StatusCanceled
	}
	canceledBy := r.CanceledBy
	if cur, err := s.store.Request(ctx, r.ID); err == nil {
		canceledBy = cur.CanceledBy
	}
	now := s.now()
	var d time.Duration
	if !r.StartedAt.IsZero() {
		d = now.Sub(r.StartedAt)
	}
	outcome := outcomeText(r, to, f.p, canceledBy, d)
	if to == StatusFailed && f.p.Failure == nil && upd.Explanation != "" {
		outcome += ": " + Literal(oneLine(upd.Explanation, 200))
	}
	// What Slack is owed is recorded with the final status, in one
	// transaction, and delivered from the store: a crash after the commit
	// cannot leave the card running or the digest and log unposted.
	var owed []Owed
	if len(f.p.Milestones) > 0 {
		owed = append(owed, Owed{Kind: OwedThread, Note: Note{Kind: NoteMilestones, Lines: f.p.Milestones}})
	}
	owed = append(owed, Owed{Kind: OwedCard}, Owed{Kind: OwedThread, Note: Note{Kind: NoteEnded, Status: to, Text: outcome}})
	if to == StatusFailed {
		// The output goes to a file on disk, not memory: it may be large.
		var tail string
		if out, err := s.spoolOutput(ctx, r.Job); err != nil {
			log.Warn().Err(err).Msg("read job output")
		} else {
			if tail, err = out.tail(digestTailBytes); err != nil {
				log.Warn().Err(err).Msg("read job output")
			}
			_ = out.Close()
		}
		owed = append(owed, Owed{Kind: OwedThread, Note: s.digest(r, f.p, upd.Explanation, tail)})
	}
	owed = append(owed, Owed{Kind: OwedUpload})
	if err := s.store.SetProgress(ctx, r.ID, f.cursor, f.p); err != nil {
		log.Error().Err(err).Msg("save final progress")
	}
	_, err := s.store.Transition(ctx, r.ID, Change{From: StatusRunning, To: to, At: now, Outcome: outcome, Owed: owed})
	if err != nil {
		log.Error().Err(err).Msg("finish request")
		return
	}
	ev := log.Info().Str("status", string(to)).Int64("took_ms", d.Milliseconds())
	if fl := f.p.Failure; fl != nil {
		ev = ev.Str("host", fl.Host).Str("task", fl.Task)
	}
	ev.Msg("job finished")
	// The request has ended: tell Slack even when shutdown has begun, but
	// start nothing new then (the next process will).
	stopping := ctx.Err() != nil
	ctx = context.WithoutCancel(ctx)
	if len(f.p.Milestones) > 0 {
		// They are owed now; the stored progress need not keep them.
		f.p.Milestones = nil
		if err := s.store.SetProgress(ctx, r.ID, f.cursor, f.p); err != nil {
			log.Error().Err(err).Msg("save final progress")
		}
	}
	s.deliverOwed(ctx, r.ID)
	s.Metrics.RequestFinished(r.App, r.Env, to, d)
	if !stopping {
		s.startNext(ctx, r.App, r.Env)
	}
}

// digest is the failure summary posted in the thread: the first failure
// (its message cut to 500 characters), AWX's explanation (cut to 300) and
// the last DigestLines lines of output.
func (s *runs) digest(r *Request, p Progress, explanation, output string) Note {
	n := Note{Kind: NoteDigest, Request: r.ID, Reason: oneLine(explanation, 300), Text: lastLines(output, s.DigestLines)}
	if f := p.Failure; f != nil {
		n.Failure = &Failure{Host: f.Host, Task: f.Task, Message: oneLine(f.Message, 500)}
	}
	return n
}

// logName is the file name of a request's uploaded output.
func logName(r *Request) string { return fmt.Sprintf("%s-%s-%d.log", r.App, r.Env, r.ID) }

// ansiRE matches terminal colour codes, which AWX output may carry.
var ansiRE = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// lastLines returns the last n lines of s, without blank lines at either
// end and without trailing spaces.
func lastLines(s string, n int) string {
	s = ansiRE.ReplaceAllString(s, "")
	lines := strings.Split(strings.ReplaceAll(strings.TrimRight(s, "\r\n \t"), "\r\n", "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	return strings.Join(lines, "\n")
}

// oneLine flattens s to one line of at most n characters.
func oneLine(s string, n int) string {
	return truncate(strings.Join(strings.Fields(s), " "), n)
}

// truncate cuts s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// clone returns a deep copy of p.
func (p Progress) clone() Progress {
	c := p
	c.Hosts = maps.Clone(p.Hosts)
	c.Milestones = slices.Clone(p.Milestones)
	if p.Failure != nil {
		f := *p.Failure
		c.Failure = &f
	}
	return c
}

// checkOutcome summarises a dry run: which hosts would change.
func checkOutcome(p Progress) string {
	var changed, same []string
	for h, hp := range p.Hosts {
		if hp.Change > 0 {
			changed = append(changed, h)
		} else {
			same = append(same, h)
		}
	}
	sort.Strings(changed)
	sort.Strings(same)
	if len(changed) == 0 {
		return "Dry run: no host would change"
	}
	t := "Dry run: would change " + strings.Join(changed, ", ")
	if len(same) > 0 {
		t += "; no change on " + strings.Join(same, ", ")
	}
	return t
}

// checkSummary finds a recent dry run of the same plan as req and
// summarises it for req's approval card.
func (s *runs) checkSummary(ctx context.Context, req *Request) Note {
	if req.Check {
		return Note{}
	}
	done, err := s.store.Requests(ctx, RequestFilter{App: req.App, Env: req.Env,
		Statuses: []Status{StatusSucceeded, StatusFailed}, Limit: 50})
	if err != nil {
		s.reqLog(req).Warn().Err(err).Msg("find dry runs")
		return Note{}
	}
	want := req.Plan
	want.Check = false
	hash := want.Hash()
	now := s.now()
	for _, r := range done {
		if !r.Check || now.Sub(r.FinishedAt) > s.CheckValidFor {
			continue
		}
		p := r.Plan
		p.Check = false
		if p.Hash() != hash {
			continue
		}
		return Note{Kind: NoteCheckSummary, Request: r.ID, User: r.RequestedBy, Detail: DurationText(now.Sub(r.FinishedAt)), Text: r.Outcome}
	}
	return Note{}
}
