package storage_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
)

// TestAudit_AppendOnly checks that the database itself refuses to change
// or remove audit entries, whoever asks.
func TestAudit_AppendOnly(t *testing.T) { forEachBackend(t, testAudit_AppendOnly) }

func testAudit_AppendOnly(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := be.open(t)
	if err := db.Audit(ctx, deploy.AuditEntry{Action: "requested", RequestID: 1}); err != nil {
		t.Fatal(err)
	}
	raw := rawSQL(t, db)
	stmts := []string{
		`UPDATE audit SET actor = 'U_EVIL'`,
		`DELETE FROM audit`,
	}
	if storage.IsPostgresURL(db.Path) {
		stmts = append(stmts, `TRUNCATE audit`)
	}
	for _, stmt := range stmts {
		_, err := raw.Exec(stmt)
		if !isAppendOnlyRefusal(err) {
			t.Errorf("%s: err = %v, want the append-only trigger", stmt, err)
		}
	}
	log, err := db.AuditLog(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1 || log[0].Actor != "" {
		t.Fatalf("audit changed: %+v", log)
	}
}

// TestAuditSince: entries since a time, narrowed to an app or one of its
// environments, oldest first, the newest kept under a limit; ExportAudit
// reads the same from the file read-only, beside the open database, and
// creates nothing when the file is missing.
func TestAuditSince(t *testing.T) { forEachBackend(t, testAuditSince) }

func testAuditSince(t *testing.T, be backend) {
	ctx := context.Background()
	path := be.dsn(t)
	db := MustOpenPath(t, path, nil)
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for i, e := range []deploy.AuditEntry{
		{Action: "old", App: "shop-web", Env: "production"},
		{Action: "a", App: "shop-web", Env: "production"},
		{Action: "b", App: "shop-web", Env: "staging"},
		{Action: "c", App: "batch-api", Env: "production"},
		{Action: "d", App: "shop-web", Env: "production"},
	} {
		e.At = t0.Add(time.Duration(i) * time.Hour)
		if err := db.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	actions := func(es []deploy.AuditEntry) string {
		var s []string
		for _, e := range es {
			s = append(s, e.Action)
		}
		return strings.Join(s, ",")
	}
	since := t0.Add(time.Hour)
	tests := []struct {
		name     string
		since    time.Time
		app, env string
		limit    int
		want     string
	}{
		{"all", time.Time{}, "", "", 0, "old,a,b,c,d"},
		{"since", since, "", "", 0, "a,b,c,d"},
		{"app", since, "shop-web", "", 0, "a,b,d"},
		{"app env", since, "shop-web", "production", 0, "a,d"},
		{"limit keeps the newest", since, "", "", 2, "c,d"},
		{"nothing", t0.Add(24 * time.Hour), "", "", 0, ""},
	}
	for _, tt := range tests {
		got, err := db.AuditSince(ctx, tt.since, tt.app, tt.env, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if actions(got) != tt.want {
			t.Errorf("%s: AuditSince = %s, want %s", tt.name, actions(got), tt.want)
		}
	}
	exported, err := storage.ExportAudit(ctx, path, since, "shop-web", "")
	if err != nil {
		t.Fatal(err)
	}
	if actions(exported) != "a,b,d" || !exported[0].At.Equal(since) {
		t.Errorf("ExportAudit = %+v", exported)
	}
	if storage.IsPostgresURL(path) {
		return
	}
	missing := filepath.Join(t.TempDir(), "none.db")
	if _, err := storage.ExportAudit(ctx, missing, since, "", ""); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ExportAudit of a missing file: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ExportAudit created %s", missing)
	}
}
