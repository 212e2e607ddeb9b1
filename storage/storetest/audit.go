package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

func testAudit(t *testing.T, be Backend) {
	ctx := context.Background()
	db, clk := be.open(t, Options{})

	for _, action := range []string{"a", "b", "c"} {
		clk.Advance(time.Second)
		if err := db.Audit(ctx, deploy.AuditEntry{Actor: "U1", Action: action, RequestID: 7, App: "shop-web", Env: "production", Detail: "d"}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	if err := db.Audit(ctx, deploy.AuditEntry{At: at, Action: "other", ScheduleID: 3}); err != nil {
		t.Fatal(err)
	}
	WantCode(t, db.Audit(ctx, deploy.AuditEntry{}), deploy.EINVALID)

	all, err := db.AuditLog(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 || all[3].Action != "other" || !all[3].At.Equal(at) || all[3].ScheduleID != 3 {
		t.Fatalf("all = %+v", all)
	}
	want := deploy.AuditEntry{ID: all[0].ID, At: clk.Now().Add(-2 * time.Second), Actor: "U1", Action: "a",
		RequestID: 7, App: "shop-web", Env: "production", Detail: "d"}
	if !reflect.DeepEqual(all[0], want) {
		t.Fatalf("entry = %+v, want %+v", all[0], want)
	}

	last2, err := db.AuditLog(ctx, 7, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(last2) != 2 || last2[0].Action != "b" || last2[1].Action != "c" {
		t.Fatalf("newest two of request 7, oldest first = %+v", last2)
	}
}
