package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCheckConfigWarns: check-config prints a warning (with file, line and
// key path) for a host listed in two environments of one app, and still
// succeeds; a config without such mistakes prints no warning.
func TestCheckConfigWarns(t *testing.T) {
	example, err := os.ReadFile("../../deploybot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	shared := strings.Replace(string(example), "hosts: [web-01.example.com, web-02.example.com, web-03.example.com]", "hosts: [web-01.example.com, web-02.example.com, web-03.example.com, stg-web-01.example.com]", 1)
	if shared == string(example) {
		t.Fatal("the example's production hosts changed: update this test")
	}
	// The warning points at the staging host list: its line in the file.
	line := 1 + strings.Count(string(example[:strings.Index(string(example), "hosts: [stg-web-01.example.com")]), "\n")
	path := filepath.Join(t.TempDir(), "deploybot.yaml")
	for _, tc := range []struct {
		name, yaml string
		want       string
	}{
		{"clean", string(example), ""},
		{"shared host", shared, `warning: ` + path + `:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := run(t.Context(), []string{"deploybot", "check-config", "--config", path}, func(string) string { return "" }, &out, io.Discard)
			if err != nil {
				t.Fatalf("check-config failed on a warning: %v", err)
			}
			got := out.String()
			if tc.want == "" {
				if strings.Contains(got, "warning") {
					t.Errorf("warning printed for a clean config:\n%s", got)
				}
				return
			}
			for _, want := range []string{tc.want + strconv.Itoa(line) + ": apps.shop-web.environments.staging.hosts[0]: ", `host "stg-web-01.example.com" is also in environment production of shop-web`} {
				if !strings.Contains(got, want) {
					t.Errorf("output lacks %q:\n%s", want, got)
				}
			}
		})
	}
}

// TestCheckConfigReservedNames: the bot refuses an app named like one of
// the /deploy command's words, which could never be deployed.
func TestCheckConfigReservedNames(t *testing.T) {
	example, err := os.ReadFile("../../deploybot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, word := range []string{"status", "rollback", "audit"} {
		t.Run(word, func(t *testing.T) {
			bad := strings.Replace(string(example), "\n  shop-web:\n", "\n  "+word+":\n", 1)
			if bad == string(example) {
				t.Fatal("the example has no shop-web app: update this test")
			}
			path := filepath.Join(t.TempDir(), "deploybot.yaml")
			if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
				t.Fatal(err)
			}
			err := run(t.Context(), []string{"deploybot", "check-config", "--config", path}, func(string) string { return "" }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "apps."+word) || !strings.Contains(err.Error(), "command word") {
				t.Errorf("an app named %q was not refused by name: %v", word, err)
			}
		})
	}
}
