package main

import (
	"context"
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
