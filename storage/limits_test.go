package storage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
)

// TestQuieterSurfacesDBPerms: the database directory and file the bot
// creates, and SQLite's -wal and -shm files beside it, are private to the
// bot's user whatever the umask allows.
func TestQuieterSurfacesDBPerms(t *testing.T) {
	old := syscall.Umask(0o002) // generous, as on many hosts
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data", "deploybot")
	path := filepath.Join(dir, "deploybot.db")
	db := storage.NewDB(path)
	ctx := context.Background()
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A write makes sure the -wal and -shm files exist.
	MustCreate(t, db, newRequest("shop-web", "staging"), deploy.StatusQueued)

	for _, tc := range []struct {
		path string
		want os.FileMode
	}{
		{filepath.Dir(dir), 0o700},
		{dir, 0o700},
		{path, 0o600},
		{path + "-wal", 0o600},
		{path + "-shm", 0o600},
	} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if got := fi.Mode().Perm(); got != tc.want {
			t.Errorf("%s: mode %04o, want %04o", strings.TrimPrefix(tc.path, filepath.Dir(dir)), got, tc.want)
		}
	}
}

// TestLimitsOneDryRunAtATime: the store lets one dry run of an app and env
// be launching or running at a time, even when two were queued at once; a
// dry run does not wait for releases, nor releases for it.
func TestLimitsOneDryRunAtATime(t *testing.T) {
	db, _ := MustOpen(t)
	ctx := context.Background()
	dry := func(env string) *deploy.Request {
		r := newRequest("shop-web", env)
		r.Check, r.Plan.Check = true, true
		return MustCreate(t, db, r, deploy.StatusQueued)
	}
	launch := func(id int64) error {
		_, err := db.Transition(ctx, id, deploy.Change{From: deploy.StatusQueued, To: deploy.StatusLaunching})
		return err
	}
	first, second, other := dry("production"), dry("production"), dry("staging")
	release := MustCreate(t, db, newRequest("shop-web", "production"), deploy.StatusQueued)

	// Releases and dry runs wait in separate lines.
	if next, err := db.NextQueued(ctx, "shop-web", "production"); err != nil || next.ID != release.ID {
		t.Fatalf("next queued = %v, %v; want the release #%d", next, err, release.ID)
	}
	if pos, err := db.QueuePosition(ctx, release.ID); err != nil || pos != 1 {
		t.Fatalf("release's position = %d, %v; want 1", pos, err)
	}

	if err := launch(first.ID); err != nil {
		t.Fatal(err)
	}
	err := launch(second.ID)
	if !errors.Is(err, deploy.ErrEnvBusy) || !strings.Contains(err.Error(), "dry run #") {
		t.Fatalf("second dry run: err = %v, want busy naming the dry run", err)
	}
	if got, _ := db.Request(ctx, second.ID); got.Status != deploy.StatusQueued {
		t.Fatalf("refused dry run is %s, want still queued", got.Status)
	}
	if err := launch(other.ID); err != nil {
		t.Fatalf("dry run of another env: %v", err)
	}
	if err := launch(release.ID); err != nil {
		t.Fatalf("release beside a dry run: %v", err)
	}
	if _, err := db.Transition(ctx, first.ID, deploy.Change{From: deploy.StatusLaunching, To: deploy.StatusFailed}); err != nil {
		t.Fatal(err)
	}
	if err := launch(second.ID); err != nil {
		t.Fatalf("second dry run once the first ended: %v", err)
	}
}
