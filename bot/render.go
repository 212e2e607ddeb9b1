package bot

import (
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Slack's Block Kit limits (https://docs.slack.dev/block-kit and its block
// reference pages). Lengths count characters.
const (
	maxBlocks      = 50
	maxSectionText = 3000
	maxFieldText   = 2000
	maxHeaderText  = 150
	maxButtonText  = 75
	maxContextElts = 10
	maxOptionText  = 75
	maxOptionValue = 150
	maxOptions     = 100
	// maxBlocksTotal keeps the text of all blocks of a message under the
	// undocumented msg_blocks_too_long cap (about 12k characters).
	maxBlocksTotal = 11000
	// maxThreadText is the longest text posted as a message; longer text
	// goes to a file upload.
	maxThreadText = 3900
	ellipsis      = "…"
)

// escape escapes the three characters that are control characters in
// Slack mrkdwn (&, <, >), and nothing else. User-supplied text goes through
// it exactly once, when it is placed into a message.
func escape(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// clip shortens s (text already formatted for Slack) to at most max
// characters, ending with "…" and then more when it was cut. It never cuts
// inside an entity (&amp;) or a control sequence (<@U1>) and keeps a code
// block closed.
func clip(s string, max int, more string) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	tail := ellipsis + more
	budget := max - utf8.RuneCountInString(tail)
	if budget < 0 {
		// The note itself does not fit: cut the note.
		return cutRunes(tail, max)
	}
	code := strings.Count(s, "```")%2 == 0 && strings.Contains(s, "```")
	if code {
		budget -= 4 // room for "\n```" to close an open code block
		if budget < 0 {
			budget = 0
		}
	}
	cut := cutRunes(s, budget)
	// Do not leave half an entity or half a control sequence.
	if i := strings.LastIndexByte(cut, '&'); i >= 0 && !strings.Contains(cut[i:], ";") && len(cut)-i <= 5 {
		cut = cut[:i]
	}
	if i := strings.LastIndexByte(cut, '<'); i >= 0 && !strings.Contains(cut[i:], ">") {
		cut = cut[:i]
	}
	if code && strings.Count(cut, "```")%2 == 1 {
		cut += "\n```"
	}
	return cut + tail
}

// cutRunes returns the first n characters of s.
func cutRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// plain makes a plain_text object of at most max characters; plain text is
// shown literally, so it is not escaped. Empty text becomes "-" because
// Slack refuses empty text objects.
func plain(s string, max int) *slack.TextBlockObject {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\n", " "))
	if s == "" {
		s = "-"
	}
	return slack.NewTextBlockObject(slack.PlainTextType, clip(s, max, ""), false, false)
}

// mrkdwn makes a mrkdwn text object; s must already be escaped.
func mrkdwn(s string) *slack.TextBlockObject {
	if strings.TrimSpace(s) == "" {
		s = "-"
	}
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

// section is a section block with mrkdwn text clipped to Slack's limit.
func section(id, text, more string) *slack.SectionBlock {
	return slack.NewSectionBlock(mrkdwn(clip(text, maxSectionText, more)), nil, nil, slack.SectionBlockOptionBlockID(id))
}

// header is a header block.
func header(id, text string) *slack.HeaderBlock {
	return slack.NewHeaderBlock(plain(text, maxHeaderText), slack.HeaderBlockOptionBlockID(id))
}

// contextBlock is a context block of mrkdwn elements (at most 10).
func contextBlock(id string, texts ...string) *slack.ContextBlock {
	var elts []slack.MixedElement
	for _, t := range texts {
		if t == "" || len(elts) == maxContextElts {
			continue
		}
		elts = append(elts, mrkdwn(clip(t, maxSectionText, "")))
	}
	if len(elts) == 0 {
		elts = append(elts, mrkdwn("-"))
	}
	return slack.NewContextBlock(id, elts...)
}

// button is a button carrying only an opaque value (a request id).
func button(actionID, text, value, style string) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(actionID, value, plain(text, maxButtonText))
	if style != "" {
		b.Style = slack.Style(style)
	}
	return b
}

// codeBlock puts text in a fixed-width block, escaped, clipped so that the
// whole block fits in max characters.
func codeBlock(text string, max int, more string) string {
	text = strings.Trim(text, "\n")
	if text == "" {
		return ""
	}
	// "```" is not an escape in Slack; break any inside the text so the
	// block cannot be closed early.
	text = strings.ReplaceAll(escape(text), "```", "`\u200b``")
	return clip("```\n"+text+"\n```", max, more)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// fitBlocks keeps a message within the block count and the total text
// budget. The last keep blocks (the buttons) always stay; blocks before them
// that do not fit are dropped and replaced by a note that says where the
// rest is.
func fitBlocks(blocks []slack.Block, keep int, more string) []slack.Block {
	total := 0
	for _, b := range blocks {
		total += blockTextLen(b)
	}
	if len(blocks) <= maxBlocks && total <= maxBlocksTotal {
		return blocks
	}
	if keep > len(blocks) {
		keep = len(blocks)
	}
	head, tail := blocks[:len(blocks)-keep], blocks[len(blocks)-keep:]
	note := contextBlock("more", ellipsis+" "+more)
	used := blockTextLen(note)
	for _, b := range tail {
		used += blockTextLen(b)
	}
	out := make([]slack.Block, 0, maxBlocks)
	for _, b := range head {
		if len(out)+len(tail)+1 >= maxBlocks || used+blockTextLen(b) > maxBlocksTotal {
			break
		}
		out = append(out, b)
		used += blockTextLen(b)
	}
	out = append(out, note)
	return append(out, tail...)
}

// blockTextLen counts the characters of text a block carries.
func blockTextLen(b slack.Block) int {
	n := func(t *slack.TextBlockObject) int {
		if t == nil {
			return 0
		}
		return utf8.RuneCountInString(t.Text)
	}
	switch b := b.(type) {
	case *slack.SectionBlock:
		c := n(b.Text)
		for _, f := range b.Fields {
			c += n(f)
		}
		return c
	case *slack.HeaderBlock:
		return n(b.Text)
	case *slack.ContextBlock:
		c := 0
		for _, e := range b.ContextElements.Elements {
			if t, ok := e.(*slack.TextBlockObject); ok {
				c += n(t)
			}
		}
		return c
	}
	return 0
}
