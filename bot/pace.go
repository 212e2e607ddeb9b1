package bot

import (
	"context"
	"sync"
	"time"
)

// pacer spaces writes per key (a channel, a Web API method): a key that
// was quiet may write burst times at once, then once per interval; a 429
// pushes its key back by the Retry-After Slack asked for. It is safe for
// concurrent use.
type pacer struct {
	now func() time.Time
	// shared, when set, spaces each key's writes across every process
	// that shares it (replicas of the bot on one database): Slack's limits
	// are per app and channel, not per process. There is no burst then.
	shared SlotReserver
	// onSharedError is told when the shared reservation fails; the write
	// is then paced by this process alone.
	onSharedError func(error)

	mu     sync.Mutex
	next   map[string]time.Time // per key: when the next write may go once the burst is used
	pushed map[string]time.Time // per key: the end of a 429's Retry-After
}

// SlotReserver hands out turns of a key shared by several processes:
// each reservation returns max(now, previous reservation + interval).
// storage.DB implements it (deploy.PacingStore).
type SlotReserver interface {
	ReserveSlot(ctx context.Context, key string, now time.Time, interval time.Duration) (time.Time, error)
}

func newPacer(now func() time.Time) *pacer {
	return &pacer{now: now, next: map[string]time.Time{}, pushed: map[string]time.Time{}}
}

// turn reserves key's next turn and returns how long to wait for it.
func (p *pacer) turn(key string, interval time.Duration, burst int) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	// Keep a little under the rate: Slack's clock and ours do not start
	// their windows at the same instant.
	interval += interval / 20
	// The burst is the credit of burst intervals that a quiet key
	// accumulates.
	earliest := now.Add(-time.Duration(burst-1) * interval)
	next := p.next[key]
	if next.Before(earliest) {
		next = earliest
	}
	p.next[key] = next.Add(interval)
	return max(next.Sub(now), 0)
}

// wait waits for key's next turn, or until ctx ends.
func (p *pacer) wait(ctx context.Context, key string, interval time.Duration, burst int) error {
	if p.shared != nil {
		d, err := p.sharedTurn(ctx, key, interval)
		if err == nil {
			if d > 0 {
				return sleep(ctx, d)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if p.onSharedError != nil {
			p.onSharedError(err)
		}
	}
	if d := p.turn(key, interval, burst); d > 0 {
		return sleep(ctx, d)
	}
	return nil
}

// sharedTurn reserves key's next turn among the processes sharing the
// reservations and returns how long to wait for it.
func (p *pacer) sharedTurn(ctx context.Context, key string, interval time.Duration) (time.Duration, error) {
	now := p.now()
	slot, err := p.shared.ReserveSlot(ctx, sharedKey(key), now, interval+interval/20)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	if pushed := p.pushed[key]; pushed.After(slot) {
		slot = pushed
	}
	p.mu.Unlock()
	return max(slot.Sub(now), 0), nil
}

// sharedKey is key among the shared reservations.
func sharedKey(key string) string { return "slack/" + key }

// pushBack delays the next writes of key by d from now (after a 429).
// With shared reservations, the other processes wait too: Slack's
// Retry-After is for the app, not for the process that was told.
func (p *pacer) pushBack(key string, d time.Duration) {
	p.mu.Lock()
	t := p.now().Add(d)
	if p.next[key].Before(t) {
		p.next[key] = t
	}
	if p.pushed[key].Before(t) {
		p.pushed[key] = t
	}
	p.mu.Unlock()
	if p.shared != nil {
		// A reservation at t with no interval: the next turn of any
		// process comes after it.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := p.shared.ReserveSlot(ctx, sharedKey(key), t, 0); err != nil && p.onSharedError != nil {
			p.onSharedError(err)
		}
	}
}
