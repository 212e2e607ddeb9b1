package storetest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

func testRequest_RoundTrip(t *testing.T, be Backend) {
	ctx := context.Background()
	db, clk := be.open(t, Options{})

	sched := &deploy.Schedule{App: "shop-web", Env: "production", Version: "1.4.2", Spec: "0 6 * * 1",
		Status: deploy.ScheduleActive, CreatedBy: "U_SCHED"}
	if err := db.CreateSchedule(ctx, sched); err != nil {
		t.Fatal(err)
	}

	// Every field set. Extra vars hold what JSON gives back as itself
	// (numbers as float64), so that the comparison is exact.
	plan := deploy.Plan{
		Kind: deploy.KindDeploy, App: "shop-web", Env: "production", Version: "1.4.2",
		ArtifactURL: "https://builds.example.com/shop-web/1.4.2.tar.gz", ArtifactSize: 123456,
		ArtifactChecksum: "sha256:abc", Hosts: []string{"web1", "web2"}, Inventory: "deploybot-shop-web-production",
		JobTemplate: "web-deploy", AdHoc: true, ModuleArgs: "echo hi", Check: true,
		ExtraVars: map[string]any{
			"deploybot_request_id": "7", "web_port": float64(8080), "deploy_serial": float64(1),
			"pre_commands": []any{"a", "b"}, "nested": map[string]any{"k": true, "n": nil},
		},
	}
	req := &deploy.Request{
		Kind: deploy.KindRollback, App: "shop-web", Env: "production", Version: "1.4.2", RollbackTo: "20261124T1402",
		Check: true, RequestedBy: "U_REQ", Channel: "C_DEPLOY", Status: deploy.StatusRunning, Plan: plan,
		Approvals: []deploy.Approval{
			{User: "U_A1", At: time.Date(2026, 11, 24, 14, 0, 0, 1_999_999, time.UTC)},
			{User: "U_A2", At: time.Date(2026, 11, 24, 14, 1, 0, 0, time.FixedZone("CET", 3600))},
		},
		ScheduleID: sched.ID, Job: deploy.JobRef{Kind: deploy.AdHocCommand, ID: 4242},
		CancelRequested: true, CanceledBy: "U_CANCEL",
		Message: deploy.MessageRef{Channel: "C_DEPLOY", TS: "1732456923.000100"},
		Outcome: "2 hosts", Cursor: "counter:17",
		Progress: deploy.Progress{
			Play: "deploy", Task: "unpack",
			Hosts: map[string]deploy.HostProgress{
				"web1": {Phase: "unpack", State: "changed", OK: 3, Change: 1, Done: true},
				"web2": {Phase: "l4 out", State: "failed", Failed: 1, Unreachable: 1, Skipped: 2},
			},
			Failure: &deploy.Failure{Host: "web2", Task: "l4 out", Message: "timeout"},
		},
		ExpiresAt:  time.Date(2026, 11, 24, 18, 30, 0, 0, time.UTC),
		StartedAt:  time.Date(2026, 11, 24, 14, 2, 0, 0, time.UTC),
		FinishedAt: time.Date(2026, 11, 24, 14, 3, 0, 0, time.UTC),
	}
	if err := db.CreateRequest(ctx, req); err != nil {
		t.Fatal(err)
	}
	// A field added to deploy.Request needs a column: make this test name
	// it by refusing a request with a zero field.
	rv := reflect.ValueOf(*req)
	for i := 0; i < rv.NumField(); i++ {
		if rv.Field(i).IsZero() {
			t.Errorf("the round trip leaves Request.%s unset; set it and store it", rv.Type().Field(i).Name)
		}
	}
	if req.ID == 0 || req.PlanHash != plan.Hash() || !req.CreatedAt.Equal(clk.Now()) || !req.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("CreateRequest set ID %d, hash %q, created %v, updated %v", req.ID, req.PlanHash, req.CreatedAt, req.UpdatedAt)
	}
	// Times come back rounded to the millisecond, in UTC.
	if want := time.Date(2026, 11, 24, 14, 0, 0, 1_000_000, time.UTC); req.Approvals[0].At != want {
		t.Fatalf("approval time = %v, want %v", req.Approvals[0].At, want)
	}

	got, err := db.Request(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, req) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, req)
	}
	if got.Plan.Hash() != got.PlanHash {
		t.Fatalf("reloaded plan hashes to %s, stored hash %s", got.Plan.Hash(), got.PlanHash)
	}

	list, err := db.Requests(ctx, deploy.RequestFilter{App: "shop-web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !reflect.DeepEqual(list[0], req) {
		t.Fatalf("Requests: got %#v", list)
	}
}

func testRequest_PlanHashStableWithIntegers(t *testing.T, be Backend) {
	ctx := context.Background()
	db, _ := be.open(t, Options{})
	req := NewRequest("shop-web", "production")
	req.Plan.ExtraVars = map[string]any{"web_port": 8080, "l4_fall": 3, "serial": int64(1), "name": "x"}
	if err := db.CreateRequest(ctx, req); err != nil {
		t.Fatal(err)
	}
	got, err := db.Request(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Plan.Hash() != req.PlanHash {
		t.Fatalf("hash after reload = %s, want %s", got.Plan.Hash(), req.PlanHash)
	}
}

func testRequest_Errors(t *testing.T, be Backend) {
	ctx := context.Background()
	db, _ := be.open(t, Options{})

	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := db.Request(ctx, 999)
		WantCode(t, err, deploy.ENOTFOUND)
		if msg := deploy.ErrorMessage(err); msg != "There is no request #999." {
			t.Fatalf("message = %q", msg)
		}
		_, err = db.Transition(ctx, 999, deploy.Change{From: deploy.StatusQueued, To: deploy.StatusLaunching})
		WantCode(t, err, deploy.ENOTFOUND)
		_, err = db.AddApproval(ctx, 999, deploy.Approval{User: "U1"})
		WantCode(t, err, deploy.ENOTFOUND)
		WantCode(t, db.SetMessage(ctx, 999, deploy.MessageRef{Channel: "C", TS: "1"}), deploy.ENOTFOUND)
		WantCode(t, db.SetProgress(ctx, 999, "c", deploy.Progress{}), deploy.ENOTFOUND)
		_, err = db.RequestCancel(ctx, 999, "U1")
		WantCode(t, err, deploy.ENOTFOUND)
		_, err = db.QueuePosition(ctx, 999)
		WantCode(t, err, deploy.ENOTFOUND)
		_, err = db.NextQueued(ctx, "shop-web", "production")
		WantCode(t, err, deploy.ENOTFOUND)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		for name, mut := range map[string]func(*deploy.Request){
			"NoApp":     func(r *deploy.Request) { r.App = "" },
			"NoEnv":     func(r *deploy.Request) { r.Env = "" },
			"BadStatus": func(r *deploy.Request) { r.Status = "approved" },
		} {
			req := NewRequest("shop-web", "production")
			mut(req)
			if err := db.CreateRequest(ctx, req); deploy.ErrorCode(err) != deploy.EINVALID {
				t.Errorf("%s: err = %v, want EINVALID", name, err)
			}
		}
	})

	t.Run("ErrApprovalOfAnotherPlan", func(t *testing.T) {
		req := NewRequest("shop-web", "production")
		req.Approvals = []deploy.Approval{{User: "U_A1", PlanHash: strings.Repeat("0", 64)}}
		if err := db.CreateRequest(ctx, req); deploy.ErrorCode(err) != deploy.EINVALID {
			t.Fatalf("err = %v, want EINVALID for an approval of another plan", err)
		}
	})

	t.Run("ErrPlanHashMismatch", func(t *testing.T) {
		req := NewRequest("shop-web", "production")
		req.PlanHash = "000000000000"
		if err := db.CreateRequest(ctx, req); err == nil {
			t.Fatal("stored a request whose hash does not match its plan")
		}
	})
}

func testRequests_Filter(t *testing.T, be Backend) {
	ctx := context.Background()
	db, clk := be.open(t, Options{})
	dry := NewRequest("shop-web", "qa")
	dry.Check = true
	dryID := MustCreate(t, db, dry, deploy.StatusSucceeded).ID
	var ids []int64
	for i, env := range []string{"production", "staging", "production", "production"} {
		clk.Advance(time.Second)
		st := deploy.StatusQueued
		if i == 3 {
			st = deploy.StatusSucceeded
		}
		ids = append(ids, MustCreate(t, db, NewRequest("shop-web", env), st).ID)
	}
	MustCreate(t, db, NewRequest("blog", "production"), deploy.StatusQueued)

	for name, tc := range map[string]struct {
		f    deploy.RequestFilter
		want []int64
	}{
		"AppEnv":   {deploy.RequestFilter{App: "shop-web", Env: "production"}, []int64{ids[3], ids[2], ids[0]}},
		"Statuses": {deploy.RequestFilter{App: "shop-web", Statuses: []deploy.Status{deploy.StatusQueued}}, []int64{ids[2], ids[1], ids[0]}},
		"Limit":    {deploy.RequestFilter{App: "shop-web", Limit: 2}, []int64{ids[3], ids[2]}},
		"None":     {deploy.RequestFilter{App: "nope"}, nil},
		"DryRuns":  {deploy.RequestFilter{App: "shop-web", Env: "qa"}, []int64{dryID}},
		"Releases": {deploy.RequestFilter{App: "shop-web", Env: "qa", Releases: true}, nil},
	} {
		got, err := db.Requests(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []int64
		for _, r := range got {
			gotIDs = append(gotIDs, r.ID)
		}
		if !reflect.DeepEqual(gotIDs, tc.want) {
			t.Errorf("%s: got %v, want %v", name, gotIDs, tc.want)
		}
	}
	all, err := db.Requests(ctx, deploy.RequestFilter{})
	if err != nil || len(all) != 6 {
		t.Fatalf("all: %d, %v", len(all), err)
	}
}

func testRequest_MessageProgressCancel(t *testing.T, be Backend) {
	ctx := context.Background()
	db, _ := be.open(t, Options{})
	req := MustCreate(t, db, NewRequest("shop-web", "production"), deploy.StatusQueued)

	m := deploy.MessageRef{Channel: "C1", TS: "1732456923.000100"}
	if err := db.SetMessage(ctx, req.ID, m); err != nil {
		t.Fatal(err)
	}
	p := deploy.Progress{Play: "deploy", Hosts: map[string]deploy.HostProgress{"web1": {State: "ok", OK: 2}}}
	if err := db.SetProgress(ctx, req.ID, "42", p); err != nil {
		t.Fatal(err)
	}
	got, err := db.RequestCancel(ctx, req.ID, "U_CANCEL")
	if err != nil {
		t.Fatal(err)
	}
	if got.Message != m || got.Cursor != "42" || !reflect.DeepEqual(got.Progress, p) ||
		!got.CancelRequested || got.CanceledBy != "U_CANCEL" || got.Status != deploy.StatusQueued {
		t.Fatalf("got %+v", got)
	}
	_, err = db.RequestCancel(ctx, req.ID, "U_OTHER")
	WantCode(t, err, deploy.ECONFLICT)

	// The one who asked stays the one who canceled.
	got, err = db.Transition(ctx, req.ID, deploy.Change{From: deploy.StatusQueued, To: deploy.StatusCanceled, Actor: "U_BOT"})
	if err != nil {
		t.Fatal(err)
	}
	if got.CanceledBy != "U_CANCEL" {
		t.Fatalf("CanceledBy = %q", got.CanceledBy)
	}
	_, err = db.RequestCancel(ctx, req.ID, "U_OTHER")
	WantCode(t, err, deploy.ECONFLICT)
	if msg := deploy.ErrorMessage(err); msg != fmt.Sprintf("Request #%d is already canceled.", req.ID) {
		t.Fatalf("message = %q", msg)
	}
}

// testApprovalBindsWholePlan_PlanIsTheRequestsOwn forces two different
// plans onto one hash (a digest truncated to nothing) and shows that each
// request still reads its own plan: a plan is never found through its
// hash.
func testApprovalBindsWholePlan_PlanIsTheRequestsOwn(t *testing.T, be Backend) {
	ctx := context.Background()
	db, _ := be.open(t, Options{HashPlan: func(deploy.Plan) string { return "c0111de" }})

	first := NewRequest("shop-web", "production")
	MustCreate(t, db, first, deploy.StatusPendingApproval)
	second := NewRequest("shop-web", "production")
	second.Version, second.Plan.Version = "2.0.0-rc.1", "2.0.0-rc.1"
	second.Plan.ExtraVars = map[string]any{"deploy_version": "2.0.0-rc.1"}
	MustCreate(t, db, second, deploy.StatusPendingApproval)
	if first.PlanHash != second.PlanHash {
		t.Fatalf("the seam did not collide: %s, %s", first.PlanHash, second.PlanHash)
	}

	for _, want := range []*deploy.Request{first, second} {
		got, err := db.Request(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Plan, want.Plan) {
			t.Errorf("request #%d reads plan %+v, want its own %+v", want.ID, got.Plan, want.Plan)
		}
	}
	list, err := db.Requests(ctx, deploy.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range list {
		want := map[int64]*deploy.Request{first.ID: first, second.ID: second}[got.ID]
		if !reflect.DeepEqual(got.Plan, want.Plan) {
			t.Errorf("Requests: #%d has plan %+v, want %+v", got.ID, got.Plan, want.Plan)
		}
	}
}
