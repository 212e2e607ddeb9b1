package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/bot"
)

// checkBotToken calls auth.test once at start. A token Slack refuses stops
// the bot with a message naming SLACK_BOT_TOKEN; Slack being unreachable
// does not (the socket retries, and /readyz checks the token again).
func checkBotToken(ctx context.Context, gw *bot.Slack, log zerolog.Logger) error {
	r, err := gw.AuthTest(ctx)
	switch {
	case err == nil:
		log.Info().Str("team_id", r.TeamID).Str("bot_user_id", r.UserID).Msg("slack bot token accepted")
		return nil
	case bot.BadToken(err):
		return fmt.Errorf("SLACK_BOT_TOKEN is refused by Slack (%w): set it to the Bot User OAuth Token (xoxb-…) "+
			"shown on the app's OAuth & Permissions page, and reinstall the app if the token was revoked", err)
	}
	log.Warn().Err(err).Msg("could not check the Slack bot token at start; /readyz checks it again")
	return nil
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
		p.checked, p.err = p.now(), errors.New("SLACK_BOT_TOKEN refused by Slack; replace it and restart")
	case p.checked.IsZero():
		return fmt.Errorf("token not checked yet: %w", err)
	}
	return p.err
}
