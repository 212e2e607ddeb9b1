package deploytest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deploy"
)

// CardCall is one Notifier.Card call: a copy of the request as it was shown
// and the extra card information.
type CardCall struct {
	Req  deploy.Request
	Info deploy.CardInfo
}

// ThreadPost is one Notifier.Thread call: the note and its text as the
// bot words it (bot.RenderNote).
type ThreadPost struct {
	RequestID int64
	Message   deploy.MessageRef
	Note      deploy.Note
	Text      string
}

// Upload is one Notifier.Upload call.
type Upload struct {
	RequestID int64
	Filename  string
	Title     string
	Content   []byte
}

// Ephemeral is one Notifier.Ephemeral call.
type Ephemeral struct {
	Channel, User, Text string
}

// Notifier is a deploy.Notifier that records every call. Card assigns a
// message reference to a request shown for the first time.
type Notifier struct {
	mu         sync.Mutex
	next       int
	cards      []CardCall
	threads    []ThreadPost
	uploads    []Upload
	ephemerals []Ephemeral
	announces  []string
	refused    map[string]error // channel -> error of every new post there
	beforeCard func(ctx context.Context, req *deploy.Request)
	// Err, when set, is returned by every call.
	Err error
	// Hook, when set, is called at the start of every Card and Thread
	// call with the call's name, outside the recorder's lock (a test may
	// block there: a slow Slack).
	Hook func(call string)
}

// SetErr sets Err while calls may be made.
func (n *Notifier) SetErr(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.Err = err
}

// SetHook sets Hook.
func (n *Notifier) SetHook(h func(call string)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.Hook = h
}

func (n *Notifier) hook(call string) {
	n.mu.Lock()
	h := n.Hook
	n.mu.Unlock()
	if h != nil {
		h(call)
	}
}

// RefusePosts makes every new message in channel (a card's first post, an
// announcement) fail with err, as Slack refuses posts where the bot cannot
// write; nil lifts it.
func (n *Notifier) RefusePosts(channel string, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.refused == nil {
		n.refused = map[string]error{}
	}
	if err == nil {
		delete(n.refused, channel)
		return
	}
	n.refused[channel] = err
}

// BeforeCard makes every later Card call f first, with the call's context,
// outside the recorder's lock (f may act on the service meanwhile, as
// another replica would).
func (n *Notifier) BeforeCard(f func(ctx context.Context, req *deploy.Request)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.beforeCard = f
}

// NewNotifier returns an empty recorder.
func NewNotifier() *Notifier { return &Notifier{} }

// Card records the card and returns its message reference.
func (n *Notifier) Card(ctx context.Context, req *deploy.Request, info deploy.CardInfo) (deploy.MessageRef, error) {
	n.hook("card")
	n.mu.Lock()
	before := n.beforeCard
	n.mu.Unlock()
	if before != nil {
		before(ctx, req)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.Err != nil {
		return deploy.MessageRef{}, n.Err
	}
	ref := req.Message
	if ref.TS == "" {
		if err := n.refused[req.Channel]; err != nil {
			return deploy.MessageRef{}, err
		}
		n.next++
		ref = deploy.MessageRef{Channel: req.Channel, TS: fmt.Sprintf("1700000000.%06d", n.next)}
	}
	c := *req
	c.Message = ref
	n.cards = append(n.cards, CardCall{Req: c, Info: info})
	return ref, nil
}

// Thread records a thread post.
func (n *Notifier) Thread(_ context.Context, req *deploy.Request, note deploy.Note) error {
	n.hook("thread")
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.Err != nil {
		return n.Err
	}
	n.threads = append(n.threads, ThreadPost{RequestID: req.ID, Message: req.Message, Note: note, Text: bot.RenderNote(note)})
	return nil
}

// Upload records a file upload.
func (n *Notifier) Upload(_ context.Context, req *deploy.Request, filename, title string, content io.ReadSeeker) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.Err != nil {
		return n.Err
	}
	if _, err := content.Seek(0, io.SeekStart); err != nil {
		return err
	}
	b, err := io.ReadAll(content)
	if err != nil {
		return err
	}
	n.uploads = append(n.uploads, Upload{RequestID: req.ID, Filename: filename, Title: title, Content: b})
	return nil
}

// Ephemeral records an ephemeral message.
func (n *Notifier) Ephemeral(_ context.Context, channel, user, text string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ephemerals = append(n.ephemerals, Ephemeral{channel, user, text})
	return n.Err
}

// Announce records an announcement as the bot words it.
func (n *Notifier) Announce(_ context.Context, channel string, note deploy.Note) (deploy.MessageRef, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.refused[channel]; err != nil {
		return deploy.MessageRef{}, err
	}
	n.next++
	n.announces = append(n.announces, bot.RenderNote(note))
	return deploy.MessageRef{Channel: channel, TS: fmt.Sprintf("1700000000.%06d", n.next)}, n.Err
}

// Cards returns the cards shown for request id, oldest first.
func (n *Notifier) Cards(id int64) []CardCall {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []CardCall
	for _, c := range n.cards {
		if c.Req.ID == id {
			out = append(out, c)
		}
	}
	return out
}

// LastCard returns the latest card shown for request id.
func (n *Notifier) LastCard(id int64) (CardCall, bool) {
	cs := n.Cards(id)
	if len(cs) == 0 {
		return CardCall{}, false
	}
	return cs[len(cs)-1], true
}

// Threads returns the texts posted in request id's thread, oldest first.
func (n *Notifier) Threads(id int64) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, t := range n.threads {
		if t.RequestID == id {
			out = append(out, t.Text)
		}
	}
	return out
}

// ThreadText returns request id's thread as one string.
func (n *Notifier) ThreadText(id int64) string {
	return strings.Join(n.Threads(id), "\n")
}

// Uploads returns the files uploaded in request id's thread.
func (n *Notifier) Uploads(id int64) []Upload {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Upload
	for _, u := range n.uploads {
		if u.RequestID == id {
			out = append(out, u)
		}
	}
	return out
}

// Ephemerals returns the ephemeral messages shown.
func (n *Notifier) Ephemerals() []Ephemeral {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Ephemeral(nil), n.ephemerals...)
}

var _ deploy.Notifier = (*Notifier)(nil)
