package config

import (
	"regexp"
	"sort"
	"strings"
	"time"
)

// App types and web servers the playbooks support.
const (
	TypeWeb    = "web"
	TypeCustom = "custom"

	ServerNginx  = "nginx"
	ServerApache = "apache"
)

// Job template roles: the keys of awx.job_templates.
const (
	TemplateWeb      = "web"
	TemplateCustom   = "custom"
	TemplateRollback = "rollback"
)

// DefaultVersionPattern is used for apps that set no version_pattern. It
// accepts no shell metacharacter.
const DefaultVersionPattern = `^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$`

// Config is a loaded and validated configuration.
type Config struct {
	// Timezone is the default zone for schedules and times shown in Slack.
	Timezone string
	// Location is Timezone, loaded.
	Location *time.Location
	Slack    Slack
	AWX      AWX
	// Apps by name.
	Apps map[string]*App
	// Limits bound what one person can make the bot do.
	Limits Limits
	// Warnings are mistakes that do not stop the bot (such as a host
	// listed in two environments of one app), in file order: check-config
	// prints them and the bot logs them at start.
	Warnings []Problem
}

// Slack holds the Slack settings of the file (tokens come from the environment).
type Slack struct {
	// Channels where /deploy and the bot's buttons may be used; empty
	// means every channel. Direct messages are never a channel here: see
	// AllowDM.
	Channels []string
	// AnnounceChannel is where scheduled releases are announced. The
	// buttons the bot posts there work there too.
	AnnounceChannel string
	// AllowDM lets the read-only commands (status, history, apps,
	// schedules, help) be used in direct messages with the bot. Nothing
	// that changes state is ever done from a direct message.
	AllowDM bool
}

// AWX holds the AWX settings of the file (URL and token come from the environment).
type AWX struct {
	Organization    string
	InventoryPrefix string
	Credential      string
	// JobTemplates maps a role (web, custom, rollback) to a template name or id.
	JobTemplates map[string]string
	// EventWait bounds the wait, after a job ends, for AWX to finish
	// saving its events (event_processing_finished); past it the release
	// finishes with a note that the output may be incomplete.
	EventWait time.Duration
}

// App is one deployable application.
type App struct {
	Name           string
	Type           string
	Server         string
	ArtifactURL    string
	VersionPattern string
	// VersionRE is VersionPattern, compiled.
	VersionRE   *regexp.Regexp
	Docroot     string
	DeployPath  string
	PIDFile     string
	Port        int
	Healthcheck Healthcheck
	// Serial is how many hosts leave the L4 at once: "1", "2" or "25%".
	Serial string
	// Become runs the app's jobs as root through sudo on the hosts: the
	// playbooks' server steps and a custom app's commands (true unless
	// the file says "become: false").
	Become       bool
	Environments map[string]*Environment
}

// Healthcheck describes the health-check contract between a web host and the L4.
type Healthcheck struct {
	Path       string
	OKBody     string
	L4OutPath  string
	L4Interval time.Duration
	L4Fall     int
	L4Rise     int
}

// Environment is one target of an app.
type Environment struct {
	Name     string
	Hosts    []string
	HostVars map[string]map[string]any
	// Deployers are Slack user IDs (U…, W…) and user group handles (@name).
	Deployers []string
	Approval  Approval
	// Custom apps only.
	PreCommands  []string
	Command      string
	PostCommands []string
}

// Approval is an environment's approval policy.
type Approval struct {
	Required bool
	// Approvers are Slack user IDs and user group handles (@name).
	Approvers         []string
	MinApprovals      int
	AllowSelfApproval bool
	ExpiresAfter      time.Duration
}

// AppNames returns the app names, sorted.
func (c *Config) AppNames() []string {
	names := make([]string, 0, len(c.Apps))
	for n := range c.Apps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Environment returns the named app and environment, or nil values.
func (c *Config) Environment(app, env string) (*App, *Environment) {
	a := c.Apps[app]
	if a == nil {
		return nil, nil
	}
	return a, a.Environments[env]
}

// EnvNames returns the app's environment names, sorted.
func (a *App) EnvNames() []string {
	names := make([]string, 0, len(a.Environments))
	for n := range a.Environments {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// UsesAdHoc reports whether a custom environment runs as an AWX ad-hoc
// command: a single command with no pre or post commands.
func (a *App) UsesAdHoc(e *Environment) bool {
	return a.Type == TypeCustom && len(e.PreCommands) == 0 && len(e.PostCommands) == 0
}

// InventoryName is the AWX inventory the bot keeps for an app environment.
func (c *Config) InventoryName(app, env string) string {
	return c.AWX.InventoryPrefix + "-" + app + "-" + env
}

// ChannelAllowed reports whether requests may be made in channel: a
// listed channel, or any channel when the list is empty. A direct message
// (an ID starting with D) is never allowed.
func (c *Config) ChannelAllowed(channel string) bool {
	if IsDirectMessage(channel) {
		return false
	}
	if len(c.Slack.Channels) == 0 {
		return true
	}
	for _, ch := range c.Slack.Channels {
		if ch == channel {
			return true
		}
	}
	return false
}

// IsDirectMessage reports whether a Slack conversation ID is a direct
// message with the bot (Slack's IM IDs start with D).
func IsDirectMessage(channel string) bool {
	return strings.HasPrefix(channel, "D")
}
