package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStoryRestartPendingApproval: a request waiting for approval still
// takes clicks after the bot restarts on the same database.
func TestStoryRestartPendingApproval(t *testing.T) {
	s := newStack(t)
	s.start()
	s.slash(alice, "shop-web production 1.4.2")
	id, _ := s.newCard(0)
	card := s.card(id, "Waiting for approval")
	s.stop()
	s.start()
	s.click(bob, card, "approve")
	s.card(id, "Succeeded")
	if n := len(s.awx.Launches()); n != 1 {
		t.Errorf("launches = %d, want 1", n)
	}
}

// TestStoryRestartRunning: a job that runs while the bot restarts is
// followed to its end and its card finished.
func TestStoryRestartRunning(t *testing.T) {
	storyRestartRunning(t, newStack(t))
}

// storyRestartRunning is TestStoryRestartRunning on the stack s (its
// database on SQLite or PostgreSQL).
func storyRestartRunning(t *testing.T, s *stack) {
	open := make(chan struct{})
	s.awx.SetBehavior(s.tmpl["web"], gate(open), false)
	s.start()
	s.slash(alice, "shop-web staging 1.4.2")
	id, _ := s.newCard(0)
	s.card(id, "Running")
	s.stop()
	s.start()
	close(open)
	card := s.card(id, "Succeeded")
	if !strings.Contains(s.cardBlocks(card), "ok=") {
		t.Errorf("the finished card has no host recap:\n%s", s.cardBlocks(card))
	}
	if n := len(s.awx.Launches()); n != 1 {
		t.Errorf("launches = %d, want 1", n)
	}
}

// TestStoryRestartLaunching: AWX starts the job but its answer to the
// launch is lost, and the bot stops before it asked AWX again; the next
// process finds the job by its request id and follows it, without a
// second launch.
func TestStoryRestartLaunching(t *testing.T) {
	s := newStack(t)
	s.tun.TickInterval = time.Hour // the first process must not reconcile
	s.start()
	s.proxy.DropAnswers(1, http.MethodPost, "/api/v2/job_templates/")
	s.slash(alice, "shop-web staging 1.4.2")
	id, card := s.newCard(0)
	s.await("the warning that the launch outcome is unknown", func() bool {
		return strings.Contains(s.threadText(card), "could not tell whether AWX started the job")
	})
	if s.proxy.Unused() != 0 {
		t.Fatal("the launch answer was not dropped")
	}
	s.stop()
	if n := len(s.awx.Launches()); n != 1 || s.awx.Launches()[0].Job == 0 {
		t.Fatalf("AWX has %d launches before the restart, want 1 that created a job", n)
	}
	s.tun.TickInterval = 100 * time.Millisecond
	s.start()
	s.card(id, "Succeeded")
	if !strings.Contains(s.threadText(card), "following it") {
		t.Errorf("the thread does not say the job was found:\n%s", s.threadText(card))
	}
	if n := len(s.awx.Launches()); n != 1 {
		t.Errorf("launches = %d after the restart, want exactly 1", n)
	}
}
