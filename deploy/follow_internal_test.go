package deploy

import (
	"reflect"
	"testing"
)

// TestHostsDoneBySerialBatch: a host is done when the next serial batch of
// the same play starts, or at the final stats; a play that prepares every
// host first marks none done.
func TestHostsDoneBySerialBatch(t *testing.T) {
	f := &follower{p: Progress{Hosts: map[string]HostProgress{"web1": {}, "web2": {}, "web3": {}}}}
	var c int64
	ev := func(typ, host, play string) Event {
		c++
		return Event{Counter: c, Type: typ, Host: host, Play: play, Task: "t"}
	}
	done := func() []string {
		var out []string
		for _, h := range []string{"web1", "web2", "web3"} {
			if f.p.Hosts[h].Done {
				out = append(out, h)
			}
		}
		return out
	}
	steps := []struct {
		name   string
		events []Event
		want   []string
	}{
		{"prepare all hosts", []Event{ev("play_start", "", "Prepare"), ev("host_ok", "web1", "Prepare"), ev("host_ok", "web2", "Prepare"), ev("host_ok", "web3", "Prepare")}, nil},
		{"first batch", []Event{ev("play_start", "", "Roll"), ev("host_changed", "web1", "Roll")}, nil},
		{"second batch", []Event{ev("play_start", "", "Roll"), ev("host_changed", "web2", "Roll")}, []string{"web1"}},
		{"third batch", []Event{ev("play_start", "", "Roll"), ev("host_changed", "web3", "Roll")}, []string{"web1", "web2"}},
		{"tidy all hosts", []Event{ev("play_start", "", "Tidy"), ev("host_ok", "web1", "Tidy"), ev("host_ok", "web2", "Tidy"), ev("host_ok", "web3", "Tidy")}, []string{"web1", "web2"}},
		{"stats", []Event{ev("stats", "", "")}, []string{"web1", "web2", "web3"}},
	}
	for _, st := range steps {
		f.apply(Update{State: JobRunning, Events: st.events})
		if got := done(); !reflect.DeepEqual(got, st.want) {
			t.Fatalf("after %s: done = %v, want %v", st.name, got, st.want)
		}
	}
	want := []Note{{Kind: NotePlay, Title: "Prepare"}, {Kind: NotePlay, Title: "Roll"}, {Kind: NoteHostDone, Host: "web1"},
		{Kind: NoteHostDone, Host: "web2"}, {Kind: NotePlay, Title: "Tidy"}, {Kind: NoteHostDone, Host: "web3"}}
	if !reflect.DeepEqual(f.p.Milestones, want) {
		t.Errorf("milestones = %+v\nwant %+v", f.p.Milestones, want)
	}
}
