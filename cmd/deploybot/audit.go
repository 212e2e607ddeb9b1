package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/commands"
	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
)

// auditUsage is the usage of "deploybot audit".
const auditUsage = "usage: deploybot audit export [--since 7d|YYYY-MM-DD|RFC 3339] [--format csv|json] [--app APP [--env ENV]] [--db PATH|postgres://URL]"

// runAudit prints the audit trail of the database file, read-only, for
// operators: the image has no sqlite3 binary.
func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "export" {
		return fmt.Errorf("%s", auditUsage)
	}
	var since, format, app, env string
	o, _, err := parseOptions("audit export", args[1:], getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&since, "since", "7d", "how far back: a duration (30m, 12h, 7d, 2w) or a time (YYYY-MM-DD in UTC, or RFC 3339)")
		fs.StringVar(&format, "format", "csv", "csv (spreadsheet-safe: formula-like cells are prefixed with ') or json")
		fs.StringVar(&app, "app", "", "only this app")
		fs.StringVar(&env, "env", "", "only this environment (with --app)")
	})
	if err != nil {
		return err
	}
	from, err := sinceTime(since, time.Now())
	if err != nil {
		return err
	}
	if format != "csv" && format != "json" {
		return fmt.Errorf("invalid --format %q: use csv or json", format)
	}
	if env != "" && app == "" {
		return fmt.Errorf("--env needs --app: an environment belongs to an app")
	}
	entries, err := storage.ExportAudit(ctx, o.DBPath, from, app, env)
	if err != nil {
		return fmt.Errorf("%w (give the bot's database with --db or DEPLOYBOT_DB)", err)
	}
	if format == "json" {
		return writeAuditJSON(stdout, entries)
	}
	return bot.WriteAuditCSV(stdout, entries)
}

// sinceTime reads --since: a duration back from now as /deploy audit
// takes it, a date (midnight UTC) or an RFC 3339 time.
func sinceTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := commands.ParseSince(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w, or a time such as 2026-11-01 (UTC) or 2026-11-01T09:00:00+09:00", err)
	}
	return now.Add(-d), nil
}

// auditJSON is one audit entry in the JSON export.
type auditJSON struct {
	ID         int64  `json:"id"`
	At         string `json:"at"`
	Actor      string `json:"actor"`
	Action     string `json:"action"`
	RequestID  int64  `json:"request_id,omitempty"`
	ScheduleID int64  `json:"schedule_id,omitempty"`
	App        string `json:"app"`
	Env        string `json:"env"`
	Detail     string `json:"detail"`
}

// writeAuditJSON writes entries as one JSON array, an entry a line.
func writeAuditJSON(w io.Writer, entries []deploy.AuditEntry) error {
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	for i, e := range entries {
		b, err := json.Marshal(auditJSON{
			ID: e.ID, At: e.At.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Actor: e.Actor, Action: e.Action,
			RequestID: e.RequestID, ScheduleID: e.ScheduleID, App: e.App, Env: e.Env, Detail: e.Detail,
		})
		if err != nil {
			return fmt.Errorf("write audit json: %w", err)
		}
		sep := ",\n"
		if i == 0 {
			sep = "\n"
		}
		if _, err := fmt.Fprintf(w, "%s%s", sep, b); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "\n]\n")
	return err
}
