package storage_test

import (
	"context"
	"testing"

	"github.com/deploybot/deploybot/deploy"
)

// newRequest returns a minimal pending deploy request of app and env.
func newRequest(app, env string) *deploy.Request {
	plan := deploy.Plan{
		Kind: deploy.KindDeploy, App: app, Env: env, Version: "1.4.2",
		Hosts: []string{"web1", "web2"}, Inventory: "deploybot-" + app + "-" + env, JobTemplate: "web-deploy",
	}
	return &deploy.Request{
		Kind: deploy.KindDeploy, App: app, Env: env, Version: "1.4.2", RequestedBy: "U_REQ",
		Channel: "C_DEPLOY", Status: deploy.StatusPendingApproval, Plan: plan,
	}
}

// MustCreate stores req in status st.
func MustCreate(tb testing.TB, db interface {
	CreateRequest(context.Context, *deploy.Request) error
}, req *deploy.Request, st deploy.Status) *deploy.Request {
	tb.Helper()
	req.Status = st
	if err := db.CreateRequest(context.Background(), req); err != nil {
		tb.Fatal(err)
	}
	return req
}

// wantCode fails the test unless err carries code.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := deploy.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}
