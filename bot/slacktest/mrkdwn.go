package slacktest

import (
	"encoding/json"
	"strings"
)

// Entity is a piece of mrkdwn text that Slack shows as something live
// rather than as the characters written: a mention that notifies, a
// channel reference, a link, a formatted date.
type Entity struct {
	// Kind is one of "user" (<@U…>), "channel" (<#C…>), "usergroup"
	// (<!subteam^S…>), "broadcast" (<!here>, <!channel>, <!everyone>),
	// "date" (<!date^…>), "special" (any other <!…>) and "link" (any
	// other <…>, a URL or not).
	Kind string
	// ID is the user, channel or group id, the broadcast's name, or the
	// link's target.
	ID string
	// Label is the text after "|", "" when there is none.
	Label string
	// Raw is the whole sequence, brackets included.
	Raw string
}

// ParseMrkdwn returns the live entities of mrkdwn text as Slack reads it.
//
// Slack uses &, < and > as control characters: "<…>" is a control
// sequence and the three entities &amp; &lt; &gt; show as & < >, so text
// escaped that way is shown literally (Slack, "Formatting text for app
// surfaces", https://api.slack.com/reference/surfaces/formatting, sections
// "Escaping text" and "Advanced formatting"). The parser ends
// a sequence at the first ">" and reads "|" as the start of its label. It
// is no kinder than Slack: a sequence is live wherever it appears, inside
// code spans and code blocks too, and anything in brackets that is not a
// mention, a broadcast or a date is read as a link.
//
// Bare words such as "@here" become mentions only when a message is posted
// with link_names or parse=full; the bot sets neither, so they are not
// reported.
func ParseMrkdwn(text string) []Entity {
	var out []Entity
	for {
		i := strings.IndexByte(text, '<')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(text[i:], '>')
		if j < 0 {
			return out
		}
		raw := text[i : i+j+1]
		inner := raw[1 : len(raw)-1]
		text = text[i+j+1:]
		if inner == "" {
			continue
		}
		target, label, _ := strings.Cut(inner, "|")
		e := Entity{Label: label, Raw: raw}
		switch {
		case strings.HasPrefix(target, "@"):
			e.Kind, e.ID = "user", target[1:]
		case strings.HasPrefix(target, "#"):
			e.Kind, e.ID = "channel", target[1:]
		case strings.HasPrefix(target, "!subteam^"):
			e.Kind, e.ID = "usergroup", target[len("!subteam^"):]
		case target == "!here" || target == "!channel" || target == "!everyone" ||
			strings.HasPrefix(target, "!here^") || strings.HasPrefix(target, "!channel^") || strings.HasPrefix(target, "!everyone^"):
			name, _, _ := strings.Cut(target[1:], "^")
			e.Kind, e.ID = "broadcast", name
		case strings.HasPrefix(target, "!date^"):
			e.Kind, e.ID = "date", target[len("!date^"):]
		case strings.HasPrefix(target, "!"):
			e.Kind, e.ID = "special", target[1:]
		default:
			e.Kind, e.ID = "link", target
		}
		out = append(out, e)
	}
}

// MrkdwnEntities returns the live entities of a message as Slack shows it:
// its top-level text (mrkdwn unless the message says otherwise) and every
// mrkdwn text object in its blocks. plain_text objects are shown literally
// and contribute nothing.
func MrkdwnEntities(text string, blocksJSON []byte) []Entity {
	out := ParseMrkdwn(text)
	if len(blocksJSON) == 0 {
		return out
	}
	var walk func(x any)
	walk = func(x any) {
		switch v := x.(type) {
		case map[string]any:
			if v["type"] == "mrkdwn" {
				if s, ok := v["text"].(string); ok {
					out = append(out, ParseMrkdwn(s)...)
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	var x any
	if json.Unmarshal(blocksJSON, &x) == nil {
		walk(x)
	}
	return out
}

// Entities returns the live entities of a stored message.
func (m Message) Entities() []Entity { return MrkdwnEntities(m.Text, m.Blocks) }
