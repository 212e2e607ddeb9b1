package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slack-go/slack/slackevents"
	"gopkg.in/yaml.v3"

	"github.com/deploybot/deploybot/bot/slacktest"
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
			Events     struct {
				BotEvents []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
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
	needs := slackNeeds(t)
	if got, want := slices.Sorted(slices.Values(m.OAuth.Scopes.Bot)), needs.scopes; !slices.Equal(got, want) {
		t.Errorf("bot scopes = %v, want exactly %v (what the code calls and handles)", got, want)
	}
	if got, want := slices.Sorted(slices.Values(m.Settings.Events.BotEvents)), needs.events; !slices.Equal(got, want) {
		t.Errorf("bot events = %v, want exactly %v (the events the bot handles)", got, want)
	}
	// The fake Slack grants and subscribes what the manifest asks, so that
	// the tests run with the real app's rights.
	if got := slices.Sorted(slices.Values(slacktest.DefaultBotScopes())); !slices.Equal(got, needs.scopes) {
		t.Errorf("slacktest.DefaultBotScopes = %v, want the manifest's %v", got, needs.scopes)
	}
	if got := slices.Sorted(slices.Values(slacktest.DefaultBotEvents())); !slices.Equal(got, needs.events) {
		t.Errorf("slacktest.DefaultBotEvents = %v, want the manifest's %v", got, needs.events)
	}
}

// webAPIMethods maps the slack-go client methods package bot may call to the
// Web API methods they use and the bot scopes those need. Scopes: the
// "security" of each path in slackapi/slack-api-specs
// web-api/slack_web_openapi_v2.json (commit
// bc08db49625630e3585bf2f1322128ea04f2a7f3; chat:write:bot there is today's
// chat:write) and docs.slack.dev/reference/methods/<method> for methods the
// spec predates (files.getUploadURLExternal, files.completeUploadExternal:
// files:write). chat.postMessage also needs chat:write.public because cards
// are posted in public channels the bot was not invited to.
var webAPIMethods = map[string]struct {
	methods []string
	scopes  []string
}{
	"PostMessageContext":         {[]string{"chat.postMessage"}, []string{"chat:write", "chat:write.public"}},
	"UpdateMessageContext":       {[]string{"chat.update"}, []string{"chat:write"}},
	"PostEphemeralContext":       {[]string{"chat.postEphemeral"}, []string{"chat:write"}},
	"UploadFileContext":          {[]string{"files.getUploadURLExternal", "files.completeUploadExternal"}, []string{"files:write"}},
	"GetUserGroupsContext":       {[]string{"usergroups.list"}, []string{"usergroups:read"}},
	"GetUserGroupMembersContext": {[]string{"usergroups.users.list"}, []string{"usergroups:read"}},
	"OpenViewContext":            {[]string{"views.open"}, nil},
	"UpdateViewContext":          {[]string{"views.update"}, nil},
	"AuthTestContext":            {[]string{"auth.test"}, nil},
}

// botEvents maps the slackevents constants package bot registers handlers
// for to the event type and the scope its delivery needs
// (docs.slack.dev/reference/events/app_mention: app_mentions:read).
var botEvents = map[string]struct{ event, scope string }{
	"AppMention": {string(slackevents.AppMention), "app_mentions:read"},
}

// needs is what the code of package bot requires of the Slack app.
type needs struct {
	methods, scopes, events []string
}

// slackNeeds reads package bot's source: every slack-go client method
// called on the gateway's api field, every event type in the handler table,
// and the slash command, and returns the Web API methods, scopes and events
// they need, sorted.
func slackNeeds(t *testing.T) needs {
	t.Helper()
	files, err := filepath.Glob("../../bot/*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	methods, scopes, events := map[string]bool{}, map[string]bool{"commands": true}, map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				recv, ok := sel.X.(*ast.SelectorExpr)
				if !ok || recv.Sel.Name != "api" {
					return true
				}
				m, ok := webAPIMethods[sel.Sel.Name]
				if !ok {
					t.Errorf("%s: bot calls api.%s; add it to webAPIMethods with its Web API methods and scopes", fset.Position(n.Pos()), sel.Sel.Name)
					return true
				}
				for _, x := range m.methods {
					methods[x] = true
				}
				for _, x := range m.scopes {
					scopes[x] = true
				}
			case *ast.AssignStmt:
				// b.events = map[string]eventHandler{string(slackevents.X): ...}
				if len(n.Lhs) != 1 || len(n.Rhs) != 1 {
					return true
				}
				lhs, ok := n.Lhs[0].(*ast.SelectorExpr)
				lit, ok2 := n.Rhs[0].(*ast.CompositeLit)
				if !ok || !ok2 || lhs.Sel.Name != "events" {
					return true
				}
				for _, el := range lit.Elts {
					kv := el.(*ast.KeyValueExpr)
					var name string
					ast.Inspect(kv.Key, func(k ast.Node) bool {
						if s, ok := k.(*ast.SelectorExpr); ok {
							name = s.Sel.Name
						}
						return true
					})
					e, ok := botEvents[name]
					if !ok {
						t.Errorf("%s: bot handles event %s; add it to botEvents with its scope", fset.Position(kv.Pos()), name)
						continue
					}
					events[e.event] = true
					scopes[e.scope] = true
				}
			}
			return true
		})
	}
	if len(methods) == 0 || len(events) == 0 {
		t.Fatalf("found no Web API calls (%v) or no events (%v) in package bot: the source scan is broken", methods, events)
	}
	keys := func(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }
	return needs{methods: keys(methods), scopes: keys(scopes), events: keys(events)}
}
