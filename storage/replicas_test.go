package storage_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deploybot/deploybot/storage"
)

// BenchmarkAcquireLease measures AcquireLease on each backend: one holder
// renewing its lease (what a replica does every few seconds per lease it
// holds), and three handles on one database (as three replicas would
// have) each renewing leases of their own at once.
func BenchmarkAcquireLease(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name+"/Renew", func(b *testing.B) {
			be.require(b)
			ctx := context.Background()
			db := MustOpenPath(b, be.dsn(b), nil)
			now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, ok, err := db.AcquireLease(ctx, "job/1", "replica-a", now.Add(time.Duration(i)*time.Millisecond), 15*time.Second); err != nil || !ok {
					b.Fatalf("renewal %d: %v, %v", i, ok, err)
				}
			}
		})
		b.Run(be.name+"/ThreeHandles", func(b *testing.B) {
			be.require(b)
			ctx := context.Background()
			path := be.dsn(b)
			first := MustOpenPath(b, path, nil)
			hs := []*storage.DB{first, MustOpenPath(b, path, nil), MustOpenPath(b, path, nil)}
			var next atomic.Int64
			now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				g := next.Add(1)
				db := hs[g%int64(len(hs))]
				name, holder := fmt.Sprintf("job/%d", g), fmt.Sprintf("replica-%d", g)
				for i := 0; pb.Next(); i++ {
					if _, ok, err := db.AcquireLease(ctx, name, holder, now.Add(time.Duration(i)*time.Millisecond), 15*time.Second); err != nil || !ok {
						b.Errorf("renewal %d of %s: %v, %v", i, name, ok, err)
						return
					}
				}
			})
		})
	}
}
