package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSystemdUnit checks dist/systemd/deploybot.service the way systemd
// reads it: systemd-analyze verify must accept it without a single
// warning (an unknown key or a bad value is only a warning to systemd, and
// the service would then start without that protection), and the unit
// restarts on failure, runs as its own user, reloads with SIGHUP and holds
// no secret. verify wants ExecStart to exist, so the copy it reads runs
// this test binary instead of /usr/local/bin/deploybot.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile("../../dist/systemd/deploybot.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := parseUnit(string(data))
	want := map[string]string{
		"Restart":         "on-failure",
		"ExecStart":       "/usr/local/bin/deploybot",
		"ExecReload":      "/bin/kill -HUP $MAINPID",
		"StateDirectory":  "deploybot",
		"NoNewPrivileges": "yes",
		"EnvironmentFile": "/etc/deploybot/deploybot.env",
	}
	for key, val := range want {
		if got := unit[key]; len(got) != 1 || got[0] != val {
			t.Errorf("%s=%q, want %q", key, got, val)
		}
	}
	for _, key := range []string{"User", "Group"} {
		if got := unit[key]; len(got) != 1 || got[0] == "" || got[0] == "root" || got[0] == "0" {
			t.Errorf("%s=%q: the bot runs as its own user, not root", key, got)
		}
	}
	secret := regexp.MustCompile(`^(SLACK_APP_TOKEN|SLACK_BOT_TOKEN|AWX_TOKEN)=`)
	for _, env := range unit["Environment"] {
		if secret.MatchString(env) {
			t.Errorf("Environment=%s: tokens belong in the EnvironmentFile (0600), not in the unit that systemctl show prints", env)
		}
	}
	sysusers, err := os.ReadFile("../../dist/systemd/deploybot.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^u\s+` + regexp.QuoteMeta(unit["User"][0]) + `\s`).Match(sysusers) {
		t.Errorf("deploybot.sysusers does not create the unit's user %q", unit["User"])
	}

	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		msg := "systemd-analyze is missing: run scripts/install-test-deps.sh"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "deploybot.service")
	text := strings.Replace(string(data), "ExecStart=/usr/local/bin/deploybot", "ExecStart="+self, 1)
	if err := os.WriteFile(copyPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), "systemd-analyze", "verify", copyPath).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// parseUnit returns the values of each key of a unit file, in order.
func parseUnit(text string) map[string][]string {
	keys := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok {
			keys[strings.TrimSpace(k)] = append(keys[strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return keys
}
