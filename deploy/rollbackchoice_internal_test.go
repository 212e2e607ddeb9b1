package deploy

import (
	"reflect"
	"testing"
)

// TestChooseRollback: a rollback brings every host to the newest release
// that was live on all of them before the current one, whatever mix a
// failed or canceled release left behind.
func TestChooseRollback(t *testing.T) {
	hosts := []string{"web1", "web2", "web3"}
	dep := func(id int64, v string, st Status) *Request {
		return &Request{ID: id, Kind: KindDeploy, Version: v, Status: st, Plan: Plan{Hosts: hosts}}
	}
	back := func(id int64, to *Request, st Status) *Request {
		return &Request{ID: id, Kind: KindRollback, Status: st,
			Plan: Plan{Hosts: hosts, RollbackVersion: to.Version, RollbackRelease: to.ID}}
	}
	oldBack := func(id int64, st Status) *Request {
		return &Request{ID: id, Kind: KindRollback, Status: st, Plan: Plan{Hosts: hosts}}
	}
	d1 := dep(1, "1.4.0", StatusSucceeded)
	d2 := dep(2, "1.4.1", StatusSucceeded)
	d3 := dep(3, "1.4.2", StatusSucceeded)
	f3 := dep(3, "1.4.2", StatusFailed)
	c3 := dep(3, "1.4.2", StatusCanceled)
	same := dep(3, "1.4.1", StatusSucceeded)
	toID := func(id int64, to string) *Request {
		return &Request{ID: id, Kind: KindRollback, Status: StatusSucceeded, RollbackTo: to, Plan: Plan{Hosts: hosts}}
	}
	e1, e2, e3, e4 := dep(1, "1.3.9", StatusSucceeded), dep(2, "1.4.0", StatusSucceeded), dep(3, "1.4.1", StatusSucceeded), dep(4, "1.4.2", StatusSucceeded)
	d4 := dep(5, "1.4.3", StatusSucceeded)
	f4 := dep(5, "1.4.3", StatusFailed)
	tests := []struct {
		name    string
		history []*Request // oldest first here; reversed below
		want    int64      // the release restored; 0 for none
		done    bool       // whether the release rolled back from finished
		live    []string   // what web1 runs as far as the history says
		desc    string
	}{
		{"no history", nil, 0, false, nil, "the newest backup on each host"},
		{"one release only", []*Request{d1}, 0, true, []string{"1.4.0"},
			"the newest backup on each host: no earlier release than 1.4.0 (#1) finished on every host on record"},
		{"after a success", []*Request{d1, d2, d3}, 2, true, []string{"1.4.2"},
			"1.4.1 (#2) on every host, the release before 1.4.2 (#3)"},
		{"after a partly failed release", []*Request{d1, d2, f3}, 2, false, []string{"1.4.2", "1.4.1"},
			"1.4.1 (#2) on every host, the last release live on all of them before 1.4.2 (#3), which did not finish"},
		{"after a canceled release", []*Request{d1, d2, c3}, 2, false, []string{"1.4.2", "1.4.1"},
			"1.4.1 (#2) on every host, the last release live on all of them before 1.4.2 (#3), which did not finish"},
		{"after a rollback, one further", []*Request{d1, d2, d3, back(4, d2, StatusSucceeded)}, 1, true, []string{"1.4.1"},
			"1.4.0 (#1) on every host, the release before 1.4.1 (#2)"},
		{"after a failed rollback, the same again", []*Request{d1, d2, d3, back(4, d2, StatusFailed)}, 2, true, []string{"1.4.1", "1.4.2"},
			"1.4.1 (#2) on every host, the release before 1.4.2 (#3)"},
		{"after a backup restore", []*Request{d1, d2, d3, oldBack(4, StatusSucceeded)}, 1, true, nil,
			"1.4.0 (#1) on every host, the release before 1.4.1 (#2)"},
		{"a redeploy of the same version is skipped", []*Request{d1, d2, same}, 1, true, []string{"1.4.1"},
			"1.4.0 (#1) on every host, the release before 1.4.1 (#3)"},
		// A release a rollback went back past does not come back.
		{"a release after a rollback goes back to what the rollback restored", []*Request{d1, d2, back(4, d1, StatusSucceeded), d4}, 1, true, []string{"1.4.3"},
			"1.4.0 (#1) on every host, the release before 1.4.3 (#5)"},
		{"a failed release after a rollback goes back to what the rollback restored", []*Request{d1, d2, back(4, d1, StatusSucceeded), f4}, 1, false, []string{"1.4.3", "1.4.0"},
			"1.4.0 (#1) on every host, the last release live on all of them before 1.4.3 (#5), which did not finish"},
		{"after a rollback to a release id, one further", []*Request{e1, e2, e3, e4, toID(5, "3")}, 1, true, nil,
			"1.3.9 (#1) on every host, the release before 1.4.0 (#2)"},
		{"after a rollback to the first release on record, nothing known", []*Request{d1, d2, d3, toID(4, "1")}, 0, false, nil,
			"the newest backup on each host"},
		{"after a rollback to a backup name, nothing known", []*Request{d1, d2, d3, toID(4, "nightly-3")}, 0, false, nil,
			"the newest backup on each host"},
		{"after a rollback to a release older than the history, nothing known", []*Request{d2, d3, back(4, d1, StatusSucceeded)}, 0, false, []string{"1.4.0"},
			"the newest backup on each host"},
		{"a failure with nothing before it", []*Request{dep(1, "1.4.0", StatusFailed)}, 0, false, nil,
			"the newest backup on each host: no earlier release than 1.4.0 (#1) finished on every host on record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			history := make([]*Request, len(tt.history))
			for i, r := range tt.history {
				history[len(history)-1-i] = r
			}
			c := chooseRollback(history, hosts)
			var got int64
			if c.release != nil {
				got = c.release.ID
			}
			if got != tt.want {
				t.Errorf("restores #%d, want #%d", got, tt.want)
			}
			if c.current != nil && c.currentDone != tt.done {
				t.Errorf("current #%d finished = %v, want %v", c.current.ID, c.currentDone, tt.done)
			}
			if lv := c.hostVersions["web1"]; !reflect.DeepEqual(lv, tt.live) {
				t.Errorf("web1 runs %q, want %q", lv, tt.live)
			}
			if d := c.describe(); d != tt.desc {
				t.Errorf("describe = %q\n want %q", d, tt.desc)
			}
		})
	}
}

// TestChooseRollbackPerHost: hosts a failed release never reached keep
// the version they had; a host added since the last release is not on
// record.
func TestChooseRollbackPerHost(t *testing.T) {
	two := []string{"web1", "web2"}
	history := []*Request{ // newest first
		{ID: 3, Kind: KindDeploy, Version: "1.4.2", Status: StatusFailed, Plan: Plan{Hosts: []string{"web1"}}},
		{ID: 2, Kind: KindDeploy, Version: "1.4.1", Status: StatusSucceeded, Plan: Plan{Hosts: two}},
	}
	c := chooseRollback(history, []string{"web1", "web2", "web3"})
	want := map[string][]string{"web1": {"1.4.2", "1.4.1"}, "web2": {"1.4.1"}}
	if !reflect.DeepEqual(c.hostVersions, want) {
		t.Errorf("host versions = %q, want %q", c.hostVersions, want)
	}
	if c.release == nil || c.release.ID != 2 {
		t.Errorf("restores %+v, want #2", c.release)
	}
}
