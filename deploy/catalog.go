package deploy

import (
	"regexp"
	"sort"
	"strings"
	"time"
)

// App types.
const (
	TypeWeb    = "web"
	TypeCustom = "custom"
)

// Job template roles: which AWX job template runs what.
const (
	TemplateWeb      = "web"
	TemplateCustom   = "custom"
	TemplateRollback = "rollback"
)

// DefaultMaxLogUpload is the largest playbook output uploaded whole when
// the catalog sets no limit.
const DefaultMaxLogUpload int64 = 10 << 20

// Catalog is what may be released where and under which rules: the apps,
// their environments, hosts and policies, where /deploy may be used, and
// the names of the AWX objects a plan runs through. The configuration file
// is parsed into it; the service reads it afresh for every action, so a
// new catalog applies from the next action on.
type Catalog struct {
	// Location is the zone schedules use by default and cards show times in.
	Location *time.Location
	// Apps by name.
	Apps map[string]*App
	// Channels where /deploy and the bot's buttons may be used; empty
	// means every channel. A direct message is never one of them.
	Channels []string
	// AnnounceChannel is where scheduled releases are announced.
	AnnounceChannel string
	// Templates maps a role (TemplateWeb…) to an AWX job template name or id.
	Templates map[string]string
	// InventoryPrefix starts the name of every AWX inventory the bot keeps.
	InventoryPrefix string
	// MaxLogUpload is the largest playbook output uploaded whole, in bytes.
	MaxLogUpload int64
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
	// playbooks' server steps and a custom app's commands.
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
	Approval  ApprovalPolicy
	// Custom apps only.
	PreCommands  []string
	Command      string
	PostCommands []string
}

// ApprovalPolicy is an environment's approval rule, for requests and
// schedules alike.
type ApprovalPolicy struct {
	Required bool
	// Approvers are Slack user IDs and user group handles (@name).
	Approvers         []string
	MinApprovals      int
	AllowSelfApproval bool
	ExpiresAfter      time.Duration
}

// AppNames returns the app names, sorted.
func (c *Catalog) AppNames() []string {
	names := make([]string, 0, len(c.Apps))
	for n := range c.Apps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Environment returns the named app and environment, or nil values.
func (c *Catalog) Environment(app, env string) (*App, *Environment) {
	a := c.Apps[app]
	if a == nil {
		return nil, nil
	}
	return a, a.Environments[env]
}

// InventoryName is the AWX inventory the bot keeps for an app environment.
func (c *Catalog) InventoryName(app, env string) string {
	return c.InventoryPrefix + "-" + app + "-" + env
}

// ChannelAllowed reports whether requests may be made in channel: a
// listed channel, or any channel when the list is empty. A direct message
// is never allowed.
func (c *Catalog) ChannelAllowed(channel string) bool {
	if IsDirectMessage(channel) {
		return false
	}
	if len(c.Channels) == 0 {
		return true
	}
	for _, ch := range c.Channels {
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
