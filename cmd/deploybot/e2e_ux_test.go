package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot/slacktest"
)

// channelSays waits for a message in the deploys channel (not a card, not
// a thread reply) whose text contains every one of parts.
func (s *stack) channelSays(parts ...string) slacktest.Message {
	s.t.Helper()
	m, err := s.slack.AwaitMessage(s.ctx(), deploys, func(m slacktest.Message) bool {
		if m.ThreadTS != "" {
			return false
		}
		for _, p := range parts {
			if !strings.Contains(m.Text, p) {
				return false
			}
		}
		return true
	})
	if err != nil {
		var got []string
		for _, m := range s.slack.Messages(deploys) {
			got = append(got, m.Text)
		}
		s.t.Fatalf("the channel never said %q; it has:\n%s\nlogs:\n%s", parts, strings.Join(got, "\n"), s.logs.String())
	}
	return m
}

// TestStoryLockToldToTheChannel: alice freezes staging while a release
// runs and another waits; the channel is told who locked it, why, and
// which release it holds, and the waiting card shows the lock. dave lifts
// it: the channel is told whose lock he lifted, the held release starts
// and its card no longer shows the lock.
func TestStoryLockToldToTheChannel(t *testing.T) {
	s := newStack(t)
	open := make(chan struct{})
	s.awx.SetBehavior(s.tmpl["web"], gate(open), false)
	s.start()

	s.slash(alice, "shop-web staging 1.4.2")
	id1, _ := s.newCard(0)
	s.card(id1, "Running")
	s.slash(alice, "shop-web staging 1.4.3")
	id2, _ := s.newCard(id1)
	queued := s.card(id2, "Queued")

	s.slash(alice, "lock shop-web staging database migration until 18:00")
	s.channelSays("🔒 shop-web staging locked by <@"+alice+">: database migration until 18:00",
		fmt.Sprintf("Held in the queue: #%d.", id2))
	s.await("the queued card to show the lock", func() bool {
		return strings.Contains(s.cardBlocks(queued), "🔒 locked by <@"+alice+"> since ") &&
			strings.Contains(s.cardBlocks(queued), "KST (") // the configured zone, UTC in brackets
	})

	// The running release ends; the lock holds the next one.
	close(open)
	s.card(id1, "Succeeded")
	if n := len(s.awx.Launches()); n != 1 {
		t.Fatalf("launches = %d while locked, want 1", n)
	}

	s.slash(dave, "unlock shop-web staging") // a deployer through @shop-devs
	s.channelSays("🔓 shop-web staging unlocked by <@"+dave+">", "It lifts the lock <@"+alice+"> set on ", "for database migration until 18:00")
	s.card(id2, "Succeeded")
	if b := s.cardBlocks(queued); strings.Contains(b, "locked") || strings.Contains(b, "🔒") {
		t.Errorf("the card still shows the lifted lock:\n%s", b)
	}
}

// TestStoryCancelAfterTheJobEnded: a cancel reaches AWX after the job has
// ended (AWX answers 405) while the bot has not yet seen the end: the user
// is told that nothing was stopped, the thread gets no "stopping" note, and
// the card ends as the job did.
func TestStoryCancelAfterTheJobEnded(t *testing.T) {
	s := newStack(t)
	open := make(chan struct{})
	s.awx.SetBehavior(s.tmpl["web"], gate(open), false)
	s.start()

	s.slash(alice, "shop-web staging 1.4.2")
	id, _ := s.newCard(0)
	card := s.card(id, "Running")
	job := s.awx.Launches()[0].Job
	// The bot's next look at the job is slow, so it learns of the end
	// only after the cancel.
	s.proxy.Delay(1, http.MethodGet, fmt.Sprintf("/api/v2/jobs/%d/", job), 5*time.Second)
	s.await("the bot's next poll of the job", func() bool { return s.proxy.Unused() == 0 })
	close(open)
	s.await("the job to end in AWX", func() bool { return s.awx.JobStatus(job) == "successful" })

	s.slash(alice, fmt.Sprintf("cancel %d", id))
	s.reply(alice, fmt.Sprintf("#%d had already finished in AWX", id), "nothing was stopped")
	s.card(id, "Succeeded")
	if th := s.threadText(card); strings.Contains(th, "cancel") || strings.Contains(th, "stopping") {
		t.Errorf("the thread speaks of a cancel that did not happen:\n%s", th)
	}
	canceled := 0
	for _, r := range s.awx.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/cancel/") {
			canceled++
			if r.Status != http.StatusMethodNotAllowed {
				t.Errorf("AWX answered the late cancel %d, want 405", r.Status)
			}
		}
	}
	if canceled != 1 {
		t.Errorf("cancel POSTs = %d, want 1", canceled)
	}
}
