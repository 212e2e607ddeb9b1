package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// prebuilt is the deploybot binary that TestMain built for
// TestSandboxScript, or why it could not.
var prebuilt struct {
	path string
	err  error
}

// TestMain builds the deploybot binary once, before m.Run, so that no
// test's own deadline includes it (a cold cgo build takes minutes on a busy
// machine). go test still kills a test process that outlives -timeout by a
// minute, TestMain included: make test therefore builds the binary before
// go test starts and passes it as DEPLOYBOT_BIN, and then nothing is built
// here. Run alone on a cold build cache, give go test -timeout 0 or
// DEPLOYBOT_BIN.
func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(func() int {
		if os.Getenv("DEPLOYBOT_BIN") == "" && !testing.Short() && (selected("TestSandboxScript") || selected("TestSandboxReplicas")) {
			dir, err := os.MkdirTemp("", "deploybot-sandbox-test-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			fmt.Fprintln(os.Stderr, "building cmd/deploybot for TestSandboxScript (set DEPLOYBOT_BIN to use a built one)…")
			start := time.Now()
			var out bytes.Buffer
			prebuilt.path, prebuilt.err = buildBot(context.Background(), "../..", dir, &out)
			if prebuilt.err != nil {
				prebuilt.err = fmt.Errorf("%w\n%s", prebuilt.err, out.String())
			}
			fmt.Fprintf(os.Stderr, "built in %s\n", time.Since(start).Round(time.Millisecond))
		}
		return m.Run()
	}())
}

// selected reports whether -run selects the top-level test name.
func selected(name string) bool {
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		return false
	}
	pat := ""
	if f := flag.Lookup("test.run"); f != nil {
		pat = f.Value.String()
	}
	if pat == "" {
		return true
	}
	re, err := regexp.Compile(strings.Split(pat, "/")[0])
	return err != nil || re.MatchString(name)
}
