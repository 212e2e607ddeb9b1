package bot

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/bot/slacktest"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares v, as indented JSON, with testdata/<name>.golden.json.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep &, < and > readable in the files
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test -update after checking):\n%s", name, got)
	}
}

// mustValid fails when Slack's validator (slacktest's copy of it) finds
// anything wrong with blocks.
func mustValid(t testing.TB, blocks []slack.Block) {
	t.Helper()
	b, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	if errs := slacktest.ValidateBlocks(b); len(errs) > 0 {
		t.Fatalf("invalid blocks: %v\n%s", errs, b)
	}
	// Confirmation dialogs are not checked by the validator: title 100,
	// text 300, buttons 30 characters.
	var x any
	_ = json.Unmarshal(b, &x)
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if c, ok := x["confirm"].(map[string]any); ok && x["type"] == "button" {
				for field, max := range map[string]int{"title": 100, "text": 300, "confirm": 30, "deny": 30} {
					obj, _ := c[field].(map[string]any)
					txt, _ := obj["text"].(string)
					if n := utf8.RuneCountInString(txt); n == 0 || n > max {
						t.Fatalf("confirm %s has %d characters, want 1..%d", field, n, max)
					}
				}
			}
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(x)
	total := 0
	for _, bl := range blocks {
		total += blockTextLen(bl)
	}
	if total > maxBlocksTotal {
		t.Fatalf("blocks carry %d characters of text, over %d", total, maxBlocksTotal)
	}
}

// texts returns every string in the JSON form of v; with mrkdwnOnly, only
// the text of mrkdwn objects (plain_text is shown literally by Slack).
func texts(t testing.TB, v any, mrkdwnOnly ...bool) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if len(mrkdwnOnly) > 0 && x["type"] == "mrkdwn" {
				out = append(out, x["text"].(string))
				return
			}
			for k, e := range x {
				if len(mrkdwnOnly) > 0 && k != "blocks" {
					if _, isStr := e.(string); isStr {
						continue
					}
				}
				walk(e)
			}
		}
	}
	walk(x)
	return out
}

var t0 = time.Date(2026, 11, 24, 14, 2, 0, 0, time.UTC)

func baseRequest(st deploy.Status) *deploy.Request {
	return &deploy.Request{
		ID: 42, Kind: deploy.KindDeploy, App: "shop-web", Env: "production", Version: "1.4.2",
		RequestedBy: "U0REQ", Channel: "C0DEPLOY", Status: st, PlanHash: "3f9a0c1d2b7e5d81e0c4a9b2f6e3d7c1a0b9e8f7d6c5b4a3928170f6e5d4c3b2", // the card shows its first 12 digits
		Plan: deploy.Plan{
			Kind: deploy.KindDeploy, App: "shop-web", Env: "production", Version: "1.4.2",
			ArtifactURL:  "https://builds.example.com/shop-web/1.4.2.tar.gz",
			ArtifactSize: 12_345_678, ArtifactChecksum: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			Hosts: []string{"web1", "web2", "web3"},
		},
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func TestRenderCardGolden(t *testing.T) {
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Fatal(err)
	}
	pending := baseRequest(deploy.StatusPendingApproval)
	pending.Approvals = []deploy.Approval{{User: "U0APP1", At: t0.Add(time.Minute)}}
	pending.ExpiresAt = t0.Add(4 * time.Hour)

	queued := baseRequest(deploy.StatusQueued)

	running := baseRequest(deploy.StatusRunning)
	running.Job = deploy.JobRef{Kind: deploy.JobTemplateRun, ID: 917}
	running.StartedAt = t0.Add(2 * time.Minute)
	running.Progress = deploy.Progress{Play: "Rolling web deploy", Task: "Wait until the L4 marks the host down", Hosts: map[string]deploy.HostProgress{
		"web1": {Phase: "Health check", State: "ok", OK: 12, Change: 3, Done: true},
		"web2": {Phase: "Wait until the L4 marks the host down", State: "running", OK: 4},
		"web3": {State: ""},
	}}

	succeeded := baseRequest(deploy.StatusSucceeded)
	succeeded.Approvals = pending.Approvals
	succeeded.StartedAt, succeeded.FinishedAt = t0.Add(2*time.Minute), t0.Add(7*time.Minute+31*time.Second)
	succeeded.Outcome = "Released 1.4.2 to 3 hosts."
	succeeded.Progress = deploy.Progress{Hosts: map[string]deploy.HostProgress{
		"web1": {State: "ok", OK: 20, Change: 5, Done: true},
		"web2": {State: "changed", OK: 20, Change: 5, Done: true},
		"web3": {State: "ok", OK: 20, Change: 5, Done: true},
	}}

	failed := baseRequest(deploy.StatusFailed)
	failed.StartedAt, failed.FinishedAt = t0.Add(2*time.Minute), t0.Add(4*time.Minute)
	// The outcome the service writes names the failure as well.
	failed.Outcome = deploy.Literal(`Failed on web2 at task "Health check": Status code was 503 and not [200]: <html>down</html> in 2m`)
	failed.Progress = deploy.Progress{Hosts: map[string]deploy.HostProgress{
		"web1": {State: "ok", OK: 20, Change: 5, Done: true},
		"web2": {State: "failed", OK: 9, Failed: 1, Done: true},
	}, Failure: &deploy.Failure{Host: "web2", Task: "Health check", Message: "Status code was 503 and not [200]: <html>down</html>"}}

	canceled := baseRequest(deploy.StatusCanceled)
	canceled.CanceledBy = "U0OPS"
	canceled.FinishedAt = t0.Add(time.Minute)

	rollback := baseRequest(deploy.StatusPendingApproval)
	rollback.Kind, rollback.Version, rollback.RollbackTo = deploy.KindRollback, "", "41"

	expired := baseRequest(deploy.StatusExpired)
	expired.Outcome = "Expired at 03:02 KST (18:02 UTC) without approval. Request it again if it is still wanted."

	check := baseRequest(deploy.StatusSucceeded)
	check.Check = true

	many := baseRequest(deploy.StatusRunning)
	many.Progress.Hosts = map[string]deploy.HostProgress{}
	for i := range 150 {
		many.Progress.Hosts[fmt.Sprintf("web%03d.dc1.example.com", i)] = deploy.HostProgress{Phase: "Download and unpack the new build", State: "running"}
	}

	cases := []struct {
		name string
		req  *deploy.Request
		info deploy.CardInfo
	}{
		{"card_many_hosts", many, deploy.CardInfo{}},
		{"card_pending", pending, deploy.CardInfo{ApprovalsMissing: 1, Approvers: []string{"@shop-leads", "U0APP2"},
			CheckSummary: textNote("web1: changed=3\nweb2: changed=3\nweb3: changed=3"), Location: seoul}},
		{"card_queued", queued, deploy.CardInfo{QueuePosition: 2, Blocker: textNote("#12 (running)")}},
		{"card_queued_locked", queued, deploy.CardInfo{QueuePosition: 1, Blocker: textNote("locked by <@U0OPS> since 23:02 KST (14:02 UTC): freeze <b>&</b> <!here>"), Location: seoul}},
		{"card_running", running, deploy.CardInfo{}},
		{"card_succeeded", succeeded, deploy.CardInfo{Location: seoul}},
		{"card_failed", failed, deploy.CardInfo{}},
		{"card_canceled", canceled, deploy.CardInfo{}},
		{"card_rollback", rollback, deploy.CardInfo{ApprovalsMissing: 2, Approvers: []string{"U0APP2"}, SelfApproval: true}},
		{"card_check", check, deploy.CardInfo{Note: "Dry run only: nothing was changed."}},
		{"card_expired", expired, deploy.CardInfo{Location: seoul}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			blocks := RenderCard(tc.req, tc.info)
			mustValid(t, blocks)
			golden(t, tc.name, blocks)
		})
	}
}

func TestRenderCardButtons(t *testing.T) {
	cases := []struct {
		status deploy.Status
		kind   deploy.Kind
		want   []string
	}{
		{deploy.StatusPendingApproval, deploy.KindDeploy, []string{ActionApprove, ActionReject}},
		{deploy.StatusQueued, deploy.KindDeploy, []string{ActionCancel}},
		{deploy.StatusLaunching, deploy.KindDeploy, []string{ActionCancel}},
		{deploy.StatusRunning, deploy.KindDeploy, []string{ActionCancel}},
		{deploy.StatusSucceeded, deploy.KindDeploy, []string{ActionRollback}},
		{deploy.StatusFailed, deploy.KindDeploy, []string{ActionRollback}},
		{deploy.StatusSucceeded, deploy.KindRollback, nil},
		{deploy.StatusCanceled, deploy.KindDeploy, nil},
		{deploy.StatusRejected, deploy.KindDeploy, nil},
		{deploy.StatusExpired, deploy.KindDeploy, nil},
		// A custom app keeps no backups: no Roll back.
		{deploy.StatusSucceeded, "custom", nil},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind)+"/"+string(tc.status), func(t *testing.T) {
			req := baseRequest(tc.status)
			req.Kind = tc.kind
			if tc.kind == "custom" {
				req.Kind, req.Plan.ArtifactURL, req.Plan.AdHoc = deploy.KindDeploy, "", true
			}
			var got []string
			for _, b := range RenderCard(req, deploy.CardInfo{}) {
				a, ok := b.(*slack.ActionBlock)
				if !ok {
					continue
				}
				for _, e := range a.Elements.ElementSet {
					btn := e.(*slack.ButtonBlockElement)
					if btn.Value != "42" {
						t.Errorf("button %s carries %q, want only the request id", btn.ActionID, btn.Value)
					}
					got = append(got, btn.ActionID)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("buttons = %v, want %v", got, tc.want)
			}
		})
	}
}

// hostileStrings are inputs that have broken chat renderers before.
func hostileStrings() []string {
	return []string{
		"",
		"<!here> <!channel> <@U123> <#C1|general> <https://evil.example|click>",
		"&amp; &lt; &gt; & < > &&& <<< >>>",
		"*bold* _it_ ~strike~ `code` ```block``` > quote",
		strings.Repeat("é🚀\u200b", 3000),
		strings.Repeat("x", 10_000),
		strings.Repeat("<&>", 2000),
		"line\nline\n\n\n" + strings.Repeat("l\n", 500),
		"\u202eevil rtl\u202c",
		string([]byte{0xff, 0xfe, 'a'}),
	}
}

func TestRenderHostileInputs(t *testing.T) {
	for i, s := range hostileStrings() {
		for _, st := range deploy.Statuses() {
			req := baseRequest(st)
			req.App, req.Env, req.Version, req.Outcome, req.RollbackTo = s, s, s, s, s
			req.PlanHash = s
			req.Plan.ArtifactChecksum = s
			req.Plan.Hosts = nil
			req.Progress = deploy.Progress{Play: s, Task: s, Hosts: map[string]deploy.HostProgress{}, Failure: &deploy.Failure{Host: s, Task: s, Message: s}}
			for h := range 120 {
				host := s + strings.Repeat("h", h%7) + string(rune('a'+h%26)) + strings.Repeat("x", h)
				req.Progress.Hosts[host] = deploy.HostProgress{Phase: s, State: "running"}
				req.Plan.Hosts = append(req.Plan.Hosts, host)
			}
			req.Approvals = []deploy.Approval{{User: s}, {User: "U1"}}
			req.RequestedBy = s
			info := deploy.CardInfo{QueuePosition: 3, Blocker: textNote(s), ApprovalsMissing: 2, Approvers: []string{s, "@" + s}, CheckSummary: textNote(s), Note: s}
			blocks := RenderCard(req, info)
			mustValid(t, blocks)
			assertNoInjection(t, blocks)
			if len(blocks) == 0 {
				t.Fatalf("input %d status %s: no blocks", i, st)
			}
		}
		lists := []Message{
			RenderStatus(StatusView{Active: []*deploy.Request{baseRequest(deploy.StatusRunning)}, Locks: []deploy.Lock{{App: s, Env: s, By: s, Reason: s}}}, s, s),
			RenderHistory(manyRequests(s, 200), s, s),
			RenderSyntaxError(s, s),
			RenderRefusal(s),
			RenderInfo(s),
			RenderHelp(s),
			RenderLockNotice(deploy.Lock{App: s, Env: s, By: s, Reason: s, Since: t0}, s, true, nil, nil),
			RenderLockNotice(deploy.Lock{App: s, Env: s, By: s, Reason: s, Since: t0}, s, false, nil, nil),
			RenderFailureDigest(baseRequest(deploy.StatusFailed), s),
		}
		thread, _ := RenderThread(s)
		lists = append(lists, thread)
		for j, m := range lists {
			mustValid(t, m.Blocks)
			assertNoInjection(t, m.Blocks)
			if n := utf8.RuneCountInString(m.Text); n > 40000 || m.Text == "" {
				t.Errorf("input %d message %d: text of %d characters", i, j, n)
			}
		}
	}
}

func manyRequests(s string, n int) []*deploy.Request {
	var out []*deploy.Request
	for i := range n {
		r := baseRequest(deploy.Statuses()[i%len(deploy.Statuses())])
		r.ID = int64(i + 1)
		r.App, r.Outcome = s, s
		out = append(out, r)
	}
	return out
}

// broadcast matches a raw control sequence that pings or links.
var broadcast = regexp.MustCompile(`<!(here|channel|everyone)|<https?:`)

// archiveLink matches the links to Slack messages that may stay.
var archiveLink = regexp.MustCompile(`<https://slack\.com/archives/[^@:?#\\|>]*(\|[^>]*)?>`)

// assertNoInjection fails when user text turned into a broadcast or link.
func assertNoInjection(t testing.TB, blocks []slack.Block) {
	t.Helper()
	for _, s := range texts(t, blocks, true) {
		if broadcast.MatchString(archiveLink.ReplaceAllString(s, "")) {
			t.Fatalf("unescaped control sequence in %q", clip(s, 300, ""))
		}
	}
}

func TestEscapeOnce(t *testing.T) {
	req := baseRequest(deploy.StatusFailed)
	req.App = "a&b<c>"
	req.Outcome = "x &amp; y <@U123> <!here> <https://slack.com/archives/C1/p1700000000000100|#12> <https://evil.example/|#13> <https://slack.com/archives/@evil.example|x>"
	all := strings.Join(texts(t, RenderCard(req, deploy.CardInfo{})), "\n")
	for _, want := range []string{"a&amp;b&lt;c&gt;", "x &amp; y <@U123> &lt;!here&gt; <https://slack.com/archives/C1/p1700000000000100|#12> &lt;https://evil.example/|#13&gt; &lt;https://slack.com/archives/@evil.example|x&gt;"} {
		if !strings.Contains(all, want) {
			t.Errorf("rendered card lacks %q:\n%s", want, all)
		}
	}
	assertNoInjection(t, RenderCard(req, deploy.CardInfo{}))
	if strings.Contains(all, "&amp;amp;") {
		t.Errorf("text escaped twice:\n%s", all)
	}
}

func TestClip(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 5, "abcd…"},
		{"ab &amp; cd", 5, "ab …"},
		{"ab <@U123> cd", 6, "ab …"},
		{"ééééé", 3, "éé…"},
		{"```\nabcdefghijkl\n```", 12, "```\nabc\n```…"},
	}
	for _, tc := range cases {
		got := clip(tc.in, tc.max, "")
		if got != tc.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		if utf8.RuneCountInString(got) > tc.max {
			t.Errorf("clip(%q, %d) is %d long", tc.in, tc.max, utf8.RuneCountInString(got))
		}
	}
}

func testConfig() *config.Config {
	env := func(name string, hosts ...string) *config.Environment {
		return &config.Environment{Name: name, Hosts: hosts, Deployers: []string{"U0REQ", "@shop-devs"}}
	}
	prod := env("production", "web1", "web2", "web3")
	prod.Approval = config.Approval{Required: true, Approvers: []string{"@shop-leads", "U0APP2"}, MinApprovals: 2, ExpiresAfter: 4 * time.Hour}
	return &config.Config{Apps: map[string]*config.App{
		"shop-web": {Name: "shop-web", Type: config.TypeWeb, VersionPattern: `^\d+\.\d+\.\d+$`, VersionRE: regexp.MustCompile(`^\d+\.\d+\.\d+$`),
			Environments: map[string]*config.Environment{"staging": env("staging", "stg1"), "production": prod}},
		"billing-worker": {Name: "billing-worker", Type: config.TypeCustom, VersionPattern: config.DefaultVersionPattern, VersionRE: regexp.MustCompile(config.DefaultVersionPattern),
			Environments: map[string]*config.Environment{"production": env("production", "job1")}},
	}}
}

func TestRenderListsGolden(t *testing.T) {
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Fatal(err)
	}
	running := baseRequest(deploy.StatusRunning)
	queued := baseRequest(deploy.StatusQueued)
	queued.ID = 43
	pending := baseRequest(deploy.StatusPendingApproval)
	pending.ID = 44
	done := baseRequest(deploy.StatusSucceeded)
	done.ID = 40
	done.Approvals = []deploy.Approval{{User: "U0APP1"}}
	done.Outcome = "Released 1.4.2 to 3 hosts."
	failed := baseRequest(deploy.StatusFailed)
	failed.ID = 39
	cases := []struct {
		name string
		msg  Message
	}{
		{"status", RenderStatus(StatusView{Active: []*deploy.Request{running}, Queued: []*deploy.Request{queued}, Pending: []*deploy.Request{pending},
			Locks: []deploy.Lock{{App: "shop-web", Env: "staging", By: "U0OPS", Reason: "load test <until 16:00>", Since: t0}}}, "", "")},
		{"status_empty", RenderStatus(StatusView{}, "shop-web", "")},
		{"history", RenderHistory([]*deploy.Request{done, failed}, "shop-web", "production")},
		{"history_empty", RenderHistory(nil, "shop-web", "")},
		{"apps", RenderApps(testConfig())},
		{"help", RenderHelp("/deploy <app> <env> <version> [--check]\n    request a release")},
		{"syntax_error", RenderSyntaxError(`unknown command "deplyo"`, "/deploy <app> <env> <version> [--check]")},
		{"refusal", RenderRefusal("You are not an approver for shop-web production. Approvers: @shop-leads, <@U0APP2>.")},
		{"internal_error", RenderInternalError("1a2b3c4d")},
		{"failure_digest", RenderFailureDigest(failedWithFailure(), "TASK [health check]\nfatal: [web2]: FAILED! => {\"status\": 503}\n<html>")},
		{"lock", RenderLockNotice(deploy.Lock{App: "shop-web", Env: "production", By: "U0OPS", Reason: "freeze", Since: t0}, "U0OPS", true, []int64{43, 44}, seoul)},
		{"unlock", RenderLockNotice(deploy.Lock{App: "shop-web", Env: "production", By: "U0OPS", Reason: "freeze", Since: t0}, "U0DAVE", false, nil, seoul)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustValid(t, tc.msg.Blocks)
			golden(t, tc.name, tc.msg)
		})
	}
}

func failedWithFailure() *deploy.Request {
	r := baseRequest(deploy.StatusFailed)
	r.Progress.Failure = &deploy.Failure{Host: "web2", Task: "Health check", Message: "Status code was 503"}
	return r
}

func TestRenderFormGolden(t *testing.T) {
	view := RenderForm(testConfig(), "C0DEPLOY")
	b, err := json.Marshal(view)
	if err != nil {
		t.Fatal(err)
	}
	if errs := slacktest.ValidateView(b); len(errs) > 0 {
		t.Fatalf("invalid view: %v", errs)
	}
	golden(t, "form", view)
}

// FuzzRenderCard renders cards from arbitrary text and checks Slack's
// limits and escaping.
func FuzzRenderCard(f *testing.F) {
	for _, s := range hostileStrings() {
		f.Add(s, s, uint8(3), uint16(5))
	}
	f.Fuzz(func(t *testing.T, text, other string, status uint8, hosts uint16) {
		st := deploy.Statuses()[int(status)%len(deploy.Statuses())]
		req := baseRequest(st)
		req.App, req.Env, req.Version, req.Outcome = text, other, text, other
		req.Progress = deploy.Progress{Play: text, Task: other, Hosts: map[string]deploy.HostProgress{},
			Failure: &deploy.Failure{Host: text, Task: other, Message: text + other}}
		for h := range int(hosts % 400) {
			req.Progress.Hosts[text+strings.Repeat("-", h)] = deploy.HostProgress{Phase: other, State: "running"}
		}
		info := deploy.CardInfo{Blocker: textNote(text), Note: other, CheckSummary: textNote(text), Approvers: []string{text, other}, ApprovalsMissing: 1}
		blocks := RenderCard(req, info)
		mustValid(t, blocks)
		assertNoInjection(t, blocks)
		sch := deploy.Schedule{ID: 3, App: text, Env: other, Version: text, Spec: other, TZ: text, CreatedBy: other}
		thread, _ := RenderThread(text + other)
		msgs := []Message{
			RenderRefusal(text), RenderSyntaxError(text, other), RenderHistory(manyRequests(text, int(hosts%60)), text, other),
			RenderStatus(StatusView{Active: manyRequests(other, int(hosts%30)), Locks: []deploy.Lock{{App: text, Env: other, By: text, Reason: other}}}, text, other),
			RenderFailureDigest(req, text+"\n"+other), thread, RenderInfo(text),
			RenderAnnouncement(deploy.ScheduleAnnouncement{Kind: deploy.AnnounceUpcoming, Schedule: sch, Note: deploy.Note{Kind: deploy.NoteText, Text: text},
				NextRuns: []deploy.RunTime{{At: t0, Note: other}}}),
			RenderSchedules([]*deploy.Schedule{&sch}, func(*deploy.Schedule) []deploy.RunTime { return []deploy.RunTime{{At: t0, Note: text}} }),
		}
		for _, m := range msgs {
			mustValid(t, m.Blocks)
			assertNoInjection(t, m.Blocks)
		}
	})
}

func TestRenderFormFallsBackToTextInput(t *testing.T) {
	cases := []struct {
		name     string
		apps     int
		nameLen  int
		wantType string
	}{
		{"FewApps", 3, 8, "static_select"},
		{"HundredApps", 100, 8, "static_select"},
		{"TooManyApps", 150, 8, "plain_text_input"},
		{"LongNames", 3, 90, "plain_text_input"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conf := testConfig()
			conf.Apps = map[string]*config.App{}
			for i := range tc.apps {
				n := fmt.Sprintf("app%03d", i) + strings.Repeat("x", tc.nameLen)
				conf.Apps[n] = &config.App{Name: n, Environments: map[string]*config.Environment{"staging": {Name: "staging"}}}
			}
			view := RenderForm(conf, "C1")
			b, err := json.Marshal(view)
			if err != nil {
				t.Fatal(err)
			}
			if errs := slacktest.ValidateView(b); len(errs) > 0 {
				t.Fatalf("invalid view: %v", errs)
			}
			in := view.Blocks.BlockSet[0].(*slack.InputBlock)
			if got := string(in.Element.ElementType()); got != tc.wantType {
				t.Errorf("app field is a %s, want %s", got, tc.wantType)
			}
		})
	}
}

// TestQuieterSurfacesUnverifiedDownload: a build fetched over plain HTTP
// with no checksum published says so on the card; HTTPS or a checksum
// does not.
func TestQuieterSurfacesUnverifiedDownload(t *testing.T) {
	for _, tc := range []struct {
		name, url, sum string
		want           bool
	}{
		{"http, no checksum", "http://builds.example.com/shop-web/1.4.2.tar.gz", "", true},
		{"HTTP in capitals", "HTTP://builds.example.com/shop-web/1.4.2.tar.gz", "", true},
		{"http with checksum", "http://builds.example.com/shop-web/1.4.2.tar.gz", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", false},
		{"https, no checksum", "https://builds.example.com/shop-web/1.4.2.tar.gz", "", false},
		{"custom app, no build", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, st := range []deploy.Status{deploy.StatusPendingApproval, deploy.StatusRunning} {
				req := baseRequest(st)
				req.Plan.ArtifactURL, req.Plan.ArtifactChecksum = tc.url, tc.sum
				blocks := RenderCard(req, deploy.CardInfo{})
				mustValid(t, blocks)
				b, err := json.Marshal(blocks)
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.Contains(string(b), "unverified download"); got != tc.want {
					t.Errorf("%s card says unverified download: %v, want %v", st, got, tc.want)
				}
			}
		})
	}
}
