package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/deploybot/deploybot/commands"
	"github.com/deploybot/deploybot/deploy"
)

// Deployer is what the bot asks of the domain; *deploy.Service implements
// it. Errors meant for the user are *deploy.Error values (EINVALID,
// EFORBIDDEN, ECONFLICT, ENOTFOUND) whose message is shown as is; anything
// else is internal and shown as "internal error (ref …)".
type Deployer interface {
	// RequestDeploy asks for a release; its card is the answer.
	RequestDeploy(ctx context.Context, in deploy.DeployInput) (*deploy.Request, error)
	// RequestRollback asks for a rollback; its card is the answer.
	RequestRollback(ctx context.Context, in deploy.RollbackInput) (*deploy.Request, error)
	// Approve records user's approval of request id (the Approve button).
	Approve(ctx context.Context, id int64, user string) (*deploy.Request, error)
	// Reject rejects or withdraws request id (the Reject button).
	Reject(ctx context.Context, id int64, user, reason string) (*deploy.Request, error)
	// Cancel cancels a waiting or running request.
	Cancel(ctx context.Context, id int64, user string) (*deploy.Request, error)
	// Lock holds an environment by hand.
	Lock(ctx context.Context, user, app, env, reason string) (deploy.Lock, error)
	// Unlock releases a manual lock.
	Unlock(ctx context.Context, user, app, env string) (deploy.Lock, error)
	// Status reports what runs, waits and is locked; app and env may be "".
	Status(ctx context.Context, app, env string) (deploy.StatusReport, error)
	// History lists recent requests, newest first.
	History(ctx context.Context, app, env string, limit int) ([]*deploy.Request, error)
	// SendLog uploads the playbook output of request id into its thread.
	SendLog(ctx context.Context, id int64, user string) (*deploy.Request, error)
	// Request looks a request up by id. The Roll back button needs it: the
	// button carries only the request id, and the app and environment to
	// roll back are read from the stored request, never from the click.
	Request(ctx context.Context, id int64) (*deploy.Request, error)
	// Scheduler is the scheduled releases' part.
	Scheduler
}

var _ Deployer = (*deploy.Service)(nil)

// slashInput is one slash command to work on.
type slashInput struct {
	User, Channel, Text, ResponseURL, TriggerID string
	cmd                                         commands.Command
	log                                         zerolog.Logger
}

// clickInput is one button click (or select choice) to work on.
type clickInput struct {
	User, Channel, Value, ActionID, ResponseURL string
	// ViewID, ViewHash and ViewChannel are set for actions in a modal.
	ViewID, ViewHash, ViewChannel string
	log                           zerolog.Logger
}

// quickReply answers, without I/O, what needs no work: syntax errors and
// help. It parses the command into in.cmd for the worker.
func (b *Bot) quickReply(in *slashInput) (Message, bool) {
	cmd, err := commands.Parse(in.Text)
	if err != nil {
		var se *commands.SyntaxError
		if errors.As(err, &se) {
			if m, ok := b.unknownWord(in.Text, se); ok {
				return m, true
			}
			return RenderSyntaxError(se.Problem, se.Usage), true
		}
		return RenderSyntaxError(err.Error(), commands.Usage("")), true
	}
	in.cmd = cmd
	switch c := cmd.(type) {
	case commands.Help:
		return RenderHelp(c.Text()), true
	}
	return Message{}, false
}

// unknownWord answers a first word that is neither a command nor a
// configured app ("/deploy frobnicate"): the parser, which knows no apps,
// read it as a deploy with arguments missing, which would mislead.
func (b *Bot) unknownWord(text string, se *commands.SyntaxError) (Message, bool) {
	words := strings.Fields(text)
	if len(words) == 0 || se.Command != "deploy" || strings.HasPrefix(words[0], "-") {
		return Message{}, false
	}
	conf := b.conf.Load()
	if conf == nil {
		return Message{}, false
	}
	first := strings.ToLower(words[0])
	if _, ok := conf.Apps[first]; ok {
		return Message{}, false
	}
	problem := fmt.Sprintf("%q is neither a /deploy command nor an app. Apps: %s. Commands: `/deploy help`.",
		words[0], strings.Join(conf.AppNames(), ", "))
	return RenderSyntaxError(problem, se.Usage), true
}

// runCommand runs a parsed slash command through the command table.
func (b *Bot) runCommand(ctx context.Context, in *slashInput) {
	h, ok := b.commands[in.cmd.Name()]
	if !ok {
		b.reply(ctx, in.ResponseURL, in.Channel, in.User, RenderHelp(commands.HelpText()))
		return
	}
	in.log = in.log.With().Str("command", in.cmd.Name()).Logger()
	h(ctx, in)
}

// reply shows msg to the user: through the response URL when there is one
// (it works where the bot is not a channel member), otherwise as an
// ephemeral message.
func (b *Bot) reply(ctx context.Context, responseURL, channel, user string, msg Message) {
	var err error
	if responseURL != "" {
		err = b.gw.Respond(ctx, responseURL, msg)
		if err == nil {
			return
		}
		b.log.Warn().Err(err).Msg("response_url failed; trying an ephemeral message")
	}
	if err = b.gw.PostEphemeral(ctx, channel, user, msg); err != nil {
		b.log.Error().Err(err).Str("slack_user", user).Str("channel", channel).Msg("reply failed")
	}
}

// fail shows err to the user: a refusal as written by the domain, anything
// else as "internal error (ref …)" with the details logged under that ref.
func (b *Bot) fail(ctx context.Context, log zerolog.Logger, responseURL, channel, user string, err error) {
	b.reply(ctx, responseURL, channel, user, b.errorMessage(log, err))
}

func (b *Bot) errorMessage(log zerolog.Logger, err error) Message {
	var de *deploy.Error
	if errors.As(err, &de) && de.Code != deploy.EINTERNAL {
		log.Info().Str("code", de.Code).Msg(de.Message)
		return RenderRefusal(de.Message)
	}
	ref := newRef()
	log.Error().Err(err).Str("ref", ref).Msg("internal error")
	return RenderInternalError(ref)
}

// newRef returns a short random reference for an internal error.
func newRef() string {
	var p [4]byte
	_, _ = rand.Read(p[:])
	return hex.EncodeToString(p[:])
}

// parseID reads a request id as the parser left it (digits).
func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, deploy.Errorf(deploy.EINVALID, "%q is not a request id; ids are numbers such as 123.", s)
	}
	return id, nil
}

func (b *Bot) replyTo(ctx context.Context, in *slashInput, msg Message) {
	b.reply(ctx, in.ResponseURL, in.Channel, in.User, msg)
}

func (b *Bot) failTo(ctx context.Context, in *slashInput, err error) {
	b.fail(ctx, in.log, in.ResponseURL, in.Channel, in.User, err)
}

func (b *Bot) cmdDeploy(ctx context.Context, in *slashInput) {
	c := in.cmd.(commands.Deploy)
	_, err := b.d.RequestDeploy(ctx, deploy.DeployInput{
		User: in.User, Channel: in.Channel, App: c.App, Env: c.Env, Version: c.Version, Check: c.Check,
	})
	if err != nil {
		b.failTo(ctx, in, err)
	}
	// On success the request card in the channel is the answer.
}

func (b *Bot) cmdRollback(ctx context.Context, in *slashInput) {
	c := in.cmd.(commands.Rollback)
	_, err := b.d.RequestRollback(ctx, deploy.RollbackInput{
		User: in.User, Channel: in.Channel, App: c.App, Env: c.Env, To: c.Release,
	})
	if err != nil {
		b.failTo(ctx, in, err)
	}
}

func (b *Bot) cmdStatus(ctx context.Context, in *slashInput) {
	c := in.cmd.(commands.Status)
	rep, err := b.d.Status(ctx, c.App, c.Env)
	if err != nil {
		b.failTo(ctx, in, err)
		return
	}
	b.replyTo(ctx, in, RenderStatus(StatusView{Active: rep.Active, Queued: rep.Queued, Pending: rep.Pending, Locks: rep.Locks}, c.App, c.Env))
}

func (b *Bot) cmdHistory(ctx context.Context, in *slashInput) {
	c := in.cmd.(commands.History)
	reqs, err := b.d.History(ctx, c.App, c.Env, b.cfg.HistoryLimit)
	if err != nil {
		b.failTo(ctx, in, err)
		return
	}
	b.replyTo(ctx, in, RenderHistory(reqs, c.App, c.Env))
}

func (b *Bot) cmdLog(ctx context.Context, in *slashInput) {
	id, err := parseID(in.cmd.(commands.Log).ID)
	if err != nil {
		b.failTo(ctx, in, err)
		return
	}
	req, err := b.d.SendLog(ctx, id, in.User)
	if err != nil {
		b.failTo(ctx, in, err)
		return
	}
	where := "in the thread of its card"
	if req != nil && req.Message.Channel != "" {
		where = fmt.Sprintf("in the thread of its card in <#%s>", req.Message.Channel)
	}
	b.replyTo(ctx, in, RenderInfo(fmt.Sprintf("The output of #%d is %s.", id, where)))
}

func (b *Bot) cmdCancel(ctx context.Context, in *slashInput) {
	id, err := parseID(in.cmd.(commands.Cancel).ID)
	if err != nil {
		b.failTo(ctx, in, err)
		return
	}
	req, err := b.d.Cancel(ctx, id, in.User)
	if err != nil {
		b.failTo(ctx, in, err)
		return
	}
	b.replyTo(ctx, in, RenderInfo(fmt.Sprintf("#%d: %s.", req.ID, cancelText(req))))
}

func cancelText(req *deploy.Request) string {
	if req.Status == deploy.StatusCanceled {
		return "canceled"
	}
	return "cancel requested; the card shows when the job has stopped"
}

func (b *Bot) cmdLock(ctx context.Context, in *slashInput) {
	c := in.cmd.(commands.Lock)
	l, err := b.d.Lock(ctx, in.User, c.App, c.Env, c.Reason)
	if err != nil {
		b.failTo(ctx, in, err)
		return
	}
	var held []int64
	if rep, err := b.d.Status(ctx, c.App, c.Env); err == nil {
		for _, r := range rep.Queued {
			if !r.Check { // dry runs change nothing and do not wait for locks
				held = append(held, r.ID)
			}
		}
	}
	b.tellChannel(ctx, in, RenderLockNotice(l, in.User, true, held, b.location()))
}

func (b *Bot) cmdUnlock(ctx context.Context, in *slashInput) {
	c := in.cmd.(commands.Unlock)
	l, err := b.d.Unlock(ctx, in.User, c.App, c.Env)
	if err != nil {
		b.failTo(ctx, in, err)
		return
	}
	b.tellChannel(ctx, in, RenderLockNotice(l, in.User, false, nil, b.location()))
}

// tellChannel shows msg to everyone in the channel the command came from:
// as an in-channel answer through the response URL (which works where the
// bot is not a member), else as a message of the bot. When neither works,
// the user still gets it, to themselves.
func (b *Bot) tellChannel(ctx context.Context, in *slashInput, msg Message) {
	if in.ResponseURL != "" {
		err := b.gw.RespondInChannel(ctx, in.ResponseURL, msg)
		if err == nil {
			return
		}
		in.log.Warn().Err(err).Msg("in-channel answer failed; posting in the channel")
	}
	if _, err := b.gw.post(ctx, in.Channel, msg); err == nil {
		return
	} else {
		in.log.Warn().Err(err).Str("channel", in.Channel).Msg("could not post in the channel; answering the user only")
	}
	b.reply(ctx, "", in.Channel, in.User, msg)
}

// location is the configured time zone (UTC before a configuration).
func (b *Bot) location() *time.Location {
	if c := b.conf.Load(); c != nil && c.Location != nil {
		return c.Location
	}
	return time.UTC
}

func (b *Bot) cmdApps(ctx context.Context, in *slashInput) {
	b.replyTo(ctx, in, RenderApps(b.conf.Load()))
}

func (b *Bot) cmdHelp(ctx context.Context, in *slashInput) {
	b.replyTo(ctx, in, RenderHelp(in.cmd.(commands.Help).Text()))
}

// clickID reads the request id a button carries.
func (b *Bot) clickID(ctx context.Context, in *clickInput) (int64, bool) {
	id, err := parseID(in.Value)
	if err != nil {
		b.fail(ctx, in.log, in.ResponseURL, in.Channel, in.User, err)
		return 0, false
	}
	return id, true
}

// Clicks answer refusals with an ephemeral message to the clicker, through
// the click's response_url: chat.postEphemeral needs the bot to be a member
// of the channel, which a card posted with chat:write.public does not make
// it. On success the card's update is the answer.

func (b *Bot) clickApprove(ctx context.Context, in *clickInput) {
	if id, ok := b.clickID(ctx, in); ok {
		if _, err := b.d.Approve(ctx, id, in.User); err != nil {
			b.fail(ctx, in.log, in.ResponseURL, in.Channel, in.User, err)
		}
	}
}

func (b *Bot) clickReject(ctx context.Context, in *clickInput) {
	if id, ok := b.clickID(ctx, in); ok {
		if _, err := b.d.Reject(ctx, id, in.User, ""); err != nil {
			b.fail(ctx, in.log, in.ResponseURL, in.Channel, in.User, err)
		}
	}
}

func (b *Bot) clickCancel(ctx context.Context, in *clickInput) {
	if id, ok := b.clickID(ctx, in); ok {
		if _, err := b.d.Cancel(ctx, id, in.User); err != nil {
			b.fail(ctx, in.log, in.ResponseURL, in.Channel, in.User, err)
		}
	}
}

// clickRollback asks for a rollback of the app and environment of the
// request whose card was clicked, as read from the stored request (or, when
// the Deployer offers no lookup, from what this process rendered on that
// card), never from the click itself.
func (b *Bot) clickRollback(ctx context.Context, in *clickInput) {
	id, ok := b.clickID(ctx, in)
	if !ok {
		return
	}
	req, err := b.d.Request(ctx, id)
	if err != nil {
		b.fail(ctx, in.log, in.ResponseURL, in.Channel, in.User, err)
		return
	}
	app, env, channel, kind := req.App, req.Env, req.Channel, req.Kind
	if channel == "" {
		channel = in.Channel
	}
	// Roll back on a release's card undoes that release: it restores the
	// backup the release took, not whatever backup is newest.
	to := ""
	if kind == deploy.KindDeploy {
		to = strconv.FormatInt(id, 10)
	}
	if _, err := b.d.RequestRollback(ctx, deploy.RollbackInput{User: in.User, Channel: channel, App: app, Env: env, To: to}); err != nil {
		b.fail(ctx, in.log, in.ResponseURL, in.Channel, in.User, err)
	}
}

// eventMention answers a mention of the bot with a pointer to the command.
func (b *Bot) eventMention(ctx context.Context, _ *slackevents.EventsAPICallbackEvent, inner slackevents.EventsAPIInnerEvent) {
	ev, ok := inner.Data.(*slackevents.AppMentionEvent)
	if !ok {
		return
	}
	ts := ev.ThreadTimeStamp
	if ts == "" {
		ts = ev.TimeStamp
	}
	msg := RenderInfo(fmt.Sprintf("Hi <@%s>! I work with `%s`; try `%s help`.", ev.User, b.cfg.Command, b.cfg.Command))
	if _, err := b.gw.post(ctx, ev.Channel, msg, slack.MsgOptionTS(ts)); err != nil {
		b.log.Warn().Err(err).Msg("answer mention")
	}
}
