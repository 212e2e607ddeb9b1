package deploy_test

import (
	"testing"

	"github.com/deploybot/deploybot/deploy"
)

// TestRecapState: one rule turns a host's recap counts into its final
// state, for the runner and the follower alike.
func TestRecapState(t *testing.T) {
	tests := []struct {
		name string
		h    deploy.HostProgress
		want string
	}{
		{"unreachable wins", deploy.HostProgress{OK: 3, Failed: 1, Unreachable: 1}, "unreachable"},
		{"failed", deploy.HostProgress{OK: 3, Change: 2, Failed: 1}, "failed"},
		{"changed", deploy.HostProgress{OK: 3, Change: 2}, "changed"},
		{"ok", deploy.HostProgress{OK: 3, Skipped: 4}, "ok"},
		{"all skipped", deploy.HostProgress{Skipped: 4}, "skipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.RecapState(); got != tt.want {
				t.Errorf("RecapState = %q, want %q", got, tt.want)
			}
		})
	}
}
