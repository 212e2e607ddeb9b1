package main

import (
	"strings"
	"testing"
)

// newStackOnPostgres is newStack with the bot's database on the test
// PostgreSQL server (a fresh database) instead of a SQLite file.
func newStackOnPostgres(t *testing.T) *stack {
	t.Helper()
	s := newStack(t)
	s.env["DEPLOYBOT_DB"] = pg.URL(t)
	return s
}

// TestStoryOnPostgres runs release stories with DEPLOYBOT_DB=postgres://…:
// an approval with refused clicks and a double click (one launch), and a
// restart while the job runs (followed to its end, one launch).
func TestStoryOnPostgres(t *testing.T) {
	t.Run("Approval", func(t *testing.T) {
		s := newStackOnPostgres(t)
		s.start()
		s.slash(alice, "shop-web production 1.4.2")
		id, _ := s.newCard(0)
		card := s.card(id, "Waiting for approval")
		s.click(alice, card, "approve") // self-approval is forbidden here
		s.ephemeral(alice, "self-approval")
		s.click(carol, card, "approve")
		s.click(carol, card, "approve") // the double click
		s.card(id, "Succeeded")
		if n := len(s.awx.Launches()); n != 1 {
			t.Errorf("launches = %d, want exactly 1", n)
		}
		if !strings.Contains(s.threadText(card), carol) {
			t.Errorf("the thread does not say who approved:\n%s", s.threadText(card))
		}
	})

	t.Run("RestartRunning", func(t *testing.T) {
		storyRestartRunning(t, newStackOnPostgres(t))
	})
}
