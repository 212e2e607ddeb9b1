package bot

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

// TestRenderNoteGolden words every note kind with representative values
// and compares the texts with testdata/notes.golden (go test -update
// rewrites it). These are the texts users see in threads and
// announcements.
func TestRenderNoteGolden(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 11, 0, 0, 0, time.UTC)
	runs := []deploy.RunTime{{At: t0}, {At: t0.Add(24 * time.Hour), Note: "moved by a clock change"}}
	card := deploy.MessageRef{Channel: "C0DEPLOYS01", TS: "1700000000.000123"}
	const title = "S4 (shop-web 1.4.2 → production, 0 11 * * *)"
	cases := []struct {
		name string
		note deploy.Note
	}{
		{"text", deploy.Note{Kind: deploy.NoteText, Text: ":x: text stored before notes were typed"}},
		{"unknown kind", deploy.Note{Kind: "from_a_newer_version", Text: "its text as it is"}},
		{"approved, more needed", deploy.Note{Kind: deploy.NoteApproved, User: "U1", Count: 2}},
		{"approved, last", deploy.Note{Kind: deploy.NoteApproved, User: "U1"}},
		{"reminder", deploy.Note{Kind: deploy.NoteReminder, Request: 12, Count: 1, At: "18:30 UTC", Users: []string{"U2", "@shop-leads"}}},
		{"cancel refused, by user", deploy.Note{Kind: deploy.NoteCancelRefused, User: "U1", Reason: "AWX answered 500"}},
		{"cancel refused", deploy.Note{Kind: deploy.NoteCancelRefused, Reason: "AWX answered 500"}},
		{"canceling", deploy.Note{Kind: deploy.NoteCanceling, User: "U1"}},
		{"cancel while launching", deploy.Note{Kind: deploy.NoteCancelWhileLaunching, User: "U1"}},
		{"runner", deploy.Note{Kind: deploy.NoteRunner, Text: "2 hosts were left out by the limit"}},
		{"milestones", deploy.Note{Kind: deploy.NoteMilestones, Lines: []deploy.Note{
			{Kind: deploy.NotePlay, Title: "Roll <out> & check"},
			{Kind: deploy.NoteHostFailed, Host: "web<1>", State: "failed", Task: `restart "app"`, Reason: "exit 1 <b>"},
			{Kind: deploy.NoteHostDone, Host: "web2"},
			{Kind: deploy.NoteText, Text: ":white_check_mark: web3 done"},
		}}},
		{"ended succeeded", deploy.Note{Kind: deploy.NoteEnded, Status: deploy.StatusSucceeded, Text: "Succeeded in 2m"}},
		{"ended failed", deploy.Note{Kind: deploy.NoteEnded, Status: deploy.StatusFailed, Text: "Failed on web1"}},
		{"ended canceled", deploy.Note{Kind: deploy.NoteEnded, Status: deploy.StatusCanceled, Text: "Canceled by <@U1>"}},
		{"ended rejected", deploy.Note{Kind: deploy.NoteEnded, Status: deploy.StatusRejected, Text: "Rejected by <@U2>"}},
		{"ended expired", deploy.Note{Kind: deploy.NoteEnded, Status: deploy.StatusExpired, Text: "Expired without approval"}},
		{"digest", deploy.Note{Kind: deploy.NoteDigest, Request: 12, Failure: &deploy.Failure{Host: "web1", Task: "restart <app>", Message: "exit 1"},
			Reason: "Job terminated", Text: "TASK [restart]\nfatal: ```boom```"}},
		{"digest, nothing known", deploy.Note{Kind: deploy.NoteDigest, Request: 13}},
		{"launch unknown", deploy.Note{Kind: deploy.NoteLaunchUnknown}},
		{"job found", deploy.Note{Kind: deploy.NoteJobFound, Job: 4711}},
		{"schedule start", deploy.Note{Kind: deploy.NoteScheduleStart, Schedule: 4}},
		{"schedule start, needs approval", deploy.Note{Kind: deploy.NoteScheduleStart, Schedule: 4, Reason: "its plan changed"}},
		{"not recorded", deploy.Note{Kind: deploy.NoteNotRecorded}},
		{"wait dry run", deploy.Note{Kind: deploy.NoteWaitDryRun, Request: 11, Status: deploy.StatusRunning, User: "U1"}},
		{"wait turn", deploy.Note{Kind: deploy.NoteWaitTurn}},
		{"wait lock", deploy.Note{Kind: deploy.NoteWaitLock, User: "U1", At: "09:00 UTC", Reason: "freeze <!here> & co"}},
		{"wait lock, no reason", deploy.Note{Kind: deploy.NoteWaitLock, User: "U1", At: "09:00 UTC"}},
		{"wait request", deploy.Note{Kind: deploy.NoteWaitRequest, Request: 11, Status: deploy.StatusLaunching, Title: "1.4.1", User: "U1"}},
		{"wait ahead", deploy.Note{Kind: deploy.NoteWaitAhead}},
		{"check summary", deploy.Note{Kind: deploy.NoteCheckSummary, Request: 10, User: "U1", Detail: "5m", Text: "Dry run: would change web1"}},
		{"preparing", deploy.Note{Kind: deploy.NotePreparing, User: "U1", Title: "deploy shop-web 1.4.2 to production (dry run)"}},
		{"schedule created", deploy.Note{Kind: deploy.NoteScheduleCreated, User: "U1", Schedule: 4, Title: title, Text: "11:00 occurs twice on 2026-10-25; it runs at the first."}},
		{"schedule needs approval", deploy.Note{Kind: deploy.NoteScheduleNeedsApproval, User: "U1", Schedule: 4, Title: title, Count: 1,
			Users: []string{"U2", "@shop-leads"}, Detail: "3f9a2c1b", NextRuns: runs, TZ: "Europe/Berlin"}},
		{"schedule approved, more needed", deploy.Note{Kind: deploy.NoteScheduleApproved, User: "U2", Schedule: 4, Title: title, Count: 1}},
		{"schedule approved, active", deploy.Note{Kind: deploy.NoteScheduleApproved, User: "U2", Schedule: 4, Title: title}},
		{"schedule rejected", deploy.Note{Kind: deploy.NoteScheduleRejected, User: "U2", Schedule: 4, Title: title, Reason: "not <during> the freeze"}},
		{"schedule rejected, no reason", deploy.Note{Kind: deploy.NoteScheduleRejected, User: "U2", Schedule: 4, Title: title}},
		{"schedule deleted", deploy.Note{Kind: deploy.NoteScheduleDeleted, User: "U1", Schedule: 4, Title: title}},
		{"schedule paused", deploy.Note{Kind: deploy.NoteSchedulePaused, User: "U1", Schedule: 4, Title: title}},
		{"schedule resumed", deploy.Note{Kind: deploy.NoteScheduleResumed, User: "U1", Schedule: 4, Title: title}},
		{"run skipped by user", deploy.Note{Kind: deploy.NoteRunSkippedBy, User: "U1", Schedule: 4, Title: title, At: "2026-11-24 12:00 CET (11:00 UTC)"}},
		{"run deferred", deploy.Note{Kind: deploy.NoteRunDeferred, Schedule: 4, Title: title, At: "12:00 CET", Reason: "I could not check in Slack that <@U1> may still deploy.", Until: "12:30 CET"}},
		{"run skipped, as asked", deploy.Note{Kind: deploy.NoteRunSkipped, Schedule: 4, Title: title, At: "12:00 CET"}},
		{"run skipped", deploy.Note{Kind: deploy.NoteRunSkipped, Schedule: 4, Title: title, At: "12:00 CET", Reason: "the rights it needs could not be checked within 30m of its time"}},
		{"run not started", deploy.Note{Kind: deploy.NoteRunNotStarted, Schedule: 4, Title: title, At: "12:00 CET", Reason: "The build does not exist."}},
		{"run started", deploy.Note{Kind: deploy.NoteRunStarted, Schedule: 4, Title: title, At: "12:00 CET", Request: 12, Channel: "C0DEPLOYS01", Card: card, Status: deploy.StatusRunning}},
		{"run started, waits", deploy.Note{Kind: deploy.NoteRunStarted, Schedule: 4, Title: title, At: "12:00 CET", Request: 12, Channel: "C0DEPLOYS01", Status: deploy.StatusPendingApproval, Reason: "its plan changed"}},
		{"run started, queued, catch-up", deploy.Note{Kind: deploy.NoteRunStarted, Schedule: 4, Title: title, At: "12:00 CET", Request: 12, Status: deploy.StatusQueued,
			Wait: &deploy.Note{Kind: deploy.NoteWaitLock, User: "U1", At: "14:02", Reason: "db migration"}, CatchUp: true}},
		{"run upcoming", deploy.Note{Kind: deploy.NoteRunUpcoming, Schedule: 4, Title: title, Detail: "9m", At: "12:00 CET", Text: "02:30 does not exist; it runs at 03:00"}},
		{"run ended succeeded", deploy.Note{Kind: deploy.NoteRunEnded, Schedule: 4, Title: title, Status: deploy.StatusSucceeded, Request: 12, Card: card, Text: "Succeeded in 2m"}},
		{"run ended failed", deploy.Note{Kind: deploy.NoteRunEnded, Schedule: 4, Title: title, Status: deploy.StatusFailed, Request: 12, Channel: "C0DEPLOYS01"}},
		{"run ended expired", deploy.Note{Kind: deploy.NoteRunEnded, Schedule: 4, Title: title, Status: deploy.StatusExpired, Request: 12, Text: "Expired without approval"}},
		{"runs missed, run once", deploy.Note{Kind: deploy.NoteRunsMissed, Schedule: 4, Title: title, Count: 3, Runs: runs, TZ: "Europe/Berlin", CatchUp: true}},
		{"runs missed, skip", deploy.Note{Kind: deploy.NoteRunsMissed, Schedule: 4, Title: title, Count: 1, Runs: runs[:1], TZ: "UTC"}},
	}
	var buf bytes.Buffer
	for _, tc := range cases {
		fmt.Fprintf(&buf, "== %s (%s)\n%s\n\n", tc.name, tc.note.Kind, RenderNote(tc.note))
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", "notes.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("rendered notes differ from %s (run go test -update after checking):\n%s", path, got)
	}
}

// textNote is s as a note shown as it is.
func textNote(s string) deploy.Note { return deploy.Note{Kind: deploy.NoteText, Text: s} }
