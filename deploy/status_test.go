package deploy_test

import (
	"testing"

	"github.com/deploybot/deploybot/deploy"
)

// TestTransitions checks every (from, to) pair against the life cycle of
// the transitions table in status.go.
func TestTransitions(t *testing.T) {
	const (
		pa = deploy.StatusPendingApproval
		q  = deploy.StatusQueued
		l  = deploy.StatusLaunching
		r  = deploy.StatusRunning
		s  = deploy.StatusSucceeded
		f  = deploy.StatusFailed
		c  = deploy.StatusCanceled
		rj = deploy.StatusRejected
		e  = deploy.StatusExpired
	)
	legal := map[[2]deploy.Status]bool{
		{pa, q}: true, {pa, l}: true, {pa, rj}: true, {pa, e}: true, {pa, c}: true,
		{q, l}: true, {q, c}: true, {q, f}: true,
		{l, r}: true, {l, f}: true,
		{r, s}: true, {r, f}: true, {r, c}: true,
	}
	for _, from := range deploy.Statuses() {
		for _, to := range deploy.Statuses() {
			want := legal[[2]deploy.Status{from, to}]
			if got := from.CanTransitionTo(to); got != want {
				t.Errorf("%s → %s: legal = %v, want %v", from, to, got, want)
			}
		}
	}
	terminal := map[deploy.Status]bool{s: true, f: true, c: true, rj: true, e: true}
	for _, st := range deploy.Statuses() {
		if got := st.Terminal(); got != terminal[st] {
			t.Errorf("%s.Terminal() = %v, want %v", st, got, terminal[st])
		}
		if got, want := st.Active(), st == l || st == r; got != want {
			t.Errorf("%s.Active() = %v, want %v", st, got, want)
		}
	}
	if deploy.Status("approved").Valid() || deploy.Status("approved").Terminal() {
		t.Error("unknown statuses must be neither valid nor terminal")
	}
}

func TestPlanHashStable(t *testing.T) {
	p := deploy.Plan{Kind: deploy.KindDeploy, App: "shop", Env: "prod", Version: "1.0.0", Hosts: []string{"a", "b"},
		ExtraVars: map[string]any{"b": 1, "a": "x", "nested": map[string]any{"z": 1, "y": 2}}}
	h := p.Hash()
	if len(h) != 64 {
		t.Fatalf("hash %q: want the full SHA-256, 64 hex characters", h)
	}
	if got := deploy.ShortHash(h); got != h[:12] {
		t.Fatalf("ShortHash = %q, want the first 12 hex digits of %q", got, h)
	}
	for i := 0; i < 20; i++ {
		q := p
		q.ExtraVars = map[string]any{"nested": map[string]any{"y": 2, "z": 1}, "a": "x", "b": 1}
		if q.Hash() != h {
			t.Fatal("hash depends on map order")
		}
	}
	changes := []func(*deploy.Plan){
		func(p *deploy.Plan) { p.Version = "1.0.1" },
		func(p *deploy.Plan) { p.Hosts = []string{"a"} },
		func(p *deploy.Plan) { p.Check = true },
		func(p *deploy.Plan) { p.ExtraVars = map[string]any{"b": 2, "a": "x"} },
	}
	for i, change := range changes {
		q := p
		change(&q)
		if q.Hash() == h {
			t.Errorf("change %d did not change the hash", i)
		}
	}
}
