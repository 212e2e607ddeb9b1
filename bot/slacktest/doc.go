// Package slacktest provides a faithful fake of Slack for tests: a real HTTP
// and WebSocket server on 127.0.0.1 that the unmodified slack-go client
// (Web API and socketmode) talks to, in the style of net/http/httptest.
//
// A test starts one with NewServer and points slack-go at it:
//
//	srv := slacktest.NewServer(t)
//	api := slack.New(srv.BotToken,
//		slack.OptionAPIURL(srv.APIURL()),
//		slack.OptionAppLevelToken(srv.AppToken))
//	client := socketmode.New(api, socketmode.OptionPingInterval(time.Second))
//
// Outside of tests (a sandbox, a demo), Start runs the same server without a
// testing.TB; the caller closes it.
//
// The server behaves as Slack does on the wire (Slack's Web API and Socket
// Mode docs: https://docs.slack.dev/apis/web-api/,
// https://docs.slack.dev/apis/web-api/rate-limits,
// https://docs.slack.dev/apis/events-api/using-socket-mode/): errors are HTTP 200 with ok:false, rate limits answer 429
// with an integer Retry-After, Block Kit limits are enforced with
// invalid_blocks, apps.connections.open hands out single-use socket URLs, the
// socket sends hello and WebSocket pings, envelopes must be acked within a
// deadline, response URLs and trigger ids expire and are counted.
//
// Tests drive it with SendSlashCommand, ClickButton and SubmitView, which wait
// for the ack, and read what the bot did with Messages, Thread, Ephemerals,
// Uploads and Calls. Every wait is bounded by a context: WaitFor and the
// Await helpers never sleep blindly.
package slacktest
