package deploy

import (
	"strconv"
	"strings"
	"time"
)

// CountOf says n things in words: "1 host", "2 hosts", "0 approvals". Its
// plural adds an "s", which fits every noun deploybot counts.
func CountOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// DurationText is d for people, to the second: "45s", "2m", "5m31s",
// "1h", "1h2m".
func DurationText(d time.Duration) string {
	s := d.Round(time.Second).String() // "45s", "1m30s", "2m0s", "1h0m0s"
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s") // "2m", "1h5m", "1h0m"
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m") // "1h"
	}
	return s
}
