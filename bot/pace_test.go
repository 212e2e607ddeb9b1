package bot

import (
	"testing"
	"time"
)

// TestPacer: a quiet key writes its burst at once, then one per interval
// (5% under Slack's rate); keys do not wait for each other; a 429 pushes
// only its key back.
func TestPacer(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	now := t0
	p := newPacer(func() time.Time { return now })
	const interval, burst = time.Second, 3
	step := interval + interval/20
	tests := []struct {
		name string
		key  string
		at   time.Duration // the clock, from t0
		want time.Duration // the wait
	}{
		{"burst 1", "channel:C1", 0, 0},
		{"burst 2", "channel:C1", 0, 0},
		{"burst 3", "channel:C1", 0, 0},
		{"then one per interval", "channel:C1", 0, step},
		{"and the next", "channel:C1", 0, 2 * step},
		{"another key is free", "channel:C2", 0, 0},
		{"time passing pays the debt", "channel:C1", 3 * step, 0},
	}
	for _, tt := range tests {
		now = t0.Add(tt.at)
		if got := p.turn(tt.key, interval, burst); got != tt.want {
			t.Errorf("%s: wait %s, want %s", tt.name, got, tt.want)
		}
	}
	now = t0.Add(10 * time.Second)
	p.pushBack("channel:C2", 30*time.Second)
	if got := p.turn("channel:C2", interval, burst); got != 30*time.Second {
		t.Errorf("after a 429 asking 30s: wait %s", got)
	}
	if got := p.turn("channel:C3", interval, burst); got != 0 {
		t.Errorf("a 429 on one key held another: wait %s", got)
	}
}
