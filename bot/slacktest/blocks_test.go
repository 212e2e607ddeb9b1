package slacktest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func txt(typ, s string) map[string]any { return map[string]any{"type": typ, "text": s} }

func button(id, label string) map[string]any {
	return map[string]any{"type": "button", "action_id": id, "text": txt("plain_text", label), "value": "req-1"}
}

func TestValidateBlocks(t *testing.T) {
	type B = map[string]any
	many := func(n int, b B) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = b
		}
		return out
	}
	buttons := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = button(fmt.Sprintf("a%d", i), "Go")
		}
		return out
	}
	tests := []struct {
		name   string
		blocks any
		want   []string // substrings, one per expected error line, in order
	}{
		{name: "ValidCard", blocks: []any{
			B{"type": "header", "text": txt("plain_text", "Deploy web 1.2.3 to prod")},
			B{"type": "section", "text": txt("mrkdwn", "*Requested by* <@U1>"), "fields": many(10, txt("mrkdwn", "f"))},
			B{"type": "context", "elements": many(10, txt("mrkdwn", "c"))},
			B{"type": "divider"},
			B{"type": "actions", "block_id": "req-1", "elements": []any{button("approve", "Approve"), button("reject", "Reject")}},
		}},
		{name: "NotAnArray", blocks: B{"type": "divider"}, want: []string{"[json-pointer:/blocks]"}},
		{name: "TooManyBlocks", blocks: many(51, B{"type": "divider"}), want: []string{"no more than 50 items allowed [json-pointer:/blocks]"}},
		{name: "SectionText3001", blocks: []any{B{"type": "section", "text": txt("mrkdwn", strings.Repeat("é", 3001))}},
			want: []string{"must be less than 3001 characters [json-pointer:/blocks/0/text/text]"}},
		{name: "SectionText3000Unicode", blocks: []any{B{"type": "section", "text": txt("mrkdwn", strings.Repeat("é", 3000))}}},
		{name: "EmptyText", blocks: []any{B{"type": "section", "text": txt("mrkdwn", "")}},
			want: []string{"must be more than 0 characters [json-pointer:/blocks/0/text/text]"}},
		{name: "SectionNeither", blocks: []any{B{"type": "section"}}, want: []string{"must provide either text or fields [json-pointer:/blocks/0]"}},
		{name: "ElevenFields", blocks: []any{B{"type": "section", "fields": many(11, txt("mrkdwn", "f"))}},
			want: []string{"no more than 10 items allowed [json-pointer:/blocks/0/fields]"}},
		{name: "Field2001", blocks: []any{B{"type": "section", "fields": []any{txt("mrkdwn", strings.Repeat("f", 2001))}}},
			want: []string{"must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]"}},
		{name: "Header151", blocks: []any{B{"type": "header", "text": txt("plain_text", strings.Repeat("h", 151))}},
			want: []string{"must be less than 151 characters [json-pointer:/blocks/0/text/text]"}},
		{name: "HeaderMrkdwn", blocks: []any{B{"type": "header", "text": txt("mrkdwn", "h")}},
			want: []string{"must be plain_text [json-pointer:/blocks/0/text/type]"}},
		{name: "ElevenContext", blocks: []any{B{"type": "context", "elements": many(11, txt("plain_text", "c"))}},
			want: []string{"no more than 10 items allowed [json-pointer:/blocks/0/elements]"}},
		{name: "TwentySixButtons", blocks: []any{B{"type": "actions", "elements": buttons(26)}},
			want: []string{"no more than 25 items allowed [json-pointer:/blocks/0/elements]"}},
		{name: "ButtonText76", blocks: []any{B{"type": "actions", "elements": []any{button("a", strings.Repeat("b", 76))}}},
			want: []string{"must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"}},
		{name: "ButtonValue2001", blocks: []any{B{"type": "actions", "elements": []any{
			B{"type": "button", "action_id": "a", "text": txt("plain_text", "Go"), "value": strings.Repeat("v", 2001)}}}},
			want: []string{"must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]"}},
		{name: "ButtonStyle", blocks: []any{B{"type": "actions", "elements": []any{
			B{"type": "button", "action_id": "a", "text": txt("plain_text", "Go"), "style": "green"}}}},
			want: []string{"must be one of primary, danger [json-pointer:/blocks/0/elements/0/style]"}},
		{name: "DuplicateBlockID", blocks: []any{B{"type": "divider", "block_id": "x"}, B{"type": "divider", "block_id": "x"}},
			want: []string{"duplicate block_id [json-pointer:/blocks/1/block_id]"}},
		{name: "DuplicateActionID", blocks: []any{B{"type": "actions", "elements": []any{button("a", "1"), button("a", "2")}}},
			want: []string{"duplicate action_id [json-pointer:/blocks/0/elements/1/action_id]"}},
		{name: "BlockID256", blocks: []any{B{"type": "divider", "block_id": strings.Repeat("i", 256)}},
			want: []string{"must be less than 256 characters [json-pointer:/blocks/0/block_id]"}},
		{name: "UnknownType", blocks: []any{B{"type": "carousel"}}, want: []string{"unsupported type: carousel [json-pointer:/blocks/0/type]"}},
		{name: "MarkdownCumulative", blocks: []any{B{"type": "markdown", "text": strings.Repeat("m", 7000)}, B{"type": "markdown", "text": strings.Repeat("m", 5001)}},
			want: []string{"[json-pointer:/blocks/1/text]"}},
		{name: "TwoErrors", blocks: []any{
			B{"type": "section", "text": txt("mrkdwn", strings.Repeat("x", 3001))},
			B{"type": "header", "text": txt("plain_text", strings.Repeat("x", 151))},
		}, want: []string{"/blocks/0/text/text", "/blocks/1/text/text"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ValidateBlocks(mustJSON(t, tt.blocks))
			if len(got) != len(tt.want) {
				t.Fatalf("errors = %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestValidateView(t *testing.T) {
	input := map[string]any{"type": "input", "block_id": "app", "label": txt("plain_text", "App"),
		"element": map[string]any{"type": "plain_text_input", "action_id": "app_input"}}
	tests := []struct {
		name string
		view map[string]any
		want string
	}{
		{name: "Valid", view: map[string]any{"type": "modal", "title": txt("plain_text", "Deploy"), "blocks": []any{input}}},
		{name: "Title25", view: map[string]any{"type": "modal", "title": txt("plain_text", strings.Repeat("t", 25)), "blocks": []any{input}},
			want: "must be less than 25 characters [json-pointer:/view/title/text]"},
		{name: "NoLabel", view: map[string]any{"type": "modal", "title": txt("plain_text", "D"), "blocks": []any{
			map[string]any{"type": "input", "element": map[string]any{"type": "plain_text_input"}}}},
			want: "missing required field [json-pointer:/view/blocks/0/label]"},
		{name: "Metadata3001", view: map[string]any{"type": "modal", "title": txt("plain_text", "D"), "blocks": []any{},
			"private_metadata": strings.Repeat("m", 3001)}, want: "[json-pointer:/view/private_metadata]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ValidateView(mustJSON(t, tt.view))
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("errors = %q, want none", got)
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
				t.Errorf("errors = %q, want one containing %q", got, tt.want)
			}
		})
	}
}

// Limits of choice elements that Slack enforces and the fake used not to.
func TestValidateChoiceElements(t *testing.T) {
	type B = map[string]any
	opt := func(typ, s string) B { return B{"text": txt(typ, s), "value": s} }
	opts := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = opt("plain_text", fmt.Sprintf("o%d", i))
		}
		return out
	}
	input := func(el B) []any {
		el["action_id"] = "f"
		return []any{B{"type": "input", "block_id": "b", "label": txt("plain_text", "L"), "element": el}}
	}
	cases := []struct {
		name   string
		blocks []any
		want   string // "" for valid
	}{
		{"10 checkboxes", input(B{"type": "checkboxes", "options": opts(10)}), ""},
		{"11 checkboxes", input(B{"type": "checkboxes", "options": opts(11)}), "no more than 10 items allowed"},
		{"11 radio buttons", input(B{"type": "radio_buttons", "options": opts(11)}), "no more than 10 items allowed"},
		{"mrkdwn option in a checkbox", input(B{"type": "checkboxes", "options": []any{opt("mrkdwn", "*a*")}}), ""},
		{"mrkdwn option in a select", input(B{"type": "static_select", "options": []any{opt("mrkdwn", "*a*")}}), "plain_text"},
		{"initial option among options", input(B{"type": "static_select", "options": opts(3), "initial_option": opt("plain_text", "o1")}), ""},
		{"initial option not among options", input(B{"type": "static_select", "options": opts(3), "initial_option": opt("plain_text", "o9")}), "must exactly match one of the provided options [json-pointer:/blocks/0/element/initial_option]"},
		{"initial options not among checkboxes", input(B{"type": "checkboxes", "options": opts(2), "initial_options": []any{opt("plain_text", "x")}}), "[json-pointer:/blocks/0/element/initial_options/0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := strings.Join(ValidateBlocks(mustJSON(t, tc.blocks)), "\n")
			if (tc.want == "") != (errs == "") || !strings.Contains(errs, tc.want) {
				t.Errorf("errors = %q, want %q", errs, tc.want)
			}
		})
	}
}

// chat.postMessage and chat.update refuse blocks carrying more than about
// 12,000 characters of text in all; a response_url answer does not.
func TestMessageBlocksTooLong(t *testing.T) {
	srv := newTestServer(t)
	api := newAPI(srv)
	section := func(n int) slack.Block {
		return slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", strings.Repeat("x", n), false, false), nil, nil)
	}
	long := []slack.Block{section(3000), section(3000), section(3000), section(3000)}
	_, _, err := api.PostMessageContext(testCtx(t), "C1", slack.MsgOptionBlocks(long...))
	if err == nil || err.Error() != "msg_blocks_too_long" {
		t.Errorf("post of 12,000 characters of blocks: %v, want msg_blocks_too_long", err)
	}
	_, ts, err := api.PostMessageContext(testCtx(t), "C1", slack.MsgOptionBlocks(long[:3]...))
	if err != nil {
		t.Fatalf("post of 9,000 characters of blocks: %v", err)
	}
	if _, _, _, err := api.UpdateMessageContext(testCtx(t), "C1", ts, slack.MsgOptionBlocks(long...)); err == nil || err.Error() != "msg_blocks_too_long" {
		t.Errorf("update to 12,000 characters: %v, want msg_blocks_too_long", err)
	}
}
