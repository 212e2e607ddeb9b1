package storetest

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

// leaseTTL is the TTL of the lease cases (the bot's default is about 15s).
const leaseTTL = 15 * time.Second

// acquire calls AcquireLease and fails t on an error.
func acquire(t *testing.T, db deploy.Store, name, holder string, now time.Time) (deploy.Lease, bool) {
	t.Helper()
	l, ok, err := db.AcquireLease(context.Background(), name, holder, now, leaseTTL)
	if err != nil {
		t.Fatal(err)
	}
	return l, ok
}

// wantLease fails t unless l is held by holder with token, since and
// expires.
func wantLease(t *testing.T, l deploy.Lease, holder string, token int64, since, expires time.Time) {
	t.Helper()
	if l.Name == "" || l.Holder != holder || l.Token != token || !l.Since.Equal(since) || !l.Expires.Equal(expires) {
		t.Fatalf("lease = %+v, want holder %q, token %d, since %v, expires %v", l, holder, token, since, expires)
	}
}

// wantLive fails t unless the leases live at now are held by holders
// (name=holder), in name order.
func wantLive(t *testing.T, db deploy.Store, now time.Time, holders ...string) {
	t.Helper()
	ls, err := db.Leases(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, l := range ls {
		if !l.Live(now) {
			t.Errorf("Leases(%v) lists %+v, which is not live", now, l)
		}
		got = append(got, l.Name+"="+l.Holder)
	}
	if fmt.Sprint(got) != fmt.Sprint(holders) {
		t.Fatalf("live leases at %v = %v, want %v", now, got, holders)
	}
}

// testLease_Lifecycle: acquire, renew, refuse another holder while live,
// expire, take over, a release by a non-holder that does nothing, a
// release by the holder, and bad input.
func testLease_Lifecycle(t *testing.T, be Backend) {
	ctx := context.Background()
	db, clk := be.open(t, Options{})
	t0 := clk.Now()

	wantLive(t, db, t0)
	l, ok := acquire(t, db, "job/1", "replica-a", t0)
	if !ok {
		t.Fatalf("a free lease was not taken: %+v", l)
	}
	wantLease(t, l, "replica-a", 1, t0, t0.Add(leaseTTL))
	if _, ok := acquire(t, db, "outbox", "replica-b", t0); !ok {
		t.Fatal("another free lease was not taken")
	}
	wantLive(t, db, t0, "job/1=replica-a", "outbox=replica-b")

	// Renewal extends the expiry; since and token stay.
	t1 := t0.Add(10 * time.Second)
	if l, ok = acquire(t, db, "job/1", "replica-a", t1); !ok {
		t.Fatalf("renewal refused: %+v", l)
	}
	wantLease(t, l, "replica-a", 1, t0, t1.Add(leaseTTL))

	// Another holder is refused while the lease is live, up to its last
	// millisecond, and is told who holds it.
	for _, at := range []time.Time{t1, t1.Add(leaseTTL - time.Millisecond)} {
		got, ok := acquire(t, db, "job/1", "replica-b", at)
		if ok {
			t.Fatalf("replica-b took a live lease at %v: %+v", at, got)
		}
		wantLease(t, got, "replica-a", 1, t0, t1.Add(leaseTTL))
	}

	// A release by a non-holder does nothing.
	if err := db.ReleaseLease(ctx, "job/1", "replica-b"); err != nil {
		t.Fatal(err)
	}
	wantLive(t, db, t1, "job/1=replica-a", "outbox=replica-b")

	// Expired, it is free: replica-b takes it over with the next token.
	t2 := t1.Add(leaseTTL)
	wantLive(t, db, t2)
	if l, ok = acquire(t, db, "job/1", "replica-b", t2); !ok {
		t.Fatalf("expired lease not taken over: %+v", l)
	}
	wantLease(t, l, "replica-b", 2, t2, t2.Add(leaseTTL))
	if got, ok := acquire(t, db, "job/1", "replica-a", t2.Add(time.Second)); ok {
		t.Fatalf("the former holder took back a live lease: %+v", got)
	}

	// The holder releases it: anyone may take it at once, with the next
	// token.
	if err := db.ReleaseLease(ctx, "job/1", "replica-b"); err != nil {
		t.Fatal(err)
	}
	wantLive(t, db, t2)
	if l, ok = acquire(t, db, "job/1", "replica-a", t2); !ok {
		t.Fatalf("released lease not taken: %+v", l)
	}
	wantLease(t, l, "replica-a", 3, t2, t2.Add(leaseTTL))

	// A holder whose lease expired and that nobody took meanwhile keeps it,
	// token unchanged: nobody else acted under it.
	t3 := t2.Add(time.Hour)
	if l, ok = acquire(t, db, "job/1", "replica-a", t3); !ok {
		t.Fatalf("expired lease not renewed by its holder: %+v", l)
	}
	wantLease(t, l, "replica-a", 3, t2, t3.Add(leaseTTL))

	for _, tc := range []struct {
		name, holder string
		now          time.Time
		ttl          time.Duration
	}{
		{"", "replica-a", t3, leaseTTL},
		{"job/1", "", t3, leaseTTL},
		{"job/1", "replica-a", time.Time{}, leaseTTL},
		{"job/1", "replica-a", t3, 0},
		{"job/1", "replica-a", t3, -time.Second},
	} {
		_, ok, err := db.AcquireLease(ctx, tc.name, tc.holder, tc.now, tc.ttl)
		WantCode(t, err, deploy.EINVALID)
		if ok {
			t.Fatalf("AcquireLease(%q, %q, %v, %v) = true with an error", tc.name, tc.holder, tc.now, tc.ttl)
		}
	}
	WantCode(t, db.ReleaseLease(ctx, "job/1", ""), deploy.EINVALID)
	wantLive(t, db, t3, "job/1=replica-a")
}

// testLease_FencingToken: the token goes up each time the lease changes
// hands and never on a renewal, so a holder that lost the lease and got
// it back can tell.
func testLease_FencingToken(t *testing.T, be Backend) {
	db, clk := be.open(t, Options{})
	now := clk.Now()
	l, _ := acquire(t, db, "queue/shop-web/production", "replica-a", now)
	first := l.Token
	for i := 0; i < 5; i++ {
		now = now.Add(leaseTTL / 2)
		if l, _ = acquire(t, db, "queue/shop-web/production", "replica-a", now); l.Token != first {
			t.Fatalf("renewal %d changed the token: %d, want %d", i+1, l.Token, first)
		}
	}
	// replica-a stalls past its TTL: replica-b takes over, then stalls too,
	// and replica-a gets the lease back.
	now = l.Expires
	lb, ok := acquire(t, db, "queue/shop-web/production", "replica-b", now)
	if !ok || lb.Token != first+1 {
		t.Fatalf("take-over: %+v, %v; want token %d", lb, ok, first+1)
	}
	now = lb.Expires
	la, ok := acquire(t, db, "queue/shop-web/production", "replica-a", now)
	if !ok || la.Token != first+2 {
		t.Fatalf("take-back: %+v, %v; want token %d", la, ok, first+2)
	}
	if la.Token == first {
		t.Fatal("replica-a cannot tell it lost the lease in between")
	}
}

// testLease_ClockBehind: a replica whose clock lags behind the holder's
// does not take a lease the holder's clock says is live.
func testLease_ClockBehind(t *testing.T, be Backend) {
	db, clk := be.open(t, Options{})
	t0 := clk.Now()
	held, _ := acquire(t, db, "outbox", "replica-a", t0)
	for _, lag := range []time.Duration{time.Millisecond, time.Minute, 24 * time.Hour} {
		if got, ok := acquire(t, db, "outbox", "replica-b", t0.Add(-lag)); ok {
			t.Fatalf("a replica %v behind took a live lease: %+v", lag, got)
		}
	}
	// Nor does the holder's own renewal with a lagging clock shorten it.
	l, ok := acquire(t, db, "outbox", "replica-a", t0.Add(-time.Minute))
	if !ok {
		t.Fatal("holder's renewal refused")
	}
	wantLease(t, l, "replica-a", held.Token, t0, held.Expires)
	wantLive(t, db, t0.Add(leaseTTL-time.Millisecond), "outbox=replica-a")
}

// testLease_ConcurrentHandles: 20 handles (as 20 processes would have)
// race for one lease at one instant; exactly one holds it, and every
// caller is told the same holder and token. Then, once it expired, 20 new
// holders race to take it over.
func testLease_ConcurrentHandles(t *testing.T, be Backend) {
	const n = 20
	db, clk := be.open(t, Options{})
	hs := be.handles(t, db, n, true)
	now := clk.Now()
	for round, wantToken := range []int64{1, 2} {
		leases := make([]deploy.Lease, n)
		held := make([]bool, n)
		errs := race(n, func(i int) error {
			var err error
			leases[i], held[i], err = hs[i].AcquireLease(context.Background(), "job/7", fmt.Sprintf("replica-%d-%d", round, i), now, leaseTTL)
			return err
		})
		winners := 0
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, handle %d: %v", round, i, err)
			}
			if held[i] {
				winners++
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d handles hold the lease, want 1", round, winners)
		}
		for i, l := range leases {
			if l != leases[0] || l.Token != wantToken {
				t.Fatalf("round %d: handle %d sees %+v, handle 0 sees %+v (want token %d)", round, i, l, leases[0], wantToken)
			}
		}
		wantLive(t, db, now, "job/7="+leases[0].Holder)
		now = leases[0].Expires
	}
}

// testScheduleFire_Once: three handles claim one fire of one schedule at
// once; exactly one claim succeeds, and every later claim fails. Claims
// are kept until pruned.
func testScheduleFire_Once(t *testing.T, be Backend) {
	ctx := context.Background()
	db, clk := be.open(t, Options{})
	s := &deploy.Schedule{App: "shop-web", Env: "production", Version: "1.4.2", Spec: "0 6 * * 1",
		CreatedBy: "U_SCHED", Channel: "C_DEPLOY", Status: deploy.ScheduleActive}
	if err := db.CreateSchedule(ctx, s); err != nil {
		t.Fatal(err)
	}
	hs := be.handles(t, db, 3, true)
	fire := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	now := clk.Now()
	for _, at := range []time.Time{fire, fire.Add(7 * 24 * time.Hour)} {
		claimed := make([]bool, len(hs))
		errs := race(len(hs), func(i int) error {
			var err error
			claimed[i], err = hs[i].ClaimScheduleFire(ctx, s.ID, at, fmt.Sprintf("replica-%d", i), now)
			return err
		})
		n := 0
		for i, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
			if claimed[i] {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("fire at %v claimed %d times, want 1", at, n)
		}
	}
	// Later claims of a fire time fail, from any holder and at any time;
	// the same instant in another zone is the same fire time.
	for _, h := range []string{"replica-0", "replica-9"} {
		if ok, err := db.ClaimScheduleFire(ctx, s.ID, fire.In(time.FixedZone("CET", 3600)), h, now.Add(time.Hour)); err != nil || ok {
			t.Fatalf("second claim by %s = %v, %v; want false", h, ok, err)
		}
	}
	_, err := db.ClaimScheduleFire(ctx, s.ID+1000, fire, "replica-0", now)
	WantCode(t, err, deploy.ENOTFOUND)
	_, err = db.ClaimScheduleFire(ctx, s.ID, time.Time{}, "replica-0", now)
	WantCode(t, err, deploy.EINVALID)
	_, err = db.ClaimScheduleFire(ctx, s.ID, fire, "", now)
	WantCode(t, err, deploy.EINVALID)

	// Pruning deletes the claims of fire times before the cut only.
	n, err := db.PruneScheduleFires(ctx, fire.Add(time.Millisecond))
	if err != nil || n != 1 {
		t.Fatalf("prune = %d, %v; want 1", n, err)
	}
	if ok, err := db.ClaimScheduleFire(ctx, s.ID, fire.Add(7*24*time.Hour), "replica-0", now); err != nil || ok {
		t.Fatalf("claim of a kept fire = %v, %v; want false", ok, err)
	}
}

// testReserveSlot_Spacing: 30 reservations of one key at one instant, on 3
// handles, get 30 slots exactly interval apart starting at now; a
// reservation after the last slot gets now; a replica whose clock lags
// gets the next free slot, not one in the past.
func testReserveSlot_Spacing(t *testing.T, be Backend) {
	const (
		n        = 30
		interval = 1100 * time.Millisecond
	)
	ctx := context.Background()
	db, clk := be.open(t, Options{})
	hs := be.handles(t, db, 3, true)
	now := clk.Now()
	slots := make([]time.Time, n)
	errs := race(n, func(i int) error {
		var err error
		slots[i], err = hs[i%len(hs)].ReserveSlot(ctx, "C_DEPLOY", now, interval)
		return err
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i].Before(slots[j]) })
	for i, s := range slots {
		if want := now.Add(time.Duration(i) * interval); !s.Equal(want) {
			t.Fatalf("slot %d = %v, want %v (all: %v)", i, s, want, slots)
		}
	}
	last := slots[n-1]

	// Another key has its own slots.
	if s, err := db.ReserveSlot(ctx, "C_OTHER", now, interval); err != nil || !s.Equal(now) {
		t.Fatalf("other key: %v, %v; want %v", s, err, now)
	}
	// A lagging clock gets the next slot after the last one.
	if s, err := db.ReserveSlot(ctx, "C_DEPLOY", now.Add(-time.Hour), interval); err != nil || !s.Equal(last.Add(interval)) {
		t.Fatalf("lagging clock: %v, %v; want %v", s, err, last.Add(interval))
	}
	last = last.Add(interval)
	// Once the slots have passed, the next one is now.
	later := last.Add(time.Minute)
	if s, err := db.ReserveSlot(ctx, "C_DEPLOY", later, interval); err != nil || !s.Equal(later) {
		t.Fatalf("after a pause: %v, %v; want %v", s, err, later)
	}

	_, err := db.ReserveSlot(ctx, "", now, interval)
	WantCode(t, err, deploy.EINVALID)
	_, err = db.ReserveSlot(ctx, "C_DEPLOY", now, -time.Second)
	WantCode(t, err, deploy.EINVALID)
	_, err = db.ReserveSlot(ctx, "C_DEPLOY", time.Time{}, interval)
	WantCode(t, err, deploy.EINVALID)
}
