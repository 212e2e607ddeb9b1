package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/awxclient/awxtest"
	"github.com/deploybot/deploybot/bot/slacktest"
)

// Slack users and channels of the end-to-end stories.
const (
	alice   = "U01ALICE00" // deployer of shop-web, requester
	bob     = "U02BOB0000" // approver of shop-web production
	carol   = "U03CAROL00" // member of @shop-leads: approver through the group
	dave    = "U04DAVE000" // member of @shop-devs: deployer through the group
	eve     = "U09EVE0000" // nobody in particular
	deploys = "C0DEPLOYS01"
	release = "C0RELEASE1"
)

// e2eConfig is the configuration of the stories; BUILDS is replaced by the
// build server's URL.
const e2eConfig = `timezone: Asia/Seoul
slack:
  channels: [C0DEPLOYS01]
  announce_channel: C0RELEASE1
awx:
  organization: Default
  inventory_prefix: deploybot
  credential: Demo Credential
  job_templates:
    web: deploybot-web-deploy
    custom: deploybot-custom-deploy
    rollback: deploybot-rollback
apps:
  shop-web:
    type: web
    server: nginx
    artifact_url: BUILDS/shop-web/{version}/shop-web-{version}.tar.gz
    version_pattern: '^[0-9]+\.[0-9]+\.[0-9]+$'
    docroot: /var/www/shop-web
    deploy_path: /opt/deploy/shop-web
    pid_file: /run/nginx.pid
    environments:
      staging:
        hosts: [stg-web-01.example.com, stg-web-02.example.com]
        deployers: ["@shop-devs", U01ALICE00]
        approval: {required: false}
      production:
        hosts: [web-01.example.com, web-02.example.com]
        deployers: [U01ALICE00, "@shop-devs"]
        approval:
          required: true
          approvers: [U02BOB0000, "@shop-leads", U01ALICE00]
          min_approvals: 1
          allow_self_approval: false
          expires_after: 30m
  batch-api:
    type: custom
    environments:
      production:
        hosts: [api-01.example.com]
        deployers: [U01ALICE00]
        pre_commands: [echo pre]
        command: /opt/batch-api/bin/deploy.sh {version}
        post_commands: [echo post]
        approval: {required: false}
  cache-warmer:
    type: custom
    environments:
      production:
        hosts: [cache-01.example.com]
        deployers: [U01ALICE00]
        command: /usr/local/bin/warm-cache --release {version}
        approval: {required: false}
`

// stack is a running bot with its fake Slack, fake AWX, build server and
// database, for end-to-end stories.
type stack struct {
	t      testing.TB
	slack  *slacktest.Server
	awx    *awxtest.Server
	builds *httptest.Server
	env    map[string]string
	tun    botTunables
	tmpl   map[string]int // job template ids by role
	proxy  *awxProxy      // between the bot and the fake AWX

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

// missingBuild is a version the build server does not have.
const missingBuild = "9.9.9"

func newStack(t testing.TB, slackOpts ...slacktest.Option) *stack {
	t.Helper()
	return newStackConfig(t, e2eConfig, slackOpts...)
}

// newStackConfig is newStack with another configuration (BUILDS is replaced
// by the build server's URL).
func newStackConfig(t testing.TB, config string, slackOpts ...slacktest.Option) *stack {
	t.Helper()
	return newStackFakes(t, config, slackOpts, nil)
}

// newStackFakes is newStackConfig with options for both fakes.
func newStackFakes(t testing.TB, config string, slackOpts []slacktest.Option, awxOpts []awxtest.Option) *stack {
	t.Helper()
	s := &stack{t: t, tmpl: map[string]int{}}
	s.builds = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/"+missingBuild+"/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", "4096")
	}))
	t.Cleanup(s.builds.Close)

	// The stories pace Slack writes faster than Slack allows, so they turn
	// the fake's rate limits off (stories about 429s force them); the load
	// harness turns them on with the bot's real pacing.
	s.slack = slacktest.NewServer(t, append([]slacktest.Option{slacktest.WithPingInterval(500 * time.Millisecond), slacktest.WithRateLimits(false)}, slackOpts...)...)
	for id, name := range map[string]string{alice: "alice", bob: "bob", carol: "carol", dave: "dave", eve: "eve"} {
		s.slack.AddUser(id, name)
	}
	s.slack.AddChannel(deploys, "deploys", true, true)
	s.slack.AddChannel(release, "releases", true, true)
	s.slack.AddChannel("C0OTHER001", "random", true, true)
	s.slack.AddUserGroup("S0SHOPDEVS", "shop-devs", dave)
	s.slack.AddUserGroup("S0SHOPLEAD", "shop-leads", carol)

	if _, bench := t.(*testing.B); bench {
		awxOpts = append(awxOpts, awxtest.WithLogf(func(string, ...any) {})) // one line per job drowns the figures
	}
	s.awx = awxtest.NewServer(t, awxOpts...)
	proj := s.awx.AddProject("deploybot", "https://git.example.com/ops/deploybot.git", "web.yml", "custom.yml", "rollback.yml")
	for role, name := range map[string]string{"web": "deploybot-web-deploy", "custom": "deploybot-custom-deploy", "rollback": "deploybot-rollback"} {
		s.tmpl[role] = s.awx.AddJobTemplate(awxtest.JobTemplate{Name: name, Playbook: role + ".yml", Project: proj,
			AskInventory: true, AskVariables: true, AskLimit: true, AskJobType: true, AskDiffMode: true})
	}

	s.proxy = newAWXProxy(t, s.awx.URL)

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "deploybot.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(config, "BUILDS", s.builds.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.wire(t, s.proxy.URL, cfgPath, dir)
	s.tun.PollInterval = 25 * time.Millisecond
	s.tun.Slack.ChannelInterval = 20 * time.Millisecond
	s.tun.Slack.ChannelBurst = 50
	s.tun.Slack.UpdateInterval = 20 * time.Millisecond
	s.tun.Slack.UpdateBurst = 50
	s.tun.Slack.Backoff = 10 * time.Millisecond
	t.Cleanup(s.stop)
	return s
}

// start runs the bot and waits until it is ready.
func (s *stack) start() {
	s.t.Helper()
	s.startUnready()
	s.awaitReady(func() {
		select {
		case err := <-s.done:
			s.t.Fatalf("the bot stopped while starting: %v\nlogs:\n%s", err, s.logs.String())
		default:
		}
	})
}

// awaitReady polls /readyz until it answers 200, calling check between
// polls.
func (s *stack) awaitReady(check func()) {
	s.t.Helper()
	url := "http://" + s.env["DEPLOYBOT_HTTP_ADDR"] + "/readyz"
	s.await("/readyz to answer 200", func() bool {
		check()
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// loopbackAddr returns a free address on 127.0.0.1.
func loopbackAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startUnready runs the bot without waiting for it to be ready.
func (s *stack) startUnready() {
	s.t.Helper()
	s.mu.Lock()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done, s.logs = cancel, make(chan error, 1), &syncBuffer{}
	done, logs := s.done, s.logs
	s.mu.Unlock()
	env, tun := maps.Clone(s.env), s.tun
	go func() { done <- runBotWith(ctx, nil, func(k string) string { return env[k] }, logs, tun) }()
	_ = logs
}

// stop stops the bot (as SIGTERM would) and checks that it stopped cleanly.
func (s *stack) stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel = nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			s.t.Errorf("the bot stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		s.t.Error("the bot did not stop within 30 s")
	}
	if os.Getenv("E2E_LOGS") != "" {
		s.t.Logf("bot logs:\n%s", s.logs.String())
	}
	for _, secret := range []string{s.slack.AppToken, s.slack.BotToken, s.awx.Token} {
		if strings.Contains(s.logs.String(), secret) {
			s.t.Errorf("a token appears in the logs")
		}
	}
}

func (s *stack) ctx() context.Context {
	ctx, cancel := context.WithTimeout(s.t.Context(), 30*time.Second)
	s.t.Cleanup(cancel)
	return ctx
}

// slash types /deploy text as user in the deploys channel.
func (s *stack) slash(user, text string) slacktest.Ack {
	s.t.Helper()
	ack, err := s.slack.SendSlashCommand(s.ctx(), slacktest.SlashCommand{User: user, Channel: deploys, Command: "/deploy", Text: text})
	if err != nil {
		s.t.Fatalf("/deploy %s: %v", text, err)
	}
	return ack
}

var cardRE = regexp.MustCompile(`^#(\d+) `)

// card waits for the card of request id to match the status label.
func (s *stack) card(id int64, label string) slacktest.Message {
	s.t.Helper()
	prefix := fmt.Sprintf("#%d ", id)
	m, err := s.slack.AwaitMessage(s.ctx(), deploys, func(m slacktest.Message) bool {
		return strings.HasPrefix(m.Text, prefix) && strings.HasSuffix(m.Text, ": "+label)
	})
	if err != nil {
		var cards []string
		for _, m := range s.slack.Messages(deploys) {
			cards = append(cards, m.Text)
		}
		s.t.Fatalf("card #%d never showed %q; cards: %q\nlogs:\n%s", id, label, cards, s.logs.String())
	}
	return m
}

// newCard waits for the card of a request not seen before and returns its id.
func (s *stack) newCard(after int64) (int64, slacktest.Message) {
	s.t.Helper()
	var id int64
	m, err := s.slack.AwaitMessage(s.ctx(), deploys, func(m slacktest.Message) bool {
		if sm := cardRE.FindStringSubmatch(m.Text); sm != nil {
			id, _ = strconv.ParseInt(sm[1], 10, 64)
			return id > after
		}
		return false
	})
	if err != nil {
		s.t.Fatalf("no new request card; logs:\n%s", s.logs.String())
	}
	return id, m
}

// ephemeral waits for an ephemeral to user containing text.
func (s *stack) ephemeral(user, text string) slacktest.Ephemeral {
	s.t.Helper()
	e, err := s.slack.AwaitEphemeral(s.ctx(), user, func(e slacktest.Ephemeral) bool { return strings.Contains(e.Text, text) })
	if err != nil {
		var got []string
		for _, e := range s.slack.Ephemerals(user) {
			got = append(got, e.Text)
		}
		s.t.Fatalf("no ephemeral to %s containing %q; got %q", user, text, got)
	}
	return e
}

// click presses a button of a message as user.
func (s *stack) click(user string, m slacktest.Message, action string) {
	s.t.Helper()
	if _, err := s.slack.ClickButton(s.ctx(), user, deploys, m.TS, action); err != nil {
		s.t.Fatalf("%s clicks %s: %v", user, action, err)
	}
}

// threadText is the text of every reply in a card's thread.
func (s *stack) threadText(m slacktest.Message) string {
	var b strings.Builder
	for _, r := range s.slack.Thread(deploys, m.TS)[1:] {
		b.WriteString(r.Text)
		b.WriteString("\n")
	}
	return b.String()
}

// await waits for cond, polling the fakes' state, until the stack's
// deadline; what names what was awaited.
func (s *stack) await(what string, cond func() bool) {
	s.t.Helper()
	ctx := s.ctx()
	for !cond() {
		select {
		case <-ctx.Done():
			s.t.Fatalf("timed out waiting for %s\nlogs:\n%s", what, s.logs.String())
		case <-time.After(10 * time.Millisecond): // polling the fakes, under the deadline above
		}
	}
}

// reply waits for an answer to user (ephemeral or response_url) whose text
// or blocks contain every one of parts.
func (s *stack) reply(user string, parts ...string) slacktest.Ephemeral {
	s.t.Helper()
	e, err := s.slack.AwaitEphemeral(s.ctx(), user, func(e slacktest.Ephemeral) bool {
		all := e.Text + "\n" + unescapeJSON(e.Blocks)
		for _, p := range parts {
			if !strings.Contains(all, p) {
				return false
			}
		}
		return true
	})
	if err != nil {
		var got []string
		for _, e := range s.slack.Ephemerals(user) {
			got = append(got, e.Text+" "+unescapeJSON(e.Blocks))
		}
		s.t.Fatalf("no answer to %s containing %q; got:\n%s\nlogs:\n%s", user, parts, strings.Join(got, "\n"), s.logs.String())
	}
	return e
}

// unescapeJSON turns stored blocks into text a test can search: JSON
// string escapes (\u003c, \n, \") undone.
func unescapeJSON(raw []byte) string {
	r := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&", `\n`, "\n", `\"`, `"`)
	return r.Replace(string(raw))
}

// cardBlocks is the searchable text of a card's blocks, as now stored.
func (s *stack) cardBlocks(m slacktest.Message) string {
	cur, ok := s.slack.Message(deploys, m.TS)
	if !ok {
		return ""
	}
	return unescapeJSON(cur.Blocks)
}

// gate is a job behaviour that runs until told to finish: the job is
// "running" with its play started, then waits for open to be closed and
// ends like DefaultScript.
func gate(open <-chan struct{}) awxtest.Behavior {
	return awxtest.BehaviorFunc(func(ctx context.Context, r *awxtest.Run) error {
		r.SetStatus("running")
		select {
		case <-open:
		case <-ctx.Done():
			return ctx.Err()
		}
		return awxtest.DefaultScript().Run(ctx, r)
	})
}

// launchesOf counts the launches of one job template.
func (s *stack) launchesOf(role string) []awxtest.Launch {
	var out []awxtest.Launch
	for _, l := range s.awx.Launches() {
		if l.Template == s.tmpl[role] {
			out = append(out, l)
		}
	}
	return out
}

// adHocPosts returns the bodies of the ad-hoc command launches AWX received.
func (s *stack) adHocPosts() []map[string]any {
	var out []map[string]any
	for _, r := range s.awx.Requests() {
		if r.Method == http.MethodPost && strings.HasPrefix(r.Path, "/api/v2/ad_hoc_commands") {
			var body map[string]any
			if err := json.Unmarshal(r.Body, &body); err != nil {
				s.t.Fatalf("ad-hoc POST body: %v", err)
			}
			out = append(out, body)
		}
	}
	return out
}

// jobLaunchingWrites counts the POSTs that could start work in AWX: job
// template launches and ad-hoc commands.
func (s *stack) jobLaunchingWrites() int {
	n := 0
	for _, r := range s.awx.Requests() {
		if r.Method == http.MethodPost && (strings.HasSuffix(r.Path, "/launch/") || strings.HasPrefix(r.Path, "/api/v2/ad_hoc_commands")) {
			n++
		}
	}
	return n
}

// wire points the bot at the stack's fakes (AWX through awxURL) with the
// config at cfgPath and its database in dir, and sets the tunables every
// story shares.
func (s *stack) wire(t testing.TB, awxURL, cfgPath, dir string) {
	s.env = map[string]string{
		"SLACK_APP_TOKEN":     s.slack.AppToken,
		"SLACK_BOT_TOKEN":     s.slack.BotToken,
		"SLACK_API_URL":       s.slack.APIURL(),
		"AWX_URL":             awxURL,
		"AWX_TOKEN":           s.awx.Token,
		"DEPLOYBOT_CONFIG":    cfgPath,
		"DEPLOYBOT_DB":        filepath.Join(dir, "deploybot.db"),
		"DEPLOYBOT_HTTP_ADDR": loopbackAddr(t),
		"LOG_LEVEL":           "debug",
		"LOG_FORMAT":          "json",
	}
	s.tun = defaultTunables()
	s.tun.SlackStale = 5 * time.Second
	s.tun.AWXCheck = time.Second
	s.tun.TickInterval = 100 * time.Millisecond
	s.tun.Bot.PingInterval = 2 * time.Second
}
