package storage_test

import (
	"context"
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
