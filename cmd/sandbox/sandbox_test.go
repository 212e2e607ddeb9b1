package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy/deploytest"
	"github.com/deploybot/deploybot/storage/pgtest"
)

// syncBuffer is a buffer a logger and the test can share.
type syncBuffer = deploytest.SyncBuffer

// script is what a new user might type, with what each command must
// answer: every part must appear between the command and the next prompt.
// A want starting with "!" must not appear.
var script = []struct {
	line string
	want []string
}{
	{"/deploy help", []string{"/deploy <app> <env> <version> [--check]", "/deploy rollback <app> <env>", "/deploy lock <app> <env> [reason]"}},
	{"/deploy apps", []string{"== Apps ==", "*shop-web* (web)", "*staging*: 2 hosts · deployers @shop-devs"}},
	// A staging release needs no approval.
	{"/deploy shop-web staging 1.4.2", []string{"new card #1", "#1 shop-web 1.4.2 → staging", "Build: 2.0 MiB · Checksum: `"}},
	{"wait 1 succeeded", []string{"card #1 is now: Running", "✅ Deployed 1.4.2 on 2 hosts",
		"file shop-web-staging-1.log uploaded", "card #1 is now: Succeeded", "[Roll back]"}},
	// Production needs bob's approval; the requester cannot approve.
	{"/deploy shop-web production 1.4.2", []string{"new card #2", "Waiting for approval", "Needs 1 more approval from @bob, @shop-leads", "[Approve] [Reject]"}},
	{"click approve 2", []string{"(only alice sees", "not an approver"}},
	{"as bob", nil},
	{"click approve 2", []string{"Approved by @bob"}},
	{"wait 2 succeeded", []string{"(batch 3/3)", "✅ Deployed 1.4.2 on 3 hosts", "card #2 is now: Succeeded"}},
	{"thread 2", []string{"✔️ Approved by @bob", "▶️ Play: shop-web production: release 1.4.2 (batch 1/3)", "web-03.example.com done"}},
	{"as alice", nil},
	// A failing version: the failure digest in the thread.
	{"/deploy shop-web staging 1.4.3-fail", []string{"new card #3"}},
	{"wait 3 failed", []string{"card #3 is now: Failed", "Failure digest for #3", "Host: `stg-web-01.example.com`",
		"Task: Health check", "Status code was 503", "fatal: [stg-web-01.example.com]: FAILED!"}},
	{"/deploy shop-web staging 1.4.4-missing", []string{"There is no build 1.4.4-missing of shop-web"}},
	{"/deploy log 1", []string{"file shop-web-staging-1.log uploaded", "The output of #1 is in the thread"}},
	{"uploads", []string{"shop-web-staging-1.log", "shop-web-production-2.log", "shop-web-staging-3.log"}},
	// Locks hold the queue; a queued request can be canceled.
	{"/deploy lock shop-web staging release freeze", []string{"locked by @alice", "release freeze"}},
	{"/deploy shop-web staging 1.4.5", []string{"new card #4", "Queued", "locked by @alice"}},
	{"/deploy status", []string{"== Status of all apps ==", "#4* shop-web 1.4.5 → staging · Queued", "*Locks*"}},
	{"/deploy cancel 4", []string{"#4: canceled."}},
	{"wait 4 canceled", nil},
	{"/deploy unlock shop-web staging", []string{"shop-web staging unlocked"}},
	// Rollback restores the backups with the same choreography.
	{"/deploy rollback shop-web staging", []string{"new card #5", "Rollback shop-web staging", "Restores 1.4.2 (#1) on every host, the last release live on all of them before 1.4.3-fail (#3)"}},
	{"wait 5 succeeded", []string{"roll back to 1.4.2 (batch 1/2)", "Rolled back on 2 hosts", "card #5 is now: Succeeded"}},
	{"/deploy history shop-web staging", []string{"== History of shop-web staging ==", "*#5* Rollback shop-web staging · Succeeded",
		"*#4* shop-web 1.4.5 → staging · Canceled", "*#3* shop-web 1.4.3-fail → staging · Failed"}},
	// Bad input gets the usage that fits, and nothing runs.
	{`/deploy shop-web staging "1.4.2; rm -rf /"`, []string{`invalid version "1.4.2; rm -rf /"`, "Usage:", "/deploy <app> <env> <version> [--check]"}},
	{"/deploy frobnicate", []string{"Usage:"}},
	// Nothing of them reached AWX.
	{"jobs", []string{"deploybot-web-deploy", "deploy_version=1.4.2", "deploybot-rollback", "!rm -rf", "!1.4.4-missing"}},
	{"/deploy shop-web production 1.4.8 --check", []string{"new card #6", "Dry run: shop-web 1.4.8 → production"}},
	// The form.
	{"/deploy", []string{`a form opened: "Request a release"`, "App: <one of: batch-api, cache-warmer, shop-web>"}},
	{"submit app=shop-web env=staging version=1.4.6", []string{"#7 shop-web 1.4.6 → staging"}},
	{"/deploy schedule shop-web staging 1.4.7 \"0 3 * * *\"", []string{"Schedule S1 created", "Next runs:"}},
	{"/deploy schedules", []string{"== Scheduled releases ==", "*S1* shop-web 1.4.7 → staging"}},
	{"/deploy unschedule S1", []string{"Schedule S1", "deleted"}},
	// A schedule's id is S<n>, and its announcement's buttons are clicked by it.
	{"/deploy schedule shop-web production 1.4.7 at 2030-01-02 18:00 --tz Asia/Seoul", []string{"Schedule S2 created", "at 2030-01-02 18:00 (Asia/Seoul)"}},
	{"as bob", nil},
	{"click approve S2", []string{"You approved schedule S2"}},
	{"as alice", nil},
	{"/deploy unschedule S2", []string{"Schedule S2", "deleted"}},
	// Who may do what, where.
	{"as mallory", nil},
	{"/deploy shop-web staging 1.4.2", []string{"(only mallory sees", "not allowed to deploy shop-web to staging"}},
	{"as alice", nil},
	{"channel random", nil},
	{"/deploy shop-web staging 1.4.2", []string{"(only alice sees, in #random)", "not used in this channel"}},
	// The sandbox's own errors.
	{"click approve 99", []string{"sandbox: no card #99"}},
	{"frobnicate", []string{`sandbox: unknown command "frobnicate"`}},
	{"channel deploys", nil},
	{"wait 6 succeeded", nil},
	{"wait 7 succeeded", nil},
	{"cards", []string{"#6 Dry run: shop-web 1.4.8 → production: Succeeded", "#7 shop-web 1.4.6 → staging: Succeeded"}},
	{"quit", []string{"stopping deploybot"}},
}

var promptRE = regexp.MustCompile(`(?m)^[a-z]+@#[a-z]+> `)

// deploybotBinary is the bot binary the tests run: $DEPLOYBOT_BIN (make
// test builds it once with scripts/build.sh and passes it in), or the one
// TestMain built before any clock started.
func deploybotBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("DEPLOYBOT_BIN"); bin != "" {
		if !filepath.IsAbs(bin) {
			t.Fatalf("DEPLOYBOT_BIN=%s: give an absolute path", bin)
		}
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("DEPLOYBOT_BIN: %v (build it with scripts/build.sh, or unset it to build here)", err)
		}
		return bin
	}
	if prebuilt.err != nil {
		t.Fatal(prebuilt.err)
	}
	if prebuilt.path == "" {
		t.Fatal("TestMain built no deploybot binary")
	}
	return prebuilt.path
}

// TestSandboxScript runs the sandbox with the real bot and the script on
// its input, and checks the answer to every command. The script's deadline
// starts once the binary exists.
func TestSandboxScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the deploybot binary")
	}
	bin := deploybotBinary(t)
	var in strings.Builder
	for _, s := range script {
		in.WriteString(s.line + "\n")
	}
	dir := t.TempDir()
	var out, errOut syncBuffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	err := run(ctx, []string{"sandbox", "--bot", bin, "--dir", dir, "--step", "50ms", "--quiet", "300ms"},
		func(string) string { return "" }, strings.NewReader(in.String()), &out, &errOut)
	t.Logf("the script took %s", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s\nstdout:\n%s\nbot log:\n%s", err, errOut.String(), out.String(), tail(filepath.Join(dir, "deploybot.log"), 40))
	}
	checkAnswers(t, out.String(), script)

	log, err := os.ReadFile(filepath.Join(dir, "deploybot.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"xoxb-", "xapp-1-"} {
		if bytes.Contains(log, []byte(secret)) {
			t.Errorf("the bot log holds a token (%s…)", secret)
		}
	}
	if !bytes.Contains(log, []byte("deploybot stopped")) {
		t.Errorf("the bot did not stop cleanly; its log ends with:\n%s", tail(filepath.Join(dir, "deploybot.log"), 10))
	}
}

// checkAnswers checks the sandbox's output for a script: every command
// echoed after a prompt, and each answer (up to the next prompt) holding
// what it must and not what it must not.
func checkAnswers(t *testing.T, text string, script []struct {
	line string
	want []string
}) {
	t.Helper()
	rest := text
	for i, s := range script {
		at := strings.Index(rest, "> "+s.line+"\n")
		if at < 0 {
			t.Fatalf("command %d %q was not echoed after a prompt; output:\n%s", i, s.line, text)
		}
		rest = rest[at+len(s.line)+3:]
		answer := rest
		if loc := promptRE.FindStringIndex(rest); loc != nil {
			answer = rest[:loc[0]]
		}
		for _, w := range s.want {
			if d, ok := strings.CutPrefix(w, "!"); ok {
				if strings.Contains(answer, d) {
					t.Errorf("%q: the answer has %q; it was:\n%s", s.line, d, answer)
				}
			} else if !strings.Contains(answer, w) {
				t.Errorf("%q: the answer lacks %q; it was:\n%s", s.line, w, answer)
			}
		}
	}
	if t.Failed() {
		t.Logf("whole output:\n%s", text)
	}
}

// TestSandboxReplicas runs the sandbox with two bots on the PostgreSQL
// server it starts: commands and clicks reach either bot (the fake Slack
// hands each envelope to one socket), a release requested on one and
// approved on either runs to its final card, and each bot names itself
// and the leases it holds. Without PostgreSQL it is skipped, or fails
// under CI=true.
func TestSandboxReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the deploybot binary and PostgreSQL")
	}
	if _, err := pgtest.BinDir(); err != nil {
		msg := fmt.Sprintf("PostgreSQL is not installed (%v); scripts/install-test-deps.sh installs it", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	bin := deploybotBinary(t)
	script := []struct {
		line string
		want []string
	}{
		{"/deploy shop-web staging 1.4.2", []string{"new card #1", "#1 shop-web 1.4.2 → staging"}},
		{"wait 1 succeeded", []string{"✅ Deployed 1.4.2 on 2 hosts", "card #1 is now: Succeeded"}},
		{"/deploy shop-web production 1.4.2", []string{"new card #2", "Waiting for approval"}},
		{"as bob", nil},
		{"click approve 2", []string{"Approved by @bob"}},
		{"wait 2 succeeded", []string{"✅ Deployed 1.4.2 on 3 hosts", "card #2 is now: Succeeded"}},
		{"/deploy history shop-web", []string{"*#2* shop-web 1.4.2 → production · Succeeded", "*#1* shop-web 1.4.2 → staging · Succeeded"}},
		{"replicas", []string{"sandbox-1  http://127.0.0.1:", "sandbox-2  http://127.0.0.1:", "leases: ok (", "job launched"}},
		{"quit", []string{"stopping deploybot"}},
	}
	var in strings.Builder
	for _, s := range script {
		in.WriteString(s.line + "\n")
	}
	dir := t.TempDir()
	var out, errOut syncBuffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	err := run(ctx, []string{"sandbox", "--bot", bin, "--dir", dir, "--step", "50ms", "--quiet", "300ms", "--replicas", "2"},
		func(string) string { return "" }, strings.NewReader(in.String()), &out, &errOut)
	logs := []string{filepath.Join(dir, "deploybot-1.log"), filepath.Join(dir, "deploybot-2.log")}
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s\nstdout:\n%s\nlogs:\n%s\n%s", err, errOut.String(), out.String(), tail(logs[0], 30), tail(logs[1], 30))
	}
	text := out.String()
	checkAnswers(t, text, script)
	if !strings.Contains(text, "2 replicas share one PostgreSQL database") {
		t.Errorf("the banner does not say the replicas share a database:\n%s", text)
	}

	// Each bot logged under its own name, on PostgreSQL, and stopped
	// cleanly; between them they launched and followed both jobs.
	finished := map[int64]bool{}
	for i, path := range logs {
		log, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`"replica":"sandbox-%d"`, i+1); !bytes.Contains(log, []byte(want)) {
			t.Errorf("%s: no line with %s", path, want)
		}
		if !bytes.Contains(log, []byte("deploybot stopped")) {
			t.Errorf("%s: the bot did not stop cleanly; its log ends with:\n%s", path, tail(path, 10))
		}
		acts, err := activity(path)
		if err != nil {
			t.Fatal(err)
		}
		for id, msgs := range acts {
			if slices.Contains(msgs, "job finished") {
				finished[id] = true
			}
		}
	}
	if !finished[1] || !finished[2] {
		t.Errorf("jobs followed to the end by the replicas: %v, want #1 and #2", finished)
	}
}
