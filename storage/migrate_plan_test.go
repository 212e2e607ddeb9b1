package storage_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestMigration0002_PlanPerRequest opens a database written before
// migration 0002 (plans shared by a 12-digit hash, approvals without a
// plan hash) and checks that each request keeps the plan it had, and that
// its old approval binds no plan.
func TestMigration0002_PlanPerRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "deploybot.db")
	initSQL, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	plan := newRequest("shop-web", "production").Plan
	body, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	short := plan.Hash()[:12]
	raw := MustRawSQL(t, path)
	for _, q := range []string{
		string(initSQL),
		`CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`,
		`INSERT INTO migrations VALUES ('migrations/0001_init.sql', 0)`,
		`INSERT INTO plans VALUES ('` + short + `', '` + string(body) + `', 0)`,
		`INSERT INTO requests (kind, app, env, version, status, plan_hash, created_at, updated_at)
			VALUES ('deploy', 'shop-web', 'production', '1.4.2', 'queued', '` + short + `', 0, 0)`,
		`INSERT INTO approvals (request_id, user, at) VALUES (1, 'U_A1', 0)`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db := MustOpenPath(t, path, nil)
	got, err := db.Request(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Plan, plan) || got.PlanHash != short {
		t.Fatalf("migrated request: plan %+v hash %q, want %+v %q", got.Plan, got.PlanHash, plan, short)
	}
	if len(got.Approvals) != 1 || got.Approvals[0].PlanHash != "" {
		t.Fatalf("migrated approvals = %+v, want one that binds no plan", got.Approvals)
	}
}
