package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

func testLocks(t *testing.T, be Backend) {
	ctx := context.Background()
	db, clk := be.open(t, Options{})

	l1 := deploy.Lock{App: "shop-web", Env: "production", By: "U_OPS", Reason: "hotfix freeze"}
	if err := db.Lock(ctx, l1); err != nil {
		t.Fatal(err)
	}
	l1.Since = clk.Now()
	clk.Advance(time.Minute)
	l2 := deploy.Lock{App: "blog", Env: "staging", By: "U_DEV", Since: clk.Now().Add(-time.Hour)}
	if err := db.Lock(ctx, l2); err != nil {
		t.Fatal(err)
	}

	err := db.Lock(ctx, deploy.Lock{App: "shop-web", Env: "production", By: "U_OTHER"})
	WantCode(t, err, deploy.ECONFLICT)
	if got, want := deploy.ErrorMessage(err), "shop-web production is already locked by <@U_OPS> since 2026-11-24 14:02 UTC: hotfix freeze."; got != want {
		t.Fatalf("message = %q, want %q", got, want)
	}
	WantCode(t, db.Lock(ctx, deploy.Lock{App: "shop-web"}), deploy.EINVALID)

	locks, err := db.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []deploy.Lock{l2, l1}; !reflect.DeepEqual(locks, want) {
		t.Fatalf("locks = %+v, want %+v", locks, want)
	}

	held, err := db.Unlock(ctx, "shop-web", "production", "U_LEAD")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(held, l1) {
		t.Fatalf("unlocked %+v, want %+v", held, l1)
	}
	_, err = db.Unlock(ctx, "shop-web", "production", "U_LEAD")
	WantCode(t, err, deploy.ENOTFOUND)

	log, err := db.AuditLog(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range log {
		got = append(got, e.Action+" "+e.Actor+" "+e.App+" "+e.Env)
	}
	want := []string{
		"locked U_OPS shop-web production",
		"locked U_DEV blog staging",
		"unlocked U_LEAD shop-web production",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("audit = %q, want %q", got, want)
	}
}
