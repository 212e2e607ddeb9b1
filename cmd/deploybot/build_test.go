package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// deploybotBinary is the binary built by scripts/build.sh that the tests
// run, with the version line it must print: $DEPLOYBOT_BIN (make test
// builds it once and passes it in; it reports $VERSION and $COMMIT, or what
// git says), or the one TestMain built with a test version before any
// clock started.
func deploybotBinary(t testing.TB) (bin, wantVersion string) {
	t.Helper()
	if bin := os.Getenv("DEPLOYBOT_BIN"); bin != "" {
		if !filepath.IsAbs(bin) {
			t.Fatalf("DEPLOYBOT_BIN=%s: give an absolute path", bin)
		}
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("DEPLOYBOT_BIN: %v (build it with scripts/build.sh, or unset it to build here)", err)
		}
		return bin, "deploybot " + stamp("VERSION", "dev", "describe", "--tags", "--always", "--dirty") +
			" (commit " + stamp("COMMIT", "none", "rev-parse", "--short", "HEAD") + ")"
	}
	if prebuilt.err != nil {
		t.Fatal(prebuilt.err)
	}
	if prebuilt.path == "" {
		t.Fatal("TestMain built no deploybot binary")
	}
	return prebuilt.path, "deploybot " + prebuiltVersion + " (commit " + prebuiltCommit + ")"
}

// stamp is what scripts/build.sh stamps: $env, or what git says, or def
// outside a git checkout.
func stamp(env, def string, git ...string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	out, err := exec.Command("git", git...).Output()
	if err != nil {
		return def
	}
	return strings.TrimSpace(string(out))
}

// TestBuildScript checks the binary built with the command the Dockerfile
// runs (no Docker engine runs here): the version is stamped, and
// check-config works and rejects a broken config.
func TestBuildScript(t *testing.T) {
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^RUN .*scripts/build\.sh /out/deploybot$`).Match(dockerfile) {
		t.Fatal("the Dockerfile no longer builds with scripts/build.sh; keep this test in step with it")
	}
	bin, wantVersion := deploybotBinary(t)

	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != wantVersion {
		t.Fatalf("version: %v\n%s\nwant %s", err, out, wantVersion)
	}
	out, err = exec.Command(bin, "check-config", "--config", "../../deploybot.example.yaml").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("OK — 3 apps, 4 environments, 8 hosts")) {
		t.Fatalf("check-config of the example: %v\n%s", err, out)
	}
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(broken, []byte("timezone: Mars/Base\napps:\n  x:\n    type: lambda\n    environments: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin, "check-config", "--config", broken).CombinedOutput()
	if err == nil {
		t.Fatalf("check-config of a broken file exited 0:\n%s", out)
	}
	for _, want := range []string{"broken.yaml:1: timezone:", "broken.yaml:4: apps.x.type:", "apps.x.environments", "awx.organization"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("check-config output lacks %q:\n%s", want, out)
		}
	}
}
