package bot

import (
	"context"
	"fmt"
	"io"
	"strings"

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
	st := &cardState{msg: msg, terminal: req.Status.Terminal()}
	ref := req.Message
	if ref.TS == "" {
		var err error
		var posted bool
		ref, posted, err = s.postCard(ctx, req, msg)
		if err != nil || posted {
			return ref, err
		}
	}
	s.cards.enqueue(msgKey{ref.Channel, ref.TS}, st)
	return ref, nil
}

// postCard posts the first card of req, once: a second caller for the same
// request waits for the first and then updates the posted card instead.
func (s *Slack) postCard(ctx context.Context, req *deploy.Request, msg Message) (ref deploy.MessageRef, posted bool, err error) {
	k, posted, err := s.posts.once(ctx, req.ID, func() (msgKey, error) {
		ts, err := s.post(ctx, req.Channel, msg)
		if err != nil {
			return msgKey{}, err
		}
		k := msgKey{req.Channel, ts}
		s.cards.posted(k, req.Status.Terminal())
		return k, nil
	})
	if err != nil {
		return ref, false, fmt.Errorf("post card: %w", err)
	}
	return deploy.MessageRef{Channel: k.channel, TS: k.ts}, posted, nil
}

// cardTurn waits for a card update's turn: the channel's, then
// chat.update's across the workspace.
func (s *Slack) cardTurn(ctx context.Context, channel string) error {
	if err := s.paceChannel(ctx, channel); err != nil {
		return err
	}
	return s.pace(ctx, updateKey, s.opts.UpdateInterval, s.opts.UpdateBurst)
}

// updateCard replaces the card at k with msg (chat.update).
func (s *Slack) updateCard(ctx context.Context, k msgKey, msg Message) error {
	return s.do(ctx, "chat.update", updateKey, func(ctx context.Context) error {
		_, _, _, err := s.api.UpdateMessageContext(ctx, k.channel, k.ts,
			slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(msg.Blocks...))
		return err
	})
}

// FlushCard waits until the card updates queued so far for the card at ref
// are written to Slack (or refused by Slack for good), so that a caller
// may record them as delivered: Card only queues an update of a posted
// card. It returns ctx's error when that takes too long, and an error
// when the gateway is closed first.
func (s *Slack) FlushCard(ctx context.Context, ref deploy.MessageRef) error {
	return s.cards.flushCard(ctx, msgKey{ref.Channel, ref.TS})
}

// cardRef returns where req's card is, waiting for a post of it that is
// under way.
func (s *Slack) cardRef(ctx context.Context, req *deploy.Request) (deploy.MessageRef, error) {
	if req.Message.TS != "" {
		return req.Message, nil
	}
	k, ok, err := s.posts.lookup(ctx, req.ID)
	if err != nil {
		return deploy.MessageRef{}, err
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
