package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/deploy"
)

var (
	_ deploy.Notifier    = (*Slack)(nil)
	_ deploy.CardFlusher = (*Slack)(nil)
	_ deploy.Directory   = (*Slack)(nil)
)

// Card posts the request card when it has none yet, and otherwise queues
// an update of it: updates of one message are coalesced (the latest state
// wins) and written at the channel's pace, and a terminal state is never
// overwritten by an older one nor dropped before Close gives up.
func (s *Slack) Card(ctx context.Context, req *deploy.Request, info deploy.CardInfo) (deploy.MessageRef, error) {
	msg := Message{Text: CardText(req), Blocks: RenderCard(req, info)}
	st := &cardState{text: msg.Text, blocks: msg.Blocks, terminal: req.Status.Terminal()}
	ref := req.Message
	if ref.TS == "" {
		var err error
		var posted bool
		ref, posted, err = s.postCard(ctx, req, msg)
		if err != nil || posted {
			return ref, err
		}
	}
	s.enqueue(msgKey{ref.Channel, ref.TS}, st)
	return ref, nil
}

// Memory bounds: the gateway forgets what it knows of requests more than
// rememberRequests ids older than the newest card it posted, and stops
// guarding a final card state against late updates after guardFinal.
const (
	rememberRequests = 10000
	guardFinal       = 30 * time.Minute
)

// pruneLocked bounds the gateway's per-request memory; newest is the id of
// the card just posted. s.mu must be held.
func (s *Slack) pruneLocked(newest int64) {
	if len(s.cards) > rememberRequests {
		for id := range s.cards {
			if id <= newest-rememberRequests {
				delete(s.cards, id)
			}
		}
	}
	if len(s.final) > 1000 {
		for k, at := range s.final {
			if time.Since(at) > guardFinal {
				delete(s.final, k)
			}
		}
	}
}

// postCard posts the first card of req, once: a second caller for the same
// request waits for the first and then updates the posted card instead.
func (s *Slack) postCard(ctx context.Context, req *deploy.Request, msg Message) (ref deploy.MessageRef, posted bool, err error) {
	s.mu.Lock()
	for {
		if k, ok := s.cards[req.ID]; ok {
			s.mu.Unlock()
			return deploy.MessageRef{Channel: k.channel, TS: k.ts}, false, nil
		}
		wait, busy := s.posting[req.ID]
		if !busy {
			break
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return ref, false, fmt.Errorf("post card: %w", ctx.Err())
		case <-wait:
		}
		s.mu.Lock()
	}
	done := make(chan struct{})
	s.posting[req.ID] = done
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.posting, req.ID)
		s.mu.Unlock()
		close(done)
	}()
	ts, err := s.post(ctx, req.Channel, msg)
	if err != nil {
		return ref, false, fmt.Errorf("post card: %w", err)
	}
	k := msgKey{req.Channel, ts}
	s.mu.Lock()
	s.cards[req.ID] = k
	if req.Status.Terminal() {
		s.final[k] = time.Now()
	}
	s.pruneLocked(req.ID)
	s.mu.Unlock()
	return deploy.MessageRef{Channel: req.Channel, TS: ts}, true, nil
}

// enqueue records st as the latest state of message k and makes sure a
// flusher writes it.
func (s *Slack) enqueue(k msgKey, st *cardState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, done := s.final[k]; done && !st.terminal {
		// A state computed before the request ended arrived late: the
		// card already shows (or will show) the end.
		s.coalesced.Add(1)
		return
	}
	if st.terminal {
		s.final[k] = time.Now()
	}
	if s.pending[k] != nil {
		s.coalesced.Add(1)
	}
	s.pending[k] = st
	s.queued[k]++
	if !s.flushing[k] {
		s.flushing[k] = true
		if s.flushers == 0 {
			s.idle = make(chan struct{})
		}
		s.flushers++
		go s.flush(k)
	}
}

// flush writes the pending states of message k until none is left. It
// waits for the channel's turn before taking the state, so that what it
// writes is the newest. A failed write is retried (unless Slack refused it
// for good) until the gateway is closed. It takes a turn only when a state
// is pending: a turn taken for nothing would hold back the channel's next
// post (a thread note after the final card) by a whole interval.
func (s *Slack) flush(k msgKey) {
	backoff := s.opts.Backoff
	for {
		s.mu.Lock()
		if s.pending[k] == nil {
			s.flushEndedLocked(k)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		err := s.paceChannel(s.life, k.channel)
		if err == nil {
			err = s.pace(s.life, updateKey, s.opts.UpdateInterval, s.opts.UpdateBurst)
		}
		s.mu.Lock()
		st := s.pending[k]
		if st == nil || err != nil {
			s.flushEndedLocked(k)
			s.mu.Unlock()
			return
		}
		delete(s.pending, k)
		taken := s.queued[k]
		s.mu.Unlock()

		err = s.do(s.life, "chat.update", updateKey, func(ctx context.Context) error {
			_, _, _, err := s.api.UpdateMessageContext(ctx, k.channel, k.ts,
				slack.MsgOptionText(st.text, false), slack.MsgOptionBlocks(st.blocks...))
			return err
		})
		switch {
		case err == nil:
			s.cardUpdates.Add(1)
			backoff = s.opts.Backoff
			s.cardWritten(k, taken)
			continue
		case permanent(err):
			s.log.Error().Err(err).Str("channel", k.channel).Str("ts", k.ts).Msg("card update refused")
			s.cardWritten(k, taken)
			continue
		}
		s.log.Warn().Err(err).Str("channel", k.channel).Str("ts", k.ts).Msg("card update failed; will retry")
		s.mu.Lock()
		if s.pending[k] == nil {
			s.pending[k] = st
		}
		s.mu.Unlock()
		if sleep(s.life, backoff) != nil {
			s.mu.Lock()
			s.flushEndedLocked(k)
			s.mu.Unlock()
			return
		}
		backoff = min(backoff*2, s.opts.MaxBackoff)
	}
}

// cardWritten records that the first n states queued for message k are
// written (the last of them is what Slack shows) and wakes FlushCard.
func (s *Slack) cardWritten(k msgKey, n uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.written[k] = n
	close(s.wrote)
	s.wrote = make(chan struct{})
}

// FlushCard waits until the card updates queued so far for the card at ref
// are written to Slack (or refused by Slack for good), so that a caller
// may record them as delivered: Card only queues an update of a posted
// card. It returns ctx's error when that takes too long, and an error
// when the gateway is closed first.
func (s *Slack) FlushCard(ctx context.Context, ref deploy.MessageRef) error {
	k := msgKey{ref.Channel, ref.TS}
	s.mu.Lock()
	target, ok := s.queued[k]
	s.mu.Unlock()
	if !ok {
		return nil // nothing queued: all written
	}
	for {
		s.mu.Lock()
		_, running := s.queued[k]
		done := !running || s.written[k] >= target
		wrote := s.wrote
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-wrote:
		case <-ctx.Done():
			return fmt.Errorf("card update not written yet: %w", ctx.Err())
		case <-s.life.Done():
			return errors.New("card update not written: the Slack gateway is closed")
		}
	}
}

// flushEndedLocked records that the flusher of k stops. s.mu must be held.
func (s *Slack) flushEndedLocked(k msgKey) {
	delete(s.flushing, k)
	if s.pending[k] == nil {
		// Everything queued is written: FlushCard has nothing to wait for.
		delete(s.queued, k)
		delete(s.written, k)
		close(s.wrote)
		s.wrote = make(chan struct{})
	}
	s.flushers--
	if s.flushers == 0 {
		close(s.idle)
	}
}

// cardRef returns where req's card is, waiting for a post of it that is
// under way.
func (s *Slack) cardRef(ctx context.Context, req *deploy.Request) (deploy.MessageRef, error) {
	if req.Message.TS != "" {
		return req.Message, nil
	}
	s.mu.Lock()
	k, ok := s.cards[req.ID]
	wait := s.posting[req.ID]
	s.mu.Unlock()
	if !ok && wait != nil {
		select {
		case <-ctx.Done():
			return deploy.MessageRef{}, ctx.Err()
		case <-wait:
		}
		s.mu.Lock()
		k, ok = s.cards[req.ID]
		s.mu.Unlock()
	}
	if !ok {
		return deploy.MessageRef{}, fmt.Errorf("request %d has no card yet", req.ID)
	}
	return deploy.MessageRef{Channel: k.channel, TS: k.ts}, nil
}

// Thread posts note, worded by RenderNote, in the card's thread. Text too
// long for a message is clipped there and posted whole as a file in the
// same thread.
func (s *Slack) Thread(ctx context.Context, req *deploy.Request, note deploy.Note) error {
	text := RenderNote(note)
	ref, err := s.cardRef(ctx, req)
	if err != nil {
		return fmt.Errorf("thread: %w", err)
	}
	msg, overflow := RenderThread(text)
	if _, err := s.post(ctx, ref.Channel, msg, slack.MsgOptionTS(ref.TS)); err != nil {
		return fmt.Errorf("thread: %w", err)
	}
	if overflow {
		name := fmt.Sprintf("deploybot-%d-note.txt", req.ID)
		return s.uploadOrNote(ctx, req, ref, name, "Full text", strings.NewReader(text), "the message above is clipped")
	}
	return nil
}

// PostThreadMessage posts a rendered message in the card's thread.
func (s *Slack) PostThreadMessage(ctx context.Context, req *deploy.Request, msg Message) error {
	ref, err := s.cardRef(ctx, req)
	if err != nil {
		return fmt.Errorf("thread: %w", err)
	}
	if _, err := s.post(ctx, ref.Channel, msg, slack.MsgOptionTS(ref.TS)); err != nil {
		return fmt.Errorf("thread: %w", err)
	}
	return nil
}

// Upload posts a file in the card's thread (files upload v2). content is
// streamed from its start on every attempt, never held whole in memory.
func (s *Slack) Upload(ctx context.Context, req *deploy.Request, filename, title string, content io.ReadSeeker) error {
	ref, err := s.cardRef(ctx, req)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	return s.uploadOrNote(ctx, req, ref, filename, title, content, fmt.Sprintf("then run `/deploy log %d` to get it", req.ID))
}

// uploadOrNote uploads a file in the card's thread. When Slack refuses to
// share files there (a public channel the bot posts in through
// chat:write.public without being a member answers not_in_channel), it
// says so in the thread instead, with how to get the file (then, after
// the invitation), and returns the refusal wrapped in
// deploy.ErrChannelUnavailable.
func (s *Slack) uploadOrNote(ctx context.Context, req *deploy.Request, ref deploy.MessageRef, filename, title string, content io.ReadSeeker, then string) error {
	err := s.upload(ctx, ref, filename, title, content)
	if !unavailable(err) {
		return err
	}
	note := RenderInfo(fmt.Sprintf(":warning: I could not attach %s here: Slack lets an app share files only in channels it is a member of. "+
		"Invite me with `/invite @deploybot`; %s.", filename, then))
	if _, perr := s.post(ctx, ref.Channel, note, slack.MsgOptionTS(ref.TS)); perr != nil {
		s.log.Warn().Err(perr).Int64("request_id", req.ID).Msg("note a refused upload")
	}
	return fmt.Errorf("upload: %w: %w", deploy.ErrChannelUnavailable, err)
}

func (s *Slack) upload(ctx context.Context, ref deploy.MessageRef, filename, title string, content io.ReadSeeker) error {
	size, err := content.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if size == 0 {
		content, size = strings.NewReader("(no output)\n"), int64(len("(no output)\n"))
	}
	return s.do(ctx, "files.upload", "", func(ctx context.Context) error {
		// slack-go copies the reader into the request in a goroutine that
		// may outlive a failed attempt: each attempt reads through its own
		// section reader where it can, so a retry never shares an offset.
		var r io.Reader = content
		if ra, ok := content.(io.ReaderAt); ok {
			r = io.NewSectionReader(ra, 0, size)
		} else if _, err := content.Seek(0, io.SeekStart); err != nil {
			return err
		}
		_, err := s.api.UploadFileContext(ctx, slack.UploadFileParameters{
			Reader:          r,
			FileSize:        int(size),
			Filename:        filename,
			Title:           title,
			Channel:         ref.Channel,
			ThreadTimestamp: ref.TS,
		})
		return err
	})
}

// Ephemeral shows text (written by package deploy) to one user.
func (s *Slack) Ephemeral(ctx context.Context, channel, user, text string) error {
	return s.PostEphemeral(ctx, channel, user, RenderInfo(text))
}

// Announce posts note, worded by RenderNote, in a channel.
func (s *Slack) Announce(ctx context.Context, channel string, note deploy.Note) (deploy.MessageRef, error) {
	ts, err := s.post(ctx, channel, RenderInfo(RenderNote(note)))
	if err != nil {
		return deploy.MessageRef{}, fmt.Errorf("announce: %w", err)
	}
	return deploy.MessageRef{Channel: channel, TS: ts}, nil
}
