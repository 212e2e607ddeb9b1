package deploy

import (
	"fmt"
	"slices"
	"strconv"
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
//
// "Before" follows what was live, not the order of the deploys: a release
// that a rollback went back past is never brought back by a later
// rollback (after 1.4.0, 1.4.1, a rollback to 1.4.0 and then 1.4.2, a
// rollback restores 1.4.0). Where the history cannot say what is live on
// every host (a rollback to a release id, or to a release older than the
// history read), nothing before it is chosen and the hosts restore their
// newest backups.
func chooseRollback(history []*Request, hosts []string) rollbackChoice {
	events := slices.Clone(history)
	slices.Reverse(events) // oldest first
	var (
		// lived holds the deploys that were live on every host, oldest
		// first, less those a rollback went back past: its last entry
		// is what every host ran before the current release.
		lived   []*Request
		current *Request
		fully   bool
	)
	live := map[string][]string{}
	// target returns the index in lived of the release a rollback from
	// current brings back: the newest of another version than current's,
	// other than current itself; -1 for none.
	target := func() int {
		if current == nil {
			return -1
		}
		for i := len(lived) - 1; i >= 0; i-- {
			if d := lived[i]; d != current && d.Version != current.Version {
				return i
			}
		}
		return -1
	}
	index := func(id int64) int {
		for i, d := range lived {
			if d.ID == id {
				return i
			}
		}
		return -1
	}
	// backTo makes lived[i] the release live everywhere; i < 0 means the
	// history no longer knows what is.
	backTo := func(i int) {
		if i < 0 {
			lived, current, fully = nil, nil, false
			return
		}
		lived = lived[:i+1]
		current, fully = lived[i], true
	}
	for _, r := range events {
		ok := r.Status == StatusSucceeded
		switch r.Kind {
		case KindDeploy:
			for _, h := range r.Plan.Hosts {
				live[h] = reached(live[h], r.Version, ok)
			}
			if ok {
				if n := len(lived); n > 0 && lived[n-1].Version == r.Version {
					lived = lived[:n-1] // a redeploy of the same version
				}
				lived = append(lived, r)
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
			switch {
			case v != "":
				i := index(r.Plan.RollbackRelease)
				if i < 0 {
					// Older than the history read: the newest
					// release of that version, if any.
					for j := len(lived) - 1; j >= 0 && i < 0; j-- {
						if lived[j].Version == v {
							i = j
						}
					}
				}
				backTo(i)
			case r.RollbackTo != "":
				// Each host restored what was live before release
				// RollbackTo: the release below it in lived, or, for
				// the current release that did not finish, the last
				// one live everywhere.
				id, err := strconv.ParseInt(r.RollbackTo, 10, 64)
				switch i := index(id); {
				case err != nil:
					backTo(-1)
				case i >= 0:
					backTo(i - 1)
				case current != nil && current.ID == id && !fully:
					backTo(len(lived) - 1)
				default:
					backTo(-1)
				}
			default:
				// The newest backups: the release before current.
				backTo(target())
			}
		}
	}
	c := rollbackChoice{current: current, currentDone: fully, hostVersions: map[string][]string{}}
	for _, h := range hosts {
		if vs := live[h]; len(vs) > 0 {
			c.hostVersions[h] = vs
		}
	}
	if i := target(); i >= 0 {
		c.release = lived[i]
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
