package slacktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Message is a message stored in a channel.
type Message struct {
	Channel string
	// TS is the message id, "<seconds>.<6 digits>".
	TS string
	// ThreadTS is the parent's ts for a thread reply, "" otherwise.
	ThreadTS string
	// User is the author; the bot user for messages the app posted.
	User string
	// BotID is set for messages the app posted.
	BotID string
	Text  string
	// Blocks is the stored blocks array as Slack keeps it (every block has a
	// block_id), nil when the message has none.
	Blocks json.RawMessage
	// ReplyBroadcast is set for thread replies also shown in the channel.
	ReplyBroadcast bool
	// Edits counts the chat.update (or replace_original) calls applied.
	Edits int
	// Files lists the ids of files shared with this message.
	Files []string
	// Source says how the message got there: "chat.postMessage", "ack"
	// (slash command ack payload), "response_url", "files" or "user".
	Source string
}

// Ephemeral is a message only one user sees: posted with
// chat.postEphemeral, answered through an ack or a response URL, or an error
// Slack itself shows (Source "slack", e.g. operation_timeout).
type Ephemeral struct {
	Channel, User string
	// TS is the message_ts chat.postEphemeral answered (or a generated one).
	TS       string
	ThreadTS string
	Text     string
	Blocks   json.RawMessage
	// Source is "chat.postEphemeral", "ack", "response_url" or "slack".
	Source string
	// Error is the error Slack shows the user when Source is "slack":
	// "operation_timeout", "dispatch_failed" or "invalid_blocks".
	Error string
}

// content is the text and blocks of a message being posted.
type content struct {
	text        string
	blocks      json.RawMessage // normalised; nil when absent or []
	hasBlocks   bool            // the blocks argument was given (even [])
	attachments bool
	warning     string
}

// parseContent reads text/blocks/attachments and validates the blocks.
func parseContent(rq *apiRequest) (content, *apiError) {
	c := content{text: rq.arg("text")}
	if a := strings.TrimSpace(rq.arg("attachments")); a != "" && a != "[]" && a != "null" {
		c.attachments = true
	}
	if raw := strings.TrimSpace(rq.arg("blocks")); rq.has("blocks") && raw != "" && raw != "null" {
		c.hasBlocks = true
		blocks, e := checkBlocks([]byte(raw))
		if e != nil {
			return c, e
		}
		c.blocks = blocks
	}
	if runes(c.text) > maxTopLevelText {
		c.text = string([]rune(c.text)[:maxTopLevelText])
		c.warning = "message_truncated"
	}
	return c, nil
}

// maxBlocksText is the total text a message's blocks may carry in
// chat.postMessage and chat.update before Slack answers msg_blocks_too_long.
// Slack documents no figure: its staff gave "12,000 text characters with a
// buffer for block containers" (slackapi/bolt-js#2509), and a message
// measured at 11,341 characters of .text was refused (slackapi/bolt-js#2867,
// which also reports response_url answers unaffected). The fake refuses past
// 11,000 so as never to be kinder.
const maxBlocksText = 11000

// blocksText sums the characters of every "text" string in blocks.
func blocksText(x any) int {
	n := 0
	switch v := x.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && k == "text" {
				n += runes(s)
			} else {
				n += blocksText(e)
			}
		}
	case []any:
		for _, e := range v {
			n += blocksText(e)
		}
	}
	return n
}

// checkBlocksText answers msg_blocks_too_long for blocks over maxBlocksText.
func checkBlocksText(c content) *apiError {
	if c.blocks != nil && blocksText(decodeJSON(c.blocks)) > maxBlocksText {
		return errf("msg_blocks_too_long")
	}
	return nil
}

// checkBlocks validates a blocks array and returns it normalised, or the
// invalid_blocks error Slack answers.
func checkBlocks(raw []byte) (json.RawMessage, *apiError) {
	arr, ok := decodeJSON(raw).([]any)
	if !ok {
		return nil, errf("invalid_blocks_format")
	}
	if errs := ValidateBlocks(raw); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = "[ERROR] " + e
		}
		return nil, &apiError{code: "invalid_blocks", extra: map[string]any{
			"errors": errs, "response_metadata": map[string]any{"messages": msgs},
		}}
	}
	if len(arr) == 0 {
		return nil, nil
	}
	return normalizeBlocks(arr), nil
}

// normalizeBlocks gives every block a block_id, as Slack does when the app
// sent none.
func normalizeBlocks(arr []any) json.RawMessage {
	for _, b := range arr {
		if obj, ok := b.(map[string]any); ok {
			if id, _ := obj["block_id"].(string); id == "" {
				obj["block_id"] = randAlnum(4)
			}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(arr)
	return json.RawMessage(bytes.TrimSpace(buf.Bytes()))
}

func randAlnum(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte(randHex(2 * n))
	for i := range n {
		b[i] = alphabet[(int(b[2*i])*31+int(b[2*i+1]))%len(alphabet)]
	}
	return string(b[:n])
}

// withWarning adds Slack's truncation warning to a success answer.
func withWarning(resp map[string]any, c content) map[string]any {
	if c.warning != "" {
		resp["warning"] = c.warning
		resp["response_metadata"] = map[string]any{"messages": []string{
			"[WARN] Your message was truncated but still posted. The `text` field accepts up to 40,000 characters.",
		}}
	}
	return resp
}

// channelLocked resolves a channel id or name ("#name" or "name").
func (s *Server) channelLocked(ref string) *channel {
	if ch := s.channels[ref]; ch != nil {
		return ch
	}
	name := strings.TrimPrefix(ref, "#")
	for _, ch := range s.channels {
		if ch.Name == name {
			return ch
		}
	}
	return nil
}

// postableLocked resolves the channel the bot posts to and checks that it
// may: a private channel the bot is not in is invisible to it, a public one
// needs membership or chat:write.public.
func (s *Server) postableLocked(ref string) (*channel, *apiError) {
	ch := s.channelLocked(ref)
	switch {
	case ch == nil, !ch.Public && !ch.BotMember:
		return nil, errf("channel_not_found")
	case ch.Archived:
		return nil, errf("is_archived")
	case !ch.BotMember && !slices.Contains(s.botScopes, "chat:write.public"):
		return nil, errf("not_in_channel")
	}
	return ch, nil
}

// memberLocked resolves a channel where the method needs the bot to be a
// member (see channel for the rules and their sources): a public channel the
// bot is not in answers outsider, a private one channel_not_found.
func (s *Server) memberLocked(ref, outsider string) (*channel, *apiError) {
	ch, e := s.postableLocked(ref)
	if e != nil {
		return nil, e
	}
	if !ch.BotMember {
		return nil, errf(outsider)
	}
	return ch, nil
}

// findLocked returns the stored message, or nil.
func (s *Server) findLocked(channelID, ts string) *Message {
	for _, m := range s.messages[channelID] {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

// threadRootLocked resolves the thread_ts a reply is posted with: the
// parent's ts, or "" when the parent is gone (Slack then posts un-threaded).
func (s *Server) threadRootLocked(channelID, threadTS string) string {
	if threadTS == "" {
		return ""
	}
	p := s.findLocked(channelID, threadTS)
	switch {
	case p == nil:
		return ""
	case p.ThreadTS != "":
		return p.ThreadTS
	}
	return p.TS
}

// storeLocked gives m a ts and appends it to its channel.
func (s *Server) storeLocked(m *Message) *Message {
	m.TS = s.newTSLocked()
	s.messages[m.Channel] = append(s.messages[m.Channel], m)
	return m
}

// botMessage builds a message the app posts.
func (s *Server) botMessage(channelID, threadTS string, c content, source string) *Message {
	return &Message{
		Channel: channelID, ThreadTS: threadTS, User: s.BotUserID, BotID: s.BotID,
		Text: c.text, Blocks: c.blocks, Source: source,
	}
}

// messageJSON renders a stored message as the Web API shows it.
func (s *Server) messageJSON(m *Message) map[string]any {
	out := map[string]any{"type": "message", "text": m.Text, "user": m.User, "ts": m.TS, "team": s.TeamID}
	if m.BotID != "" {
		out["bot_id"] = m.BotID
		out["app_id"] = s.AppID
		out["bot_profile"] = map[string]any{"id": s.BotID, "app_id": s.AppID, "name": s.BotName, "team_id": s.TeamID, "deleted": false}
	}
	if m.Blocks != nil {
		out["blocks"] = m.Blocks
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
		if p := s.findLocked(m.Channel, m.ThreadTS); p != nil {
			out["parent_user_id"] = p.User
		}
	}
	if m.Edits > 0 {
		out["edited"] = map[string]any{"user": m.User, "ts": m.TS}
	}
	return out
}

func (s *Server) chatPostMessage(rq *apiRequest) (map[string]any, *apiError) {
	ch, e := s.postableLocked(rq.arg("channel"))
	if e != nil {
		return nil, e
	}
	c, e := parseContent(rq)
	if e != nil {
		return nil, e
	}
	if c.text == "" && c.blocks == nil && !c.attachments {
		return nil, errf("no_text")
	}
	if e := checkBlocksText(c); e != nil {
		return nil, e
	}
	m := s.botMessage(ch.ID, s.threadRootLocked(ch.ID, rq.arg("thread_ts")), c, "chat.postMessage")
	m.ReplyBroadcast = m.ThreadTS != "" && rq.boolArg("reply_broadcast")
	s.storeLocked(m)
	return withWarning(map[string]any{"channel": ch.ID, "ts": m.TS, "message": s.messageJSON(m)}, c), nil
}

func (s *Server) chatUpdate(rq *apiRequest) (map[string]any, *apiError) {
	ch := s.channelLocked(rq.arg("channel"))
	if ch == nil {
		return nil, errf("channel_not_found")
	}
	m := s.findLocked(ch.ID, rq.arg("ts"))
	if m == nil {
		return nil, errf("message_not_found")
	}
	if m.BotID != s.BotID {
		return nil, errf("cant_update_message")
	}
	c, e := parseContent(rq)
	if e != nil {
		return nil, e
	}
	if e := checkBlocksText(c); e != nil {
		return nil, e
	}
	// https://docs.slack.dev/reference/methods/chat.update: blocks given
	// (even []) replace the old ones; text without blocks removes them;
	// neither keeps them.
	switch {
	case c.hasBlocks:
		m.Blocks = c.blocks
		if rq.has("text") {
			m.Text = c.text
		}
	case rq.has("text") && c.text != "":
		m.Blocks = nil
		m.Text = c.text
	}
	m.Edits++
	return withWarning(map[string]any{"channel": ch.ID, "ts": m.TS, "text": m.Text, "message": s.messageJSON(m)}, c), nil
}

func (s *Server) chatPostEphemeral(rq *apiRequest) (map[string]any, *apiError) {
	ch, e := s.memberLocked(rq.arg("channel"), "channel_not_found")
	if e != nil {
		return nil, e
	}
	u := rq.arg("user")
	if s.users[u] == nil || (ch.Members != nil && !ch.Members[u]) {
		return nil, errf("user_not_in_channel")
	}
	c, e := parseContent(rq)
	if e != nil {
		return nil, e
	}
	if c.text == "" && c.blocks == nil && !c.attachments {
		return nil, errf("no_text")
	}
	eph := Ephemeral{
		Channel: ch.ID, User: u, TS: s.newTSLocked(), ThreadTS: rq.arg("thread_ts"),
		Text: c.text, Blocks: c.blocks, Source: "chat.postEphemeral",
	}
	s.ephemerals = append(s.ephemerals, eph)
	return withWarning(map[string]any{"message_ts": eph.TS}, c), nil
}

func (s *Server) chatDelete(rq *apiRequest) (map[string]any, *apiError) {
	ch := s.channelLocked(rq.arg("channel"))
	if ch == nil {
		return nil, errf("channel_not_found")
	}
	ts := rq.arg("ts")
	m := s.findLocked(ch.ID, ts)
	if m == nil {
		return nil, errf("message_not_found")
	}
	if m.BotID != s.BotID {
		return nil, errf("cant_delete_message")
	}
	s.deleteLocked(ch.ID, ts)
	return map[string]any{"channel": ch.ID, "ts": ts}, nil
}

func (s *Server) deleteLocked(channelID, ts string) {
	s.messages[channelID] = slices.DeleteFunc(s.messages[channelID], func(m *Message) bool { return m.TS == ts })
}

// PostUserMessage stores a message written by a user (not the app), for
// tests about threads and ownership, and returns its ts.
func (s *Server) PostUserMessage(channelID, userID, text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.channels[channelID] == nil {
		s.errorf("slacktest: PostUserMessage: unknown channel %s", channelID)
		return ""
	}
	m := s.storeLocked(&Message{Channel: channelID, User: userID, Text: text, Source: "user"})
	s.notifyLocked()
	return m.TS
}

// Messages returns the messages visible in a channel, in ts order: top-level
// messages and thread replies sent with reply_broadcast.
func (s *Server) Messages(channelID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages[channelID] {
		if m.ThreadTS == "" || m.ReplyBroadcast {
			out = append(out, copyMessage(m))
		}
	}
	return out
}

// Thread returns a thread: the parent message then its replies in ts order,
// or nil when there is no such message.
func (s *Server) Thread(channelID, ts string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.findLocked(channelID, ts)
	if p == nil {
		return nil
	}
	out := []Message{copyMessage(p)}
	for _, m := range s.messages[channelID] {
		if m.ThreadTS == ts {
			out = append(out, copyMessage(m))
		}
	}
	return out
}

// Message returns one stored message.
func (s *Server) Message(channelID, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findLocked(channelID, ts)
	if m == nil {
		return Message{}, false
	}
	return copyMessage(m), true
}

// Ephemerals returns the ephemeral messages shown to a user, oldest first.
func (s *Server) Ephemerals(userID string) []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ephemeral
	for _, e := range s.ephemerals {
		if e.User == userID {
			out = append(out, e)
		}
	}
	return out
}

func copyMessage(m *Message) Message {
	c := *m
	c.Blocks = append(json.RawMessage(nil), m.Blocks...)
	if m.Blocks == nil {
		c.Blocks = nil
	}
	c.Files = append([]string(nil), m.Files...)
	return c
}

// String renders a message briefly for test failure output.
func (m Message) String() string {
	return fmt.Sprintf("%s/%s thread=%q user=%s text=%q blocks=%dB", m.Channel, m.TS, m.ThreadTS, m.User, m.Text, len(m.Blocks))
}
