package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

// legalEdges is the life cycle of deploy's transitions table, written out again here so
// that a change of the table in deploy shows up in this test too.
var legalEdges = map[[2]deploy.Status]bool{
	{deploy.StatusPendingApproval, deploy.StatusQueued}:    true,
	{deploy.StatusPendingApproval, deploy.StatusLaunching}: true,
	{deploy.StatusPendingApproval, deploy.StatusRejected}:  true,
	{deploy.StatusPendingApproval, deploy.StatusExpired}:   true,
	{deploy.StatusPendingApproval, deploy.StatusCanceled}:  true,
	{deploy.StatusQueued, deploy.StatusLaunching}:          true,
	{deploy.StatusQueued, deploy.StatusCanceled}:           true,
	{deploy.StatusQueued, deploy.StatusFailed}:             true,
	{deploy.StatusLaunching, deploy.StatusRunning}:         true,
	{deploy.StatusLaunching, deploy.StatusFailed}:          true,
	{deploy.StatusRunning, deploy.StatusSucceeded}:         true,
	{deploy.StatusRunning, deploy.StatusFailed}:            true,
	{deploy.StatusRunning, deploy.StatusCanceled}:          true,
}

// testTransition_Edges tries every (from, to) pair on a request that is in
// from, and the same pair on a request that is in another status (a stale
// compare-and-set).
func testTransition_Edges(t *testing.T, be Backend) {
	ctx := context.Background()
	db, clk := be.open(t, Options{})
	for _, from := range deploy.Statuses() {
		for _, to := range deploy.Statuses() {
			legal := legalEdges[[2]deploy.Status{from, to}]
			if legal != from.CanTransitionTo(to) {
				t.Errorf("%s → %s: deploy says legal = %v, design says %v", from, to, !legal, legal)
			}
			want := deploy.ECONFLICT
			if legal {
				want = ""
			}
			// Each pair gets its own environment so that launches do not
			// collide.
			env := fmt.Sprintf("%s-%s", from, to)
			req := MustCreate(t, db, NewRequest("shop-web", env), from)
			clk.Advance(time.Second)
			got, err := db.Transition(ctx, req.ID, deploy.Change{From: from, To: to, Actor: "U_X", Outcome: "why"})
			if code := deploy.ErrorCode(err); code != want {
				t.Errorf("%s → %s: code %q, want %q (err %v)", from, to, code, want, err)
				continue
			}
			stored, err2 := db.Request(ctx, req.ID)
			if err2 != nil {
				t.Fatal(err2)
			}
			if err != nil {
				if stored.Status != from || !stored.UpdatedAt.Equal(req.UpdatedAt) {
					t.Errorf("%s → %s refused but the request changed: %s, %v", from, to, stored.Status, stored.UpdatedAt)
				}
				continue
			}
			if got.Status != to || stored.Status != to || !stored.UpdatedAt.Equal(clk.Now()) || stored.Outcome != "why" {
				t.Errorf("%s → %s: status %s/%s, updated %v, outcome %q", from, to, got.Status, stored.Status, stored.UpdatedAt, stored.Outcome)
			}
			if to == deploy.StatusRunning && !stored.StartedAt.Equal(clk.Now()) {
				t.Errorf("%s → running: StartedAt = %v", from, stored.StartedAt)
			}
			if to.Terminal() != !stored.FinishedAt.IsZero() || (to.Terminal() && !stored.FinishedAt.Equal(clk.Now())) {
				t.Errorf("%s → %s: FinishedAt = %v", from, to, stored.FinishedAt)
			}
			if to == deploy.StatusCanceled && stored.CanceledBy != "U_X" {
				t.Errorf("%s → canceled: CanceledBy = %q", from, stored.CanceledBy)
			}

			// The same edge once more is now stale.
			_, err = db.Transition(ctx, req.ID, deploy.Change{From: from, To: to})
			WantCode(t, err, deploy.ECONFLICT)
			if msg := deploy.ErrorMessage(err); !strings.Contains(msg, fmt.Sprintf("#%d", req.ID)) ||
				!strings.Contains(msg, strings.ToLower(to.Label())) {
				t.Errorf("%s → %s stale: message %q does not say the request and its status", from, to, msg)
			}
		}
	}
}

func testTransition_StaleMessage(t *testing.T, be Backend) {
	ctx := context.Background()
	db, _ := be.open(t, Options{})
	req := MustCreate(t, db, NewRequest("shop-web", "production"), deploy.StatusPendingApproval)
	if _, err := db.Transition(ctx, req.ID, deploy.Change{From: deploy.StatusPendingApproval, To: deploy.StatusRejected, Actor: "U1"}); err != nil {
		t.Fatal(err)
	}
	_, err := db.Transition(ctx, req.ID, deploy.Change{From: deploy.StatusPendingApproval, To: deploy.StatusQueued, Actor: "U2"})
	WantCode(t, err, deploy.ECONFLICT)
	want := fmt.Sprintf("Request #%d is no longer waiting for approval: it is rejected now.", req.ID)
	if got := deploy.ErrorMessage(err); got != want {
		t.Fatalf("message = %q, want %q", got, want)
	}
}

func testTransition_JobAndAudit(t *testing.T, be Backend) {
	ctx := context.Background()
	db, _ := be.open(t, Options{})
	req := MustCreate(t, db, NewRequest("shop-web", "production"), deploy.StatusQueued)
	if _, err := db.Transition(ctx, req.ID, deploy.Change{From: deploy.StatusQueued, To: deploy.StatusLaunching}); err != nil {
		t.Fatal(err)
	}
	job := deploy.JobRef{Kind: deploy.JobTemplateRun, ID: 77}
	got, err := db.Transition(ctx, req.ID, deploy.Change{From: deploy.StatusLaunching, To: deploy.StatusRunning, Job: job})
	if err != nil {
		t.Fatal(err)
	}
	if got.Job != job {
		t.Fatalf("job = %+v, want %+v", got.Job, job)
	}

	// One AWX job belongs to one request.
	other := MustCreate(t, db, NewRequest("shop-web", "staging"), deploy.StatusQueued)
	if _, err := db.Transition(ctx, other.ID, deploy.Change{From: deploy.StatusQueued, To: deploy.StatusLaunching}); err != nil {
		t.Fatal(err)
	}
	_, err = db.Transition(ctx, other.ID, deploy.Change{From: deploy.StatusLaunching, To: deploy.StatusRunning, Job: job})
	WantCode(t, err, deploy.ECONFLICT)
	if st, _ := db.Request(ctx, other.ID); st.Status != deploy.StatusLaunching {
		t.Fatalf("refused transition still moved the request to %s", st.Status)
	}

	log, err := db.AuditLog(ctx, req.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action+" "+e.Detail)
	}
	want := []string{
		"requested deploy shop-web production 1.4.2",
		"status queued → launching",
		"status launching → running (job 77)",
	}
	if !reflect.DeepEqual(actions, want) {
		t.Fatalf("audit = %q, want %q", actions, want)
	}
}

func testTransition_EnvBusy(t *testing.T, be Backend) {
	ctx := context.Background()
	db, _ := be.open(t, Options{})
	launch := func(id int64, from deploy.Status) error {
		_, err := db.Transition(ctx, id, deploy.Change{From: from, To: deploy.StatusLaunching})
		return err
	}
	wantBusy := func(t *testing.T, err error, says string) {
		t.Helper()
		if !errors.Is(err, deploy.ErrEnvBusy) {
			t.Fatalf("err = %v, want ErrEnvBusy", err)
		}
		var de *deploy.Error
		if !errors.As(err, &de) || de.Code != deploy.ECONFLICT {
			t.Fatalf("err = %v, want an ECONFLICT *deploy.Error", err)
		}
		if !strings.Contains(de.Message, says) {
			t.Fatalf("message %q does not say %q", de.Message, says)
		}
	}

	a := MustCreate(t, db, NewRequest("shop-web", "production"), deploy.StatusQueued)
	b := MustCreate(t, db, NewRequest("shop-web", "production"), deploy.StatusQueued)
	dry := NewRequest("shop-web", "production")
	dry.Check = true
	dry.Plan.Check = true
	dry = MustCreate(t, db, dry, deploy.StatusQueued)
	staging := MustCreate(t, db, NewRequest("shop-web", "staging"), deploy.StatusPendingApproval)

	if err := launch(a.ID, deploy.StatusQueued); err != nil {
		t.Fatal(err)
	}
	wantBusy(t, launch(b.ID, deploy.StatusQueued), fmt.Sprintf("#%d is launching", a.ID))
	if got, _ := db.Request(ctx, b.ID); got.Status != deploy.StatusQueued {
		t.Fatalf("busy launch moved b to %s", got.Status)
	}
	// A dry run does not hold the environment and is not held by it.
	if err := launch(dry.ID, deploy.StatusQueued); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	// Another environment is free.
	if err := launch(staging.ID, deploy.StatusPendingApproval); err != nil {
		t.Fatal(err)
	}
	// Still busy while a runs; free once it ends, in the same statement.
	if _, err := db.Transition(ctx, a.ID, deploy.Change{From: deploy.StatusLaunching, To: deploy.StatusRunning,
		Job: deploy.JobRef{Kind: deploy.JobTemplateRun, ID: 1}}); err != nil {
		t.Fatal(err)
	}
	wantBusy(t, launch(b.ID, deploy.StatusQueued), fmt.Sprintf("#%d is running", a.ID))
	if _, err := db.Transition(ctx, a.ID, deploy.Change{From: deploy.StatusRunning, To: deploy.StatusSucceeded}); err != nil {
		t.Fatal(err)
	}

	// A manual lock holds the environment too.
	if err := db.Lock(ctx, deploy.Lock{App: "shop-web", Env: "production", By: "U_OPS", Reason: "freeze"}); err != nil {
		t.Fatal(err)
	}
	wantBusy(t, launch(b.ID, deploy.StatusQueued), "locked by <@U_OPS> since 2026-11-24 14:02 UTC: freeze")
	// ... but not dry runs.
	dry2 := NewRequest("shop-web", "production")
	dry2.Check, dry2.Plan.Check = true, true
	dry2 = MustCreate(t, db, dry2, deploy.StatusQueued)
	// (One dry run at a time: the first one ends first.)
	if _, err := db.Transition(ctx, dry.ID, deploy.Change{From: deploy.StatusLaunching, To: deploy.StatusFailed}); err != nil {
		t.Fatal(err)
	}
	if err := launch(dry2.ID, deploy.StatusQueued); err != nil {
		t.Fatalf("dry run under a lock: %v", err)
	}
	if _, err := db.Unlock(ctx, "shop-web", "production", "U_OPS"); err != nil {
		t.Fatal(err)
	}
	if err := launch(b.ID, deploy.StatusQueued); err != nil {
		t.Fatal(err)
	}

	// A request created directly in an active status is held the same way.
	c := NewRequest("shop-web", "production")
	c.Status = deploy.StatusLaunching
	err := db.CreateRequest(ctx, c)
	wantBusy(t, err, fmt.Sprintf("#%d is launching", b.ID))
}

func testApproval(t *testing.T, be Backend) {
	ctx := context.Background()
	db, clk := be.open(t, Options{})
	req := MustCreate(t, db, NewRequest("shop-web", "production"), deploy.StatusPendingApproval)

	clk.Advance(time.Minute)
	got, err := db.AddApproval(ctx, req.ID, deploy.Approval{User: "U_A1", PlanHash: req.PlanHash})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Approvals) != 1 || !got.UpdatedAt.Equal(clk.Now()) || got.Status != deploy.StatusPendingApproval {
		t.Fatalf("after one approval: %+v", got)
	}
	clk.Advance(time.Minute)
	got, err = db.AddApproval(ctx, req.ID, deploy.Approval{User: "U_A2", PlanHash: req.PlanHash})
	if err != nil {
		t.Fatal(err)
	}
	want := []deploy.Approval{{User: "U_A1", At: clk.Now().Add(-time.Minute), PlanHash: req.PlanHash}, {User: "U_A2", At: clk.Now(), PlanHash: req.PlanHash}}
	if !reflect.DeepEqual(got.Approvals, want) {
		t.Fatalf("approvals = %+v, want %+v", got.Approvals, want)
	}

	// An approval of another plan (or of none) is refused.
	for _, h := range []string{"", deploy.ShortHash(req.PlanHash), strings.Repeat("0", 64)} {
		_, err = db.AddApproval(ctx, req.ID, deploy.Approval{User: "U_A4", PlanHash: h})
		WantCode(t, err, deploy.ECONFLICT)
	}

	_, err = db.AddApproval(ctx, req.ID, deploy.Approval{User: "U_A1", PlanHash: req.PlanHash})
	WantCode(t, err, deploy.ECONFLICT)
	if msg := deploy.ErrorMessage(err); msg != fmt.Sprintf("You have already approved #%d.", req.ID) {
		t.Fatalf("message = %q", msg)
	}

	if _, err := db.Transition(ctx, req.ID, deploy.Change{From: deploy.StatusPendingApproval, To: deploy.StatusQueued}); err != nil {
		t.Fatal(err)
	}
	_, err = db.AddApproval(ctx, req.ID, deploy.Approval{User: "U_A3", PlanHash: req.PlanHash})
	WantCode(t, err, deploy.ECONFLICT)
	if msg := deploy.ErrorMessage(err); msg != fmt.Sprintf("Request #%d no longer waits for approval: it is queued.", req.ID) {
		t.Fatalf("message = %q", msg)
	}
	stored, err := db.Request(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Approvals) != 2 {
		t.Fatalf("approvals = %+v", stored.Approvals)
	}
}
