package awxclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Event is a job event or an ad-hoc command event. Counter is the 1-based
// emission order; ids are in save order, which differs.
type Event struct {
	ID   int    `json:"id"`
	Type string `json:"type"`
	// Job is set for job events, AdHocCommand for ad-hoc command events.
	Job          int       `json:"job,omitempty"`
	AdHocCommand int       `json:"ad_hoc_command,omitempty"`
	Created      time.Time `json:"created"`
	Modified     time.Time `json:"modified"`
	Event        string    `json:"event"`
	Counter      int       `json:"counter"`
	EventDisplay string    `json:"event_display"`
	EventData    EventData `json:"event_data"`
	EventLevel   int       `json:"event_level"`
	Failed       bool      `json:"failed"`
	Changed      bool      `json:"changed"`
	UUID         string    `json:"uuid"`
	ParentUUID   string    `json:"parent_uuid"`
	// Host is the AWX host id, 0 when the event concerns no host.
	Host     int    `json:"host"`
	HostName string `json:"host_name"`
	Playbook string `json:"playbook"`
	Play     string `json:"play"`
	Task     string `json:"task"`
	Role     string `json:"role"`
	// Stdout is the event's output with ANSI codes; event lists cut it at
	// 1024 characters unless FollowOptions.NoTruncate is set.
	Stdout    string `json:"stdout"`
	StartLine int    `json:"start_line"`
	EndLine   int    `json:"end_line"`
	Verbosity int    `json:"verbosity"`
}

// EventData is an event's event_data: its keys depend on the event type.
type EventData map[string]any

// Msg returns res.msg, the module's message (for failures, the reason).
func (d EventData) Msg() string {
	res, _ := d["res"].(map[string]any)
	if res == nil {
		return ""
	}
	switch m := res["msg"].(type) {
	case string:
		return m
	case nil:
		return ""
	default:
		b, _ := json.Marshal(m)
		return string(b)
	}
}

// Res returns the module result (res), or nil.
func (d EventData) Res() map[string]any {
	res, _ := d["res"].(map[string]any)
	return res
}

// PlaybookStats is the per-host recap of a playbook_on_stats event: each
// map goes from host name to a count.
type PlaybookStats struct {
	Changed   map[string]int `json:"changed"`
	Dark      map[string]int `json:"dark"`
	Failures  map[string]int `json:"failures"`
	Ignored   map[string]int `json:"ignored"`
	OK        map[string]int `json:"ok"`
	Processed map[string]int `json:"processed"`
	Rescued   map[string]int `json:"rescued"`
	Skipped   map[string]int `json:"skipped"`
}

// Stats decodes the recap of a playbook_on_stats event.
func (e Event) Stats() (PlaybookStats, error) {
	var s PlaybookStats
	if e.Event != "playbook_on_stats" {
		return s, fmt.Errorf("event %d is %s, not playbook_on_stats", e.Counter, e.Event)
	}
	b, err := json.Marshal(e.EventData)
	if err != nil {
		return s, err
	}
	err = json.Unmarshal(b, &s)
	return s, err
}

// FollowOptions tune an EventFollower.
type FollowOptions struct {
	// After resumes a follow: events with counter <= After were handled
	// before (store EventFollower.Cursor to resume after a restart).
	After int
	// NoTruncate asks for full event stdout instead of the first 1024
	// characters; it costs bytes.
	NoTruncate bool
	// PageSize is the events page size, at most 200 (the default).
	PageSize int
	// EventWait bounds the wait, once the job is final, for AWX to say its
	// events are all saved (event_processing_finished), which can stay
	// false for hours or for good (ansible/awx issues 9286, 15773). Past
	// it the follow ends anyway and Incomplete reports true; events saved
	// later are not read. 0 waits for ever.
	EventWait time.Duration
}

// EventFollower reads the events of one job or ad-hoc command
// incrementally. AWX saves events out of order and after the job's final
// status, so it asks for events by counter, remembers which counters it
// has, asks again for missing ones, and is done only when the job is final
// and AWX says event processing is finished. Events are delivered once each
// and in counter order: an event after a gap is held back until the gap
// fills (or the job is done). An EventFollower is not safe for concurrent
// use.
type EventFollower struct {
	c          *Client
	objectPath string // "jobs/7/" or "ad_hoc_commands/7/"
	eventsPath string
	opts       FollowOptions

	cursor  int           // every counter <= cursor has been delivered
	max     int           // highest counter received
	pending map[int]Event // received, above a gap, not yet delivered
	done    bool
	job     Job

	sawStats    bool
	sinceStatus int
	// finalAt is when the job was first seen final with its events not
	// all saved; incomplete is set when EventWait ran out after it.
	finalAt    time.Time
	incomplete bool

	requests int
}

// FollowJobEvents returns a follower for a job's events.
func (c *Client) FollowJobEvents(jobID int, opts FollowOptions) *EventFollower {
	return c.newFollower("jobs/"+itoa(jobID)+"/", "job_events/", opts)
}

// FollowAdHocEvents returns a follower for an ad-hoc command's events.
func (c *Client) FollowAdHocEvents(id int, opts FollowOptions) *EventFollower {
	return c.newFollower("ad_hoc_commands/"+itoa(id)+"/", "events/", opts)
}

func (c *Client) newFollower(objectPath, events string, opts FollowOptions) *EventFollower {
	if opts.PageSize <= 0 || opts.PageSize > maxPageSize {
		opts.PageSize = maxPageSize
	}
	return &EventFollower{c: c, objectPath: objectPath, eventsPath: objectPath + events, opts: opts,
		cursor: opts.After, max: opts.After, pending: map[int]Event{}}
}

// Cursor returns the counter of the last event delivered; every event at or
// below it has been delivered. Store it to resume with FollowOptions.After.
func (f *EventFollower) Cursor() int { return f.cursor }

// Job returns the job (or ad-hoc command, in Job's shape) as of the last
// Poll.
func (f *EventFollower) Job() Job { return f.job }

// Incomplete reports whether the follow ended because EventWait ran out
// before AWX had saved every event: what was delivered may lack events.
func (f *EventFollower) Incomplete() bool { return f.incomplete }

// Requests returns how many HTTP requests the follower has made.
func (f *EventFollower) Requests() int { return f.requests }

// Poll fetches any events not seen yet and, when the event stream is quiet
// (or has reached the stats event, or every few polls), the job's status.
// It returns the events ready for delivery, in counter order, and done
// once the job is final, its event processing is finished and every event
// was delivered. Call it again after an interval until done.
func (f *EventFollower) Poll(ctx context.Context) ([]Event, bool, error) {
	if f.done {
		return nil, true, nil
	}
	got, err := f.sweep(ctx)
	if err != nil {
		return nil, false, err
	}
	f.sinceStatus++
	if got == 0 || f.sawStats || f.sinceStatus >= statusEvery || f.job.Status == "" {
		f.sinceStatus = 0
		var job Job
		f.requests++
		if err := f.c.do(ctx, request{method: http.MethodGet, path: f.objectPath}, &job); err != nil {
			return nil, false, fmt.Errorf("follow %s: %w", strings.TrimSuffix(f.objectPath, "/"), err)
		}
		f.job = job
		gaveUp := false
		if IsFinal(job.Status) && !job.EventProcessingFinished && f.opts.EventWait > 0 {
			now := time.Now()
			if f.finalAt.IsZero() {
				f.finalAt = now
			}
			gaveUp = now.Sub(f.finalAt) >= f.opts.EventWait
		}
		if job.Done() || gaveUp {
			// Every event is saved now: one more sweep reads the rest.
			if _, err := f.sweep(ctx); err != nil {
				return nil, false, err
			}
			f.done = true
			f.incomplete = gaveUp
			return f.deliver(true), true, nil
		}
	}
	return f.deliver(false), false, nil
}

// statusEvery bounds how many polls may pass without reading the status.
const statusEvery = 5

// maxMissing is how many missing counters one query may list.
const maxMissing = 100

// sweep asks, in one query where it can, for events newer than any seen
// and for the missing counters below them (events AWX saved late).
func (f *EventFollower) sweep(ctx context.Context) (int, error) {
	var missing []string
	for c := f.cursor + 1; c < f.max && len(missing) <= maxMissing; c++ {
		if _, have := f.pending[c]; !have {
			missing = append(missing, itoa(c))
		}
	}
	q := url.Values{}
	switch {
	case len(missing) == 0:
		q.Set("counter__gt", itoa(f.max))
	case len(missing) <= maxMissing:
		q.Set("or__counter__gt", itoa(f.max))
		q.Set("or__counter__in", strings.Join(missing, ","))
	default:
		// Many gaps: read again from the cursor; duplicates are dropped.
		q.Set("counter__gt", itoa(f.cursor))
	}
	return f.fetch(ctx, q)
}

// fetch reads every page of events matching q, keeps unseen ones and
// returns how many it kept.
func (f *EventFollower) fetch(ctx context.Context, q url.Values) (int, error) {
	q.Set("order_by", "counter")
	q.Set("page_size", itoa(f.opts.PageSize))
	if f.opts.NoTruncate {
		q.Set("no_truncate", "1")
	}
	req := request{method: http.MethodGet, path: f.eventsPath, query: q}
	kept := 0
	for {
		var p page[Event]
		f.requests++
		if err := f.c.do(ctx, req, &p); err != nil {
			return kept, fmt.Errorf("follow %s: %w", strings.TrimSuffix(f.eventsPath, "/"), err)
		}
		for _, ev := range p.Results {
			if ev.Counter <= f.cursor {
				continue
			}
			if _, dup := f.pending[ev.Counter]; dup {
				continue
			}
			f.pending[ev.Counter] = ev
			f.max = max(f.max, ev.Counter)
			f.sawStats = f.sawStats || ev.Event == "playbook_on_stats"
			kept++
		}
		if p.Next == "" {
			return kept, nil
		}
		req = request{method: http.MethodGet, path: p.Next}
	}
}

// deliver returns the contiguous run of events after the cursor, or every
// pending event when flush is set.
func (f *EventFollower) deliver(flush bool) []Event {
	var out []Event
	for {
		ev, ok := f.pending[f.cursor+1]
		if !ok {
			break
		}
		delete(f.pending, ev.Counter)
		f.cursor = ev.Counter
		out = append(out, ev)
	}
	if flush && len(f.pending) > 0 {
		rest := make([]int, 0, len(f.pending))
		for c := range f.pending {
			rest = append(rest, c)
		}
		sort.Ints(rest)
		for _, c := range rest {
			out = append(out, f.pending[c])
			delete(f.pending, c)
		}
		f.cursor = rest[len(rest)-1]
	}
	return out
}

// FollowJob polls a job every interval, calls fn for each event in counter
// order (exactly once), and returns the final job once it is done. An
// error from fn stops the follow and is returned.
func (c *Client) FollowJob(ctx context.Context, id int, interval time.Duration, fn func(Event) error) (Job, error) {
	return follow(ctx, c.FollowJobEvents(id, FollowOptions{}), interval, fn)
}

// FollowAdHocCommand is FollowJob for an ad-hoc command.
func (c *Client) FollowAdHocCommand(ctx context.Context, id int, interval time.Duration, fn func(Event) error) (Job, error) {
	return follow(ctx, c.FollowAdHocEvents(id, FollowOptions{}), interval, fn)
}

func follow(ctx context.Context, f *EventFollower, interval time.Duration, fn func(Event) error) (Job, error) {
	for {
		events, done, err := f.Poll(ctx)
		if err != nil {
			return f.Job(), err
		}
		for _, ev := range events {
			if err := fn(ev); err != nil {
				return f.Job(), err
			}
		}
		if done {
			return f.Job(), nil
		}
		if err := sleepCtx(ctx, interval); err != nil {
			return f.Job(), err
		}
	}
}
