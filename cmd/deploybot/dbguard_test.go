package main

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestGuardDatabase: a database that fails a check is logged and left to
// /readyz; the bot goes on.
func TestGuardDatabase(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		logsWarn bool
	}{
		{"healthy", nil, false},
		{"unreachable", errors.New("ping db: connection refused"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pings atomic.Int32
			ping := func(context.Context) error { pings.Add(1); return tt.err }
			var logs syncBuffer
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- guardDatabase(ctx, ping, time.Millisecond, zerolog.New(&logs)) }()
			for pings.Load() < 5 {
				select {
				case err := <-done:
					t.Fatalf("the guard stopped the bot: %v", err)
				case <-time.After(time.Millisecond): // polling the ping count, bounded by go test's timeout
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("guard returned %v after ctx ended", err)
			}
			if got := strings.Contains(logs.String(), "database check failed"); got != tt.logsWarn {
				t.Errorf("warning logged = %v, want %v:\n%s", got, tt.logsWarn, logs.String())
			}
		})
	}
}
