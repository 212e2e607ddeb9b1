package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
)

// replicaName is this process's name on the leases it holds: --replica,
// or the host name, with the process id on PostgreSQL where several
// processes on one host may share the database. On SQLite one process
// uses the file, and the same name after a restart lets it resume its
// work at once instead of after the leases' TTL.
func replicaName(o *options) string {
	if o.Replica != "" {
		return o.Replica
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "deploybot"
	}
	if storage.IsPostgresURL(o.DBPath) {
		return fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	return host
}

// leaseProbe is the readiness probe of the leases: it fails when they
// cannot be read, and otherwise names those this replica holds.
type leaseProbe struct {
	svc interface {
		LeasesHeld(ctx context.Context) ([]deploy.Lease, error)
	}
}

func (p *leaseProbe) check(ctx context.Context) error {
	if _, err := p.svc.LeasesHeld(ctx); err != nil {
		return unready("cannot read the leases", err)
	}
	return nil
}

// detail says how many leases this replica holds and which.
func (p *leaseProbe) detail(ctx context.Context) string {
	held, err := p.svc.LeasesHeld(ctx)
	if err != nil {
		return "cannot read them now"
	}
	return leaseText(held)
}

// leaseText is "none held", or "3 held: periodic, request/12, schedules".
func leaseText(held []deploy.Lease) string {
	if len(held) == 0 {
		return "none held"
	}
	names := make([]string, 0, len(held))
	for _, l := range held {
		names = append(names, l.Name)
	}
	sort.Strings(names)
	const most = 10
	more := ""
	if len(names) > most {
		more = fmt.Sprintf(" and %d more", len(names)-most)
		names = names[:most]
	}
	return fmt.Sprintf("%d held: %s%s", len(held), strings.Join(names, ", "), more)
}

// registerLeaseMetrics exposes deploybot_leases_held, labelled with the
// replica, read from the database at each scrape.
func registerLeaseMetrics(reg prometheus.Registerer, svc interface {
	LeasesHeld(ctx context.Context) ([]deploy.Lease, error)
}, replica string, log zerolog.Logger) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "deploybot_leases_held",
		Help:        "Leases this replica holds: the work it owns among the replicas sharing the database (running jobs, the periodic pass, schedules).",
		ConstLabels: prometheus.Labels{"replica": replica},
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		held, err := svc.LeasesHeld(ctx)
		if err != nil {
			log.Warn().Err(err).Msg("read leases for the metrics")
			return math.NaN()
		}
		return float64(len(held))
	}))
}

// nameLeases is what claimReplicaName needs of the database.
type nameLeases interface {
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (deploy.Lease, bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
}

// nameClaim is this process's claim on its replica name (claimReplicaName).
type nameClaim struct {
	db     nameLeases
	name   string // the replica name
	holder string // the name and a random token of this process
	ttl    time.Duration
	now    func() time.Time
	l      deploy.Lease
	log    zerolog.Logger
}

// claimReplicaName makes this process the only live one named name on a
// shared database. Leases are held under the replica name, so two
// processes given one --replica would both hold every lease of it: both
// follow the same jobs and retry the same scheduled runs. The claim is the
// lease "replica/<name>", held under the name and a random token. When a
// process of that name holds it (a previous process killed less than the
// TTL ago, or another process running now), this one waits for the claim
// to expire, once; a claim still renewed then belongs to a live process,
// and this one refuses to start. wait sleeps (it is time.Sleep under ctx
// outside the tests).
func claimReplicaName(ctx context.Context, db nameLeases, name string, ttl time.Duration, now func() time.Time,
	wait func(context.Context, time.Duration) error, log zerolog.Logger) (*nameClaim, error) {
	var tok [8]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, fmt.Errorf("claim replica name %q: %w", name, err)
	}
	c := &nameClaim{db: db, name: name, holder: name + " " + hex.EncodeToString(tok[:]), ttl: ttl, now: now, log: log}
	for tries := 0; ; tries++ {
		l, ok, err := db.AcquireLease(ctx, "replica/"+name, c.holder, now(), ttl)
		if err != nil {
			return nil, fmt.Errorf("claim replica name %q: %w", name, err)
		}
		if ok {
			c.l = l
			return c, nil
		}
		if tries > 0 {
			return nil, fmt.Errorf("another deploybot process runs as replica %q on this database (it renewed its claim to the name until %s): "+
				"give each process its own --replica (DEPLOYBOT_REPLICA), or leave it unset for a unique default", name, l.Expires.UTC().Format(time.RFC3339))
		}
		d := l.Expires.Sub(now()) + 10*time.Millisecond
		log.Warn().Time("until", l.Expires).Msg("another process holds this replica name (a previous one killed less than the lease TTL ago, or one running now); waiting for its claim to expire")
		if err := wait(ctx, d); err != nil {
			return nil, err
		}
	}
}

// run renews the claim every third of its TTL until ctx ends, then
// releases it. It fails when another process took the name over (this
// one stalled past the TTL): both would do the same work, so this one
// stops.
func (c *nameClaim) run(ctx context.Context) error {
	t := time.NewTicker(max(c.ttl/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := c.db.ReleaseLease(context.WithoutCancel(ctx), "replica/"+c.name, c.holder); err != nil {
				c.log.Warn().Err(err).Msg("release the replica name")
			}
			return nil
		case <-t.C:
		}
		l, ok, err := c.db.AcquireLease(ctx, "replica/"+c.name, c.holder, c.now(), c.ttl)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			c.log.Warn().Err(err).Msg("renew the claim to the replica name; trying again")
		case !ok || l.Token != c.l.Token:
			return fmt.Errorf("another deploybot process took over replica name %q while this one could not renew its claim; stopping so that its work is not done twice", c.name)
		}
	}
}

// sleepCtx waits d, or until ctx ends (its error then).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
