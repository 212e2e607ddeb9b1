// Package bot is deploybot's Slack side: the Socket Mode adapter that
// receives slash commands, button clicks and modal submissions, acks each
// envelope at once and hands the work to a bounded worker pool; the Web API
// gateway (Slack) through which every outgoing call passes, with retries,
// Retry-After, per-channel pacing and coalesced card updates; and the pure
// renderers that turn domain state into Block Kit within Slack's limits.
//
// The domain lives in package deploy; bot implements deploy.Notifier and
// deploy.Directory and calls the domain through the small Deployer interface.
// The Slack behaviour it relies on is Slack's own documentation: Socket Mode
// (https://docs.slack.dev/apis/events-api/using-socket-mode/), the Web API
// and its rate limits (https://docs.slack.dev/apis/web-api/rate-limits) and
// Block Kit (https://docs.slack.dev/block-kit); bot/slacktest's doc says
// which of it the fake Slack reproduces.
package bot
