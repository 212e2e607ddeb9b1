package config_test

import (
	"strings"
	"testing"

	"github.com/deploybot/deploybot/config"
)

// TestLimitsMaxLogUpload: limits.max_log_upload takes a size in binary
// units within 64KB..1GB and defaults to 10MB; anything else is a problem
// naming the key.
func TestLimitsMaxLogUpload(t *testing.T) {
	tests := []struct {
		value   string // "" leaves the section out
		want    int64
		wantErr string
	}{
		{"", 10 << 20, ""},
		{"10MB", 10 << 20, ""},
		{"512KB", 512 << 10, ""},
		{"1 GB", 1 << 30, ""},
		{"2MiB", 2 << 20, ""},
		{"1048576", 1 << 20, ""},
		{"2GB", 0, "out of range"},
		{"1KB", 0, "out of range"},
		{"ten megabytes", 0, "not a size"},
		{"-5MB", 0, "not a size"},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			yaml := base
			if tc.value != "" {
				yaml += "limits:\n  max_log_upload: " + tc.value + "\n"
			}
			cfg, err := config.Parse("t.yaml", []byte(yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), "limits.max_log_upload") || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want limits.max_log_upload: %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Limits.MaxLogUpload != tc.want {
				t.Errorf("max_log_upload = %d, want %d", cfg.Limits.MaxLogUpload, tc.want)
			}
		})
	}
}
