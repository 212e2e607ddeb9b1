package deploy

import (
	"fmt"
	"slices"
)

// rollbackChoice is what a rollback without a release id brings the hosts
// back to, chosen from the release history by chooseRollback.
type rollbackChoice struct {
	// release is the deploy whose version every host ends on; nil when the
	// history holds none, and the hosts restore their newest backups.
	release *Request
	// current is the release the hosts were moved to last (the one rolled
	// back from); nil when none is on record.
	current *Request
	// currentDone is whether current finished on every host.
	currentDone bool
	// hostVersions is what each host runs as far as the history says:
	// one version, or several (newest first) where a release did not
	// finish; no entry where the history does not know.
	hostVersions map[string][]string
}

// chooseRollback picks what a rollback of hosts brings back, from the
// environment's launched releases and rollbacks (history, newest first).
//
// A rollback brings every host to one release: the newest release that
// was live on all of them before the current one. The current one is the
// newest launched release, or the release a later successful rollback
// returned to. A release that failed or was canceled part way may have
// reached some hosts and not others; rolling it back returns them all to
// the release before it, which was live everywhere. Rolling back again
// goes one release further back. Releases of the current version are
// skipped: going back to it would change nothing.
func chooseRollback(history []*Request, hosts []string) rollbackChoice {
	events := slices.Clone(history)
	slices.Reverse(events) // oldest first
	var (
		done    []*Request // deploys that finished on every host, oldest first
		current *Request
		fully   bool
	)
	live := map[string][]string{}
	// before returns the newest release that finished everywhere, older
	// than r and of another version.
	before := func(r *Request) *Request {
		for i := len(done) - 1; i >= 0; i-- {
			if d := done[i]; d.ID < r.ID && d.Version != r.Version {
				return d
			}
		}
		return nil
	}
	for _, r := range events {
		ok := r.Status == StatusSucceeded
		switch r.Kind {
		case KindDeploy:
			for _, h := range r.Plan.Hosts {
				live[h] = reached(live[h], r.Version, ok)
			}
			if ok {
				done = append(done, r)
			}
			current, fully = r, ok
		case KindRollback:
			v := r.Plan.RollbackVersion
			for _, h := range r.Plan.Hosts {
				if v == "" {
					// Backups were restored: which version, the
					// history does not say.
					delete(live, h)
					continue
				}
				live[h] = reached(live[h], v, ok)
			}
			if !ok {
				continue
			}
			var back *Request
			if v != "" {
				back = findRequest(done, r.Plan.RollbackRelease)
			} else if current != nil {
				back = before(current)
			}
			if back != nil {
				current, fully = back, true
			}
		}
	}
	c := rollbackChoice{current: current, currentDone: fully, hostVersions: map[string][]string{}}
	for _, h := range hosts {
		if vs := live[h]; len(vs) > 0 {
			c.hostVersions[h] = vs
		}
	}
	if current != nil {
		c.release = before(current)
	}
	return c
}

// reached is a host's possible versions after a release of v: v alone when
// it finished, else v or what the host had before.
func reached(had []string, v string, finished bool) []string {
	if finished || len(had) == 0 {
		if finished {
			return []string{v}
		}
		// Unknown before and not finished: still unknown.
		return nil
	}
	out := []string{v}
	for _, h := range had {
		if h != v {
			out = append(out, h)
		}
	}
	return out
}

// findRequest returns the request with id in rs, or nil.
func findRequest(rs []*Request, id int64) *Request {
	for _, r := range rs {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// describe says what the rollback restores, for the card.
func (c rollbackChoice) describe() string {
	name := func(r *Request) string { return fmt.Sprintf("%s (#%d)", r.Version, r.ID) }
	switch {
	case c.release == nil && c.current == nil:
		return "the newest backup on each host"
	case c.release == nil:
		return fmt.Sprintf("the newest backup on each host: no earlier release than %s finished on every host on record", name(c.current))
	case c.currentDone:
		return fmt.Sprintf("%s on every host, the release before %s", name(c.release), name(c.current))
	}
	return fmt.Sprintf("%s on every host, the last release live on all of them before %s, which did not finish", name(c.release), name(c.current))
}
