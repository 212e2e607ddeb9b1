package main

import (
	"os"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestSlackManifest checks the app manifest against what the bot needs
// (https://docs.slack.dev/reference/app-manifest): Socket Mode,
// interactivity, /deploy, least scopes.
func TestSlackManifest(t *testing.T) {
	data, err := os.ReadFile("../../slack-app-manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Metadata struct {
			MajorVersion int `yaml:"major_version"`
		} `yaml:"_metadata"`
		Display struct {
			Name        string `yaml:"name"`
			Description string `yaml:"description"`
		} `yaml:"display_information"`
		Features struct {
			BotUser struct {
				DisplayName string `yaml:"display_name"`
			} `yaml:"bot_user"`
			SlashCommands []struct {
				Command     string `yaml:"command"`
				Description string `yaml:"description"`
				UsageHint   string `yaml:"usage_hint"`
				URL         string `yaml:"url"`
			} `yaml:"slash_commands"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Interactivity struct {
				IsEnabled  bool   `yaml:"is_enabled"`
				RequestURL string `yaml:"request_url"`
			} `yaml:"interactivity"`
			SocketMode bool `yaml:"socket_mode_enabled"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Metadata.MajorVersion != 1 || m.Display.Name == "" || len(m.Display.Name) > 35 || len(m.Display.Description) > 140 {
		t.Errorf("display information or metadata out of the schema's limits: %+v %+v", m.Metadata, m.Display)
	}
	if !m.Settings.SocketMode || !m.Settings.Interactivity.IsEnabled || m.Settings.Interactivity.RequestURL != "" {
		t.Errorf("Socket Mode with interactivity and no request URL is required: %+v", m.Settings)
	}
	if len(m.Features.SlashCommands) != 1 {
		t.Fatalf("want exactly the /deploy command, got %+v", m.Features.SlashCommands)
	}
	c := m.Features.SlashCommands[0]
	if c.Command != "/deploy" || c.Description == "" || c.UsageHint == "" || c.URL != "" || len(c.UsageHint) > 1000 {
		t.Errorf("/deploy command: %+v", c)
	}
	want := []string{"channels:read", "chat:write", "chat:write.public", "commands", "files:write", "groups:read", "usergroups:read", "users:read"}
	got := slices.Sorted(slices.Values(m.OAuth.Scopes.Bot))
	if !slices.Equal(got, want) {
		t.Errorf("bot scopes = %v, want exactly %v (the methods the bot calls)", got, want)
	}
}
