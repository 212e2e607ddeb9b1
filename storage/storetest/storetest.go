// Package storetest is the conformance suite of deploy.Store: the cases
// every implementation must pass, whatever database is behind it (in the
// style of perkeep's pkg/blobserver/storagetest). storage's tests run it
// against a SQLite file and against a real PostgreSQL:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, storetest.Backend{Open: ..., Reopen: ...})
//	}
//
// The cases cover the request life cycle and its compare-and-set
// transitions, approvals, the queue, manual locks, schedules, the audit
// trail, dedupe, the leases, schedule fire claims and pacing slots that
// replicas coordinate through, and concurrent writers on one handle and on
// separate handles (as separate processes would have).
package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

// Backend opens the stores the suite runs on.
type Backend struct {
	// Open opens a new, empty store with options o. The store is closed
	// when t ends.
	Open func(t *testing.T, o Options) deploy.Store
	// Reopen opens another handle on the database of s, as another
	// process would, with options o. It is closed when t ends.
	Reopen func(t *testing.T, s deploy.Store, o Options) deploy.Store
}

// Options are the settings a case needs from the store it opens.
type Options struct {
	// Now is the store's clock: the times it stamps come from it. nil
	// means time.Now.
	Now func() time.Time
	// DedupeTTL is how long FirstSeen remembers a key (0: the store's
	// default).
	DedupeTTL time.Duration
	// HashPlan, when set, replaces deploy.Plan.Hash as the store's plan
	// digest (a seam that forces two plans onto one hash).
	HashPlan func(deploy.Plan) string
}

// Run runs every case of the suite on b, each as a parallel subtest.
func Run(t *testing.T, b Backend) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"Request_RoundTrip", testRequest_RoundTrip},
		{"Request_PlanHashStableWithIntegers", testRequest_PlanHashStableWithIntegers},
		{"Request_Errors", testRequest_Errors},
		{"Requests_Filter", testRequests_Filter},
		{"Request_MessageProgressCancel", testRequest_MessageProgressCancel},
		{"ApprovalBindsWholePlan_PlanIsTheRequestsOwn", testApprovalBindsWholePlan_PlanIsTheRequestsOwn},
		{"Transition_Edges", testTransition_Edges},
		{"Transition_StaleMessage", testTransition_StaleMessage},
		{"Transition_JobAndAudit", testTransition_JobAndAudit},
		{"Transition_EnvBusy", testTransition_EnvBusy},
		{"Approval", testApproval},
		{"Queue_FIFO", testQueue_FIFO},
		{"LimitsOneDryRunAtATime", testLimitsOneDryRunAtATime},
		{"Schedules", testSchedules},
		{"Locks", testLocks},
		{"Audit", testAudit},
		{"FirstSeen", testFirstSeen},
		{"CanceledContext", testCanceledContext},
		{"ConcurrentApprove", testConcurrentApprove},
		{"ConcurrentSameApprover", testConcurrentSameApprover},
		{"ConcurrentLaunch", testConcurrentLaunch},
		{"ConcurrentLock", testConcurrentLock},
		{"ConcurrentQuorum", testConcurrentQuorum},
		{"ConcurrentDryRuns", testConcurrentDryRuns},
		{"ConcurrentLockAndLaunch", testConcurrentLockAndLaunch},
		{"ConcurrentScheduleUpdate", testConcurrentScheduleUpdate},
		{"Lease_Lifecycle", testLease_Lifecycle},
		{"Lease_FencingToken", testLease_FencingToken},
		{"Lease_ClockBehind", testLease_ClockBehind},
		{"Lease_ConcurrentHandles", testLease_ConcurrentHandles},
		{"ScheduleFire_Once", testScheduleFire_Once},
		{"ReserveSlot_Spacing", testReserveSlot_Spacing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, b)
		})
	}
}

// open opens a new store with o and a settable clock (o.Now is replaced).
func (b Backend) open(t *testing.T, o Options) (deploy.Store, *Clock) {
	t.Helper()
	c := NewClock()
	o.Now = c.Now
	return b.Open(t, o), c
}

// handles returns n handles on the database of db: either db itself n
// times, or n separately opened handles (as separate processes would
// have).
func (b Backend) handles(t *testing.T, db deploy.Store, n int, separate bool) []deploy.Store {
	t.Helper()
	out := make([]deploy.Store, n)
	for i := range out {
		out[i] = db
		if separate {
			out[i] = b.Reopen(t, db, Options{})
		}
	}
	return out
}

// Clock is a settable clock for the store (its Now goes in DB.Now).
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock set to a fixed time with milliseconds.
func NewClock() *Clock {
	return &Clock{t: time.Date(2026, 11, 24, 14, 2, 3, 456_000_000, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// NewRequest returns a minimal pending deploy request of app and env.
func NewRequest(app, env string) *deploy.Request {
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

// WantCode fails the test unless err carries code.
func WantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := deploy.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}
