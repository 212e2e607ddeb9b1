package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// probe is one dependency check for /healthz or /readyz.
type probe struct {
	name  string
	check func(ctx context.Context) error
	// detail, when set, says more about a healthy dependency ("ok (…)");
	// like a probe's public text it must name no internal host.
	detail func(ctx context.Context) string
}

// health answers /healthz and /readyz from a list of probes.
type health struct {
	// log receives each probe's full error when it changes; the HTTP
	// answers show only its public part (see unready).
	log zerolog.Logger

	mu        sync.Mutex
	liveness  []probe
	readiness []probe
	last      map[string]string // probe name → its last logged error
}

// probeError is a probe's failure: public is what /healthz and /readyz
// show to anyone who can reach them, and must name no internal host, port,
// path or organization; err, the full cause, goes to the log only.
type probeError struct {
	public string
	err    error
}

func (e *probeError) Error() string {
	if e.err == nil {
		return e.public
	}
	return e.public + ": " + e.err.Error()
}

func (e *probeError) Unwrap() error { return e.err }

// unready is a probe failure that shows public and logs err.
func unready(public string, err error) error { return &probeError{public: public, err: err} }

// publicText is what the probe answers may show of err: its public part,
// or a generic line for an error that has none.
func publicText(err error) string {
	var pe *probeError
	if errors.As(err, &pe) {
		return pe.public
	}
	return "not ready (the bot's log says why)"
}

// logChange logs a probe's error when it differs from the last one logged
// (and its recovery), so that a probe polled every few seconds does not
// flood the log.
func (h *health) logChange(name string, err error) {
	text := ""
	if err != nil {
		text = err.Error()
	}
	h.mu.Lock()
	prev, seen := h.last[name]
	if h.last == nil {
		h.last = map[string]string{}
	}
	h.last[name] = text
	h.mu.Unlock()
	switch {
	case text == prev && seen, text == "" && !seen:
	case text == "":
		h.log.Info().Str("dependency", name).Msg("dependency healthy again")
	default:
		h.log.Warn().Str("dependency", name).Err(err).Msg("dependency not healthy")
	}
}

func (h *health) addLiveness(name string, check func(context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.liveness = append(h.liveness, probe{name: name, check: check})
}

func (h *health) addReadiness(name string, check func(context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.readiness = append(h.readiness, probe{name: name, check: check})
}

// addReadinessDetail is addReadiness for a probe that says more when it
// passes.
func (h *health) addReadinessDetail(name string, check func(context.Context) error, detail func(context.Context) string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.readiness = append(h.readiness, probe{name: name, check: check, detail: detail})
}

// serve runs the probes and answers 200 when all pass, 503 otherwise; the
// body names each dependency and whether it is healthy, with the public
// part of what is wrong (the details go to the log).
func (h *health) serve(probes func() []probe) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		var b strings.Builder
		status := http.StatusOK
		for _, p := range probes() {
			err := p.check(ctx)
			h.logChange(p.name, err)
			if err != nil {
				status = http.StatusServiceUnavailable
				fmt.Fprintf(&b, "%s: %s\n", p.name, publicText(err))
			} else if p.detail != nil {
				fmt.Fprintf(&b, "%s: ok (%s)\n", p.name, p.detail(ctx))
			} else {
				fmt.Fprintf(&b, "%s: ok\n", p.name)
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		fmt.Fprint(w, b.String())
	}
}

func (h *health) snapshot(which *[]probe) func() []probe {
	return func() []probe {
		h.mu.Lock()
		defer h.mu.Unlock()
		return append([]probe(nil), *which...)
	}
}

// newHTTPHandler routes /healthz, /readyz and /metrics.
func newHTTPHandler(h *health, reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", h.serve(h.snapshot(&h.liveness)))
	mux.Handle("GET /readyz", h.serve(h.snapshot(&h.readiness)))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}
