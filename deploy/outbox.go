package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// OwedKind is what an owed item asks of Slack.
type OwedKind string

// Owed kinds.
const (
	// OwedCard shows the request's card as stored now.
	OwedCard OwedKind = "card"
	// OwedThread posts Owed.Note in the request's thread.
	OwedThread OwedKind = "thread"
	// OwedUpload uploads the output of the request's job in its thread.
	OwedUpload OwedKind = "upload"
)

// Owed is one thing the bot owes Slack about a request after a state
// change (Change.Owed): it is stored in the same transaction as the change
// and delivered from the store, so a crash between the commit and the Slack
// call does not lose it.
type Owed struct {
	Kind OwedKind
	// Note is what an OwedThread post tells (stored with EncodeNote).
	Note Note
}

// OwedItem is an owed item as stored, claimed for delivery.
type OwedItem struct {
	ID        int64
	RequestID int64
	Owed
	// Attempts counts the failed deliveries before this one.
	Attempts  int
	CreatedAt time.Time
}

// OwedResult is what became of a claimed item.
type OwedResult struct {
	// Delivered marks it done.
	Delivered bool
	// Release gives the lease back without counting an attempt (a later
	// item waits for an earlier one that failed).
	Release bool
	// Err is why the delivery failed; the item is tried again at RetryAt,
	// or never again when GiveUp is set.
	Err     string
	RetryAt time.Time
	GiveUp  bool
}

// deliverOwed delivers what is owed to Slack for request id (every request
// when id is 0): it claims the due items with a lease, so that another
// deliverer (another pass, another process on the same database) never
// posts them too, and delivers them in order. A failed item is tried again
// later with a growing backoff, and given up after OwedAttempts attempts
// with a log line; the request's later items wait for it.
func (s *runs) deliverOwed(ctx context.Context, id int64) {
	// What is owed is owed even when shutdown has begun.
	ctx = context.WithoutCancel(ctx)
	for range 10 { // bounded: a pass never spins
		items, err := s.store.ClaimOwed(ctx, s.Replica, id, s.now(), s.OwedLease, 50)
		if err != nil {
			s.log.Error().Err(err).Int64("request_id", id).Msg("claim what is owed to Slack")
			return
		}
		if len(items) == 0 {
			return
		}
		failed := map[int64]bool{} // requests with a failed item in this batch
		claimed := s.now()
		for _, it := range items {
			// An item is started only while half its claim is left: once
			// the claim runs out (a slow Slack), another deliverer may
			// claim it, and both would post it.
			if failed[it.RequestID] || s.now().Sub(claimed) > s.OwedLease/2 {
				s.settleOwed(ctx, it, OwedResult{Release: true})
				continue
			}
			err := s.deliverItem(ctx, it)
			if err == nil {
				s.settleOwed(ctx, it, OwedResult{Delivered: true})
				continue
			}
			failed[it.RequestID] = true
			res := OwedResult{Err: err.Error(), RetryAt: s.now().Add(s.owedBackoff(it.Attempts + 1))}
			log := s.log.With().Int64("request_id", it.RequestID).Int64("outbox_id", it.ID).
				Str("kind", string(it.Kind)).Int("attempt", it.Attempts+1).Logger()
			if it.Attempts+1 >= s.OwedAttempts {
				res.GiveUp = true
				log.Error().Err(err).Msg("gave up delivering to Slack")
			} else {
				log.Warn().Err(err).Time("retry_at", res.RetryAt).Msg("deliver to Slack")
			}
			s.settleOwed(ctx, it, res)
		}
	}
}

// settleOwed records the result of one delivery; a failure to record it is
// logged (the item is then delivered again once its lease expires).
func (s *runs) settleOwed(ctx context.Context, it OwedItem, r OwedResult) {
	if err := s.store.SettleOwed(ctx, it.ID, s.Replica, r); err != nil {
		s.log.Error().Err(err).Int64("request_id", it.RequestID).Int64("outbox_id", it.ID).Msg("record delivery to Slack")
	}
}

// owedBackoff is the wait before attempt n+1 of a delivery: OwedRetry
// doubled per attempt, at most 5 minutes.
func (s *runs) owedBackoff(n int) time.Duration {
	d := s.OwedRetry
	for i := 1; i < n && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// deliverItem does what one item asks, with the request as stored now.
func (s *runs) deliverItem(ctx context.Context, it OwedItem) error {
	req, err := s.store.Request(ctx, it.RequestID)
	if err != nil {
		return fmt.Errorf("read request: %w", err)
	}
	switch it.Kind {
	case OwedCard:
		if err := s.showCard(ctx, req); err != nil {
			return err
		}
		if f, ok := s.notifier.(CardFlusher); ok {
			// Delivered once Slack has it, not once it is queued: a
			// crash before the write leaves the card owed.
			fctx, cancel := context.WithTimeout(ctx, min(s.OwedLease/2, 30*time.Second))
			defer cancel()
			return f.FlushCard(fctx, req.Message)
		}
		return nil
	case OwedThread:
		return s.notifier.Thread(ctx, req, it.Note)
	case OwedUpload:
		if req.Job.Zero() {
			return nil
		}
		out, err := s.spoolOutput(ctx, req.Job)
		if err != nil {
			return fmt.Errorf("read job output: %w", err)
		}
		defer out.Close()
		if out.size == 0 {
			return nil
		}
		return s.uploadOutput(ctx, req, out)
	}
	return errors.New("unknown kind " + string(it.Kind))
}

// pruneOwed deletes, at most once an hour, the deliveries to Slack settled
// more than OwedKeep ago: the outbox holds what is owed, not a history
// (the audit trail is that). tickMu is held.
func (s *runs) pruneOwed(ctx context.Context) {
	now := s.now()
	if s.OwedKeep <= 0 || (!s.prunedAt.IsZero() && now.Sub(s.prunedAt) < time.Hour) {
		return
	}
	s.prunedAt = now
	n, err := s.store.PruneOwed(ctx, now.Add(-s.OwedKeep))
	if err != nil {
		s.log.Error().Err(err).Msg("prune delivered outbox rows")
		return
	}
	if n > 0 {
		s.log.Info().Int64("rows", n).Msg("pruned delivered outbox rows")
	}
	// The record of which replica fired which scheduled run is kept a
	// month: a run is decided by the schedule's own compare-and-set, the
	// record is for people and for catching a double fire.
	if n, err := s.store.PruneScheduleFires(ctx, now.Add(-30*24*time.Hour)); err != nil {
		s.log.Error().Err(err).Msg("prune schedule fire records")
	} else if n > 0 {
		s.log.Info().Int64("rows", n).Msg("pruned schedule fire records")
	}
}
