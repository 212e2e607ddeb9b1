package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/commands"
	"github.com/deploybot/deploybot/config"
)

// reloader reads the configuration file again on SIGHUP and, when it is
// valid, hands it to every part that holds one: the release service (apps,
// environments, hosts, policies, channels), the Slack handlers, the AWX
// watch (templates checked and inventories reconciled for the new file)
// and the metrics. A file with problems changes nothing: the problems are
// logged and the bot keeps the configuration it had.
type reloader struct {
	path string
	cfg  *config.Config // the configuration in force
	log  zerolog.Logger
	// check vets a new configuration against the outside world before it
	// applies (the Slack workspace's plan for @group handles).
	check func(context.Context, *config.Config) error
	apply []func(*config.Config)
	// signals delivers the reload requests (hangups()).
	signals <-chan os.Signal
}

// hangups catches SIGHUP from now on, until stop is called: the process
// no longer dies of it.
func hangups() (sig <-chan os.Signal, stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup, func() { signal.Stop(hup) }
}

// Run reloads on every signal until ctx ends.
func (r *reloader) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.signals:
			r.reload(ctx)
		}
	}
}

// reload applies the file if it is valid, and says what happened.
func (r *reloader) reload(ctx context.Context) {
	log := r.log.With().Str("config", r.path).Logger()
	cfg, err := readConfig(r.path)
	if err != nil {
		log.Error().Str("error", err.Error()).Msg("configuration not reloaded: fix the file and send SIGHUP again; the bot keeps the configuration it had")
		return
	}
	if r.check != nil {
		if err := r.check(ctx, cfg); err != nil {
			log.Error().Str("error", err.Error()).Msg("configuration not reloaded: fix the file and send SIGHUP again; the bot keeps the configuration it had")
			return
		}
	}
	for _, w := range cfg.Warnings {
		log.Warn().Int("line", w.Line).Str("key", w.Path).Str("warning", w.Message).Msg("configuration warning")
	}
	// What the AWX runner resolved at start (the organization that owns
	// the inventories, the machine credential) stays until a restart.
	old := r.cfg
	if old.AWX.Organization != cfg.AWX.Organization || old.AWX.Credential != cfg.AWX.Credential || old.AWX.EventWait != cfg.AWX.EventWait {
		log.Warn().Msg("awx.organization, awx.credential and awx.event_wait apply after a restart; the rest of the file applies now")
	}
	for _, f := range r.apply {
		f(cfg)
	}
	r.cfg = cfg
	log.Info().Int("apps", len(cfg.Apps)).Msg("configuration reloaded")
}

// readConfig reads the configuration file with every rule the bot needs:
// no app may be named like a /deploy command word.
func readConfig(path string) (*config.Config, error) {
	return config.Load(path, config.ReservedNames(commands.ReservedWords()))
}
