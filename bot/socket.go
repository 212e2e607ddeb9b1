package bot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/deploybot/deploybot/config"
)

// Config tunes the adapter. Zero values take the defaults.
type Config struct {
	// Command is the slash command deploybot answers. Default "/deploy".
	Command string
	// Workers is how many envelopes are worked on at once. Default 16.
	Workers int
	// QueueSize is how many acked envelopes may wait for a worker. When it
	// is full, new work is refused at once (see Bot). Default 256.
	QueueSize int
	// AckTimeout bounds the hand-over of one ack to the socket writer.
	// Default 1 s (Slack's deadline is 3 s).
	AckTimeout time.Duration
	// WorkTimeout bounds the work done for one envelope. Default 2 min.
	WorkTimeout time.Duration
	// PingInterval is the longest silence (no server ping) before the
	// socket is considered dead and redialled. Default 30 s.
	PingInterval time.Duration
	// HistoryLimit is how many releases /deploy history shows. Default 15.
	HistoryLimit int
	// Debug logs socketmode's own debug output (no tokens).
	Debug bool
	// Audit reads the audit trail for /deploy audit; nil answers that
	// the export is not available.
	Audit AuditReader
}

func (c *Config) defaults() {
	if c.Command == "" {
		c.Command = "/deploy"
	}
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 256
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = time.Second
	}
	if c.WorkTimeout <= 0 {
		c.WorkTimeout = 2 * time.Minute
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.HistoryLimit <= 0 {
		c.HistoryLimit = 15
	}
}

// socketWriteBuffer is the WebSocket write buffer: larger than any ack
// Slack accepts (20 KiB), so that no ack is fragmented.
const socketWriteBuffer = 32 * 1024

// acker sends acks; *socketmode.Client implements it.
type acker interface {
	AckCtx(ctx context.Context, envelopeID string, payload any) error
}

// Counters are the adapter's measurements, for metrics.
type Counters struct {
	// Connects counts successful socket connections; Reconnects is
	// Connects minus the first.
	Connects, Reconnects int64
	// Envelopes counts envelopes received; Duplicates those recognised as
	// redeliveries or repeated clicks and ignored.
	Envelopes, Duplicates int64
	// Busy counts envelopes refused because the work queue was full.
	Busy int64
	// AckErrors counts acks that could not be handed to the socket.
	AckErrors int64
	// Panics counts envelopes whose handling panicked (recovered, logged
	// with the envelope id and acked).
	Panics int64
}

// Bot is the Socket Mode adapter. Every envelope is acked at once by the
// goroutine that reads the socketmode Events channel, and its work runs
// afterwards on a bounded pool of workers, so slow Web API or AWX calls
// never delay an ack nor stall the reader.
//
// When the pool's queue is full the reader does not wait: the envelope is
// acked at once and refused. A slash command gets "deploybot is busy, try
// again" in its ack payload, a modal submission gets that text as a field
// error (the modal stays open), and a click is dropped (logged and counted
// in Counters.Busy; the user can click again). Nothing is queued without
// bound and the reader never blocks on the pool.
type Bot struct {
	cfg    Config
	sm     *socketmode.Client
	ack    acker
	d      Deployer
	gw     *Slack
	dedupe DedupeStore
	conf   atomic.Pointer[config.Config]
	log    zerolog.Logger
	now    func() time.Time

	jobs chan job

	lifecycle map[socketmode.EventType]func(socketmode.Event)
	routes    map[socketmode.EventType]route
	commands  map[string]commandHandler
	actions   map[string]actionHandler
	views     map[string]viewHandler
	events    map[string]eventHandler

	lastSeen atomic.Int64 // unix nanos

	connects, envelopes, duplicates, busy, ackErrors, panics atomic.Int64
}

// DedupeStore remembers Slack envelope and action ids already handled, so
// that a redelivery or a double click is applied once. storage.DB
// implements it.
type DedupeStore interface {
	// FirstSeen records key and reports whether it had not been seen before.
	FirstSeen(ctx context.Context, key string, at time.Time) (bool, error)
}

// job is work to do after an ack. key, when set, is checked against the
// dedupe store first: a key seen before means a redelivery or a repeated
// click, and the work is skipped.
type job struct {
	key  string
	log  zerolog.Logger
	work func(ctx context.Context)
}

// New returns the adapter. api is the Web API client carrying the bot token
// and the app-level token (slack.OptionAppLevelToken); gw is the gateway
// all replies go through; dedupe remembers envelopes already handled. New
// does no I/O.
func New(cfg Config, api *slack.Client, d Deployer, gw *Slack, dedupe DedupeStore, conf *config.Config, log zerolog.Logger) *Bot {
	cfg.defaults()
	b := &Bot{
		cfg:    cfg,
		d:      d,
		gw:     gw,
		dedupe: dedupe,
		log:    log.With().Str("component", "bot").Logger(),
		now:    time.Now,
		jobs:   make(chan job, cfg.QueueSize),
	}
	b.conf.Store(conf)
	if api != nil {
		dialer := &websocket.Dialer{
			HandshakeTimeout: 45 * time.Second,
			Proxy:            websocket.DefaultDialer.Proxy,
			// Slack drops a message that arrives in several frames (it does
			// not reassemble continuation frames), and gorilla splits any
			// message larger than the write buffer, 4 KiB by default. A
			// buffer above Slack's 20 KiB ack limit sends every valid ack
			// as one frame. Same value as slack-go's own dialer
			// (socketmode.defaultWriteBufferSize; slack-go issue #1196).
			WriteBufferSize: socketWriteBuffer,
			// Every byte read from Slack (pings included, which slack-go
			// does not surface) proves the socket alive.
			NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var nd net.Dialer
				c, err := nd.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &seenConn{Conn: c, seen: b.touch}, nil
			},
		}
		b.sm = socketmode.New(api,
			socketmode.OptionPingInterval(cfg.PingInterval),
			socketmode.OptionDialer(dialer),
			socketmode.OptionDebug(cfg.Debug),
			socketmode.OptionLog(zlogAdapter{b.log}),
		)
		b.ack = b.sm
	}
	b.register()
	return b
}

// SetConfig replaces the configuration (after a reload).
func (b *Bot) SetConfig(conf *config.Config) { b.conf.Store(conf) }

// LastSeen is when Slack was last heard from on the socket (a ping, hello
// or envelope); the zero time before the first connection. /healthz uses it.
func (b *Bot) LastSeen() time.Time {
	n := b.lastSeen.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (b *Bot) touch() { b.lastSeen.Store(b.now().UnixNano()) }

// Counters returns the adapter's counters so far.
func (b *Bot) Counters() Counters {
	c := b.connects.Load()
	return Counters{
		Connects:   c,
		Reconnects: max(c-1, 0),
		Envelopes:  b.envelopes.Load(),
		Duplicates: b.duplicates.Load(),
		Busy:       b.busy.Load(),
		AckErrors:  b.ackErrors.Load(),
		Panics:     b.panics.Load(),
	}
}

// Run connects to Slack and serves until ctx ends, reconnecting after any
// disconnect (slack-go redials by itself; Run only returns on ctx's end or
// a fatal error such as a revoked token). Work already accepted is finished
// (each job within WorkTimeout) before Run returns.
func (b *Bot) Run(ctx context.Context) error {
	if b.sm == nil {
		return errors.New("run bot: no slack client")
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	b.startWorkers(ctx, &wg)
	defer func() {
		cancel()
		wg.Wait()
	}()

	errc := make(chan error, 1)
	go func() { errc <- b.sm.RunContext(ctx) }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("socket mode: %w", err)
		case evt := <-b.sm.Events:
			b.HandleEvent(ctx, evt)
		}
	}
}

// startWorkers starts the pool. Workers stop taking jobs when ctx ends;
// a job already taken runs to its end under its own timeout.
func (b *Bot) startWorkers(ctx context.Context, wg *sync.WaitGroup) {
	for range b.cfg.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-b.jobs:
					b.runJob(context.WithoutCancel(ctx), j)
				}
			}
		})
	}
}

// runJob runs one job: dedupe, then the work, with panics contained.
func (b *Bot) runJob(ctx context.Context, j job) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.WorkTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			b.panics.Add(1)
			j.log.Error().Interface("panic", r).Bytes("stack", debug.Stack()).Msg("handler panicked")
		}
	}()
	if j.key != "" && b.dedupe != nil {
		first, err := b.dedupe.FirstSeen(ctx, j.key, b.now())
		if err != nil {
			// Better to risk a repeat than to drop a command: the domain
			// is idempotent where it matters (compare-and-set).
			j.log.Warn().Err(err).Str("dedupe_key", j.key).Msg("dedupe store failed; handling anyway")
		} else if !first {
			b.duplicates.Add(1)
			j.log.Info().Str("dedupe_key", j.key).Msg("duplicate envelope ignored")
			return
		}
	}
	j.work(ctx)
}

// enqueue hands a job to the pool without ever blocking.
func (b *Bot) enqueue(j job) bool {
	select {
	case b.jobs <- j:
		return true
	default:
		b.busy.Add(1)
		j.log.Warn().Msg("work queue full; envelope refused")
		return false
	}
}

// sendAck acks an envelope, waiting at most AckTimeout for the socket
// writer to take it.
func (b *Bot) sendAck(ctx context.Context, envelopeID string, payload any) {
	if b.ack == nil || envelopeID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.AckTimeout)
	defer cancel()
	if err := b.ack.AckCtx(ctx, envelopeID, payload); err != nil {
		b.ackErrors.Add(1)
		b.log.Error().Err(err).Str("envelope_id", envelopeID).Msg("ack failed")
	}
}

// seenConn reports every successful read.
type seenConn struct {
	net.Conn
	seen func()
}

func (c *seenConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.seen()
	}
	return n, err
}

// zlogAdapter gives socketmode's logger interface to zerolog at debug level.
type zlogAdapter struct{ log zerolog.Logger }

func (z zlogAdapter) Output(_ int, s string) error {
	z.log.Debug().Msg(s)
	return nil
}
