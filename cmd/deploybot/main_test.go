package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// prebuilt is the binary TestMain built with scripts/build.sh for the tests
// that run deploybot as a process, or why it could not.
var prebuilt struct {
	path string
	err  error
}

// The version and commit TestMain stamps into the binary it builds.
const (
	prebuiltVersion = "9.9.9-test"
	prebuiltCommit  = "abc1234"
)

// TestMain builds the binary once, before m.Run, when a selected test or
// benchmark runs it, so that no test's own deadline includes it (a cold cgo
// build takes minutes on a busy machine). go test still kills a test
// process that outlives -timeout by a minute, TestMain included: make test
// therefore builds the binary before go test starts and passes it as
// DEPLOYBOT_BIN, and then nothing is built here.
func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(func() int {
		if os.Getenv("DEPLOYBOT_BIN") == "" && (selected("test.run", "TestBuildScript") || selected("test.run", "TestStoryReloadReported") ||
			selected("test.run", "TestStoryReplicas") || selected("test.bench", "BenchmarkLoad") || selected("test.bench", "BenchmarkReplicas")) {
			dir, err := os.MkdirTemp("", "deploybot-test-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			prebuilt.err = buildForTests(filepath.Join(dir, "deploybot"))
			if prebuilt.err == nil {
				prebuilt.path = filepath.Join(dir, "deploybot")
			}
		}
		defer pg.Stop()
		return m.Run()
	}())
}

// buildForTests runs scripts/build.sh as the Dockerfile does, with the test
// version and commit.
func buildForTests(bin string) error {
	if _, err := exec.LookPath("gcc"); err != nil {
		return fmt.Errorf("gcc is needed to build go-sqlite3 (cgo): run scripts/install-test-deps.sh")
	}
	fmt.Fprintln(os.Stderr, "building cmd/deploybot with scripts/build.sh for the tests that run it (set DEPLOYBOT_BIN to use a built one)…")
	start := time.Now()
	cmd := exec.Command("../../scripts/build.sh", bin)
	cmd.Env = append(os.Environ(), "VERSION="+prebuiltVersion, "COMMIT="+prebuiltCommit)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("scripts/build.sh: %w\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "built in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// selected reports whether the pattern of the flag (test.run, test.bench)
// selects the top-level name; an empty test.bench selects no benchmark.
func selected(flagName, name string) bool {
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		return false
	}
	pat := ""
	if f := flag.Lookup(flagName); f != nil {
		pat = f.Value.String()
	}
	if pat == "" {
		return flagName == "test.run"
	}
	re, err := regexp.Compile(strings.Split(pat, "/")[0])
	return err != nil || re.MatchString(name)
}
