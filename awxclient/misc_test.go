package awxclient_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/awxclient/awxtest"
)

func TestFindAdHocByExtraVar(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := t.Context()
	inv := srv.AddInventory("inv", map[string]map[string]any{"a1": {}})
	other := srv.AddInventory("other", map[string]map[string]any{"b1": {}})
	since := time.Now().Add(-time.Second)
	var ids []int
	for i, in := range []int{inv, inv, other} {
		a, err := c.CreateAdHocCommand(ctx, awxclient.AdHocOptions{Inventory: in, ModuleName: "shell", ModuleArgs: "true",
			ExtraVars: map[string]any{"deploybot_request_id": []string{"r-0", "r-1", "r-2"}[i]}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	cmds, err := c.ListAdHocCommands(ctx, awxclient.ListAdHocOptions{Inventory: inv, CreatedSince: since})
	if err != nil || len(cmds) != 2 || cmds[0].ID != ids[1] {
		t.Fatalf("ListAdHocCommands = %+v, %v", cmds, err)
	}
	a, err := c.FindAdHocByExtraVar(ctx, awxclient.ListAdHocOptions{CreatedSince: since}, "deploybot_request_id", "r-2")
	if err != nil || a.ID != ids[2] {
		t.Fatalf("FindAdHocByExtraVar = %+v, %v", a, err)
	}
	_, err = c.FindAdHocByExtraVar(ctx, awxclient.ListAdHocOptions{Inventory: inv}, "deploybot_request_id", "r-2")
	if !errors.Is(err, awxclient.ErrNotFound) {
		t.Fatalf("request of another inventory = %v", err)
	}
	srv.FailNext(1, http.MethodGet, "/api/v2/ad_hoc_commands/", 400)
	if _, err := c.FindAdHocByExtraVar(ctx, awxclient.ListAdHocOptions{}, "k", "v"); err == nil {
		t.Fatal("list failure not reported")
	}
}

// TestErrorPaths runs each method against a failing server: every error
// is an *Error with the status, wrapped with context.
func TestErrorPaths(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := t.Context()
	inv := srv.AddInventory("inv", map[string]map[string]any{"h": {}})
	calls := map[string]func() error{
		"Me":                    func() error { _, err := c.Me(ctx); return err },
		"GetOrganizationByName": func() error { _, err := c.GetOrganizationByName(ctx, "Default"); return err },
		"GetJobTemplate":        func() error { _, err := c.GetJobTemplate(ctx, 1); return err },
		"CheckJobTemplate":      func() error { _, err := c.CheckJobTemplate(ctx, "x"); return err },
		"EnsureProject": func() error {
			_, _, err := c.EnsureProject(ctx, awxclient.ProjectSpec{Organization: 1, Name: "p", SCMURL: "https://x"})
			return err
		},
		"EnsureJobTemplate":  func() error { _, _, err := c.EnsureJobTemplate(ctx, awxclient.JobTemplateSpec{Name: "x"}); return err },
		"GetInventory":       func() error { _, err := c.GetInventory(ctx, inv); return err },
		"ListInventories":    func() error { _, err := c.ListInventories(ctx, 0); return err },
		"UpdateInventory":    func() error { _, err := c.UpdateInventory(ctx, inv, awxclient.InventoryRequest{Name: "x"}); return err },
		"DeleteInventory":    func() error { return c.DeleteInventory(ctx, inv) },
		"ListHosts":          func() error { _, err := c.ListHosts(ctx, inv); return err },
		"GetHost":            func() error { _, err := c.GetHost(ctx, 1); return err },
		"CreateHost":         func() error { _, err := c.CreateHost(ctx, inv, awxclient.HostRequest{Name: "n"}); return err },
		"UpdateHost":         func() error { _, err := c.UpdateHost(ctx, 1, awxclient.HostRequest{Name: "n"}); return err },
		"ReconcileInventory": func() error { _, err := c.ReconcileInventory(ctx, 1, awxclient.InventorySpec{Name: "inv"}); return err },
		"GetJob":             func() error { _, err := c.GetJob(ctx, 1); return err },
		"ListJobs":           func() error { _, err := c.ListJobs(ctx, awxclient.ListJobsOptions{}); return err },
		"FindJobByExtraVar":  func() error { _, err := c.FindJobByExtraVar(ctx, awxclient.ListJobsOptions{}, "k", "v"); return err },
		"JobHostSummaries":   func() error { _, err := c.JobHostSummaries(ctx, 1); return err },
		"CancelJob":          func() error { return c.CancelJob(ctx, 1) },
		"GetAdHocCommand":    func() error { _, err := c.GetAdHocCommand(ctx, 1); return err },
		"Poll":               func() error { _, _, err := c.FollowAdHocEvents(1, awxclient.FollowOptions{}).Poll(ctx); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			srv.FailNext(1, "", "/api/v2/", 418)
			err := call()
			var e *awxclient.Error
			if !errors.As(err, &e) || e.StatusCode != 418 {
				t.Fatalf("%s error = %v, want a 418 *Error", name, err)
			}
		})
	}
}

func TestEventHelpers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		data awxclient.EventData
		msg  string
	}{
		{awxclient.EventData{}, ""},
		{awxclient.EventData{"res": map[string]any{}}, ""},
		{awxclient.EventData{"res": map[string]any{"msg": "boom"}}, "boom"},
		{awxclient.EventData{"res": map[string]any{"msg": []any{"a", "b"}}}, `["a","b"]`},
	}
	for _, tt := range tests {
		if got := tt.data.Msg(); got != tt.msg {
			t.Errorf("Msg(%v) = %q, want %q", tt.data, got, tt.msg)
		}
	}
	if (awxclient.EventData{}).Res() != nil {
		t.Error("Res of empty data")
	}
	for _, tt := range []struct {
		a, b map[string]any
		eq   bool
	}{
		{map[string]any{"p": 8080}, map[string]any{"p": 8080.0}, true},
		{map[string]any{"p": int64(1), "l": []string{"a"}}, map[string]any{"p": 1, "l": []any{"a"}}, true},
		{map[string]any{"p": 1}, map[string]any{"p": "1"}, false},
		{nil, map[string]any{}, true},
		{map[string]any{"f": func() {}}, map[string]any{}, false},
	} {
		if got := awxclient.EqualVariables(tt.a, tt.b); got != tt.eq {
			t.Errorf("EqualVariables(%v, %v) = %v", tt.a, tt.b, got)
		}
	}
	srv, c := setup(t)
	inv := srv.AddInventory("inv", map[string]map[string]any{"h": {}})
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "j", Playbook: "p.yml", Inventory: inv})
	id, err := c.LaunchJobTemplate(t.Context(), jt, awxclient.LaunchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := c.FollowJobEvents(id, awxclient.FollowOptions{PageSize: 1000})
	for {
		_, done, err := f.Poll(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
	}
	if f.Requests() < 2 {
		t.Errorf("Requests = %d", f.Requests())
	}
	if evs, done, err := f.Poll(t.Context()); len(evs) != 0 || !done || err != nil {
		t.Errorf("Poll after done = %v, %v, %v", evs, done, err)
	}
}
