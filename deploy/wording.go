package deploy

import "strconv"

// countOf says n things in words: "1 host", "2 hosts", "0 approvals". Its
// plural adds an "s", which fits every noun the service counts.
func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
