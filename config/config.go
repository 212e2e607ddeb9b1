package config

import (
	"time"

	"github.com/deploybot/deploybot/deploy"
)

// App types and web servers the playbooks support.
const (
	TypeWeb    = deploy.TypeWeb
	TypeCustom = deploy.TypeCustom

	ServerNginx  = "nginx"
	ServerApache = "apache"
)

// Job template roles: the keys of awx.job_templates.
const (
	TemplateWeb      = deploy.TemplateWeb
	TemplateCustom   = deploy.TemplateCustom
	TemplateRollback = deploy.TemplateRollback
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

// App, Environment, Healthcheck and Approval are the domain's types: the
// file is parsed into them (see deploy.Catalog).
type (
	App         = deploy.App
	Environment = deploy.Environment
	Healthcheck = deploy.Healthcheck
	Approval    = deploy.ApprovalPolicy
)

// Catalog returns what the domain needs of the configuration. It shares
// the apps with c.
func (c *Config) Catalog() *deploy.Catalog {
	return &deploy.Catalog{
		Location:        c.Location,
		Apps:            c.Apps,
		Channels:        c.Slack.Channels,
		AnnounceChannel: c.Slack.AnnounceChannel,
		Templates:       c.AWX.JobTemplates,
		InventoryPrefix: c.AWX.InventoryPrefix,
		MaxLogUpload:    c.Limits.MaxLogUpload,
	}
}

// AppNames returns the app names, sorted.
func (c *Config) AppNames() []string { return c.Catalog().AppNames() }

// Environment returns the named app and environment, or nil values.
func (c *Config) Environment(app, env string) (*App, *Environment) {
	return c.Catalog().Environment(app, env)
}

// InventoryName is the AWX inventory the bot keeps for an app environment.
func (c *Config) InventoryName(app, env string) string { return c.Catalog().InventoryName(app, env) }

// ChannelAllowed reports whether requests may be made in channel (see
// deploy.Catalog.ChannelAllowed).
func (c *Config) ChannelAllowed(channel string) bool { return c.Catalog().ChannelAllowed(channel) }

// IsDirectMessage reports whether a Slack conversation ID is a direct
// message with the bot (Slack's IM IDs start with D).
func IsDirectMessage(channel string) bool { return deploy.IsDirectMessage(channel) }
