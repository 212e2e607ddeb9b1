package deploy

import (
	"context"
	"strconv"
	"time"
)

// Replicas of the bot that share one store own the work that must happen
// once through leases in the store (LeaseStore): each lease has a holder
// (Tunables.Replica) and an expiry, and its holder renews it while it
// works. A replica that dies (kill -9) renews nothing: once LeaseTTL has
// passed, another replica's periodic pass takes the lease and the work
// over from the stored state.
//
// The leases:
//   - request/<id>: the launch of request id and the following of its AWX
//     job, from the move to launching until the job is final;
//   - periodic: approval expiry and reminders;
//   - schedules: schedule announcements (upcoming runs, results) and the
//     retries of runs whose checks could not be made.
//
// Work that is decided by a compare-and-set in the store needs no lease:
// queueing an approved request, a schedule's run (its last run time, and
// one recorded fire per fire time), the outbox (each owed item is claimed
// on its own).
const (
	periodicLease  = "periodic"
	schedulesLease = "schedules"
)

// requestLease names the lease that owns request id's launch and job.
func requestLease(id int64) string { return "request/" + strconv.FormatInt(id, 10) }

// hold takes or renews lease name for this replica and reports whether it
// holds it. A store error counts as not holding it: the work waits for a
// later pass.
func (s *core) hold(ctx context.Context, name string) (Lease, bool) {
	l, ok, err := s.store.AcquireLease(ctx, name, s.Replica, s.now(), s.LeaseTTL)
	if err != nil {
		s.log.Warn().Err(err).Str("lease", name).Msg("take lease")
		return l, false
	}
	return l, ok
}

// letGo releases lease name if this replica holds it, so that another
// replica may take the work over at once instead of after LeaseTTL.
func (s *core) letGo(ctx context.Context, name string) {
	if err := s.store.ReleaseLease(context.WithoutCancel(ctx), name, s.Replica); err != nil {
		s.log.Warn().Err(err).Str("lease", name).Msg("release lease")
	}
}

// keep renews lease name, which this replica holds, every third of
// LeaseTTL until the returned stop is called. When the lease is lost
// (another replica took it: this one stalled past the TTL) or cannot be
// renewed before it expires, lost is called once and renewal stops.
func (s *core) keep(ctx context.Context, name string, l Lease, lost func()) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(s.LeaseTTL/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			now := s.now()
			got, ok, err := s.store.AcquireLease(ctx, name, s.Replica, now, s.LeaseTTL)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil && now.Before(l.Expires):
				s.log.Warn().Err(err).Str("lease", name).Msg("renew lease; trying again")
				continue
			case err != nil:
				s.log.Error().Err(err).Str("lease", name).Msg("lease not renewed before it expired; leaving the work to another replica")
			case !ok || got.Token != l.Token:
				s.log.Warn().Str("lease", name).Str("holder", got.Holder).Msg("lease lost to another replica")
			default:
				l = got
				continue
			}
			lost()
			return
		}
	}()
	return func() { cancel(); <-done }
}

// LeasesHeld lists the live leases this replica holds (for /readyz and
// the metrics).
func (s *Service) LeasesHeld(ctx context.Context) ([]Lease, error) {
	all, err := s.store.Leases(ctx, s.now())
	if err != nil {
		return nil, internal("list leases", err)
	}
	var mine []Lease
	for _, l := range all {
		if l.Holder == s.Replica {
			mine = append(mine, l)
		}
	}
	return mine, nil
}

// ReplicaName is the name this replica holds its leases under.
func (s *Service) ReplicaName() string { return s.Replica }
