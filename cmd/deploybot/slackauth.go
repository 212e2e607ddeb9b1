package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/config"
)

// checkBotToken calls auth.test once at start. A token Slack refuses stops
// the bot with a message naming SLACK_BOT_TOKEN; Slack being unreachable
// does not (the socket retries, and /readyz checks the token again).
// reached tells whether Slack answered.
func checkBotToken(ctx context.Context, gw *bot.Slack, log zerolog.Logger) (reached bool, err error) {
	r, err := gw.AuthTest(ctx)
	switch {
	case err == nil:
		log.Info().Str("team_id", r.TeamID).Str("bot_user_id", r.UserID).Msg("slack bot token accepted")
		return true, nil
	case bot.BadToken(err):
		return true, fmt.Errorf("SLACK_BOT_TOKEN is refused by Slack (%w): set it to the Bot User OAuth Token (xoxb-…) "+
			"shown on the app's OAuth & Permissions page, and reinstall the app if the token was revoked", err)
	}
	log.Warn().Err(err).Msg("could not check the Slack bot token at start; /readyz checks it again")
	return false, nil
}

// tokenProbe is the /readyz check of the bot token: auth.test at most once
// per interval, so that a revoked token turns the bot unready without
// every probe calling Slack. A failure to reach Slack keeps the last answer
// and is retried on the next probe.
type tokenProbe struct {
	check    func(ctx context.Context) error
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	checked time.Time // when Slack last answered
	err     error     // what it answered
}

// Ready returns the cached verdict, asking Slack again once it is older than
// the interval.
func (p *tokenProbe) Ready(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.checked.IsZero() && p.now().Sub(p.checked) < p.interval {
		return p.err
	}
	err := p.check(ctx)
	switch {
	case err == nil:
		p.checked, p.err = p.now(), nil
	case bot.BadToken(err):
		msg := "SLACK_BOT_TOKEN refused by Slack; replace it and restart"
		p.checked, p.err = p.now(), unready(msg, errors.New(msg))
	case p.checked.IsZero():
		return unready("not checked yet", fmt.Errorf("token not checked yet: %w", err))
	}
	return p.err
}

// configGroups returns the user group handles (@name) the configuration
// names as deployers or approvers, sorted, with where each is used.
func configGroups(cfg *config.Config) (handles []string, where map[string][]string) {
	where = map[string][]string{}
	for _, app := range cfg.Apps {
		for _, env := range app.Environments {
			for role, list := range map[string][]string{"deployers": env.Deployers, "approvers": env.Approval.Approvers} {
				for _, h := range list {
					if strings.HasPrefix(h, "@") {
						where[h] = append(where[h], fmt.Sprintf("apps.%s.environments.%s.%s", app.Name, env.Name, role))
					}
				}
			}
		}
	}
	handles = slices.Sorted(maps.Keys(where))
	for _, h := range handles {
		slices.Sort(where[h])
	}
	return handles, where
}

// checkGroups makes sure the user groups the configuration names can be
// resolved. A workspace without user groups (Slack's free plan) stops the
// bot with what to change; a handle no group has is logged; Slack being
// unreachable is not fatal (the groups are resolved again at each use).
func checkGroups(ctx context.Context, gw *bot.Slack, cfg *config.Config, log zerolog.Logger) error {
	handles, where := configGroups(cfg)
	unknown, err := gw.CheckGroups(ctx, handles)
	switch {
	case errors.Is(err, bot.ErrNoUserGroups):
		var b strings.Builder
		for _, h := range handles {
			fmt.Fprintf(&b, "\n  %s in %s", h, strings.Join(where[h], ", "))
		}
		return fmt.Errorf("the configuration names Slack user groups, but %w; Slack answered usergroups.list with plan_upgrade_required. "+
			"List those people by Slack user ID (U…) instead:%s", bot.ErrNoUserGroups, b.String())
	case err != nil:
		log.Warn().Err(err).Msg("could not check the configured user groups at start")
	}
	for _, h := range unknown {
		log.Warn().Str("handle", h).Strs("used_in", where[h]).Msg("no Slack user group has this handle; it matches nobody")
	}
	return nil
}
