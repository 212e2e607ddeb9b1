package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/deploybot/deploybot/deploy"
)

// Upload size bounds: output larger than max_log_upload is uploaded as its
// tail; Slack accepts files up to 1 GB.
const (
	DefaultMaxLogUpload       = deploy.DefaultMaxLogUpload
	minMaxLogUpload     int64 = 64 << 10
	maxMaxLogUpload     int64 = 1 << 30
)

// Limits bound what one person can make the bot do.
type Limits struct {
	// MaxLogUpload is the largest playbook output uploaded to Slack whole,
	// in bytes; past it the last MaxLogUpload bytes are uploaded with a
	// note and a link to the job in AWX.
	MaxLogUpload int64
}

type rawLimits struct {
	MaxLogUpload string `yaml:"max_log_upload"`
}

// buildLimits checks the limits section and fills in defaults.
func (v *validator) buildLimits(raw rawLimits) Limits {
	l := Limits{MaxLogUpload: DefaultMaxLogUpload}
	if strings.TrimSpace(raw.MaxLogUpload) == "" {
		return l
	}
	n, err := parseSize(raw.MaxLogUpload)
	switch {
	case err != nil:
		v.addf("limits.max_log_upload", "%v", err)
	case n < minMaxLogUpload || n > maxMaxLogUpload:
		v.addf("limits.max_log_upload", "%q is out of range: use between 64KB and 1GB", raw.MaxLogUpload)
	default:
		l.MaxLogUpload = n
	}
	return l
}

// parseSize reads a size such as 10MB, 512KB, 1GB or a plain number of
// bytes. Units are binary: 1KB is 1024 bytes.
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size: write a whole number with KB, MB or GB, like 10MB", s)
	}
	return n * mult, nil
}
