package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/commands"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
)

// reloader reads the configuration file again on SIGHUP or a POST /reload
// (deploybot reload) and, when it is valid, hands it to every part that
// holds one: the release service (apps, environments, hosts, policies,
// channels), the Slack handlers, the AWX watch (templates checked and
// inventories reconciled for the new file) and the metrics. A file with
// problems changes nothing: the problems are logged, the announce channel
// is told, and the bot keeps the configuration it had.
type reloader struct {
	path string
	log  zerolog.Logger
	// check vets a new configuration against the outside world before it
	// applies (the Slack workspace's plan for @group handles).
	check func(context.Context, *config.Config) error
	apply []func(*config.Config)
	// pauseOrphans pauses the schedules whose app or environment the
	// applied configuration lacks (deploy.Service.PauseOrphanedSchedules).
	pauseOrphans func(context.Context) ([]*deploy.Schedule, error)
	// announce posts text in a channel; nil posts nothing.
	announce func(ctx context.Context, channel, text string) error
	// counts is deploybot_config_reload_total (newReloadCounter); nil
	// counts nothing.
	counts *prometheus.CounterVec
	// signals delivers the reload requests (hangups()).
	signals <-chan os.Signal

	mu  sync.Mutex     // one reload at a time
	cfg *config.Config // the configuration in force
}

// reloadResult is what one reload did.
type reloadResult struct {
	// Err is why the file was refused; nil when it applied.
	Err error
	// Changes is what the applied file changed.
	Changes config.Changes
	// Paused are the schedules paused because their app or environment
	// went away.
	Paused []*deploy.Schedule
	// Restart names the changed settings that apply after a restart only.
	Restart []string
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

// announceTimeout bounds the post of a reload's outcome, so that a Slack
// outage does not hold a reload (and deploybot reload) for long.
const announceTimeout = 10 * time.Second

// reload applies the file if it is valid, and says what happened: in the
// log, in deploybot_config_reload_total and in the announce channel.
func (r *reloader) reload(ctx context.Context) reloadResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	log := r.log.With().Str("config", r.path).Logger()
	cfg, err := readConfig(r.path)
	if err == nil && r.check != nil {
		err = r.check(ctx, cfg)
	}
	if err != nil {
		log.Error().Str("error", err.Error()).Msg("configuration not reloaded: fix the file and reload again; the bot keeps the configuration it had")
		r.count("refused")
		r.post(ctx, r.cfg.Slack.AnnounceChannel, refusalText(err))
		return reloadResult{Err: err}
	}
	// What is decided from here on is done whole, even if the caller
	// (deploybot reload) hangs up.
	ctx = context.WithoutCancel(ctx)
	for _, w := range cfg.Warnings {
		log.Warn().Int("line", w.Line).Str("key", w.Path).Str("warning", w.Message).Msg("configuration warning")
	}
	old := r.cfg
	res := reloadResult{Changes: config.Diff(old, cfg), Restart: restartOnly(old, cfg)}
	if len(res.Restart) > 0 {
		log.Warn().Strs("keys", res.Restart).Msg("these settings apply after a restart; the rest of the file applies now")
	}
	for _, f := range r.apply {
		f(cfg)
	}
	r.cfg = cfg
	r.count("applied")
	if r.pauseOrphans != nil {
		if res.Paused, err = r.pauseOrphans(ctx); err != nil {
			log.Error().Str("error", err.Error()).Msg("pause the schedules whose app or environment the file no longer has; they are tried again at the next reload")
		}
	}
	if res.Changes.Empty() && len(res.Paused) == 0 {
		log.Info().Int("apps", len(cfg.Apps)).Msg("configuration reloaded: no changes")
		return res
	}
	log.Info().Int("apps", len(cfg.Apps)).Strs("apps_added", res.Changes.AppsAdded).Strs("apps_removed", res.Changes.AppsRemoved).
		Strs("other", res.Changes.Other).Int("schedules_paused", len(res.Paused)).Msg("configuration reloaded")
	r.post(ctx, cfg.Slack.AnnounceChannel, summaryText(res))
	for _, s := range res.Paused {
		// The schedule's own channel hears of it too, where its
		// creator made it, unless that is the announce channel.
		if s.Channel != cfg.Slack.AnnounceChannel {
			r.post(ctx, s.Channel, pausedText(s))
		}
	}
	return res
}

// count adds one to deploybot_config_reload_total{result}.
func (r *reloader) count(result string) {
	if r.counts != nil {
		r.counts.WithLabelValues(result).Inc()
	}
}

// post posts text in channel, when there is one; a failure is logged.
func (r *reloader) post(ctx context.Context, channel, text string) {
	if r.announce == nil || channel == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), announceTimeout)
	defer cancel()
	if err := r.announce(ctx, channel, text); err != nil {
		r.log.Warn().Str("channel", channel).Str("error", err.Error()).Msg("the reload's outcome was not posted in Slack; the log has it")
	}
}

// restartOnly names the settings that changed from old to cfg but apply
// only after a restart: what the AWX runner resolved at start (the
// organization that owns the inventories, the machine credential, the
// wait for job events).
func restartOnly(old, cfg *config.Config) []string {
	var keys []string
	if old.AWX.Organization != cfg.AWX.Organization {
		keys = append(keys, "awx.organization")
	}
	if old.AWX.Credential != cfg.AWX.Credential {
		keys = append(keys, "awx.credential")
	}
	if old.AWX.EventWait != cfg.AWX.EventWait {
		keys = append(keys, "awx.event_wait")
	}
	return keys
}

// String is the outcome in a few lines, as deploybot reload prints it.
func (r reloadResult) String() string {
	if r.Err != nil {
		return "configuration not reloaded; the bot keeps the configuration it had:\n" + r.Err.Error()
	}
	if r.Changes.Empty() && len(r.Paused) == 0 {
		return "configuration reloaded: no changes"
	}
	return "configuration reloaded:\n" + changeLines(r, func(s string) string { return s }, func(s string) string { return s })
}

// maxProblems is how many of a refused file's problems the announce
// channel is shown; the log has them all.
const maxProblems = 5

// refusalText tells the announce channel that a reload was refused, with
// the first problems (key path and line).
func refusalText(err error) string {
	var b strings.Builder
	b.WriteString(":warning: *Configuration reload refused")
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		fmt.Fprintf(&b, ":* %s", mrkdwnEscape(err.Error()))
	} else {
		fmt.Fprintf(&b, ":* %s in `%s`:", plural(len(ve.Problems), "problem"), mrkdwnEscape(filepath.Base(ve.File)))
		for i, p := range ve.Problems {
			if i == maxProblems {
				fmt.Fprintf(&b, "\n• and %d more: the bot's log lists them all", len(ve.Problems)-maxProblems)
				break
			}
			b.WriteString("\n• ")
			if p.Line > 0 {
				fmt.Fprintf(&b, "line %d, ", p.Line)
			}
			if p.Path != "" {
				fmt.Fprintf(&b, "`%s`: ", mrkdwnEscape(p.Path))
			}
			b.WriteString(mrkdwnEscape(p.Message))
		}
	}
	b.WriteString("\nThe bot keeps the configuration it had: fix the file and reload again.")
	return b.String()
}

// summaryText tells the announce channel what an applied reload changed.
func summaryText(r reloadResult) string {
	code := func(s string) string { return "`" + mrkdwnEscape(s) + "`" }
	person := func(s string) string {
		if strings.HasPrefix(s, "@") {
			return code(s)
		}
		return "<@" + mrkdwnEscape(s) + ">"
	}
	return ":arrows_counterclockwise: *Configuration reloaded.*\n" + changeLines(r, code, person)
}

// maxListed is how many names one line of a summary lists.
const maxListed = 10

// changeLines lists what r changed, one line per kind, with names shown
// by code and approvers by person.
func changeLines(r reloadResult, code, person func(string) string) string {
	var lines []string
	list := func(names []string, show func(string) string) string {
		var out []string
		for i, n := range names {
			if i == maxListed {
				out = append(out, fmt.Sprintf("and %d more", len(names)-maxListed))
				break
			}
			out = append(out, show(n))
		}
		return strings.Join(out, ", ")
	}
	envs := func(refs []config.EnvRef) []string {
		var out []string
		for _, e := range refs {
			out = append(out, e.App+" "+e.Env)
		}
		return out
	}
	add := func(label string, names []string, show func(string) string) {
		if len(names) > 0 {
			lines = append(lines, "• "+label+": "+list(names, show))
		}
	}
	c := r.Changes
	add("Apps added", c.AppsAdded, code)
	add("Apps removed", c.AppsRemoved, code)
	add("Environments added", envs(c.EnvsAdded), code)
	add("Environments removed", envs(c.EnvsRemoved), code)
	for _, e := range c.Envs {
		var parts []string
		for _, p := range []struct {
			what  string
			names []string
			show  func(string) string
		}{
			{"hosts added", e.HostsAdded, code}, {"hosts removed", e.HostsRemoved, code},
			{"approvers added", e.ApproversAdded, person}, {"approvers removed", e.ApproversRemoved, person},
		} {
			if len(p.names) > 0 {
				parts = append(parts, p.what+" "+list(p.names, p.show))
			}
		}
		lines = append(lines, "• "+code(e.App+" "+e.Env)+": "+strings.Join(parts, "; "))
	}
	var other []string
	for _, k := range c.Other {
		if !slices.Contains(r.Restart, k) {
			other = append(other, k)
		}
	}
	add("Other settings changed", other, code)
	add("Apply after a restart only", r.Restart, code)
	for _, s := range r.Paused {
		lines = append(lines, fmt.Sprintf("• Schedule S%d (%s %s → %s) paused: its app or environment is no longer in the configuration. `/deploy resume S%d` once it is back.",
			s.ID, s.App, mrkdwnEscape(s.Version), s.Env, s.ID))
	}
	return strings.Join(lines, "\n")
}

// pausedText tells a schedule's channel that a reload paused it.
func pausedText(s *deploy.Schedule) string {
	return fmt.Sprintf(":double_vertical_bar: Schedule S%d (%s %s → %s) is paused: a configuration reload removed its app or environment. "+
		"It is kept; `/deploy resume S%d` resumes it once %s %s is back in the configuration.", s.ID, s.App, mrkdwnEscape(s.Version), s.Env, s.ID, s.App, s.Env)
}

// mrkdwnEscape escapes the characters that are control characters in
// Slack mrkdwn (https://api.slack.com/reference/surfaces/formatting#escaping).
func mrkdwnEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// plural is "1 problem" or "3 problems".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// readConfig reads the configuration file with every rule the bot needs:
// no app may be named like a /deploy command word.
func readConfig(path string) (*config.Config, error) {
	return config.Load(path, config.ReservedNames(commands.ReservedWords()))
}
