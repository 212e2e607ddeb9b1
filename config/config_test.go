package config_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/config"
)

func TestLoadExample(t *testing.T) {
	cfg, err := config.Load("../deploybot.example.yaml")
	if err != nil {
		t.Fatalf("the example configuration must load unchanged: %v", err)
	}
	if got, want := cfg.Location.String(), "Asia/Seoul"; got != want {
		t.Errorf("location = %q, want %q", got, want)
	}
	if got, want := strings.Join(cfg.AppNames(), ","), "batch-api,cache-warmer,shop-web"; got != want {
		t.Errorf("apps = %q, want %q", got, want)
	}
	app, env := cfg.Environment("shop-web", "production")
	if env == nil {
		t.Fatal("shop-web production missing")
	}
	if got := env.HostVars["web-03.example.com"]["port"]; got != 8080 {
		t.Errorf("host var port = %v, want 8080", got)
	}
	if !env.Approval.Required || env.Approval.MinApprovals != 1 || env.Approval.AllowSelfApproval || env.Approval.ExpiresAfter != 30*time.Minute {
		t.Errorf("approval = %+v", env.Approval)
	}
	if app.Healthcheck.L4Interval != 5*time.Second || app.Healthcheck.L4Fall != 3 || app.Healthcheck.L4Rise != 2 {
		t.Errorf("healthcheck = %+v", app.Healthcheck)
	}
	if !app.VersionRE.MatchString("1.4.2") || app.VersionRE.MatchString("1.4.2;rm -rf /") {
		t.Error("version pattern does not behave")
	}
	batch, benv := cfg.Environment("batch-api", "production")
	if batch.UsesAdHoc(benv) {
		t.Error("batch-api has pre/post commands: it must use the custom job template")
	}
	warm, wenv := cfg.Environment("cache-warmer", "production")
	if !warm.UsesAdHoc(wenv) {
		t.Error("cache-warmer has a single command: it must run as an ad-hoc command")
	}
	if got, want := cfg.InventoryName("shop-web", "staging"), "deploybot-shop-web-staging"; got != want {
		t.Errorf("inventory = %q, want %q", got, want)
	}
	if cfg.AWX.EventWait != 2*time.Minute {
		t.Errorf("awx.event_wait = %s, want 2m", cfg.AWX.EventWait)
	}
	if !cfg.ChannelAllowed("C0DEPLOYS01") || cfg.ChannelAllowed("C0OTHER0001") {
		t.Error("channel allow-list does not behave")
	}
}

const base = `timezone: UTC
awx:
  organization: Default
  credential: ssh
  job_templates: {web: w, rollback: r, custom: c}
apps:
  shop:
    type: web
    server: nginx
    artifact_url: https://b.example.com/{version}.tgz
    version_pattern: '^[0-9.]+$'
    docroot: /var/www/shop
    deploy_path: /opt/shop
    pid_file: /run/nginx.pid
    environments:
      prod:
        hosts: [a.example.com]
        deployers: [U1ALICE]
`

// TestProblems feeds broken files and checks that each problem is reported
// with its key path and line.
func TestProblems(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		wantPath string
		wantLine int
		wantMsg  string
	}{
		{"unknown key", strings.Replace(base, "    server: nginx\n", "    server: nginx\n    sever: x\n", 1), "apps.shop.sever", 10, "unknown key"},
		{"bad duration", base + "    healthcheck: {l4_interval: 5 seconds}\n", "apps.shop.healthcheck.l4_interval", 19, "not a positive duration"},
		{"invalid regex", strings.Replace(base, `'^[0-9.]+$'`, `'^[0-9.+$'`, 1), "apps.shop.version_pattern", 11, "invalid regular expression"},
		{"pattern with space", strings.Replace(base, `'^[0-9.]+$'`, `'^[0-9. ]+$'`, 1), "apps.shop.version_pattern", 11, "metacharacter"},
		{"pattern with dot", strings.Replace(base, `'^[0-9.]+$'`, `'^.+$'`, 1), "apps.shop.version_pattern", 11, "metacharacter"},
		{"pattern with semicolon", strings.Replace(base, `'^[0-9.]+$'`, `'^[0-9.;]+$'`, 1), "apps.shop.version_pattern", 11, "';'"},
		{"pattern with dollar", strings.Replace(base, `'^[0-9.]+$'`, `'^[0-9.$]+$'`, 1), "apps.shop.version_pattern", 11, "'$'"},
		{"pattern with backtick", strings.Replace(base, `'^[0-9.]+$'`, "'^[0-9.`]+$'", 1), "apps.shop.version_pattern", 11, "metacharacter"},
		{"pattern with parens", strings.Replace(base, `'^[0-9.]+$'`, `'^[0-9.()]+$'`, 1), "apps.shop.version_pattern", 11, "metacharacter"},
		{"pattern with pipe", strings.Replace(base, `'^[0-9.]+$'`, `'^[0-9.|&<>]+$'`, 1), "apps.shop.version_pattern", 11, "metacharacter"},
		{"pattern with newline class", strings.Replace(base, `'^[0-9.]+$'`, `'^[0-9.\n]+$'`, 1), "apps.shop.version_pattern", 11, "metacharacter"},
		{"pattern negated class", strings.Replace(base, `'^[0-9.]+$'`, `'^[^a]+$'`, 1), "apps.shop.version_pattern", 11, "metacharacter"},
		{"pattern multiline", strings.Replace(base, `'^[0-9.]+$'`, `'(?m)^[0-9.]+$'`, 1), "apps.shop.version_pattern", 11, "anchored"},
		{"pattern unanchored", strings.Replace(base, `'^[0-9.]+$'`, `'[0-9.]+'`, 1), "apps.shop.version_pattern", 11, "anchored"},
		{"approval without approvers", base + "        approval: {required: true}\n", "apps.shop.environments.prod.approval.approvers", 19, "no approvers"},
		{"min approvals unreachable", base + "        approval: {required: true, approvers: [U1BOB, U1CAROL], min_approvals: 3}\n", "apps.shop.environments.prod.approval.min_approvals", 19, "never be reached"},
		{"duplicate host", strings.Replace(base, "[a.example.com]", "[a.example.com, b.example.com, A.example.com]", 1), "apps.shop.environments.prod.hosts[2]", 17, "duplicate host"},
		{"unknown type", strings.Replace(base, "type: web", "type: lambda", 1), "apps.shop.type", 8, "unknown app type"},
		{"unknown server", strings.Replace(base, "server: nginx", "server: caddy", 1), "apps.shop.server", 9, "unknown web server"},
		{"missing template", strings.Replace(base, "web: w, ", "", 1), "awx.job_templates.web", 5, "web job template is required"},
		{"bad timezone", strings.Replace(base, "timezone: UTC", "timezone: Mars/Olympus", 1), "timezone", 1, "unknown time zone"},
		{"wrong kind", strings.Replace(base, "deployers: [U1ALICE]", "deployers: U1ALICE", 1), "apps.shop.environments.prod.deployers", 18, "expected a list"},
		{"bad deployer", strings.Replace(base, "deployers: [U1ALICE]", "deployers: [alice]", 1), "apps.shop.environments.prod.deployers[0]", 18, "neither a Slack user ID"},
		{"reserved app name", strings.Replace(base, "  shop:", "  status:", 1), "apps.status", 7, "command word"},
		{"custom without command", base + "  job:\n    type: custom\n    environments:\n      prod: {hosts: [h1], deployers: [U1X]}\n", "apps.job.environments.prod.command", 22, "required for custom apps"},
		{"jinja in command", base + "  job:\n    type: custom\n    environments:\n      prod: {hosts: [h1], deployers: [U1X], command: 'run {{ version }}'}\n", "apps.job.environments.prod.command", 22, "Jinja"},
		{"jinja block in post command", base + "  job:\n    type: custom\n    environments:\n      prod: {hosts: [h1], deployers: [U1X], command: 'run {version}', post_commands: ['{% if x %}y{% endif %}']}\n", "apps.job.environments.prod.post_commands[0]", 22, "Jinja"},
		{"bad event wait", strings.Replace(base, "  credential: ssh\n", "  credential: ssh\n  event_wait: forever\n", 1), "awx.event_wait", 5, "not a duration"},
		{"bad serial", strings.Replace(base, "    environments:", "    serial: 150%\n    environments:", 1), "apps.shop.serial", 15, "between 1% and 100%"},
		{"unknown placeholder in command", base + "  job:\n    type: custom\n    environments:\n      prod:\n        hosts: [h1]\n        deployers: [U1X]\n        command: 'run {verison}'\n",
			"apps.job.environments.prod.command", 25, "unknown placeholder {verison}; the known placeholders are {version}"},
		{"unknown placeholder in pre command", base + "  job:\n    type: custom\n    environments:\n      prod: {hosts: [h1], deployers: [U1X], command: 'run {version}', pre_commands: ['stop {App}']}\n",
			"apps.job.environments.prod.pre_commands[0]", 22, "unknown placeholder {App}"},
		{"unknown placeholder in artifact url", strings.Replace(base, "{version}.tgz", "{version}-{arch}.tgz", 1), "apps.shop.artifact_url", 10, "unknown placeholder {arch}"},
		{"min approvals unreachable without self approval", base + "        approval: {required: true, approvers: [U1ALICE, U1BOB], min_approvals: 2}\n",
			"apps.shop.environments.prod.approval.min_approvals", 19, "every deployer is one of the 2 approvers and allow_self_approval is false, so at most 1 others"},
		{"tab indentation", strings.Replace(base, "        deployers: [U1ALICE]", "\tdeployers: [U1ALICE]", 1), "", 18, "tabs are not allowed in YAML indentation"},
		{"tabbed comment", strings.Replace(base, "timezone: UTC", "timezone: UTC\n\t# zone", 1), "", 2, "tabs are not allowed in YAML indentation"},
		{"tab after spaces", strings.Replace(base, "    server: nginx", "  \t  server: nginx", 1), "", 9, "tabs are not allowed in YAML indentation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("test.yaml", []byte(tt.yaml), config.ReservedNames([]string{"status", "help"}))
			var ve *config.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a *ValidationError, got %v", err)
			}
			for _, p := range ve.Problems {
				if p.Path == tt.wantPath && strings.Contains(p.Message, tt.wantMsg) {
					if p.Line != tt.wantLine {
						t.Errorf("line = %d, want %d (%s)", p.Line, tt.wantLine, p.Message)
					}
					return
				}
			}
			t.Errorf("no problem at %s containing %q; got:\n%v", tt.wantPath, tt.wantMsg, err)
		})
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	bad := strings.NewReplacer(
		"server: nginx", "server: caddy",
		"timezone: UTC", "timezone: Nowhere/City",
		"deployers: [U1ALICE]", "deployers: [U1ALICE]\n        oops: 1",
	).Replace(base)
	_, err := config.Parse("test.yaml", []byte(bad))
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a *ValidationError, got %v", err)
	}
	// An unknown key does not hide the other problems; they come in file order.
	var got []string
	for _, p := range ve.Problems {
		got = append(got, fmt.Sprintf("%d %s", p.Line, p.Path))
	}
	want := []string{"1 timezone", "9 apps.shop.server", "19 apps.shop.environments.prod.oops"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("problems = %q, want %q", got, want)
	}
	if !strings.Contains(err.Error(), "test.yaml:1: timezone:") || !strings.Contains(err.Error(), "test.yaml:9: apps.shop.server:") {
		t.Errorf("error text lacks file:line: path:\n%v", err)
	}

	// A value of the wrong kind stops decoding: that problem alone is shown.
	_, err = config.Parse("test.yaml", []byte(strings.Replace(base, "deployers: [U1ALICE]", "deployers: {a: 1}", 1)))
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || !strings.Contains(ve.Problems[0].Message, "expected a list") {
		t.Errorf("wrong kind: %v", err)
	}
}

func TestYAMLSyntaxError(t *testing.T) {
	_, err := config.Parse("test.yaml", []byte("apps:\n  a: [\n"))
	var ve *config.ValidationError
	if !errors.As(err, &ve) || ve.Problems[0].Line == 0 {
		t.Fatalf("want a located syntax problem, got %v", err)
	}
}

// TestLiteralBracesAllowed: braces that are not Jinja markup pass.
func TestLiteralBracesAllowed(t *testing.T) {
	y := base + "  job:\n    type: custom\n    environments:\n      prod: {hosts: [h1], deployers: [U1X], command: 'echo ''{\"v\": {\"n\": 1}}'' {version}'}\n"
	if _, err := config.Parse("test.yaml", []byte(y)); err != nil {
		t.Fatalf("literal braces refused: %v", err)
	}
}

// TestChannelPolicyConfig: allow_dm is read, a direct message is never a
// deploy channel (listed or under an empty list), and listing one is an
// error that says what to do.
func TestChannelPolicyConfig(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte("slack: {allow_dm: true}\n"+base))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Slack.AllowDM {
		t.Error("allow_dm: true not read")
	}
	for _, ch := range []string{"C0ANY00001", "G0PRIVATE1"} {
		if !cfg.ChannelAllowed(ch) {
			t.Errorf("empty channel list: %s refused, want every channel", ch)
		}
	}
	if cfg.ChannelAllowed("D0DIRECT01") {
		t.Error("empty channel list: a direct message is allowed")
	}
	example, err := config.Load("../deploybot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if example.Slack.AllowDM {
		t.Error("the example must document allow_dm with its default, false")
	}
	for _, tc := range []struct{ yaml, where string }{
		{"slack: {channels: [D0DIRECT01]}\n", "slack.channels[0]"},
		{"slack: {announce_channel: D0DIRECT01}\n", "slack.announce_channel"},
	} {
		_, err := config.Parse("test.yaml", []byte(tc.yaml+base))
		if err == nil || !strings.Contains(err.Error(), tc.where) || !strings.Contains(err.Error(), "direct message") {
			t.Errorf("%q: err = %v, want a direct-message problem at %s", tc.yaml, err, tc.where)
		}
	}
}

// TestConfigAccepted: what looks close to a mistake but is not one passes:
// shell variables and brace expansions beside {version}, self-approval
// making min_approvals reachable, a deployer who is no approver, tabs
// inside a value or a comment.
func TestConfigAccepted(t *testing.T) {
	job := base + "  job:\n    type: custom\n    environments:\n      prod: {hosts: [h1], deployers: [U1X], command: %s}\n"
	tests := []struct{ name, yaml string }{
		{"shell variable", fmt.Sprintf(job, `'run ${HOME}/x {version}'`)},
		{"brace expansion", fmt.Sprintf(job, `'cp a.{conf,bak} /tmp/{1..3} {version}'`)},
		{"find exec braces", fmt.Sprintf(job, `'find /x -exec rm {} + ; echo {version}'`)},
		{"self approval reaches", base + "        approval: {required: true, approvers: [U1ALICE, U1BOB], min_approvals: 2, allow_self_approval: true}\n"},
		{"deployer not an approver", strings.Replace(base, "[U1ALICE]", "[U1ALICE, U1DAVE]", 1) + "        approval: {required: true, approvers: [U1ALICE, U1BOB], min_approvals: 2}\n"},
		{"group deployer", strings.Replace(base, "[U1ALICE]", "[\"@devs\"]", 1) + "        approval: {required: true, approvers: [U1ALICE, U1BOB], min_approvals: 2}\n"},
		{"tab before a comment", strings.Replace(base, "timezone: UTC", "timezone: UTC\t# zone", 1)},
		{"tab inside a block scalar", base + "  job:\n    type: custom\n    environments:\n      prod:\n        hosts: [h1]\n        deployers: [U1X]\n        command: |\n          run {version}\n          \techo done\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := config.Parse("test.yaml", []byte(tt.yaml)); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}

// TestWarnings: a host in two environments of one app is a warning with
// its key path and line, not an error; the same host in two apps is not.
func TestWarnings(t *testing.T) {
	y := base + "      staging:\n        hosts: [b.example.com, A.example.com]\n        deployers: [U1ALICE]\n"
	cfg, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 {
		t.Fatalf("warnings = %+v, want one", cfg.Warnings)
	}
	w := cfg.Warnings[0]
	if w.Path != "apps.shop.environments.staging.hosts[1]" || w.Line != 20 || !strings.Contains(w.Message, `host "A.example.com" is also in environment prod of shop`) {
		t.Errorf("warning = %+v", w)
	}
	other := base + "  shop2:\n    type: custom\n    environments:\n      prod: {hosts: [a.example.com], deployers: [U1X], command: 'run {version}'}\n"
	cfg, err = config.Parse("test.yaml", []byte(other))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("a host shared by two apps warned: %+v", cfg.Warnings)
	}
}

// TestBecome: jobs run with become unless the app says "become: false";
// anything but a boolean is refused with its key path.
func TestBecome(t *testing.T) {
	tests := []struct {
		name, line string
		want       bool
	}{
		{"default", "", true},
		{"on", "    become: true\n", true},
		{"off", "    become: false\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse("test.yaml", []byte(strings.Replace(base, "    environments:\n", tt.line+"    environments:\n", 1)))
			if err != nil {
				t.Fatal(err)
			}
			if app, _ := cfg.Environment("shop", "prod"); app.Become != tt.want {
				t.Errorf("become = %v, want %v", app.Become, tt.want)
			}
		})
	}
	_, err := config.Parse("test.yaml", []byte(strings.Replace(base, "    environments:\n", "    become: sometimes\n    environments:\n", 1)))
	if err == nil || !strings.Contains(err.Error(), "become") {
		t.Errorf("become: sometimes accepted or reported without its key: %v", err)
	}
}
