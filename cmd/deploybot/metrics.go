package main

import (
	"context"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/storage"
)

// promMetrics implements deploy.Metrics on a Prometheus registry.
type promMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	approval *prometheus.HistogramVec
	queue    *prometheus.GaugeVec
}

var _ deploy.Metrics = (*promMetrics)(nil)

// newRegistry returns a registry with the process and Go collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func newPromMetrics(reg prometheus.Registerer) *promMetrics {
	m := &promMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_requests_total", Help: "Requests that reached a final status, by outcome.",
		}, []string{"app", "env", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "deploybot_deploy_duration_seconds", Help: "How long release jobs ran.",
			Buckets: []float64{10, 30, 60, 120, 300, 600, 1200, 1800, 3600},
		}, []string{"app", "env", "status"}),
		approval: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "deploybot_approval_latency_seconds", Help: "Time from request to the last needed approval.",
			Buckets: []float64{10, 30, 60, 300, 900, 1800, 3600, 7200},
		}, []string{"app", "env"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "deploybot_queue_depth", Help: "Requests waiting for their environment.",
		}, []string{"app", "env"}),
	}
	reg.MustRegister(m.requests, m.duration, m.approval, m.queue)
	return m
}

func (m *promMetrics) RequestFinished(app, env string, status deploy.Status, d time.Duration) {
	m.requests.WithLabelValues(app, env, string(status)).Inc()
	if d > 0 {
		m.duration.WithLabelValues(app, env, string(status)).Observe(d.Seconds())
	}
}

func (m *promMetrics) Approved(app, env string, d time.Duration) {
	m.approval.WithLabelValues(app, env).Observe(d.Seconds())
}

func (m *promMetrics) QueueDepth(app, env string, n int) {
	m.queue.WithLabelValues(app, env).Set(float64(n))
}

// awxMetrics counts AWX requests by method and outcome: the status class
// (2xx, 4xx, 5xx) or "error" when no answer came; and times them.
type awxMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newAWXMetrics(reg prometheus.Registerer) *awxMetrics {
	m := &awxMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_awx_requests_total",
			Help: "AWX API requests by method and outcome: 2xx, 4xx, 5xx, or error (no answer).",
		}, []string{"method", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "deploybot_awx_request_duration_seconds",
			Help:    "Time from sending an AWX API request to its response headers (or its failure), by method.",
			Buckets: []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"method"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// transport wraps next so that every exchange is counted and timed.
func (m *awxMetrics) transport(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(r)
		m.latency.WithLabelValues(r.Method).Observe(time.Since(start).Seconds())
		outcome := "error"
		if err == nil {
			outcome = strconv.Itoa(resp.StatusCode/100) + "xx"
		}
		m.requests.WithLabelValues(r.Method, outcome).Inc()
		return resp, err
	})
}

// registerBuildInfo exposes deploybot_build_info{version,goversion} 1.
func registerBuildInfo(reg prometheus.Registerer) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "deploybot_build_info",
		Help:        "Always 1; its labels say which deploybot build runs and with which Go.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	g.Set(1)
	reg.MustRegister(g)
}

// dependencyCollector exposes deploybot_dependency_up{dependency}: 1 when
// every /readyz probe of that name (slack, awx, database) passes at scrape
// time, else 0. It reads the probes at each scrape, so one added later is
// reported too.
type dependencyCollector struct {
	probes func() []probe
	up     *prometheus.Desc
}

func newDependencyCollector(probes func() []probe) *dependencyCollector {
	return &dependencyCollector{probes: probes, up: prometheus.NewDesc("deploybot_dependency_up",
		"1 when the dependency (slack, awx, database) passes its /readyz check, 0 when not.", []string{"dependency"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *dependencyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.up }

// Collect implements prometheus.Collector.
func (c *dependencyCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var names []string
	up := map[string]bool{}
	for _, p := range c.probes() {
		if _, seen := up[p.name]; !seen {
			names = append(names, p.name)
			up[p.name] = true
		}
		if p.check(ctx) != nil {
			up[p.name] = false
		}
	}
	for _, name := range names {
		v := 0.0
		if up[name] {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, v, name)
	}
}

// stateCollector reads the requests' state from the database at scrape
// time, so that its figures survive restarts: releases running and
// approvals pending per app and environment (0 for every configured one
// that has none), and when each last released successfully.
type stateCollector struct {
	stats   func(context.Context) ([]storage.EnvStats, error)
	envs    atomic.Pointer[[][2]string] // the configured app and env pairs
	log     zerolog.Logger
	running *prometheus.Desc
	pending *prometheus.Desc
	last    *prometheus.Desc
}

func newStateCollector(cfg *config.Config, stats func(context.Context) ([]storage.EnvStats, error), log zerolog.Logger) *stateCollector {
	c := &stateCollector{
		stats: stats,
		log:   log,
		running: prometheus.NewDesc("deploybot_releases_running",
			"Requests whose AWX job is launching or running (dry runs included).", []string{"app", "env"}, nil),
		pending: prometheus.NewDesc("deploybot_approvals_pending",
			"Requests waiting for approval.", []string{"app", "env"}, nil),
		last: prometheus.NewDesc("deploybot_last_successful_release_timestamp_seconds",
			"When the newest succeeded release (a deploy, not a dry run or a rollback) finished, in Unix seconds.", []string{"app", "env"}, nil),
	}
	c.SetConfig(cfg)
	return c
}

// SetConfig makes the gauges cover the environments of cfg (a reloaded
// configuration).
func (c *stateCollector) SetConfig(cfg *config.Config) {
	var envs [][2]string
	for _, app := range cfg.AppNames() {
		for _, env := range cfg.Apps[app].EnvNames() {
			envs = append(envs, [2]string{app, env})
		}
	}
	c.envs.Store(&envs)
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.running
	ch <- c.pending
	ch <- c.last
}

// Collect implements prometheus.Collector. When the database does not
// answer it reports nothing (deploybot_dependency_up{dependency="database"}
// says why) rather than zeros that would look true.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, err := c.stats(ctx)
	if err != nil {
		c.log.Warn().Str("error", err.Error()).Msg("metrics: read the requests' state")
		return
	}
	byEnv := map[[2]string]storage.EnvStats{}
	for _, s := range stats {
		byEnv[[2]string{s.App, s.Env}] = s
	}
	envs := *c.envs.Load()
	keys := append([][2]string(nil), envs...)
	for _, s := range stats {
		if k := [2]string{s.App, s.Env}; !slices.Contains(envs, k) {
			keys = append(keys, k) // an app or env since removed from the config
		}
	}
	for _, k := range keys {
		s := byEnv[k]
		ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(s.Active), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.PendingApproval), k[0], k[1])
		if !s.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(s.LastSuccess.UnixMilli())/1000, k[0], k[1])
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// newReloadCounter registers deploybot_config_reload_total{result}: the
// configuration reloads applied and refused (a file with problems), both
// shown from 0.
func newReloadCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "deploybot_config_reload_total",
		Help: "Configuration reloads (SIGHUP, deploybot reload) by result: applied, or refused (the bot kept the configuration it had).",
	}, []string{"result"})
	c.WithLabelValues("applied")
	c.WithLabelValues("refused")
	reg.MustRegister(c)
	return c
}
