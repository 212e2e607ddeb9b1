package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/deploybot/deploybot/bot/slacktest"
)

var cardRE = regexp.MustCompile(`^#(\d+) `)

// cardID is the request id of a card's text ("#12 shop-web …"), or 0.
func cardID(text string) int64 {
	if m := cardRE.FindStringSubmatch(text); m != nil {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		return id
	}
	return 0
}

// seen is what the sandbox has already shown of the fake Slack's state.
type seen struct {
	msgs    map[string][]string // channel/ts -> rendering last shown
	edits   map[string]int      // channel/ts -> edits last shown
	labels  map[string]string   // channel/ts -> card text last shown
	eph     map[string]int      // user -> ephemerals shown
	uploads map[string]bool     // file id -> shown
	views   map[string]int      // view id -> updates shown (+1)
}

func newSeen() *seen {
	return &seen{msgs: map[string][]string{}, edits: map[string]int{}, labels: map[string]string{},
		eph: map[string]int{}, uploads: map[string]bool{}, views: map[string]int{}}
}

// changes compares the fake Slack's state with what was shown and returns
// the lines to print; with commit, it records them as shown.
func (r *repl) changes(commit bool) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	sn := r.seen
	for _, ch := range sandboxChannels {
		for _, m := range r.slack.Messages(ch.ID) {
			if m.ThreadTS != "" {
				continue // a broadcast reply: shown with its thread
			}
			out = append(out, r.messageChanges(sn, ch.Name, m, commit)...)
			thread := r.slack.Thread(ch.ID, m.TS)
			for _, rep := range thread[min(1, len(thread)):] {
				out = append(out, r.replyChanges(sn, ch.Name, m, rep, commit)...)
			}
		}
	}
	for _, u := range sandboxUsers {
		eph := r.slack.Ephemerals(u.ID)
		for _, e := range eph[min(sn.eph[u.ID], len(eph)):] {
			head := fmt.Sprintf("(only %s sees, in #%s)", u.Name, r.names[e.Channel])
			var lines []string
			if e.Source == "slack" {
				lines = []string{"Slack: " + e.Text + " " + e.Error}
			} else {
				lines = r.names.blocks(e.Blocks)
				if len(lines) == 0 {
					lines = strings.Split(r.names.plain(e.Text), "\n")
				}
			}
			out = append(out, head+" ▸ "+first(lines))
			out = append(out, indent(lines[min(1, len(lines)):])...)
		}
		if commit {
			sn.eph[u.ID] = len(eph)
		}
		for _, v := range r.slack.Views(u.ID) {
			if !v.Open || sn.views[v.ID] == v.Updates+1 {
				continue
			}
			var view struct {
				Title  any             `json:"title"`
				Blocks json.RawMessage `json:"blocks"`
			}
			_ = json.Unmarshal(v.Raw, &view)
			out = append(out, fmt.Sprintf("(only %s sees) ▸ a form opened: %q", u.Name, textOf(view.Title)))
			out = append(out, indent(r.names.blocks(view.Blocks))...)
			for field, msg := range v.Errors {
				out = append(out, "    ! "+field+": "+msg)
			}
			out = append(out, "    fill it in with: submit app=<app> env=<env> version=<version>")
			if commit {
				sn.views[v.ID] = v.Updates + 1
			}
		}
	}
	for _, up := range r.slack.Uploads() {
		if !up.Completed || sn.uploads[up.FileID] {
			continue
		}
		where := "privately"
		if up.Channel != "" {
			where = "in #" + r.names[up.Channel]
			if parent, ok := r.slack.Message(up.Channel, up.ThreadTS); ok && up.ThreadTS != "" {
				where += " ▸ thread of " + r.cardName(parent)
			}
		}
		out = append(out, fmt.Sprintf("%s ▸ file %s uploaded (%d bytes, %d lines): `upload %s` prints it",
			where, up.Filename, len(up.Content), strings.Count(string(up.Content), "\n"), up.FileID))
		if commit {
			sn.uploads[up.FileID] = true
		}
	}
	return out
}

// messageChanges reports a new top-level message, or what changed in an
// edited one: the whole card when its status changed, else the new lines.
func (r *repl) messageChanges(sn *seen, chName string, m slacktest.Message, commit bool) []string {
	key := m.Channel + "/" + m.TS
	old, shown := sn.msgs[key]
	if shown && sn.edits[key] == m.Edits {
		return nil
	}
	if placeholder(m) {
		return nil // the card that replaces it is shown as a new card
	}
	lines := r.render(m)
	var out []string
	switch {
	case !shown || (cardID(sn.labels[key]) == 0 && cardID(m.Text) > 0):
		// A request's card replaces the placeholder the bot posts first.
		what := "new message"
		if cardID(m.Text) > 0 {
			what = "new " + r.cardName(m)
		}
		out = append(out, fmt.Sprintf("#%s ▸ %s", chName, what))
		out = append(out, indent(lines)...)
	case sn.labels[key] != m.Text:
		out = append(out, fmt.Sprintf("#%s ▸ %s is now: %s", chName, r.cardName(m), status(m.Text)))
		out = append(out, indent(lines)...)
	default:
		var fresh []string
		for _, l := range lines {
			if !slices.Contains(old, l) {
				fresh = append(fresh, l)
			}
		}
		if len(fresh) == 0 {
			break
		}
		out = append(out, fmt.Sprintf("#%s ▸ %s updated:", chName, r.cardName(m)))
		out = append(out, indent(fresh)...)
	}
	if commit {
		sn.msgs[key], sn.edits[key], sn.labels[key] = lines, m.Edits, m.Text
	}
	return out
}

// replyChanges reports a new thread reply, or the new lines of an edited
// one (milestones are coalesced into edits).
func (r *repl) replyChanges(sn *seen, chName string, parent, m slacktest.Message, commit bool) []string {
	key := m.Channel + "/" + m.TS
	old, shown := sn.msgs[key]
	if shown && sn.edits[key] == m.Edits {
		return nil
	}
	lines := r.render(m)
	if len(m.Files) > 0 && strings.TrimSpace(strings.Join(lines, "")) == "" {
		lines = nil // a file share: reported with the upload
	}
	if shown {
		var fresh []string
		for _, l := range lines {
			if !slices.Contains(old, l) {
				fresh = append(fresh, l)
			}
		}
		lines = fresh
	}
	var out []string
	if len(lines) > 0 {
		out = append(out, fmt.Sprintf("#%s ▸ thread of %s ▸ %s", chName, r.cardName(parent), lines[0]))
		out = append(out, indent(lines[1:])...)
	}
	if commit {
		sn.msgs[key], sn.edits[key] = r.render(m), m.Edits
	}
	return out
}

// status is the status label at the end of a card's text.
func status(text string) string {
	if i := strings.LastIndex(text, ": "); i >= 0 {
		return text[i+2:]
	}
	return text
}

// cardName is "card #12" for a request card, else "a message".
func (r *repl) cardName(m slacktest.Message) string {
	if id := cardID(m.Text); id > 0 {
		return fmt.Sprintf("card #%d", id)
	}
	return "a message"
}

// render is a message's blocks as text, or its text when it has none.
func (r *repl) render(m slacktest.Message) []string {
	lines := r.names.blocks(m.Blocks)
	if len(lines) == 0 {
		lines = strings.Split(r.names.plain(m.Text), "\n")
	}
	return lines
}

func first(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[0]
}

func indent(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = "    " + l
	}
	return out
}

// placeholder reports whether m is the message the bot posts first for a
// request, before its card replaces it.
func placeholder(m slacktest.Message) bool {
	return cardID(m.Text) == 0 && strings.HasSuffix(m.Text, "preparing the request…")
}
