package main

import (
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/awxclient/awxtest"
)

// logTimeRE is the "time" of every line: UTC with milliseconds.
var logTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// unitless are duration fields without their unit in the name.
var unitless = map[string]bool{"took": true, "duration": true, "wait": true, "retry_in": true, "backoff": true, "elapsed": true}

// checkLogLine checks what every JSON log line promises: millisecond UTC
// time, "error" a string, durations as integer *_ms fields.
func checkLogLine(t *testing.T, line map[string]any, raw string) {
	t.Helper()
	if ts, _ := line["time"].(string); !logTimeRE.MatchString(ts) {
		t.Errorf("time %v is not UTC with milliseconds: %s", line["time"], raw)
	}
	if e, ok := line["error"]; ok {
		if _, ok := e.(string); !ok {
			t.Errorf("error is not a string: %s", raw)
		}
	}
	for k, v := range line {
		if unitless[k] {
			t.Errorf("duration %q has no unit in its name: %s", k, raw)
		}
		if strings.HasSuffix(k, "_ms") {
			if f, ok := v.(float64); !ok || f != float64(int64(f)) {
				t.Errorf("%s is not a whole number of milliseconds: %s", k, raw)
			}
		}
	}
}

// TestStoryLogSchema: a release, a dry run, a failed release and a
// rollback; every log line keeps the schema, and each request's lifecycle
// lines (request created, job launched, job finished) carry its id, app,
// env, kind and version, how long the job took, and for a failure the host
// and the task.
func TestStoryLogSchema(t *testing.T) {
	s := newStack(t)
	s.start()
	s.slash(alice, "shop-web staging 1.4.1")
	id, _ := s.newCard(0)
	s.card(id, "Succeeded")
	s.slash(alice, "shop-web staging 1.4.2 --check")
	id, _ = s.newCard(id)
	s.card(id, "Succeeded")
	const ok, bad = "stg-web-01.example.com", "stg-web-02.example.com"
	pb := awxtest.NewPlaybook("web_deploy.yml").Play("web").
		Task("fetch the build", "get_url").Changed(ok, "").Changed(bad, "").
		Task("health check", "uri").OK(ok, "").Failed(bad, "Status code was 503")
	s.awx.SetBehavior(s.tmpl["web"], pb.Behavior(awxtest.ScriptOptions{}), false)
	s.slash(alice, "shop-web staging 1.4.3")
	id, _ = s.newCard(id)
	s.card(id, "Failed")
	s.slash(alice, "rollback shop-web staging")
	id, _ = s.newCard(id)
	s.card(id, "Succeeded")
	s.stop()

	type want struct{ kind, version, status string }
	wants := map[float64]want{
		1: {"deploy", "1.4.1", "succeeded"},
		2: {"dry_run", "1.4.2", "succeeded"},
		3: {"deploy", "1.4.3", "failed"},
		4: {"rollback", "", "succeeded"},
	}
	seen := map[float64]map[string]bool{}
	lines := 0
	for _, raw := range strings.Split(strings.TrimSpace(s.logs.String()), "\n") {
		var line map[string]any
		if err := json.Unmarshal([]byte(raw), &line); err != nil {
			t.Errorf("not a JSON line: %q", raw)
			continue
		}
		lines++
		checkLogLine(t, line, raw)
		msg, _ := line["message"].(string)
		if msg != "request created" && msg != "job launched" && msg != "job finished" {
			continue
		}
		id, _ := line["request_id"].(float64)
		w, known := wants[id]
		if !known {
			t.Errorf("%s: request_id %v is none of the story's: %s", msg, line["request_id"], raw)
			continue
		}
		if seen[id] == nil {
			seen[id] = map[string]bool{}
		}
		seen[id][msg] = true
		if line["app"] != "shop-web" || line["env"] != "staging" {
			t.Errorf("%s: app and env: %s", msg, raw)
		}
		if line["kind"] != w.kind {
			t.Errorf("%s #%v: kind %v, want %s: %s", msg, id, line["kind"], w.kind, raw)
		}
		if v, ok := line["version"].(string); !ok || v != w.version {
			t.Errorf("%s #%v: version %v, want %q: %s", msg, id, line["version"], w.version, raw)
		}
		if msg != "job finished" {
			continue
		}
		if line["status"] != w.status {
			t.Errorf("job finished #%v: status %v, want %s: %s", id, line["status"], w.status, raw)
		}
		if _, ok := line["took_ms"].(float64); !ok {
			t.Errorf("job finished #%v: no took_ms: %s", id, raw)
		}
		if w.status == "failed" && (line["host"] != bad || line["task"] != "health check") {
			t.Errorf("failed job #%v does not name host %s and task %q: %s", id, bad, "health check", raw)
		}
		if w.status != "failed" && (line["host"] != nil || line["task"] != nil) {
			t.Errorf("job finished #%v names a failed host or task: %s", id, raw)
		}
	}
	for id := range wants {
		for _, msg := range []string{"request created", "job launched", "job finished"} {
			if !seen[id][msg] {
				t.Errorf("request #%v has no %q line", id, msg)
			}
		}
	}
	if t.Failed() {
		t.Logf("%d log lines:\n%s", lines, s.logs.String())
	}
}

// TestFatalStartupErrorIsJSON: with JSON logs, what stops the bot at start
// is its last log line, in JSON, with "error" a string and no secret; with
// console logs it is left for main to print as text.
func TestFatalStartupErrorIsJSON(t *testing.T) {
	env := map[string]string{"SLACK_APP_TOKEN": testAppToken, "LOG_FORMAT": "json", "DEPLOYBOT_CONFIG": "../../deploybot.example.yaml"}
	var logs syncBuffer
	err := runBotWith(t.Context(), nil, func(k string) string { return env[k] }, &logs, defaultTunables())
	if err == nil || !strings.Contains(err.Error(), "missing settings") {
		t.Fatalf("err = %v, want missing settings", err)
	}
	var logged *fatalLogged
	if !errors.As(err, &logged) {
		t.Errorf("the error is not marked as logged, so main would print it again as text")
	}
	out := strings.TrimSpace(logs.String())
	last := out[strings.LastIndex(out, "\n")+1:]
	var line map[string]any
	if jerr := json.Unmarshal([]byte(last), &line); jerr != nil {
		t.Fatalf("the last line is not JSON: %q", last)
	}
	checkLogLine(t, line, last)
	if line["level"] != "fatal" || !strings.Contains(line["error"].(string), "SLACK_BOT_TOKEN") {
		t.Errorf("fatal line = %s", last)
	}
	if strings.Contains(out, testAppToken) {
		t.Errorf("the token is in the log: %s", out)
	}

	env["LOG_FORMAT"] = "console"
	err = runBotWith(t.Context(), nil, func(k string) string { return env[k] }, io.Discard, defaultTunables())
	if err == nil || errors.As(err, &logged) {
		t.Errorf("console format: err = %v, want a plain error for main to print", err)
	}
}
