package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/config"
)

// diffBase is the configuration in force in TestDiff.
const diffBase = `timezone: UTC
slack:
  announce_channel: C0RELEASE1
awx:
  organization: Default
  credential: ssh
  job_templates: {web: w, rollback: r, custom: c}
apps:
  shop:
    type: web
    server: nginx
    artifact_url: https://b.example.com/{version}.tgz
    docroot: /var/www/shop
    deploy_path: /opt/shop
    pid_file: /run/nginx.pid
    environments:
      staging:
        hosts: [s1.example.com]
        deployers: [U1ALICE]
      prod:
        hosts: [a.example.com, b.example.com]
        deployers: [U1ALICE]
        approval: {required: true, approvers: [U1BOB, "@leads"]}
  batch:
    type: custom
    environments:
      prod:
        hosts: [h1]
        deployers: [U1ALICE]
        command: run {version}
`

// TestDiff: what a reload reports for each kind of edit.
func TestDiff(t *testing.T) {
	edit := func(pairs ...string) string { return strings.NewReplacer(pairs...).Replace(diffBase) }
	shopProd := config.EnvRef{App: "shop", Env: "prod"}
	tests := []struct {
		name string
		yaml string
		want config.Changes
	}{
		{"nothing", diffBase, config.Changes{}},
		{"comments and order of keys", edit("timezone: UTC\n", "# edited\ntimezone: UTC\n",
			"    type: custom\n    environments:", "    environments:") + "    type: custom\n", config.Changes{}},
		{"app added", diffBase + "  cron:\n    type: custom\n    environments:\n      prod: {hosts: [c1], deployers: [U1ALICE], command: 'x {version}'}\n",
			config.Changes{AppsAdded: []string{"cron"}}},
		{"app removed", diffBase[:strings.Index(diffBase, "  batch:")], config.Changes{AppsRemoved: []string{"batch"}}},
		{"env added and removed", edit("      staging:", "      qa:"), config.Changes{
			EnvsAdded: []config.EnvRef{{App: "shop", Env: "qa"}}, EnvsRemoved: []config.EnvRef{{App: "shop", Env: "staging"}}}},
		{"hosts added and removed", edit("[a.example.com, b.example.com]", "[b.example.com, c.example.com, d.example.com]"), config.Changes{
			Envs: []config.EnvChanges{{EnvRef: shopProd, HostsAdded: []string{"c.example.com", "d.example.com"}, HostsRemoved: []string{"a.example.com"}}}}},
		{"hosts reordered", edit("[a.example.com, b.example.com]", "[b.example.com, a.example.com]"), config.Changes{
			Other: []string{"apps.shop.environments.prod.hosts"}}},
		{"approvers changed", edit(`[U1BOB, "@leads"]`, `[U1CAROL, "@leads"]`), config.Changes{
			Envs: []config.EnvChanges{{EnvRef: shopProd, ApproversAdded: []string{"U1CAROL"}, ApproversRemoved: []string{"U1BOB"}}}}},
		{"approval rule changed", edit(`approvers: [U1BOB, "@leads"]}`, `approvers: [U1BOB, "@leads"], min_approvals: 2}`), config.Changes{
			Other: []string{"apps.shop.environments.prod.approval"}}},
		{"other settings", edit("announce_channel: C0RELEASE1", "announce_channel: C0OTHER01", "credential: ssh", "credential: ssh2",
			"docroot: /var/www/shop", "docroot: /srv/shop", "pid_file: /run/nginx.pid", "pid_file: /run/n.pid",
			"command: run {version}", "command: go {version}", "timezone: UTC", "timezone: Asia/Seoul"), config.Changes{
			Other: []string{"apps.batch.environments.prod.command", "apps.shop.docroot", "apps.shop.pid_file", "awx.credential", "slack.announce_channel", "timezone"}}},
		{"deployers and hosts at once", edit("        deployers: [U1ALICE]\n        approval", "        deployers: [U1DAVE]\n        approval",
			"[a.example.com, b.example.com]", "[a.example.com]"), config.Changes{
			Envs:  []config.EnvChanges{{EnvRef: shopProd, HostsRemoved: []string{"b.example.com"}}},
			Other: []string{"apps.shop.environments.prod.deployers"}}},
	}
	old := parse(t, diffBase)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := config.Diff(old, parse(t, tt.yaml))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Diff =\n %+v\nwant\n %+v", got, tt.want)
			}
			if got.Empty() != reflect.DeepEqual(tt.want, config.Changes{}) {
				t.Errorf("Empty() = %v for %+v", got.Empty(), got)
			}
		})
	}
}

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
