package slacktest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a fake Slack workspace with one installed app. It serves the Web
// API under /api/, Socket Mode at /link/, response URLs at /commands/ and
// /actions/, and file uploads at /upload/v1/, all on one loopback host.
//
// All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the server, http://127.0.0.1:port, with no
	// trailing slash.
	URL string
	// BotToken is the bot token (xoxb-) that the Web API accepts.
	BotToken string
	// AppToken is the app-level token (xapp-) that apps.connections.open
	// accepts.
	AppToken string
	// TeamID, TeamDomain and TeamName describe the workspace.
	TeamID, TeamDomain, TeamName string
	// AppID, BotID and BotUserID identify the installed app and its bot user.
	AppID, BotID, BotUserID string
	// BotName is the bot user's name.
	BotName string

	hs      *httptest.Server
	cfg     config
	methods map[string]methodSpec
	wg      sync.WaitGroup // socket read and ping goroutines

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every state change
	closed  bool

	users      map[string]*user
	channels   map[string]*channel
	groups     map[string]*userGroup
	groupOrder []string
	messages   map[string][]*Message // channel id -> messages in ts order
	ephemerals []Ephemeral
	uploads    map[string]*Upload
	uploadIDs  []string
	calls      []Call
	limited    map[string]int // method -> 429 answers sent
	limiter    *limiter
	latency    time.Duration
	botScopes  []string
	revoked    bool

	triggers     map[string]*trigger
	views        map[string]*View
	responseURLs map[string]*responseURL

	tickets    map[string]bool // ticket -> used
	conns      map[int]*wsConn
	connSeq    int
	stopPings  bool
	opened     int // sockets ever opened
	pending    map[string]*envelope
	envelopes  []Envelope
	acks       []Ack
	oversized  int
	fragmented int

	responseUses []ResponseURLUse
	lastMicros   int64
	seq          int
}

type user struct {
	ID, Name string
}

// channel is a conversation. Slack's rules depend on its kind and on
// whether the bot is a member:
//
//   - public, bot member: everything works.
//   - public, bot not member: chat.postMessage works with chat:write.public
//     (not_in_channel without it); sharing a file answers not_in_channel;
//     chat.postEphemeral answers channel_not_found.
//   - private channel, group DM or DM the bot is not in: the conversation is
//     invisible to the bot, every method answers channel_not_found.
//   - private channel or DM the bot is in: everything works.
//
// Sources: slack-api-specs web-api/slack_web_openapi_v2.json (commit
// bc08db49625630e3585bf2f1322128ea04f2a7f3) error enums of /chat.postMessage
// (channel_not_found, not_in_channel) and /chat.postEphemeral (which has
// channel_not_found and no not_in_channel); docs.slack.dev/reference/scopes/
// chat.write.public (post to public channels without joining);
// docs.slack.dev/reference/methods/chat.postEphemeral (the user, and the app
// posting, must be in the channel); getnao/nao#1372 (files.completeUploadExternal
// answers not_in_channel where only chat:write.public let the bot post).
type channel struct {
	ID, Name  string
	Public    bool
	IM        bool // a direct message (D...)
	BotMember bool
	Archived  bool
	Members   map[string]bool // nil: membership not tracked
}

type userGroup struct {
	ID, Handle string
	Members    []string
}

// Option configures a Server created by NewServer.
type Option func(*config)

type config struct {
	now             func() time.Time
	pingInterval    time.Duration
	ackDeadline     time.Duration
	rateLimits      bool
	botScopes       []string
	botEvents       []string
	freePlan        bool
	disconnectGrace time.Duration
	connTime        int
	eventRetries    []time.Duration
	addr            string
	errorf          func(format string, args ...any)
}

// DefaultBotScopes returns the scopes the bot token is granted unless
// WithBotScopes says otherwise: those of deploybot's manifest.
func DefaultBotScopes() []string {
	return []string{
		"app_mentions:read", "commands", "chat:write", "chat:write.public", "files:write", "usergroups:read",
	}
}

// DefaultBotEvents returns the bot events the app subscribes to unless
// WithBotEvents says otherwise: those of deploybot's manifest.
func DefaultBotEvents() []string { return []string{"app_mention"} }

// eventScopes is the scope each bot event needs to be delivered
// (docs.slack.dev/reference/events/<type>, "Required scopes"; e.g.
// app_mention needs app_mentions:read).
var eventScopes = map[string]string{
	"app_mention":           "app_mentions:read",
	"message.channels":      "channels:history",
	"message.groups":        "groups:history",
	"message.im":            "im:history",
	"message.mpim":          "mpim:history",
	"member_joined_channel": "channels:read",
	"app_home_opened":       "",
}

// WithDisconnectGrace sets how long after a disconnect message Slack closes
// the socket itself (10 s by default).
func WithDisconnectGrace(d time.Duration) Option {
	return func(c *config) { c.disconnectGrace = d }
}

// WithFreePlan makes the workspace one on Slack's free plan, which has no
// user groups: usergroups.list and usergroups.users.list answer
// plan_upgrade_required ("This workspace does not have access to User
// Groups, as that feature is only available on Standard and above plans":
// docs.slack.dev/reference/methods/usergroups.users.list and
// usergroups.list, error tables).
func WithFreePlan() Option {
	return func(c *config) { c.freePlan = true }
}

// WithBotEvents sets the bot events the app subscribes to
// (settings.event_subscriptions.bot_events of the manifest).
func WithBotEvents(events ...string) Option {
	return func(c *config) { c.botEvents = events }
}

// WithClock replaces the clock used for expiries (trigger ids, response
// URLs), rate-limit budgets and message timestamps. Socket pings and ack
// deadlines always run on real time.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithPingInterval sets how often the server sends a WebSocket ping on each
// socket. Slack pings about every 10 s (the default); it must be shorter than
// the client's socketmode.OptionPingInterval.
func WithPingInterval(d time.Duration) Option {
	return func(c *config) { c.pingInterval = d }
}

// WithAckDeadline sets how long an envelope may wait for its ack (3 s, as
// Slack, by default).
func WithAckDeadline(d time.Duration) Option {
	return func(c *config) { c.ackDeadline = d }
}

// WithRateLimits turns rate limiting on (the default) or off from the start.
func WithRateLimits(on bool) Option {
	return func(c *config) { c.rateLimits = on }
}

// WithEventRetryDelays sets the delays before Slack redelivers an events_api
// envelope that was not acked: one per retry, at most three (Slack: 0, 1 min,
// 5 min). None disables retries.
func WithEventRetryDelays(d ...time.Duration) Option {
	return func(c *config) { c.eventRetries = d[:min(len(d), 3)] }
}

// WithBotScopes sets the OAuth scopes granted to the bot token.
func WithBotScopes(scopes ...string) Option {
	return func(c *config) { c.botScopes = scopes }
}

// WithAddr makes the server listen on addr (e.g. "127.0.0.1:3000") instead
// of a free loopback port.
func WithAddr(addr string) Option {
	return func(c *config) { c.addr = addr }
}

// WithLogf sends what the server reports as misuse (a request to an unknown
// path or Web API method, a helper called with an unknown channel) to logf.
// NewServer reports them with tb.Errorf unless this option says otherwise;
// Start drops them unless given one.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(c *config) { c.errorf = logf }
}

// NewServer starts a fake Slack on 127.0.0.1 and registers its Close with
// tb.Cleanup. It seeds the workspace with the bot user only; add users,
// channels and user groups with AddUser, AddChannel and AddUserGroup.
// Misuse of the fake fails the test (tb.Errorf).
func NewServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := Start(append([]Option{WithLogf(tb.Errorf)}, opts...)...)
	if err != nil {
		tb.Fatalf("slacktest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Start starts a fake Slack outside of a test, on a free loopback port
// unless WithAddr says otherwise. The caller closes it with Close. It is
// seeded like NewServer's.
func Start(opts ...Option) (*Server, error) {
	cfg := config{
		now:             time.Now,
		pingInterval:    10 * time.Second,
		ackDeadline:     3 * time.Second,
		rateLimits:      true,
		botScopes:       DefaultBotScopes(),
		botEvents:       DefaultBotEvents(),
		connTime:        18060,
		disconnectGrace: 10 * time.Second,
		eventRetries:    []time.Duration{0, time.Minute, 5 * time.Minute},
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		BotToken:     "xoxb-" + randDigits(12) + "-" + randDigits(13) + "-" + randHex(12),
		AppToken:     "xapp-1-A0DEPLOYBOT-" + randDigits(13) + "-" + randHex(32),
		TeamID:       "T0DEPLOY01",
		TeamDomain:   "deploybot-test",
		TeamName:     "Deploybot Test",
		AppID:        "A0DEPLOYBOT",
		BotID:        "B0DEPLOYBOT",
		BotUserID:    "U0DEPLOYBOT",
		BotName:      "deploybot",
		cfg:          cfg,
		methods:      methodTable(),
		changed:      make(chan struct{}),
		users:        map[string]*user{},
		channels:     map[string]*channel{},
		groups:       map[string]*userGroup{},
		messages:     map[string][]*Message{},
		uploads:      map[string]*Upload{},
		limited:      map[string]int{},
		botScopes:    append([]string(nil), cfg.botScopes...),
		triggers:     map[string]*trigger{},
		views:        map[string]*View{},
		responseURLs: map[string]*responseURL{},
		tickets:      map[string]bool{},
		conns:        map[int]*wsConn{},
		pending:      map[string]*envelope{},
	}
	s.limiter = newLimiter(cfg.rateLimits)
	s.users[s.BotUserID] = &user{ID: s.BotUserID, Name: s.BotName}
	s.hs = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	if cfg.addr != "" {
		ln, err := net.Listen("tcp", cfg.addr)
		if err != nil {
			s.hs.Listener.Close()
			return nil, fmt.Errorf("listen on %s: %w", cfg.addr, err)
		}
		s.hs.Listener.Close()
		s.hs.Listener = ln
	}
	s.hs.Start()
	s.URL = s.hs.URL
	return s, nil
}

// errorf reports misuse of the fake (see WithLogf).
func (s *Server) errorf(format string, args ...any) {
	if s.cfg.errorf != nil {
		s.cfg.errorf(format, args...)
	}
}

// APIURL returns the Web API base URL for slack.OptionAPIURL, ending in
// "/api/".
func (s *Server) APIURL() string { return s.URL + "/api/" }

// Close shuts the server down: it closes every socket, stops the timers and
// waits for the server's goroutines. It is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := make([]*wsConn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	for _, e := range s.pending {
		// Wake whoever waits for an ack that can no longer come.
		e.timer.Stop()
		if e.ack == nil && !e.timedOut {
			e.timedOut = true
			close(e.done)
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.drop()
	}
	s.hs.Close()
	s.wg.Wait()
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/api/"):
		s.serveAPI(w, r, strings.TrimPrefix(p, "/api/"))
	case p == "/link/" || p == "/link":
		s.serveSocket(w, r)
	case strings.HasPrefix(p, "/commands/"), strings.HasPrefix(p, "/actions/"):
		s.serveResponseURL(w, r)
	case strings.HasPrefix(p, "/upload/v1/"):
		s.serveUpload(w, r, strings.TrimPrefix(p, "/upload/v1/"))
	default:
		s.errorf("slacktest: request to unknown path %s %s", r.Method, p)
		http.NotFound(w, r)
	}
}

// AddUser adds a workspace member (id "U...").
func (s *Server) AddUser(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = &user{ID: id, Name: name}
	s.notifyLocked()
}

// AddChannel adds a conversation. A public channel accepts bot posts without
// membership as long as the bot has chat:write.public; a private one ("G..."
// or public=false) needs botMember.
func (s *Server) AddChannel(id, name string, public, botMember bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels[id] = &channel{ID: id, Name: name, Public: public, BotMember: botMember}
	s.notifyLocked()
}

// AddDM adds a direct message (id "D...") between users. The bot can use it
// only when it is one of them (the app's Messages tab); a DM between people
// is invisible to it (channel_not_found), even when a slash command is typed
// there.
func (s *Server) AddDM(id string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := &channel{ID: id, IM: true, Members: map[string]bool{}}
	for _, u := range users {
		ch.Members[u] = true
		if u == s.BotUserID {
			ch.BotMember = true
		}
	}
	s.channels[id] = ch
	s.notifyLocked()
}

// JoinChannel records users as members of a channel. Once a channel has
// members, chat.postEphemeral to anyone else fails with user_not_in_channel;
// channels nobody joined do not check user membership.
func (s *Server) JoinChannel(channelID string, userIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[channelID]
	if ch == nil {
		s.errorf("slacktest: JoinChannel: unknown channel %s", channelID)
		return
	}
	if ch.Members == nil {
		ch.Members = map[string]bool{}
	}
	for _, u := range userIDs {
		ch.Members[u] = true
	}
}

// ArchiveChannel archives a channel: posting to it fails with is_archived.
func (s *Server) ArchiveChannel(channelID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch := s.channels[channelID]; ch != nil {
		ch.Archived = true
	}
}

// AddUserGroup adds a user group (id "S...") with its handle and members.
func (s *Server) AddUserGroup(id, handle string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[id]; !ok {
		s.groupOrder = append(s.groupOrder, id)
	}
	s.groups[id] = &userGroup{ID: id, Handle: handle, Members: append([]string(nil), members...)}
	s.notifyLocked()
}

// SetBotScopes replaces the scopes granted to the bot token.
func (s *Server) SetBotScopes(scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.botScopes = append([]string(nil), scopes...)
}

// RevokeBotToken makes every later Web API call with the bot token fail with
// token_revoked.
func (s *Server) RevokeBotToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = true
}

// SetLatency delays every Web API answer by d (0 turns it off), to play a
// slow Slack.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// notifyLocked wakes every waiter. s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// now returns the configured clock's time.
func (s *Server) now() time.Time { return s.cfg.now() }

// newTSLocked returns a message timestamp "<seconds>.<6 digits>" that is
// strictly greater than any handed out before.
func (s *Server) newTSLocked() string {
	m := s.now().UnixMicro()
	if m <= s.lastMicros {
		m = s.lastMicros + 1
	}
	s.lastMicros = m
	return fmt.Sprintf("%d.%06d", m/1e6, m%1e6)
}

// newIDLocked returns a Slack-looking id with the given prefix (F, V, ...).
func (s *Server) newIDLocked(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s0%08X", prefix, s.seq)
}

func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func randDigits(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

func newUUID() string {
	h := randHex(32)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
