package awxclient_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/awxclient/awxtest"
)

func TestInventoryAndHostCRUD(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := t.Context()
	inv, err := c.CreateInventory(ctx, awxclient.InventoryRequest{Name: "shop-web-prod", Organization: 1,
		Variables: map[string]any{"region": "eu"}})
	if err != nil || inv.ID == 0 || inv.Variables != `{"region":"eu"}` {
		t.Fatalf("CreateInventory = %+v, %v", inv, err)
	}
	got, err := c.GetInventoryByName(ctx, 1, "shop-web-prod")
	if err != nil || got.ID != inv.ID {
		t.Fatalf("GetInventoryByName = %+v, %v", got, err)
	}
	if _, err := c.UpdateInventory(ctx, inv.ID, awxclient.InventoryRequest{Name: "shop-web-prod", Organization: 1, Description: "d"}); err != nil {
		t.Fatal(err)
	}
	h, err := c.CreateHost(ctx, inv.ID, awxclient.HostRequest{Name: "web1",
		Variables: map[string]any{"ansible_host": "10.0.0.1", "web_port": 8080}})
	if err != nil {
		t.Fatal(err)
	}
	// variables travel as a string, as AWX requires.
	var body map[string]any
	for _, r := range srv.Requests() {
		if r.Method == "POST" && r.Path == "/api/v2/inventories/1/hosts/" {
			_ = json.Unmarshal(r.Body, &body)
		}
	}
	if _, ok := body["variables"].(string); !ok {
		t.Fatalf("host variables sent as %T", body["variables"])
	}
	vars, err := h.Vars()
	if err != nil || !awxclient.EqualVariables(vars, map[string]any{"ansible_host": "10.0.0.1", "web_port": 8080}) {
		t.Fatalf("host vars = %v, %v", vars, err)
	}
	h2, err := c.UpdateHost(ctx, h.ID, awxclient.HostRequest{Name: "web1", Disabled: true})
	if err != nil || h2.Enabled || h2.Variables != "" {
		t.Fatalf("UpdateHost = %+v, %v", h2, err)
	}
	if g, err := c.GetHost(ctx, h.ID); err != nil || g.Name != "web1" {
		t.Fatalf("GetHost = %+v, %v", g, err)
	}
	_, err = c.CreateHost(ctx, inv.ID, awxclient.HostRequest{Name: "web1"})
	var e *awxclient.Error
	if !errors.As(err, &e) || len(e.Fields["__all__"]) != 1 {
		t.Fatalf("duplicate host = %v", err)
	}
	if err := c.DeleteHost(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetHost(ctx, h.ID); !errors.Is(err, awxclient.ErrNotFound) {
		t.Fatalf("deleted host = %v", err)
	}
	invs, err := c.ListInventories(ctx, 1)
	if err != nil || len(invs) != 1 {
		t.Fatalf("ListInventories = %v, %v", invs, err)
	}
	// Inventory deletion is asynchronous: 202, then pending_deletion.
	if err := c.DeleteInventory(ctx, inv.ID); err != nil {
		t.Fatal(err)
	}
	pending, err := c.GetInventory(ctx, inv.ID)
	if err != nil || !pending.PendingDeletion {
		t.Fatalf("inventory after DELETE = %+v, %v", pending, err)
	}
	err = c.DeleteInventory(ctx, inv.ID)
	if !errors.As(err, &e) || e.StatusCode != 400 || e.Detail != "Inventory is already pending deletion." {
		t.Fatalf("second delete = %v", err)
	}
	if _, err := c.GetInventory(ctx, inv.ID); !errors.Is(err, awxclient.ErrNotFound) {
		t.Fatalf("inventory after background delete = %v", err)
	}
}

func TestParseVariables(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want map[string]any
		err  bool
	}{
		{"", map[string]any{}, false},
		{"---", map[string]any{}, false},
		{"{}", map[string]any{}, false},
		{`{"a": 1, "b": [1, "x"]}`, map[string]any{"a": 1.0, "b": []any{1.0, "x"}}, false},
		{"---\na: 1\nb:\n  - 1\n  - x\n", map[string]any{"a": 1.0, "b": []any{1.0, "x"}}, false},
		{"a: {c: true}", map[string]any{"a": map[string]any{"c": true}}, false},
		{"a: [", nil, true},
	}
	for _, tt := range tests {
		got, err := awxclient.ParseVariables(tt.in)
		if (err != nil) != tt.err || (!tt.err && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("ParseVariables(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
}

func TestReconcileInventory(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := t.Context()
	spec := awxclient.InventorySpec{Name: "deploybot-shop-web-production", Hosts: map[string]map[string]any{
		"web1": {"ansible_host": "10.0.0.1", "web_port": 8080, "tags": []string{"a", "b"}},
		"web2": {"ansible_host": "10.0.0.2", "web_port": 8080},
		"web3": {},
	}}
	rep, err := c.ReconcileInventory(ctx, 1, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.CreatedInventory || !reflect.DeepEqual(rep.Created, []string{"web1", "web2", "web3"}) || !rep.Changed() {
		t.Fatalf("first run = %+v", rep)
	}
	invID := rep.Inventory.ID

	// Second run: nothing to do, and no write at all.
	before := srv.WriteCount()
	rep, err = c.ReconcileInventory(ctx, 1, spec)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.WriteCount() - before; n != 0 || rep.Changed() || len(rep.Drift) != 0 {
		t.Fatalf("second run made %d writes: %+v", n, rep)
	}

	// Same values written differently (YAML, other key order) are not drift.
	if !srv.SetHostVariables(invID, "web2", "---\nweb_port: 8080\nansible_host: 10.0.0.2\n") {
		t.Fatal("no host web2")
	}
	before = srv.WriteCount()
	if rep, err = c.ReconcileInventory(ctx, 1, spec); err != nil || rep.Changed() || srv.WriteCount() != before {
		t.Fatalf("reformatted variables caused writes: %+v, %v", rep, err)
	}

	// Real drift: a changed value, an unknown host, a missing host.
	srv.SetHostVariables(invID, "web1", `{"ansible_host": "10.0.0.9", "web_port": 8080, "tags": ["a", "b"], "extra": 1}`)
	srv.AddInventory("unrelated", map[string]map[string]any{"x": {}})
	if _, err := c.CreateHost(ctx, invID, awxclient.HostRequest{Name: "stray"}); err != nil {
		t.Fatal(err)
	}
	hosts, _ := c.ListHosts(ctx, invID)
	for _, h := range hosts {
		if h.Name == "web3" {
			if err := c.DeleteHost(ctx, h.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	before = srv.WriteCount()
	rep, err = c.ReconcileInventory(ctx, 1, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.Created, []string{"web3"}) || !reflect.DeepEqual(rep.Updated, []string{"web1"}) ||
		!reflect.DeepEqual(rep.Deleted, []string{"stray"}) || rep.CreatedInventory {
		t.Fatalf("drift run = %+v", rep)
	}
	wantDrift := []string{`host "web1": variable "ansible_host" changed`, `host "web1": variable "extra" not configured`,
		`host "web3" missing`, `host "stray" not configured`}
	if !reflect.DeepEqual(rep.Drift, wantDrift) {
		t.Errorf("drift = %q, want %q", rep.Drift, wantDrift)
	}
	if n := srv.WriteCount() - before; n != 3 {
		t.Errorf("drift run made %d writes, want 3", n)
	}
	for _, d := range rep.Drift {
		if strings.Contains(d, "10.0.0.9") {
			t.Errorf("drift shows a variable value: %q", d)
		}
	}
	// And converged again.
	before = srv.WriteCount()
	if rep, err = c.ReconcileInventory(ctx, 1, spec); err != nil || rep.Changed() || srv.WriteCount() != before {
		t.Fatalf("after drift fix: %+v, %v", rep, err)
	}
	text, _ := srv.HostVariables(invID, "web1")
	vars, _ := awxclient.ParseVariables(text)
	if !awxclient.EqualVariables(vars, spec.Hosts["web1"]) {
		t.Errorf("web1 vars = %s", text)
	}

	// A host that AWX refuses to delete (job running) is an error that
	// names the inventory.
	block := awxtest.Script(nil, awxtest.ScriptOptions{HoldRunning: true})
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "hold", Playbook: "p.yml", AskInventory: true, Behavior: block})
	if _, err := c.LaunchJobTemplate(ctx, jt, awxclient.LaunchOptions{Inventory: invID}); err != nil {
		t.Fatal(err)
	}
	delete(spec.Hosts, "web3")
	_, err = c.ReconcileInventory(ctx, 1, spec)
	if !errors.Is(err, awxclient.ErrConflict) || !strings.Contains(err.Error(), spec.Name) {
		t.Fatalf("reconcile with a running job = %v", err)
	}
}

func TestBootstrap(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := t.Context()
	const repoURL, newURL = "https://git.example.com/ops/deploy.git", "https://git.example.com/ops/new.git"
	playbooks := []string{"playbooks/web_deploy.yml", "playbooks/custom_deploy.yml", "playbooks/rollback.yml"}
	srv.AddRepo(repoURL, false, playbooks...)
	srv.AddRepo(newURL, true, playbooks...)
	spec := func(url string, cred int) awxclient.ProjectSpec {
		return awxclient.ProjectSpec{Organization: 1, Name: "deploybot", SCMURL: url, Credential: cred}
	}
	p, changed, err := c.EnsureProject(ctx, spec(repoURL, 0))
	if err != nil || !changed || p.SCMURL != repoURL || p.SCMType != "git" {
		t.Fatalf("EnsureProject create = %+v, %v, %v", p, changed, err)
	}
	// A new project has no playbooks until its first sync has finished.
	_, _, err = c.EnsureJobTemplate(ctx, awxclient.JobTemplateSpec{Name: "early", Organization: 1, Project: p.ID, Playbook: playbooks[0]})
	var e *awxclient.Error
	if !errors.As(err, &e) || e.StatusCode != 400 || len(e.Fields["playbook"]) != 1 {
		t.Fatalf("template before the first sync = %v, want AWX's 400 Playbook not found for project", err)
	}
	if p, err = c.WaitProjectSync(ctx, p.ID, 20*time.Millisecond); err != nil || p.Status != "successful" {
		t.Fatalf("WaitProjectSync = %+v, %v", p, err)
	}
	if files, err := c.ProjectPlaybooks(ctx, p.ID); err != nil || !reflect.DeepEqual(files, playbooks) {
		t.Fatalf("ProjectPlaybooks = %v, %v", files, err)
	}
	if p2, changed, err := c.EnsureProject(ctx, spec(repoURL, 0)); err != nil || changed || p2.ID != p.ID {
		t.Fatalf("EnsureProject again = %+v, %v, %v", p2, changed, err)
	}
	// A private repository without an SCM credential: the sync fails and
	// says what to check.
	if _, changed, err := c.EnsureProject(ctx, spec(newURL, 0)); err != nil || !changed {
		t.Fatalf("EnsureProject update = %v, %v", changed, err)
	}
	if _, err := c.WaitProjectSync(ctx, p.ID, 20*time.Millisecond); !errors.Is(err, awxclient.ErrProjectSync) || !strings.Contains(err.Error(), "SCM credential") {
		t.Fatalf("sync of a private repository without a credential = %v", err)
	}
	// A machine credential is not a source control credential.
	if _, _, err := c.EnsureProject(ctx, spec(newURL, 1)); !errors.As(err, &e) || len(e.Fields["credential"]) != 1 {
		t.Fatalf("project with a machine credential = %v", err)
	}
	scm := srv.AddCredential("git deploy key", 1, "scm")
	if p3, changed, err := c.EnsureProject(ctx, spec(newURL, scm)); err != nil || !changed || p3.SCMURL != newURL || p3.Credential != scm {
		t.Fatalf("EnsureProject with credential = %+v, %v, %v", p3, changed, err)
	}
	if _, err := c.WaitProjectSync(ctx, p.ID, 20*time.Millisecond); err != nil {
		t.Fatalf("sync with an SCM credential: %v", err)
	}
	jspec := awxclient.JobTemplateSpec{Name: "deploybot-web-deploy", Organization: 1, Project: p.ID,
		Playbook: "playbooks/web_deploy.yml", Credential: 1, BecomeEnabled: true, AllowSimultaneous: true}
	jt, changed, err := c.EnsureJobTemplate(ctx, jspec)
	if err != nil || !changed {
		t.Fatalf("EnsureJobTemplate create = %+v, %v, %v", jt, changed, err)
	}
	if !jt.BecomeEnabled || !jt.AllowSimultaneous {
		t.Errorf("template = become %v, allow_simultaneous %v", jt.BecomeEnabled, jt.AllowSimultaneous)
	}
	if _, err := c.CheckJobTemplate(ctx, jspec.Name); err != nil {
		t.Fatalf("bootstrapped template fails the startup check: %v", err)
	}
	before := srv.WriteCount()
	if _, changed, err := c.EnsureJobTemplate(ctx, jspec); err != nil || changed || srv.WriteCount() != before {
		t.Fatalf("EnsureJobTemplate again: changed=%v, %v, writes %d", changed, err, srv.WriteCount()-before)
	}
	// A template someone edited by hand is put back.
	srv.AddJobTemplate(awxtest.JobTemplate{Name: "deploybot-rollback", Playbook: "old.yml", Project: p.ID})
	jt2, changed, err := c.EnsureJobTemplate(ctx, awxclient.JobTemplateSpec{Name: "deploybot-rollback", Organization: 1,
		Project: p.ID, Playbook: "playbooks/rollback.yml"})
	if err != nil || !changed || jt2.Playbook != "playbooks/rollback.yml" || !jt2.AskInventoryOnLaunch || !jt2.AskVariablesOnLaunch {
		t.Fatalf("EnsureJobTemplate update = %+v, %v, %v", jt2, changed, err)
	}
	// Launchable as the bot launches: inventory and variables prompted.
	inv := srv.AddInventory("inv", map[string]map[string]any{"web1": {}})
	if _, err := c.LaunchJobTemplate(ctx, jt.ID, awxclient.LaunchOptions{Inventory: inv, ExtraVars: map[string]any{"a": 1},
		JobType: "check", DiffMode: true, Limit: "web1"}); err != nil {
		t.Fatalf("launch of a bootstrapped template: %v", err)
	}
	_, _, err = c.EnsureJobTemplate(ctx, awxclient.JobTemplateSpec{Name: "bad", Organization: 1, Project: 999, Playbook: "x.yml"})
	if !errors.As(err, &e) || len(e.Fields["project"]) != 1 {
		t.Fatalf("template with unknown project = %v", err)
	}
}
