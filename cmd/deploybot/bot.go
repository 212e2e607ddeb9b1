package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
	"github.com/deploybot/deploybot/deploy/awxrunner"
	"github.com/deploybot/deploybot/storage"
)

// Tunables of the running bot that tests shorten.
type botTunables struct {
	// SlackStale is how long without a ping or envelope from Slack makes
	// the socket count as dead for /healthz and /readyz.
	SlackStale time.Duration
	// AWXCheck is the interval of AWX health checks once it is ready.
	AWXCheck time.Duration
	// ShutdownTimeout bounds the final writes after a stop signal.
	ShutdownTimeout time.Duration
	// Bot configures the Socket Mode adapter.
	Bot bot.Config
	// Slack configures the Web API gateway.
	Slack bot.SlackOptions
	// PollInterval is how often running jobs are polled (0: default).
	PollInterval time.Duration
	// TickInterval is how often the deploy service does its periodic
	// work: expiry, reminders, reconciliation (0: default).
	TickInterval time.Duration
	// AWXTimeout bounds one AWX API call.
	AWXTimeout time.Duration
	// SlackAuthCheck is how long /readyz trusts the last auth.test answer.
	SlackAuthCheck time.Duration
	// Reload delivers the configuration reload requests; SIGHUP when nil.
	Reload <-chan os.Signal
	// DBCheck is the interval of the database checks (guardDatabase).
	DBCheck time.Duration
}

func defaultTunables() botTunables {
	return botTunables{SlackStale: 90 * time.Second, AWXCheck: 30 * time.Second, ShutdownTimeout: 15 * time.Second,
		AWXTimeout: awxTimeout, SlackAuthCheck: time.Minute, DBCheck: 10 * time.Second}
}

// runBot runs the bot until ctx ends or a component fails for good.
func runBot(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	return runBotWith(ctx, args, getenv, stderr, defaultTunables())
}

func runBotWith(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, tun botTunables) (err error) {
	o, _, err := parseOptions("deploybot", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	// SIGHUP reloads the configuration: caught from the start, so that a
	// reload sent while the bot starts is applied once it runs rather than
	// killing it.
	reload := tun.Reload
	if reload == nil {
		hup, stop := hangups()
		defer stop()
		reload = hup
	}
	secrets := redactor{o.SlackAppToken, o.SlackBotToken, o.AWXToken}
	// What stops the bot, at start-up or later, is its last log line.
	defer func() {
		if err != nil {
			err = logFatal(stderr, o.LogFormat, secrets, err)
		}
	}()
	log, err := newLogger(stderr, o.LogLevel, o.LogFormat, secrets)
	if err != nil {
		return err
	}
	replica := replicaName(o)
	log = log.With().Str("replica", replica).Logger()
	if err := o.checkSecrets(); err != nil {
		return err
	}
	if err := o.checkAWXURL(log); err != nil {
		return err
	}
	cfg, err := readConfig(o.ConfigPath)
	if err != nil {
		return err
	}
	log.Info().Str("version", version).Str("config", o.ConfigPath).Str("db", storage.Redact(o.DBPath)).
		Int("apps", len(cfg.Apps)).Msg("deploybot starting")
	for _, w := range cfg.Warnings {
		log.Warn().Str("config", o.ConfigPath).Int("line", w.Line).Str("key", w.Path).Str("warning", w.Message).Msg("configuration warning")
	}

	// Replicas on one PostgreSQL database may start at once: their
	// migrations are applied one at a time, each once.
	db := storage.NewDB(o.DBPath)
	if err := db.Open(ctx); err != nil {
		return fmt.Errorf("open database %s: %w", storage.Redact(o.DBPath), err)
	}
	defer db.Close()
	var claim *nameClaim
	if storage.IsPostgresURL(o.DBPath) {
		// Slack's limits are per app and channel: replicas take turns
		// through the database.
		tun.Slack.SharedPacing = db
		// One live process per replica name.
		if claim, err = claimReplicaName(ctx, db, replica, o.LeaseTTL, time.Now, sleepCtx, log); err != nil {
			return err
		}
	}

	reg := newRegistry()
	awx, err := newAWXClient(o, log, tun.AWXTimeout, newAWXMetrics(reg).transport(http.DefaultTransport))
	if err != nil {
		return err
	}
	api := slack.New(o.SlackBotToken, slack.OptionAPIURL(o.SlackAPIURL), slack.OptionAppLevelToken(o.SlackAppToken))
	gw := bot.NewSlack(api, log, tun.Slack)
	reached, err := checkBotToken(ctx, gw, log)
	if err != nil {
		return err
	}
	if reached {
		if err := checkGroups(ctx, gw, cfg, log); err != nil {
			return err
		}
	}
	runner := awxrunner.New(awx, cfg.AWX.Organization, cfg.AWX.Credential)
	if cfg.AWX.EventWait > 0 {
		runner.EventWait = cfg.AWX.EventWait
	}
	svc := deploy.NewService(cfg.Catalog(), db, runner, gw, gw, deploy.SystemClock{}, log)
	svc.Metrics = newPromMetrics(reg)
	svc.AWXURL = o.AWXURL
	svc.Replica = replica
	svc.LeaseTTL = o.LeaseTTL
	// Job output is spooled beside the database file (a writable, private
	// directory even on a read-only root filesystem), or in the system's
	// temporary directory with PostgreSQL; each file is unlinked as soon
	// as it is created.
	if !storage.IsPostgresURL(o.DBPath) {
		svc.OutputDir = filepath.Dir(o.DBPath)
	}
	if tun.PollInterval > 0 {
		svc.PollInterval = tun.PollInterval
	}
	if tun.TickInterval > 0 {
		svc.TickInterval = tun.TickInterval
	}
	sched := deploy.NewScheduler(svc, log)
	tun.Bot.Audit = db
	b := bot.New(tun.Bot, api, svc, gw, db, cfg, log)
	watch := newAWXWatch(awx, cfg, log, tun.AWXCheck, time.Minute)
	registerBotMetrics(reg, gw, b)
	registerLeaseMetrics(reg, svc, replica, log)

	started := time.Now()
	slackAlive := func(context.Context) error {
		seen := b.LastSeen()
		if seen.IsZero() {
			if time.Since(started) < tun.SlackStale {
				return unready("connecting", nil)
			}
			return unready(fmt.Sprintf("not connected since start %s ago; retrying", time.Since(started).Round(time.Second)), nil)
		}
		if d := time.Since(seen); d > tun.SlackStale {
			return unready(fmt.Sprintf("nothing heard from Slack for %s; reconnecting", d.Round(time.Second)), nil)
		}
		return nil
	}
	h := &health{log: log.With().Str("component", "health").Logger()}
	h.addLiveness("slack", func(ctx context.Context) error {
		// A socket that never connected yet is not a reason to restart
		// the process during its first SlackStale.
		if b.LastSeen().IsZero() && time.Since(started) < tun.SlackStale {
			return nil
		}
		return slackAlive(ctx)
	})
	h.addReadiness("database", func(ctx context.Context) error {
		if err := db.Ping(ctx); err != nil {
			return unready("not answering", err)
		}
		return nil
	})
	h.addReadiness("awx", watch.Ready)
	leases := &leaseProbe{svc: svc}
	h.addReadinessDetail("leases", leases.check, leases.detail)
	h.addReadiness("slack", slackAlive)
	registerBuildInfo(reg)
	state := newStateCollector(cfg, db.EnvStats, log)
	reg.MustRegister(newDependencyCollector(h.snapshot(&h.readiness)), state)
	token := &tokenProbe{interval: tun.SlackAuthCheck, now: time.Now, check: func(ctx context.Context) error {
		_, err := gw.AuthTest(ctx)
		return err
	}}
	h.addReadiness("slack token", token.Ready)

	ln, err := net.Listen("tcp", o.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s for /healthz, /readyz and /metrics: %w", o.HTTPAddr, err)
	}
	rl := &reloader{path: o.ConfigPath, cfg: cfg, log: log, check: func(ctx context.Context, c *config.Config) error {
		// As at start: @groups on a free workspace, and job templates or a
		// credential AWX cannot run, refuse the file.
		if err := checkGroups(ctx, gw, c, log); err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, tun.AWXTimeout)
		defer cancel()
		if _, err := awxrunner.Check(actx, awx, c.Catalog(), awxSettings(c), log); err != nil {
			var setup *awxrunner.SetupError
			if errors.As(err, &setup) {
				return fmt.Errorf("AWX is not set up for it: %w", err)
			}
			log.Warn().Str("error", err.Error()).Msg("AWX could not be asked about the reloaded configuration; its job templates are checked when AWX answers")
		}
		return nil
	}, signals: reload, apply: []func(*config.Config){
		func(c *config.Config) { svc.SetCatalog(c.Catalog()) },
		b.SetConfig, watch.SetConfig, state.SetConfig,
	}, pauseOrphans: svc.PauseOrphanedSchedules, counts: newReloadCounter(reg), firstSeen: db.FirstSeen,
		announce: func(ctx context.Context, channel, text string) error {
			_, err := gw.Announce(ctx, channel, deploy.Note{Kind: deploy.NoteText, Text: text})
			return err
		}}
	mux := newHTTPHandler(h, reg)
	mux.HandleFunc("POST /reload", rl.serveReload)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Info().Str("addr", ln.Addr().String()).Msg("serving /healthz, /readyz, /metrics and, from this machine only, POST /reload")

	g := newGroup(ctx)
	g.Go("http", func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		}
	})
	g.Go("awx", watch.Run)
	g.Go("database", func(ctx context.Context) error {
		return guardDatabase(ctx, db.Ping, tun.DBCheck, log)
	})
	g.Go("reload", rl.Run)
	if claim != nil {
		g.Go("replica name", claim.run)
	}
	g.Go("deploy", svc.Run)
	g.Go("scheduler", sched.Run)
	g.Go("slack", b.Run)
	err = g.Wait()

	// Final card states still queued in the gateway are written before exit,
	// within a bounded time.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tun.ShutdownTimeout)
	defer cancel()
	if cerr := gw.Close(sctx); cerr != nil {
		log.Warn().Err(cerr).Msg("some Slack updates were not written before shutdown")
	}
	if err != nil {
		return errors.New(secrets.redact(err.Error()))
	}
	log.Info().Msg("deploybot stopped")
	return nil
}

// registerBotMetrics exposes the Slack gateway's and socket's counters.
func registerBotMetrics(reg prometheus.Registerer, gw *bot.Slack, b *bot.Bot) {
	counter := func(name, help string, f func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	reg.MustRegister(
		counter("deploybot_slack_rate_limited_total", "Slack 429 answers received.", func() int64 { return gw.Stats().RateLimited }),
		counter("deploybot_slack_calls_total", "Slack Web API attempts, retries included.", func() int64 { return gw.Stats().Calls }),
		counter("deploybot_slack_failures_total", "Slack Web API calls that gave up.", func() int64 { return gw.Stats().Failures }),
		counter("deploybot_slack_reconnects_total", "Socket Mode reconnections.", func() int64 { return b.Counters().Reconnects }),
		counter("deploybot_slack_envelopes_total", "Socket Mode envelopes received.", func() int64 { return b.Counters().Envelopes }),
		counter("deploybot_slack_duplicates_total", "Envelopes and clicks recognised as repeats and ignored.", func() int64 { return b.Counters().Duplicates }),
		counter("deploybot_slack_handler_panics_total", "Envelopes whose handling panicked (recovered, logged with the envelope id, acked).", func() int64 { return b.Counters().Panics }),
	)
}
