package config

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	channelRE   = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)
	userRE      = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	groupRE     = regexp.MustCompile(`^@[a-z0-9][a-z0-9._-]*$`)
	hostRE      = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
	percentRE   = regexp.MustCompile(`^([0-9]{1,3})%$`)
	prefixRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	shellMetaCh = ";&|$`()<> \t\n\r'\"\\*?!{}[]#~"
)

// build turns the raw file into a Config, recording every problem.
func (v *validator) build(raw *rawConfig) *Config {
	cfg := &Config{
		Timezone: raw.Timezone,
		Slack:    Slack{Channels: raw.Slack.Channels, AnnounceChannel: raw.Slack.AnnounceChannel, AllowDM: raw.Slack.AllowDM},
		AWX: AWX{
			Organization:    raw.AWX.Organization,
			InventoryPrefix: raw.AWX.InventoryPrefix,
			Credential:      raw.AWX.Credential,
			JobTemplates:    map[string]string{},
		},
		Apps: map[string]*App{},
	}
	if cfg.Timezone == "" {
		cfg.Timezone = "UTC"
	}
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		v.addf("timezone", "unknown time zone %q: use an IANA name such as Europe/Paris or UTC", raw.Timezone)
	}
	cfg.Location = loc
	cfg.Limits = v.buildLimits(raw.Limits)

	for i, ch := range raw.Slack.Channels {
		if !channelRE.MatchString(ch) {
			v.addf(fmt.Sprintf("slack.channels[%d]", i), "%q is not a Slack channel ID (like C0123ABCD)", ch)
		} else if IsDirectMessage(ch) {
			v.addf(fmt.Sprintf("slack.channels[%d]", i), "%q is a direct message, not a channel: list channels here and use allow_dm for direct messages", ch)
		}
	}
	if ch := raw.Slack.AnnounceChannel; ch != "" && !channelRE.MatchString(ch) {
		v.addf("slack.announce_channel", "%q is not a Slack channel ID (like C0123ABCD)", ch)
	} else if IsDirectMessage(ch) {
		v.addf("slack.announce_channel", "%q is a direct message: announcements go to a channel", ch)
	}

	cfg.AWX.EventWait = 2 * time.Minute
	if s := raw.AWX.EventWait; s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > 24*time.Hour {
			v.addf("awx.event_wait", "%q is not a duration between 1s and 24h (like 2m)", s)
		} else {
			cfg.AWX.EventWait = d
		}
	}
	if raw.AWX.Organization == "" {
		v.addf("awx.organization", "required: the AWX organization that owns the bot's inventories")
	}
	if cfg.AWX.InventoryPrefix == "" {
		cfg.AWX.InventoryPrefix = "deploybot"
	} else if !prefixRE.MatchString(cfg.AWX.InventoryPrefix) {
		v.addf("awx.inventory_prefix", "%q may hold only letters, digits, '.', '_' and '-'", cfg.AWX.InventoryPrefix)
	}
	for role, name := range raw.AWX.JobTemplates {
		p := "awx.job_templates." + role
		switch role {
		case TemplateWeb, TemplateCustom, TemplateRollback:
		default:
			v.addf(p, "unknown job template role %q (known: web, custom, rollback)", role)
			continue
		}
		if strings.TrimSpace(name) == "" {
			v.addf(p, "empty job template name")
			continue
		}
		cfg.AWX.JobTemplates[role] = name
	}

	if len(raw.Apps) == 0 {
		v.addf("apps", "no apps configured: add at least one under apps:")
	}
	for name, ra := range raw.Apps {
		if app := v.app(name, ra, cfg); app != nil {
			cfg.Apps[name] = app
		}
	}
	return cfg
}

func (v *validator) app(name string, ra rawApp, cfg *Config) *App {
	p := "apps." + name
	if !nameRE.MatchString(name) {
		v.addf(p, "app name %q must be lowercase letters, digits, '.', '_' or '-'", name)
	}
	// An app named like a /deploy verb could never be deployed with
	// "/deploy <app> <env> <version>".
	for _, w := range v.reserved {
		if name == w {
			v.addf(p, "app name %q is a /deploy command word; choose another name", name)
		}
	}
	app := &App{
		Name: name, Type: ra.Type, Server: ra.Server, ArtifactURL: ra.ArtifactURL,
		VersionPattern: ra.VersionPattern, Docroot: ra.Docroot, DeployPath: ra.DeployPath,
		PIDFile: ra.PIDFile, Serial: ra.Serial, Become: ra.Become == nil || *ra.Become,
		Environments: map[string]*Environment{},
	}
	if app.VersionPattern == "" {
		app.VersionPattern = DefaultVersionPattern
	}
	if re, err := regexp.Compile(app.VersionPattern); err != nil {
		v.addf(p+".version_pattern", "invalid regular expression: %v", err)
	} else {
		app.VersionRE = re
		if why := unsafePattern(app.VersionPattern); why != "" {
			v.addf(p+".version_pattern", "%s; versions end up in URLs and shell commands, so allow only safe characters, e.g. '^[0-9]+\\.[0-9]+\\.[0-9]+$'", why)
		}
	}
	switch ra.Type {
	case TypeWeb:
		v.web(p, ra, app, cfg)
	case TypeCustom:
		if ra.Server != "" {
			v.addf(p+".server", "server applies only to apps of type web")
		}
	case "":
		v.addf(p+".type", "required: web or custom")
	default:
		v.addf(p+".type", "unknown app type %q (known: web, custom)", ra.Type)
	}
	if len(ra.Environments) == 0 {
		v.addf(p+".environments", "no environments: add at least one (e.g. staging)")
	}
	for en, re := range ra.Environments {
		app.Environments[en] = v.env(p+".environments."+en, en, re, app, cfg)
	}
	v.sharedHosts(p, app)
	return app
}

// sharedHosts warns about a host listed in two environments of one app: a
// release to one environment then changes what the other runs, and locks,
// queues and approvals, which are per environment, do not see it.
func (v *validator) sharedHosts(p string, app *App) {
	first := map[string]string{}
	for _, en := range app.EnvNames() {
		for i, h := range app.Environments[en].Hosts {
			k := strings.ToLower(h)
			if other, ok := first[k]; ok && other != en {
				v.warnf(fmt.Sprintf("%s.environments.%s.hosts[%d]", p, en, i),
					"host %q is also in environment %s of %s: a release to either changes the other, and locks and approvals of one do not cover it", h, other, app.Name)
				continue
			}
			if _, ok := first[k]; !ok {
				first[k] = en
			}
		}
	}
}

func (v *validator) web(p string, ra rawApp, app *App, cfg *Config) {
	if _, ok := cfg.AWX.JobTemplates[TemplateWeb]; !ok {
		v.addf("awx.job_templates.web", "app %s is of type web, so a web job template is required", app.Name)
	}
	if _, ok := cfg.AWX.JobTemplates[TemplateRollback]; !ok {
		v.addf("awx.job_templates.rollback", "app %s is of type web, so a rollback job template is required", app.Name)
	}
	switch ra.Server {
	case ServerNginx, ServerApache:
	case "":
		v.addf(p+".server", "required for web apps: nginx or apache")
	default:
		v.addf(p+".server", "unknown web server %q (known: nginx, apache)", ra.Server)
	}
	if ra.ArtifactURL == "" {
		v.addf(p+".artifact_url", "required for web apps: where the build server publishes builds, with {version}")
	} else {
		u, err := url.Parse(strings.ReplaceAll(ra.ArtifactURL, "{version}", "1.0.0"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.addf(p+".artifact_url", "%q is not an http(s) URL", ra.ArtifactURL)
		} else if !strings.Contains(ra.ArtifactURL, "{version}") {
			v.addf(p+".artifact_url", "must contain {version}, filled in with the requested version")
		}
		v.placeholders(p+".artifact_url", ra.ArtifactURL)
	}
	for key, val := range map[string]string{"docroot": ra.Docroot, "deploy_path": ra.DeployPath, "pid_file": ra.PIDFile} {
		if val == "" {
			v.addf(p+"."+key, "required for web apps: an absolute path")
		} else if !path.IsAbs(val) || path.Clean(val) == "/" {
			v.addf(p+"."+key, "%q must be an absolute path other than /", val)
		}
	}
	app.Port = 80
	if ra.Port != nil {
		app.Port = *ra.Port
		if app.Port < 1 || app.Port > 65535 {
			v.addf(p+".port", "%d is not a TCP port (1-65535)", app.Port)
		}
	}
	hc := Healthcheck{
		Path: ra.Healthcheck.Path, OKBody: ra.Healthcheck.OKBody, L4OutPath: ra.Healthcheck.L4OutPath,
		L4Interval: 5 * time.Second, L4Fall: 3, L4Rise: 2,
	}
	hp := p + ".healthcheck"
	if hc.Path == "" {
		hc.Path = "/healthcheck"
	}
	if hc.OKBody == "" {
		hc.OKBody = "skp_healthcheck_ok"
	}
	if hc.L4OutPath == "" {
		hc.L4OutPath = hc.Path + "/l4out"
	}
	for key, val := range map[string]string{"path": hc.Path, "l4_out_path": hc.L4OutPath} {
		if !strings.HasPrefix(val, "/") {
			v.addf(hp+"."+key, "%q must be a URL path starting with /", val)
		}
	}
	if s := ra.Healthcheck.L4Interval; s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			v.addf(hp+".l4_interval", "%q is not a positive duration (like 5s or 500ms)", s)
		} else {
			hc.L4Interval = d
		}
	}
	if ra.Healthcheck.L4Fall != nil {
		hc.L4Fall = *ra.Healthcheck.L4Fall
		if hc.L4Fall < 1 {
			v.addf(hp+".l4_fall", "must be at least 1")
		}
	}
	if ra.Healthcheck.L4Rise != nil {
		hc.L4Rise = *ra.Healthcheck.L4Rise
		if hc.L4Rise < 1 {
			v.addf(hp+".l4_rise", "must be at least 1")
		}
	}
	app.Healthcheck = hc
	if app.Serial == "" {
		app.Serial = "1"
	}
	if m := percentRE.FindStringSubmatch(app.Serial); m != nil {
		if n, _ := strconv.Atoi(m[1]); n < 1 || n > 100 {
			v.addf(p+".serial", "%q: a percentage must be between 1%% and 100%%", app.Serial)
		}
	} else if n, err := strconv.Atoi(app.Serial); err != nil || n < 1 {
		v.addf(p+".serial", "%q is neither a host count (1, 2, ...) nor a percentage (like 25%%)", app.Serial)
	}
}

func (v *validator) env(p, name string, re rawEnv, app *App, cfg *Config) *Environment {
	env := &Environment{
		Name: name, Hosts: re.Hosts, HostVars: re.HostVars, Deployers: re.Deployers,
		PreCommands: re.PreCommands, Command: re.Command, PostCommands: re.PostCommands,
	}
	if !nameRE.MatchString(name) {
		v.addf(p, "environment name %q must be lowercase letters, digits, '.', '_' or '-'", name)
	}
	if len(re.Hosts) == 0 {
		v.addf(p+".hosts", "no hosts: list at least one")
	}
	seen := map[string]bool{}
	for i, h := range re.Hosts {
		hp := fmt.Sprintf("%s.hosts[%d]", p, i)
		if !hostRE.MatchString(h) {
			v.addf(hp, "%q is not a host name", h)
		}
		if seen[strings.ToLower(h)] {
			v.addf(hp, "duplicate host %q", h)
		}
		seen[strings.ToLower(h)] = true
	}
	for h := range re.HostVars {
		if !seen[strings.ToLower(h)] {
			v.addf(p+".host_vars."+h, "host %q is not in this environment's hosts", h)
		}
	}
	if len(re.Deployers) == 0 {
		v.addf(p+".deployers", "no deployers: list the Slack user IDs or @groups allowed to deploy")
	}
	for i, d := range re.Deployers {
		if !userRE.MatchString(d) && !groupRE.MatchString(d) {
			v.addf(fmt.Sprintf("%s.deployers[%d]", p, i), "%q is neither a Slack user ID (U…) nor a user group handle (@name)", d)
		}
	}
	env.Approval = v.approval(p+".approval", re.Approval)
	v.selfApprovalReach(p+".approval", env)
	if app.Type == TypeCustom {
		v.custom(p, env, cfg)
	} else {
		for key, set := range map[string]bool{"command": re.Command != "", "pre_commands": len(re.PreCommands) > 0, "post_commands": len(re.PostCommands) > 0} {
			if set {
				v.addf(p+"."+key, "applies only to apps of type custom")
			}
		}
	}
	return env
}

func (v *validator) custom(p string, env *Environment, cfg *Config) {
	if strings.TrimSpace(env.Command) == "" {
		v.addf(p+".command", "required for custom apps: the deploy command, with {version} where the version goes")
	}
	for key, list := range map[string][]string{"pre_commands": env.PreCommands, "post_commands": env.PostCommands} {
		for i, c := range list {
			if strings.TrimSpace(c) == "" {
				v.addf(fmt.Sprintf("%s.%s[%d]", p, key, i), "empty command")
			}
		}
	}
	if len(env.PreCommands) > 0 || len(env.PostCommands) > 0 {
		if _, ok := cfg.AWX.JobTemplates[TemplateCustom]; !ok {
			v.addf("awx.job_templates.custom", "%s has pre/post commands, so a custom job template is required", p)
		}
	} else if cfg.AWX.Credential == "" {
		v.addf("awx.credential", "%s runs a single command as an AWX ad-hoc command, which needs a machine credential", p)
	}
	v.noJinja(p+".command", env.Command)
	v.placeholders(p+".command", env.Command)
	for key, list := range map[string][]string{"pre_commands": env.PreCommands, "post_commands": env.PostCommands} {
		for i, c := range list {
			v.noJinja(fmt.Sprintf("%s.%s[%d]", p, key, i), c)
			v.placeholders(fmt.Sprintf("%s.%s[%d]", p, key, i), c)
		}
	}
}

// knownPlaceholders are the placeholders deploybot fills in: the requested
// version, in artifact_url and in the commands of custom apps.
var knownPlaceholders = []string{"{version}"}

// placeholderRE matches a {name} placeholder.
var placeholderRE = regexp.MustCompile(`\{[A-Za-z_][A-Za-z0-9_.-]*\}`)

// placeholders refuses a {name} that deploybot does not fill in (a typo
// such as {verison} would reach the hosts as is). ${NAME} is the shell's
// and {{ ... }} is Jinja (refused by noJinja), so neither is checked here.
func (v *validator) placeholders(path, s string) {
	for _, loc := range placeholderRE.FindAllStringIndex(s, -1) {
		ph := s[loc[0]:loc[1]]
		if slices.Contains(knownPlaceholders, ph) || (loc[0] > 0 && (s[loc[0]-1] == '$' || s[loc[0]-1] == '{')) {
			continue
		}
		v.addf(path, "unknown placeholder %s; the known placeholders are %s (write ${NAME} for a shell variable)", ph, strings.Join(knownPlaceholders, ", "))
	}
}

// noJinja refuses Jinja markup in a command. AWX ends an ad-hoc command
// whose arguments hold "{{ ... }}" or "{% ... %}" with an error ("Inline
// Jinja variables are not allowed", sanitize_jinja in ansible/awx
// awx/main/utils/safe_yaml.py), and passes launch variables to playbooks
// marked !unsafe, so such text would never be expanded anyway.
func (v *validator) noJinja(path, cmd string) {
	if strings.Contains(cmd, "{{") || strings.Contains(cmd, "{%") {
		v.addf(path, "%q holds Jinja markup ({{ or {%%), which AWX refuses in ad-hoc commands and never expands in playbook variables; write the value itself, or use {version}", cmd)
	}
}

func (v *validator) approval(p string, ra rawApproval) Approval {
	a := Approval{Required: ra.Required, Approvers: ra.Approvers, AllowSelfApproval: ra.AllowSelfApproval, MinApprovals: 1, ExpiresAfter: time.Hour}
	if ra.MinApprovals != nil {
		a.MinApprovals = *ra.MinApprovals
	}
	if ra.ExpiresAfter != "" {
		d, err := time.ParseDuration(ra.ExpiresAfter)
		if err != nil || d <= 0 {
			v.addf(p+".expires_after", "%q is not a positive duration (like 30m or 2h)", ra.ExpiresAfter)
		} else {
			a.ExpiresAfter = d
		}
	}
	users, groups := map[string]bool{}, 0
	for i, ap := range ra.Approvers {
		switch {
		case userRE.MatchString(ap):
			users[ap] = true
		case groupRE.MatchString(ap):
			groups++
		default:
			v.addf(fmt.Sprintf("%s.approvers[%d]", p, i), "%q is neither a Slack user ID (U…) nor a user group handle (@name)", ap)
		}
	}
	if !a.Required {
		return a
	}
	if len(ra.Approvers) == 0 {
		v.addf(p+".approvers", "approval is required but no approvers are listed")
	}
	if a.MinApprovals < 1 {
		v.addf(p+".min_approvals", "must be at least 1 when approval is required")
	} else if groups == 0 && len(users) > 0 && a.MinApprovals > len(users) {
		v.addf(p+".min_approvals", "%d approvals can never be reached: only %d distinct approvers are listed", a.MinApprovals, len(users))
	}
	return a
}

// selfApprovalReach refuses a min_approvals that no request can reach
// because every possible requester is one of the listed approvers and may
// not approve their own request: all deployers and approvers are user IDs,
// every deployer is an approver, and self-approval is off, so at most
// len(approvers)-1 others can approve.
func (v *validator) selfApprovalReach(p string, env *Environment) {
	a := env.Approval
	if !a.Required || a.AllowSelfApproval || len(env.Deployers) == 0 {
		return
	}
	approvers := map[string]bool{}
	for _, ap := range a.Approvers {
		if !userRE.MatchString(ap) {
			return
		}
		approvers[ap] = true
	}
	for _, d := range env.Deployers {
		if !approvers[d] {
			return
		}
	}
	if reach := len(approvers) - 1; a.MinApprovals <= len(approvers) && a.MinApprovals > reach {
		v.addf(p+".min_approvals", "%d approvals can never be reached: every deployer is one of the %d approvers and allow_self_approval is false, so at most %d others can approve a request",
			a.MinApprovals, len(approvers), reach)
	}
}

// unsafePattern explains why a version pattern could accept a shell
// metacharacter, or returns "". It inspects the parsed expression rather than
// probing strings: every character the pattern can match must be safe, and
// the pattern must be anchored at both ends, or anything could surround a
// matching version.
func unsafePattern(pattern string) string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return ""
	}
	re = re.Simplify()
	if !anchored(re) {
		return "the pattern must be anchored with ^ at the start and $ at the end"
	}
	if what, ok := acceptsMeta(re); ok {
		return "the pattern accepts " + what
	}
	return ""
}

func anchored(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if !anchored(s) {
				return false
			}
		}
		return true
	case syntax.OpCapture:
		return anchored(re.Sub[0])
	case syntax.OpConcat:
		if len(re.Sub) < 2 {
			return false
		}
		return re.Sub[0].Op == syntax.OpBeginText && re.Sub[len(re.Sub)-1].Op == syntax.OpEndText
	}
	return false
}

func acceptsMeta(re *syntax.Regexp) (string, bool) {
	meta := func(c rune) string { return fmt.Sprintf("the shell metacharacter %q", c) }
	switch re.Op {
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return "any character (.), shell metacharacters included", true
	case syntax.OpBeginLine, syntax.OpEndLine:
		return "newlines ((?m) makes ^ and $ match at every line)", true
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if strings.ContainsRune(shellMetaCh, r) {
				return meta(r), true
			}
		}
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			for _, c := range shellMetaCh {
				if c >= lo && c <= hi {
					return meta(c), true
				}
			}
		}
	}
	for _, s := range re.Sub {
		if what, ok := acceptsMeta(s); ok {
			return what, true
		}
	}
	return "", false
}
