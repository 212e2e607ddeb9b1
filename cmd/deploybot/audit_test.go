package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
)

// TestAuditExportCommand: "deploybot audit export" prints the audit trail
// of the database file as CSV (formula-like cells neutralised) or JSON,
// since a duration or a date, for one app; bad flags and a missing file
// are errors that say what to do.
func TestAuditExportCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deploybot.db")
	db := storage.NewDB(path)
	if err := db.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	for _, e := range []deploy.AuditEntry{
		{At: now.Add(-40 * 24 * time.Hour), Actor: "U1", Action: "requested", RequestID: 1, App: "shop-web", Env: "production", Detail: "ancient"},
		{At: now.Add(-3 * 24 * time.Hour), Actor: "U1", Action: "locked", App: "shop-web", Env: "staging", Detail: "=cmd|' /C calc'!A0"},
		{At: now.Add(-time.Hour), Actor: "U2", Action: "approved", RequestID: 2, App: "batch-api", Env: "production", Detail: "plan abc"},
	} {
		if err := db.Audit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	export := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(t.Context(), append([]string{"deploybot", "audit", "export"}, args...), func(string) string { return "" }, &out, io.Discard)
		return out.String(), err
	}

	out, err := export("--db", path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, out)
	}
	if len(rows) != 3 || rows[1][3] != "locked" || rows[1][8] != "'=cmd|' /C calc'!A0" || rows[2][3] != "approved" {
		t.Errorf("default (7 days) csv rows = %q", rows)
	}

	out, err = export("--db", path, "--since", now.Add(-50*24*time.Hour).UTC().Format(time.DateOnly), "--format", "json", "--app", "shop-web")
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(got) != 2 || got[0]["detail"] != "ancient" || got[1]["detail"] != "=cmd|' /C calc'!A0" || got[0]["request_id"] != float64(1) {
		t.Errorf("json since a date, one app = %v", got)
	}

	// DEPLOYBOT_DB names the file too; --env narrows within --app.
	var buf bytes.Buffer
	err = run(t.Context(), []string{"deploybot", "audit", "export", "--since", "30d", "--app", "shop-web", "--env", "production"},
		func(k string) string { return map[string]string{"DEPLOYBOT_DB": path}[k] }, &buf, io.Discard)
	if err != nil || strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("DEPLOYBOT_DB, --env: %v\n%s", err, buf.String())
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--db", path, "--since", "yesterday"}, `invalid --since "yesterday"`},
		{[]string{"--db", path, "--since", "-7d"}, `invalid --since "-7d"`},
		{[]string{"--db", path, "--since", "0m"}, `invalid --since "0m"`},
		{[]string{"--db", path, "--format", "xml"}, `invalid --format "xml": use csv or json`},
		{[]string{"--db", path, "--env", "production"}, "--env needs --app"},
		{[]string{"--db", filepath.Join(t.TempDir(), "none.db")}, "give the bot's database with --db or DEPLOYBOT_DB"},
	} {
		out, err := export(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
		if out != "" {
			t.Errorf("%v: printed %q on error", tc.args, out)
		}
	}
	if err := run(t.Context(), []string{"deploybot", "audit"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "deploybot audit export") {
		t.Errorf("bare audit: %v", err)
	}
}
