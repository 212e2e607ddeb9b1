package bot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// msgKey names a posted message.
type msgKey struct{ channel, ts string }

// cardState is the latest rendering waiting to be written.
type cardState struct {
	msg      Message
	terminal bool
}

// cardCoalescer writes the updates of posted cards. Updates of one message
// are coalesced (the latest state wins): at most one write per message is
// in flight and one state waits behind it. A terminal state is never
// overwritten by an older one nor dropped before close gives up. It knows
// Slack only through turn and write, and has its own lock.
type cardCoalescer struct {
	// turn waits until channel may take a write.
	turn func(ctx context.Context, channel string) error
	// write replaces the message at k with msg; an error for which
	// permanent is true means it can never succeed.
	write func(ctx context.Context, k msgKey, msg Message) error
	log   zerolog.Logger
	// backoff is the first wait after a failed write; it doubles up to
	// maxBackoff.
	backoff, maxBackoff time.Duration

	// life ends when close gives up waiting; the flushers use it.
	life context.Context
	stop context.CancelFunc

	// coalesced counts states replaced by a newer one before they were
	// written (or refused as late); updates counts the writes done.
	coalesced, updates atomic.Int64

	mu       sync.Mutex
	pending  map[msgKey]*cardState
	flushing map[msgKey]bool
	final    map[msgKey]time.Time // cards shown in a terminal state, and when
	// queued counts the states queued for a message while its flusher
	// runs, and written how many of them are written (or refused for
	// good); wrote is closed and replaced after each write (flushCard).
	queued  map[msgKey]uint64
	written map[msgKey]uint64
	wrote   chan struct{}
	// flushers counts running flush goroutines; idle is closed when the
	// count drops to zero.
	flushers int
	idle     chan struct{}
}

func newCardCoalescer(turn func(ctx context.Context, channel string) error, write func(ctx context.Context, k msgKey, msg Message) error,
	log zerolog.Logger, backoff, maxBackoff time.Duration) *cardCoalescer {
	life, stop := context.WithCancel(context.Background())
	return &cardCoalescer{
		turn:       turn,
		write:      write,
		log:        log,
		backoff:    backoff,
		maxBackoff: maxBackoff,
		life:       life,
		stop:       stop,
		pending:    map[msgKey]*cardState{},
		flushing:   map[msgKey]bool{},
		final:      map[msgKey]time.Time{},
		queued:     map[msgKey]uint64{},
		written:    map[msgKey]uint64{},
		wrote:      make(chan struct{}),
	}
}

// guardFinal is how long a final card state is guarded against late
// updates (once more than 1000 are remembered).
const guardFinal = 30 * time.Minute

// posted records that the message k was posted, in a terminal state when
// terminal, so that no older state overwrites it. Call it before the
// message is known to anyone who could queue an update of it.
func (c *cardCoalescer) posted(k msgKey, terminal bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if terminal {
		c.final[k] = time.Now()
	}
	if len(c.final) > 1000 {
		for k, at := range c.final {
			if time.Since(at) > guardFinal {
				delete(c.final, k)
			}
		}
	}
}

// enqueue records st as the latest state of message k and makes sure a
// flusher writes it.
func (c *cardCoalescer) enqueue(k msgKey, st *cardState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, done := c.final[k]; done && !st.terminal {
		// A state computed before the request ended arrived late: the
		// card already shows (or will show) the end.
		c.coalesced.Add(1)
		return
	}
	if st.terminal {
		c.final[k] = time.Now()
	}
	if c.pending[k] != nil {
		c.coalesced.Add(1)
	}
	c.pending[k] = st
	c.queued[k]++
	if !c.flushing[k] {
		c.flushing[k] = true
		if c.flushers == 0 {
			c.idle = make(chan struct{})
		}
		c.flushers++
		go c.flush(k)
	}
}

// flush writes the pending states of message k until none is left. It
// waits for the channel's turn before taking the state, so that what it
// writes is the newest. A failed write is retried (unless Slack refused it
// for good) until the coalescer is closed. It takes a turn only when a
// state is pending: a turn taken for nothing would hold back the channel's
// next post (a thread note after the final card) by a whole interval.
func (c *cardCoalescer) flush(k msgKey) {
	backoff := c.backoff
	for {
		c.mu.Lock()
		if c.pending[k] == nil {
			c.flushEndedLocked(k)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		err := c.turn(c.life, k.channel)
		c.mu.Lock()
		st := c.pending[k]
		if st == nil || err != nil {
			c.flushEndedLocked(k)
			c.mu.Unlock()
			return
		}
		delete(c.pending, k)
		taken := c.queued[k]
		c.mu.Unlock()

		err = c.write(c.life, k, st.msg)
		switch {
		case err == nil:
			c.updates.Add(1)
			backoff = c.backoff
			c.cardWritten(k, taken)
			continue
		case permanent(err):
			c.log.Error().Err(err).Str("channel", k.channel).Str("ts", k.ts).Msg("card update refused")
			c.cardWritten(k, taken)
			continue
		}
		c.log.Warn().Err(err).Str("channel", k.channel).Str("ts", k.ts).Msg("card update failed; will retry")
		c.mu.Lock()
		if c.pending[k] == nil {
			c.pending[k] = st
		}
		c.mu.Unlock()
		if sleep(c.life, backoff) != nil {
			c.mu.Lock()
			c.flushEndedLocked(k)
			c.mu.Unlock()
			return
		}
		backoff = min(backoff*2, c.maxBackoff)
	}
}

// cardWritten records that the first n states queued for message k are
// written (the last of them is what Slack shows) and wakes flushCard.
func (c *cardCoalescer) cardWritten(k msgKey, n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written[k] = n
	close(c.wrote)
	c.wrote = make(chan struct{})
}

// flushCard waits until the states queued so far for message k are
// written (or refused for good). It returns ctx's error when that takes
// too long, and an error when the coalescer is closed first.
func (c *cardCoalescer) flushCard(ctx context.Context, k msgKey) error {
	c.mu.Lock()
	target, ok := c.queued[k]
	c.mu.Unlock()
	if !ok {
		return nil // nothing queued: all written
	}
	for {
		c.mu.Lock()
		_, running := c.queued[k]
		done := !running || c.written[k] >= target
		wrote := c.wrote
		c.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-wrote:
		case <-ctx.Done():
			return fmt.Errorf("card update not written yet: %w", ctx.Err())
		case <-c.life.Done():
			return errors.New("card update not written: the Slack gateway is closed")
		}
	}
}

// flushEndedLocked records that the flusher of k stops. c.mu must be held.
func (c *cardCoalescer) flushEndedLocked(k msgKey) {
	delete(c.flushing, k)
	if c.pending[k] == nil {
		// Everything queued is written: flushCard has nothing to wait for.
		delete(c.queued, k)
		delete(c.written, k)
		close(c.wrote)
		c.wrote = make(chan struct{})
	}
	c.flushers--
	if c.flushers == 0 {
		close(c.idle)
	}
}

// close waits for the pending states to be written until ctx ends; then it
// stops the flushers and reports how many states were lost.
func (c *cardCoalescer) close(ctx context.Context) error {
	defer c.stop()
	for {
		c.mu.Lock()
		if c.flushers == 0 {
			lost := len(c.pending)
			c.mu.Unlock()
			if lost > 0 {
				return fmt.Errorf("close slack gateway: %d card update%s not written", lost, plural(lost))
			}
			return nil
		}
		idle := c.idle
		c.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			// Stop the flushers (they leave what they could not write
			// pending) and count what is lost once they are gone.
			c.stop()
		}
	}
}

// cardPosts remembers where each request's card is, and makes sure it is
// posted once. It has its own lock.
type cardPosts struct {
	mu      sync.Mutex
	cards   map[int64]msgKey        // cards posted, by request id
	posting map[int64]chan struct{} // posts under way, closed when done
}

func newCardPosts() *cardPosts {
	return &cardPosts{cards: map[int64]msgKey{}, posting: map[int64]chan struct{}{}}
}

// rememberRequests bounds the memory of cards: it forgets requests more
// than rememberRequests ids older than the newest card posted.
const rememberRequests = 10000

// once returns the card of request id, posting it with post when it has
// none: a second caller waits for the first and gets its card, with posted
// false.
func (p *cardPosts) once(ctx context.Context, id int64, post func() (msgKey, error)) (k msgKey, posted bool, err error) {
	p.mu.Lock()
	for {
		if k, ok := p.cards[id]; ok {
			p.mu.Unlock()
			return k, false, nil
		}
		wait, busy := p.posting[id]
		if !busy {
			break
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return k, false, ctx.Err()
		case <-wait:
		}
		p.mu.Lock()
	}
	done := make(chan struct{})
	p.posting[id] = done
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.posting, id)
		p.mu.Unlock()
		close(done)
	}()
	k, err = post()
	if err != nil {
		return k, false, err
	}
	p.mu.Lock()
	p.cards[id] = k
	if len(p.cards) > rememberRequests {
		for old := range p.cards {
			if old <= id-rememberRequests {
				delete(p.cards, old)
			}
		}
	}
	p.mu.Unlock()
	return k, true, nil
}

// lookup returns where the card of request id is, waiting for a post of it
// that is under way.
func (p *cardPosts) lookup(ctx context.Context, id int64) (msgKey, bool, error) {
	p.mu.Lock()
	k, ok := p.cards[id]
	wait := p.posting[id]
	p.mu.Unlock()
	if !ok && wait != nil {
		select {
		case <-ctx.Done():
			return msgKey{}, false, ctx.Err()
		case <-wait:
		}
		p.mu.Lock()
		k, ok = p.cards[id]
		p.mu.Unlock()
	}
	return k, ok, nil
}
