package bot

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/deploy"
)

// webAPI is the part of *slack.Client that deploybot uses; always the
// ...Context variants.
type webAPI interface {
	PostMessageContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, string, error)
	PostEphemeralContext(ctx context.Context, channelID, userID string, options ...slack.MsgOption) (string, error)
	UploadFileContext(ctx context.Context, params slack.UploadFileParameters) (*slack.FileSummary, error)
	GetUserGroupsContext(ctx context.Context, options ...slack.GetUserGroupsOption) ([]slack.UserGroup, error)
	GetUserGroupMembersContext(ctx context.Context, userGroup string, options ...slack.GetUserGroupMembersOption) ([]string, error)
	OpenViewContext(ctx context.Context, triggerID string, view slack.ModalViewRequest) (*slack.ViewResponse, error)
	UpdateViewContext(ctx context.Context, view slack.ModalViewRequest, externalID, hash, viewID string) (*slack.ViewResponse, error)
	AuthTestContext(ctx context.Context) (*slack.AuthTestResponse, error)
}

// SlackOptions tunes the gateway. Zero values take the defaults.
type SlackOptions struct {
	// ChannelInterval is the spacing of message writes (posts and updates)
	// in one channel once the burst is used up; Slack allows about one
	// message per second per channel. Default 1 s.
	ChannelInterval time.Duration
	// ChannelBurst is how many writes may go to a channel back to back.
	// Default 3.
	ChannelBurst int
	// UpdateInterval and UpdateBurst pace chat.update across the
	// workspace (Slack's Tier 3: about 50 a minute). Card updates beyond
	// that are coalesced. Defaults 1.2 s and 10.
	UpdateInterval time.Duration
	UpdateBurst    int
	// MaxAttempts caps the tries of one call (429s and transient errors).
	// Default 6.
	MaxAttempts int
	// Backoff is the first wait after a transient error; it doubles up to
	// MaxBackoff. Defaults 200 ms and 10 s.
	Backoff, MaxBackoff time.Duration
	// CallTimeout bounds one HTTP attempt. Default 15 s.
	CallTimeout time.Duration
	// GroupsTTL is how long the usergroups.list mapping of handles to ids
	// is kept. Default 5 min.
	GroupsTTL time.Duration
	// MembersTTL is how long a group's member list is kept; membership is
	// meant to be resolved at click time, so it is short. Default 10 s.
	MembersTTL time.Duration
	// SharedPacing, when set, paces every channel and chat.update across
	// all the processes that share it (replicas on one database), each
	// write ChannelInterval (or UpdateInterval) after the last one of any
	// replica; without it each process paces alone.
	SharedPacing SlotReserver
}

func (o *SlackOptions) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ChannelInterval, time.Second)
	def(&o.UpdateInterval, 1200*time.Millisecond)
	def(&o.Backoff, 200*time.Millisecond)
	def(&o.MaxBackoff, 10*time.Second)
	def(&o.CallTimeout, 15*time.Second)
	def(&o.GroupsTTL, 5*time.Minute)
	def(&o.MembersTTL, 10*time.Second)
	if o.ChannelBurst <= 0 {
		o.ChannelBurst = 3
	}
	if o.UpdateBurst <= 0 {
		o.UpdateBurst = 10
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
}

// Stats are the gateway's counters, for metrics.
type Stats struct {
	// Calls counts HTTP attempts, retries included.
	Calls int64
	// RateLimited counts 429 answers received.
	RateLimited int64
	// Retries counts attempts repeated after a 429 or a transient error.
	Retries int64
	// Failures counts calls that gave up with an error.
	Failures int64
	// Coalesced counts card updates replaced by a newer state before they
	// were written.
	Coalesced int64
	// CardUpdates counts chat.update calls written for cards.
	CardUpdates int64
}

// Slack is the one place all Web API calls go through. It honours
// Retry-After, retries 429s and transient errors with backoff, paces writes
// per channel, and coalesces updates of the same message so that the latest
// state wins and the final state is never lost. It implements
// deploy.Notifier and deploy.Directory. Each concern is a small part with
// its own lock: retrier (retry.go), pacer (pace.go), cardCoalescer and
// cardPosts (cards.go), groupCache (directory.go).
type Slack struct {
	api  webAPI
	log  zerolog.Logger
	opts SlackOptions

	pacer  *pacer
	groups *groupCache
	cards  *cardCoalescer
	posts  *cardPosts
	retry  *retrier
}

// NewSlack returns the gateway over api. It does no I/O.
func NewSlack(api *slack.Client, log zerolog.Logger, opts SlackOptions) *Slack {
	return newSlack(api, log, opts)
}

func newSlack(api webAPI, log zerolog.Logger, opts SlackOptions) *Slack {
	opts.defaults()
	s := &Slack{
		api:   api,
		log:   log.With().Str("component", "slack").Logger(),
		opts:  opts,
		pacer: newPacer(time.Now),
		posts: newCardPosts(),
	}
	s.pacer.shared = opts.SharedPacing
	s.pacer.onSharedError = func(err error) {
		s.log.Warn().Err(err).Msg("shared pacing unavailable; pacing this process alone")
	}
	s.groups = &groupCache{
		listGroups:  s.listGroups,
		listMembers: s.listMembers,
		groupsTTL:   opts.GroupsTTL,
		membersTTL:  opts.MembersTTL,
		now:         time.Now,
		ids:         map[string]string{},
		members:     map[string]memberEntry{},
	}
	s.retry = &retrier{
		maxAttempts: opts.MaxAttempts,
		backoff:     opts.Backoff,
		maxBackoff:  opts.MaxBackoff,
		callTimeout: opts.CallTimeout,
		pushBack:    s.pacer.pushBack,
		sleep:       sleep,
		log:         s.log,
	}
	s.cards = newCardCoalescer(s.cardTurn, s.updateCard, s.log, opts.Backoff, opts.MaxBackoff)
	return s
}

// Stats returns the counters so far.
func (s *Slack) Stats() Stats {
	return Stats{
		Calls:       s.retry.calls.Load(),
		RateLimited: s.retry.rateLimited.Load(),
		Retries:     s.retry.retries.Load(),
		Failures:    s.retry.failures.Load(),
		Coalesced:   s.cards.coalesced.Load(),
		CardUpdates: s.cards.updates.Load(),
	}
}

// Close writes the card updates still pending and waits for them until ctx
// ends; then it abandons the rest and reports how many were lost.
func (s *Slack) Close(ctx context.Context) error {
	return s.cards.close(ctx)
}

// do runs one Web API call with retries (see retrier.do). key, when set,
// is the pacing bucket a 429 pushes back.
func (s *Slack) do(ctx context.Context, method, key string, call func(ctx context.Context) error) error {
	return s.retry.do(ctx, method, key, call)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Keys of the pacing buckets: one per channel for every message write,
// and one for chat.update across the workspace (Tier 3, about 50 a minute).
const updateKey = "method:chat.update"

func channelKey(channel string) string { return "channel:" + channel }

// pace waits for the turn of key.
func (s *Slack) pace(ctx context.Context, key string, interval time.Duration, burst int) error {
	return s.pacer.wait(ctx, key, interval, burst)
}

// paceChannel waits for the channel's turn to write a message.
func (s *Slack) paceChannel(ctx context.Context, channel string) error {
	return s.pace(ctx, channelKey(channel), s.opts.ChannelInterval, s.opts.ChannelBurst)
}

// post posts a message and returns its ts.
func (s *Slack) post(ctx context.Context, channel string, msg Message, opts ...slack.MsgOption) (string, error) {
	if err := s.paceChannel(ctx, channel); err != nil {
		return "", fmt.Errorf("chat.postMessage: %w", err)
	}
	opts = append([]slack.MsgOption{slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(msg.Blocks...)}, opts...)
	var ts string
	err := s.do(ctx, "chat.postMessage", channelKey(channel), func(ctx context.Context) error {
		var err error
		_, ts, err = s.api.PostMessageContext(ctx, channel, opts...)
		return err
	})
	if unavailable(err) {
		err = fmt.Errorf("%w: %w", deploy.ErrChannelUnavailable, err)
	}
	return ts, err
}

// unavailable reports whether err says the bot cannot post in the
// conversation at all, whatever it retries. chat.postMessage answers
// channel_not_found for a private channel or direct message the bot is not
// in, not_in_channel for a public one without chat:write.public, and
// is_archived (slack-api-specs web-api/slack_web_openapi_v2.json,
// /chat.postMessage; docs.slack.dev/reference/methods/chat.postMessage).
func unavailable(err error) bool {
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) {
		return false
	}
	switch se.Err {
	case "channel_not_found", "not_in_channel", "is_archived", "restricted_action",
		"restricted_action_read_only_channel", "restricted_action_thread_only_channel",
		"restricted_action_non_threadable_channel":
		return true
	}
	return false
}

// PostEphemeral shows msg to user in channel.
func (s *Slack) PostEphemeral(ctx context.Context, channel, user string, msg Message) error {
	return s.do(ctx, "chat.postEphemeral", "", func(ctx context.Context) error {
		_, err := s.api.PostEphemeralContext(ctx, channel, user,
			slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(msg.Blocks...))
		return err
	})
}

// Respond answers through a response_url (slash commands and clicks),
// ephemerally and without replacing the clicked message (slack-go always
// sends replace_original, false here). It works in channels the bot is not
// a member of. A response
// URL is a bearer secret, so it is kept out of the errors.
func (s *Slack) Respond(ctx context.Context, responseURL string, msg Message) error {
	return s.respond(ctx, responseURL, slack.ResponseTypeEphemeral, msg)
}

// RespondInChannel answers through a response_url so that everyone in the
// channel sees the answer (response_type in_channel, which Slack shows
// with the command that asked for it:
// docs.slack.dev/interactivity/implementing-slash-commands). Like Respond,
// it works where the bot is not a member.
func (s *Slack) RespondInChannel(ctx context.Context, responseURL string, msg Message) error {
	return s.respond(ctx, responseURL, slack.ResponseTypeInChannel, msg)
}

func (s *Slack) respond(ctx context.Context, responseURL, responseType string, msg Message) error {
	return s.do(ctx, "response_url", "", func(ctx context.Context) error {
		_, _, err := s.api.PostMessageContext(ctx, "",
			slack.MsgOptionResponseURL(responseURL, responseType),
			slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(msg.Blocks...))
		var ue *url.Error
		if errors.As(err, &ue) {
			return &url.Error{Op: ue.Op, URL: "(response url)", Err: ue.Err}
		}
		return err
	})
}

// AuthTest asks Slack who the bot token belongs to (auth.test), in one
// attempt. An error for which BadToken is true means the token itself is
// refused; anything else is a passing failure.
func (s *Slack) AuthTest(ctx context.Context) (*slack.AuthTestResponse, error) {
	s.retry.calls.Add(1)
	ctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	defer cancel()
	r, err := s.api.AuthTestContext(ctx)
	if err != nil {
		s.retry.failures.Add(1)
		return nil, fmt.Errorf("auth.test: %w", err)
	}
	return r, nil
}

// BadToken reports whether err is Slack refusing the token: wrong, revoked,
// of the wrong kind, or of a deactivated account (auth.test errors in
// slack-api-specs web-api/slack_web_openapi_v2.json, /auth.test).
func BadToken(err error) bool {
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) {
		return false
	}
	switch se.Err {
	case "not_authed", "invalid_auth", "token_revoked", "token_expired", "account_inactive", "not_allowed_token_type":
		return true
	}
	return false
}

// UpdateView replaces an open modal; hash guards against overwriting a
// newer version of it.
func (s *Slack) UpdateView(ctx context.Context, view slack.ModalViewRequest, viewID, hash string) error {
	return s.do(ctx, "views.update", "", func(ctx context.Context) error {
		_, err := s.api.UpdateViewContext(ctx, view, "", hash, viewID)
		return err
	})
}

// OpenView opens a modal. A trigger id lives 3 s and is used once, so this
// makes one attempt only, unless Slack asks to wait briefly.
func (s *Slack) OpenView(ctx context.Context, triggerID string, view slack.ModalViewRequest) error {
	s.retry.calls.Add(1)
	_, err := s.api.OpenViewContext(ctx, triggerID, view)
	if err != nil {
		var rl *slack.RateLimitedError
		if errors.As(err, &rl) {
			s.retry.rateLimited.Add(1)
		}
		s.retry.failures.Add(1)
		return fmt.Errorf("views.open: %w", err)
	}
	return nil
}
