package bot

import (
	"bytes"
	"context"
	"encoding/csv"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot/slacktest"
	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
)

// auditDB is a real SQLite audit trail with entries of every environment
// of testConfig, one of them older than 7 days.
func auditDB(t *testing.T) *storage.DB {
	t.Helper()
	db := storage.NewDB(filepath.Join(t.TempDir(), "deploybot.db"))
	if err := db.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	now := time.Now()
	for _, e := range []deploy.AuditEntry{
		{At: now.Add(-10 * 24 * time.Hour), Actor: "U0REQ", Action: "requested", RequestID: 1, App: "shop-web", Env: "production", Detail: "old"},
		{At: now.Add(-2 * time.Hour), Actor: "U0REQ", Action: "requested", RequestID: 2, App: "shop-web", Env: "production", Detail: "1.4.2"},
		{At: now.Add(-time.Hour), Actor: "U0REQ", Action: "locked", App: "shop-web", Env: "staging", Detail: `=HYPERLINK("http://evil.example","x")`},
		{At: now.Add(-time.Minute), Actor: "U0REQ", Action: "requested", RequestID: 3, App: "billing-worker", Env: "production", Detail: "+1, \"quoted\"\nline"},
	} {
		if err := db.Audit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestAuditExport: /deploy audit posts the rows a deployer or approver may
// read as a CSV file in the thread of a message in the channel; without an
// app, the environments the user deploys to or approves (groups resolved);
// anybody else is refused and nothing is posted; a bad --since is a usage
// error in the ack.
func TestAuditExport(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	for _, u := range []string{"U0REQ", "U0APP2", "U0LEAD", "U9NOBODY"} {
		srv.AddUser(u, strings.ToLower(u))
	}
	srv.AddUserGroup("S1", "shop-leads", "U0LEAD")
	startBot(t, srv, Config{Audit: auditDB(t)}, SlackOptions{})
	ctx := testCtx(t)

	// run sends the command and returns the CSV rows of the file it posts.
	run := func(user, text, wantMessage string) [][]string {
		t.Helper()
		before := len(srv.Uploads())
		if _, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{User: user, Channel: "C1", Command: "/deploy", Text: text}); err != nil {
			t.Fatal(err)
		}
		msg, err := srv.AwaitMessage(ctx, "C1", func(m slacktest.Message) bool {
			return strings.Contains(m.Text, "<@"+user+">") && strings.Contains(m.Text, wantMessage)
		})
		if err != nil {
			t.Fatalf("%s %q: no message containing %q: %v", user, text, wantMessage, err)
		}
		var up slacktest.Upload
		eventually(t, "the upload", func() bool {
			ups := srv.Uploads()
			if len(ups) > before && ups[len(ups)-1].Completed {
				up = ups[len(ups)-1]
				return true
			}
			return false
		})
		if up.ThreadTS != msg.TS || up.Channel != "C1" || !strings.HasSuffix(up.Filename, ".csv") {
			t.Errorf("file %s shared in %s/%s, want the thread of %s in C1", up.Filename, up.Channel, up.ThreadTS, msg.TS)
		}
		rows, err := csv.NewReader(bytes.NewReader(up.Content)).ReadAll()
		if err != nil {
			t.Fatalf("the file is not CSV: %v\n%s", err, up.Content)
		}
		if strings.Join(rows[0], ",") != "id,at,actor,action,request_id,schedule_id,app,env,detail" {
			t.Errorf("header = %q", rows[0])
		}
		return rows[1:]
	}
	cells := func(rows [][]string, col int) string {
		var s []string
		for _, r := range rows {
			s = append(s, r[col])
		}
		return strings.Join(s, "|")
	}

	// A deployer of every environment: everything of the last 7 days.
	rows := run("U0REQ", "audit", "Audit trail of every app since")
	if got := cells(rows, 4); got != "2||3" {
		t.Errorf("request ids = %q, want 2||3 (the 10-day-old entry is out)", got)
	}
	if got := cells(rows, 8); got != `1.4.2|'=HYPERLINK("http://evil.example","x")|'+1, "quoted"`+"\nline" {
		t.Errorf("details = %q: formulas must be neutralised, quotes and newlines kept", got)
	}
	// --since reaches further back.
	if rows := run("U0REQ", "audit shop-web production --since 30d", "Audit trail of shop-web production since"); cells(rows, 8) != "old|1.4.2" {
		t.Errorf("--since 30d: %q", cells(rows, 8))
	}
	// An approver by user id of one environment sees that one only.
	if rows := run("U0APP2", "audit", "Audit trail of shop-web (production)"); cells(rows, 4) != "2" {
		t.Errorf("approver of production: request ids %q", cells(rows, 4))
	}
	// An approver through a user group, by app.
	if rows := run("U0LEAD", "audit shop-web", "Audit trail of shop-web (production)"); cells(rows, 4) != "2" {
		t.Errorf("group approver: request ids %q", cells(rows, 4))
	}

	// Everybody else is refused, whatever they ask for, and nothing is posted.
	uploads, posted := len(srv.Uploads()), len(srv.Messages("C1"))
	for _, tc := range []struct{ user, text, want string }{
		{"U9NOBODY", "audit shop-web production", "Only deployers and approvers of shop-web production can export its audit trail"},
		{"U9NOBODY", "audit shop-web", "Only deployers and approvers of shop-web can export its audit trail"},
		{"U9NOBODY", "audit", "Only deployers and approvers can export the audit trail"},
		{"U0APP2", "audit shop-web staging", "Only deployers and approvers of shop-web staging"},
		{"U0APP2", "audit billing-worker", "Only deployers and approvers of billing-worker"},
		{"U0REQ", "audit nope", `There is no app "nope"`},
	} {
		if _, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{User: tc.user, Channel: "C1", Command: "/deploy", Text: tc.text}); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.AwaitEphemeral(ctx, tc.user, func(e slacktest.Ephemeral) bool { return strings.Contains(e.Text, tc.want) }); err != nil {
			t.Errorf("%s %q: no refusal containing %q: %v", tc.user, tc.text, tc.want, err)
		}
	}
	for _, tc := range []struct{ text, want string }{
		{"audit --since yesterday", `invalid --since \"yesterday\"`},
		{"audit --since 0d", `invalid --since \"0d\"`},
		{"audit --since", "--since needs a value"},
	} {
		ack, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{User: "U0REQ", Channel: "C1", Command: "/deploy", Text: tc.text})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(ack.Payload), tc.want) {
			t.Errorf("%q: ack %s lacks %q", tc.text, ack.Payload, tc.want)
		}
	}
	if len(srv.Uploads()) != uploads || len(srv.Messages("C1")) != posted {
		t.Errorf("a refused export posted something: %d uploads (was %d), %d messages (was %d)", len(srv.Uploads()), uploads, len(srv.Messages("C1")), posted)
	}
}

// TestWriteAuditCSV: formula-leading cells are neutralised, and only those.
func TestWriteAuditCSV(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 6, 9, 30, 0, 123_000_000, time.FixedZone("KST", 9*3600))
	var b bytes.Buffer
	err := WriteAuditCSV(&b, []deploy.AuditEntry{
		{ID: 1, At: at, Actor: "U1", Action: "locked", App: "a", Env: "b", Detail: "-2+3"},
		{ID: 2, At: at, Action: "x", ScheduleID: 4, Detail: "@SUM(A1)"},
		{ID: 3, At: at, Action: "x", Detail: "\t=1"},
		{ID: 4, At: at, Action: "x", Detail: "a=b, -c"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "id,at,actor,action,request_id,schedule_id,app,env,detail\n" +
		"1,2026-12-06T00:30:00.123Z,U1,locked,,,a,b,'-2+3\n" +
		"2,2026-12-06T00:30:00.123Z,,x,,4,,,'@SUM(A1)\n" +
		"3,2026-12-06T00:30:00.123Z,,x,,,,,'\t=1\n" +
		"4,2026-12-06T00:30:00.123Z,,x,,,,,\"a=b, -c\"\n"
	if b.String() != want {
		t.Errorf("csv =\n%s\nwant\n%s", b.String(), want)
	}
}
