package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot/slacktest"
)

// TestStorySlackRateLimitStorm: Slack answers 429 to card updates and
// thread posts during a release; the bot waits as told and the final card
// is still right.
func TestStorySlackRateLimitStorm(t *testing.T) {
	s := newStack(t)
	open := make(chan struct{})
	s.awx.SetBehavior(s.tmpl["web"], gate(open), false)
	s.start()
	s.slash(alice, "shop-web staging 1.4.2")
	id, card := s.newCard(0)
	s.card(id, "Running")
	const retryAfter = time.Second
	s.slack.ForceRateLimit("chat.update", 3, retryAfter)
	s.slack.ForceRateLimit("chat.postMessage", 2, retryAfter)
	close(open)
	final := s.card(id, "Succeeded")
	if !strings.Contains(s.cardBlocks(final), "Deployed 1.4.2 on 2 hosts") {
		t.Errorf("final card:\n%s", s.cardBlocks(final))
	}
	s.await("the thread to say the release is done", func() bool {
		return strings.Contains(s.threadText(card)+threadBlocks(s, card), "Deployed 1.4.2")
	})
	for _, method := range []string{"chat.update", "chat.postMessage"} {
		if n := s.slack.RateLimited(method); n == 0 {
			t.Errorf("no 429 on %s: the storm did not hit", method)
		}
		calls := s.slack.Calls(method)
		for i, c := range calls {
			if c.Status != http.StatusTooManyRequests || i+1 == len(calls) {
				continue
			}
			// The next call of the method comes after Retry-After (the
			// server rounds it to whole seconds).
			if gap := calls[i+1].At.Sub(c.At); gap < retryAfter-50*time.Millisecond {
				t.Errorf("%s called again %s after a 429 with Retry-After %s", method, gap, retryAfter)
			}
		}
	}
}

// TestStoryAWXFaultsWhileFollowing: while the bot follows a job, AWX
// answers 500 and then takes longer than the client waits; the release
// still completes.
func TestStoryAWXFaultsWhileFollowing(t *testing.T) {
	s := newStack(t)
	s.tun.AWXTimeout = 500 * time.Millisecond
	open := make(chan struct{})
	s.awx.SetBehavior(s.tmpl["web"], gate(open), false)
	s.start()
	s.slash(alice, "shop-web staging 1.4.2")
	id, _ := s.newCard(0)
	s.card(id, "Running")
	job := s.awx.Launches()[0].Job
	jobPath := fmt.Sprintf("/api/v2/jobs/%d/", job)
	s.awx.FailNext(3, http.MethodGet, jobPath, http.StatusInternalServerError)
	s.proxy.Delay(2, http.MethodGet, jobPath+"job_events/", time.Second)
	s.proxy.Delay(1, http.MethodGet, jobPath, time.Second)
	close(open)
	s.card(id, "Succeeded")
	if n := s.proxy.Unused(); n != 0 {
		t.Errorf("%d slow answers never asked for", n)
	}
	failed := 0
	for _, r := range s.awx.Requests() {
		if r.Status == http.StatusInternalServerError {
			failed++
		}
	}
	if failed != 3 {
		t.Errorf("AWX answered 500 %d times, want 3", failed)
	}
	if n := len(s.awx.Launches()); n != 1 {
		t.Errorf("launches = %d, want 1", n)
	}
}

// TestStoryAWXUnauthorized: the AWX token is revoked; a release fails
// with a clear message, /readyz says why, and the bot does not hammer AWX.
func TestStoryAWXUnauthorized(t *testing.T) {
	s := newStack(t)
	s.start()
	s.proxy.Revoke()
	began := time.Now()
	s.slash(alice, "shop-web staging 1.4.2")
	id, card := s.newCard(0)
	final := s.card(id, "Failed")
	text := strings.ToLower(s.cardBlocks(final) + s.threadText(card))
	if !strings.Contains(text, "token") && !strings.Contains(text, "authenticat") && !strings.Contains(text, "401") {
		t.Errorf("the failure does not say AWX refused the token:\n%s", text)
	}
	readyz := "http://" + s.env["DEPLOYBOT_HTTP_ADDR"] + "/readyz"
	_, body := waitHTTP(t, readyz, func(status int, body string) bool {
		return status == http.StatusServiceUnavailable && strings.Contains(body, "awx:")
	})
	if !strings.Contains(strings.ToLower(body), "401") && !strings.Contains(strings.ToLower(body), "token") {
		t.Errorf("/readyz does not say why AWX is not ready:\n%s", body)
	}
	if !strings.Contains(text, "awx_token") {
		t.Errorf("the failure does not tell what to fix:\n%s", text)
	}
	// One refused attempt for the release, no retries; health checks at
	// their interval.
	unauthorized, work := 0, 0
	for _, r := range s.awx.Requests() {
		if r.Status == http.StatusUnauthorized {
			unauthorized++
			if r.Path != "/api/v2/me/" {
				work++
			}
		}
	}
	elapsed := time.Since(began)
	if work != 1 {
		t.Errorf("the release made %d refused requests, want 1 (no retries)", work)
	}
	if limit := 3 + int(elapsed.Seconds()*2); unauthorized > limit {
		t.Errorf("%d requests refused in %s: a retry storm", unauthorized, elapsed)
	}
}

// TestStoryAWXWrongTokenAtStart: with a wrong AWX token the bot runs,
// /readyz says AWX refuses the token, and it retries with backoff.
func TestStoryAWXWrongTokenAtStart(t *testing.T) {
	s := newStack(t)
	s.env["AWX_TOKEN"] = strings.Repeat("0", 40)
	s.startUnready()
	readyz := "http://" + s.env["DEPLOYBOT_HTTP_ADDR"] + "/readyz"
	_, body := waitHTTP(t, readyz, func(status int, body string) bool {
		return status == http.StatusServiceUnavailable && strings.Contains(body, "awx:") && !strings.Contains(body, "not checked yet")
	})
	if !strings.Contains(strings.ToLower(body), "401") && !strings.Contains(strings.ToLower(body), "token") {
		t.Errorf("/readyz does not say the token is refused:\n%s", body)
	}
	began := time.Now()
	s.await("two more attempts", func() bool { return len(s.awx.Requests()) >= 3 })
	if n, d := len(s.awx.Requests()), time.Since(began); n > 3+int(d.Seconds()*2) {
		t.Errorf("%d requests in %s", n, d)
	}
}

// injections are strings that must never reach a shell or AWX.
var injections = []string{
	"1.4.2;id", "$(id)", "`id`", "1.4.2|id", "1.4.2\nid", "--check;rm", "1.4.2&&id", "1.4.2'", `1.4.2"`,
	"１.４.２",              // fullwidth digits
	"1.4.2\u037e" + "id", // Greek question mark, a semicolon lookalike
	"1.4.2\u200bid",      // zero-width space
	"../../etc/passwd",
}

// TestStoryInjection: hostile strings in every argument are refused with
// a clear answer and nothing reaches AWX.
func TestStoryInjection(t *testing.T) {
	s := newStack(t)
	s.start()
	writesBefore := s.awx.WriteCount()
	var cmds []string
	for _, bad := range injections {
		q := quoteArg(bad)
		cmds = append(cmds,
			"shop-web staging "+q,
			"shop-web staging "+q+" --check",
			q+" staging 1.4.2",
			"shop-web "+q+" 1.4.2",
			"batch-api production "+q,
			"cache-warmer production "+q,
			"rollback shop-web staging --to "+q,
			"rollback "+q+" staging",
			"rollback shop-web "+q,
			"cancel "+q,
			"log "+q,
			"history "+q,
			"status shop-web "+q,
			"lock "+q+" staging",
			"unlock shop-web "+q,
		)
	}
	cmds = append(cmds, "shop-wеb staging 1.4.2", "shop-web staging 1.4.2 --check;rm", "shop-web staging 1.4.2 ;id")
	for _, c := range cmds {
		before := len(s.slack.Ephemerals(alice))
		s.slash(alice, c)
		var got slacktest.Ephemeral
		s.await("an answer to /deploy "+c, func() bool {
			es := s.slack.Ephemerals(alice)
			if len(es) > before {
				got = es[before]
				return true
			}
			return false
		})
		if !strings.HasPrefix(got.Text, "⚠️") {
			t.Errorf("/deploy %q answered %q, want a refusal", c, got.Text)
		}
	}
	if n := s.jobLaunchingWrites(); n != 0 {
		t.Errorf("%d launches reached AWX", n)
	}
	if n := s.awx.WriteCount() - writesBefore; n != 0 {
		t.Errorf("%d writes reached AWX: %v", n, s.awx.Writes())
	}
	for _, m := range s.slack.Messages(deploys) {
		if cardRE.MatchString(m.Text) {
			t.Errorf("a request card was posted: %q", m.Text)
		}
	}
}

// quoteArg quotes s as a user would to pass it as one argument.
func quoteArg(s string) string {
	if strings.ContainsAny(s, " \t\n'\"\\") {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return s
}
