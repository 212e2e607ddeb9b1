package deploy

import (
	"testing"
	"time"
)

func TestWording(t *testing.T) {
	counts := []struct {
		n    int
		want string
	}{{0, "0 hosts"}, {1, "1 host"}, {2, "2 hosts"}}
	for _, c := range counts {
		if got := CountOf(c.n, "host"); got != c.want {
			t.Errorf("CountOf(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	durations := []struct {
		d    time.Duration
		want string
	}{
		{45 * time.Second, "45s"},
		{90 * time.Second, "1m30s"}, // not "1m3"
		{2 * time.Minute, "2m"},
		{time.Hour + 5*time.Minute, "1h5m"},
		{time.Hour, "1h"},
		{time.Hour + 30*time.Second, "1h0m30s"},
	}
	for _, c := range durations {
		if got := DurationText(c.d); got != c.want {
			t.Errorf("DurationText(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}
