package slacktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Block Kit limits (https://docs.slack.dev/block-kit and the block reference
// pages, e.g. https://docs.slack.dev/reference/block-kit/blocks/section-block).
// Lengths count characters (runes).
const (
	maxMessageBlocks   = 50
	maxViewBlocks      = 100
	maxIDLen           = 255
	maxTextLen         = 3000
	maxFieldLen        = 2000
	maxFields          = 10
	maxHeaderLen       = 150
	maxContextElements = 10
	maxActionsElements = 25
	maxButtonTextLen   = 75
	maxButtonValueLen  = 2000
	maxURLLen          = 3000
	maxLabelLen        = 2000
	maxMarkdownTotal   = 12000
	maxOptionTextLen   = 75
	maxOptionValueLen  = 150
	maxOptions         = 100
	maxChoiceOptions   = 10 // checkboxes, radio buttons
	maxPlaceholderLen  = 150
	maxViewTitleLen    = 24
	maxPrivateMetadata = 3000
	maxTopLevelText    = 40000
)

// ValidateBlocks checks a message's "blocks" JSON array against Slack's Block
// Kit limits and returns Slack's error lines, each ending in a json-pointer,
// e.g. "must be less than 3001 characters [json-pointer:/blocks/0/text/text]".
// It returns nil when the blocks are valid. Renderer tests use it to prove
// that nothing they build would be refused with invalid_blocks.
func ValidateBlocks(blocksJSON []byte) []string {
	v := &validator{actionIDs: map[string]bool{}}
	arr, ok := decodeJSON(blocksJSON).([]any)
	if !ok {
		return []string{"expected an array of blocks [json-pointer:/blocks]"}
	}
	v.blocks(arr, "/blocks", maxMessageBlocks)
	return v.errs
}

// ValidateView checks a modal view object (as sent to views.open or
// views.update) and returns error lines with json-pointers under /view, or
// nil when the view is valid.
func ValidateView(viewJSON []byte) []string {
	v := &validator{actionIDs: map[string]bool{}}
	obj, ok := decodeJSON(viewJSON).(map[string]any)
	if !ok {
		return []string{"expected an object [json-pointer:/view]"}
	}
	if t := str(obj["type"]); t != "modal" && t != "home" {
		v.add("/view/type", "must be one of modal, home")
	}
	if str(obj["type"]) == "modal" {
		v.text(obj["title"], "/view/title", maxViewTitleLen, true, true)
	}
	v.text(obj["submit"], "/view/submit", maxViewTitleLen, true, false)
	v.text(obj["close"], "/view/close", maxViewTitleLen, true, false)
	v.maxLen(obj["callback_id"], "/view/callback_id", maxIDLen)
	v.maxLen(obj["private_metadata"], "/view/private_metadata", maxPrivateMetadata)
	v.maxLen(obj["external_id"], "/view/external_id", maxIDLen)
	arr, ok := obj["blocks"].([]any)
	if !ok {
		v.add("/view/blocks", "missing required field: blocks")
		return v.errs
	}
	v.blocks(arr, "/view/blocks", maxViewBlocks)
	return v.errs
}

// decodeJSON decodes b keeping numbers as json.Number and dropping object
// fields that are null, which the validator treats as absent.
func decodeJSON(b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var x any
	if dec.Decode(&x) != nil {
		return nil
	}
	return dropNulls(x)
}

func dropNulls(x any) any {
	switch v := x.(type) {
	case map[string]any:
		for k, e := range v {
			if e == nil {
				delete(v, k)
				continue
			}
			v[k] = dropNulls(e)
		}
	case []any:
		for i, e := range v {
			v[i] = dropNulls(e)
		}
	}
	return x
}

type validator struct {
	errs          []string
	actionIDs     map[string]bool
	markdownTotal int
}

func (v *validator) add(ptr, msg string) {
	v.errs = append(v.errs, fmt.Sprintf("%s [json-pointer:%s]", msg, ptr))
}

func str(x any) string {
	s, _ := x.(string)
	return s
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// maxLen checks an optional string field.
func (v *validator) maxLen(x any, ptr string, max int) {
	if x == nil {
		return
	}
	s, ok := x.(string)
	if !ok {
		v.add(ptr, "must be a string")
		return
	}
	if runes(s) > max {
		v.add(ptr, fmt.Sprintf("must be less than %d characters", max+1))
	}
}

// text checks a text object: plain_text or mrkdwn, 1..max characters.
func (v *validator) text(x any, ptr string, max int, plainOnly, required bool) {
	if x == nil {
		if required {
			v.add(ptr, "missing required field")
		}
		return
	}
	obj, ok := x.(map[string]any)
	if !ok {
		v.add(ptr, "must be a text object")
		return
	}
	switch t := str(obj["type"]); {
	case t == "plain_text":
	case t == "mrkdwn" && !plainOnly:
	case t == "mrkdwn":
		v.add(ptr+"/type", "must be plain_text")
	default:
		v.add(ptr+"/type", "must be one of plain_text, mrkdwn")
	}
	s, ok := obj["text"].(string)
	switch {
	case !ok:
		v.add(ptr+"/text", "missing required field: text")
	case s == "":
		v.add(ptr+"/text", "must be more than 0 characters")
	case runes(s) > max:
		v.add(ptr+"/text", fmt.Sprintf("must be less than %d characters", max+1))
	}
}

func (v *validator) blocks(arr []any, ptr string, max int) {
	if len(arr) > max {
		v.add(ptr, fmt.Sprintf("no more than %d items allowed", max))
	}
	ids := map[string]bool{}
	for i, b := range arr {
		p := ptr + "/" + strconv.Itoa(i)
		obj, ok := b.(map[string]any)
		if !ok {
			v.add(p, "must be an object")
			continue
		}
		if id, ok := obj["block_id"]; ok {
			v.maxLen(id, p+"/block_id", maxIDLen)
			if s := str(id); s != "" {
				if ids[s] {
					v.add(p+"/block_id", "duplicate block_id")
				}
				ids[s] = true
			}
		}
		v.block(obj, p)
	}
}

func (v *validator) block(b map[string]any, p string) {
	switch t := str(b["type"]); t {
	case "section":
		if b["text"] == nil && b["fields"] == nil {
			v.add(p, "must provide either text or fields")
		}
		v.text(b["text"], p+"/text", maxTextLen, false, false)
		if f, ok := b["fields"]; ok {
			arr, ok := f.([]any)
			if !ok {
				v.add(p+"/fields", "must be an array")
				break
			}
			if len(arr) > maxFields {
				v.add(p+"/fields", fmt.Sprintf("no more than %d items allowed", maxFields))
			}
			for i, x := range arr {
				v.text(x, p+"/fields/"+strconv.Itoa(i), maxFieldLen, false, true)
			}
		}
		if a, ok := b["accessory"]; ok {
			v.element(a, p+"/accessory")
		}
	case "header":
		v.text(b["text"], p+"/text", maxHeaderLen, true, true)
	case "divider":
	case "context":
		arr, ok := b["elements"].([]any)
		if !ok || len(arr) == 0 {
			v.add(p+"/elements", "must provide at least 1 item")
			break
		}
		if len(arr) > maxContextElements {
			v.add(p+"/elements", fmt.Sprintf("no more than %d items allowed", maxContextElements))
		}
		for i, x := range arr {
			ep := p + "/elements/" + strconv.Itoa(i)
			if obj, ok := x.(map[string]any); ok && str(obj["type"]) == "image" {
				v.image(obj, ep)
				continue
			}
			v.text(x, ep, maxTextLen, false, true)
		}
	case "actions":
		arr, ok := b["elements"].([]any)
		if !ok || len(arr) == 0 {
			v.add(p+"/elements", "must provide at least 1 item")
			break
		}
		if len(arr) > maxActionsElements {
			v.add(p+"/elements", fmt.Sprintf("no more than %d items allowed", maxActionsElements))
		}
		for i, x := range arr {
			v.element(x, p+"/elements/"+strconv.Itoa(i))
		}
	case "image":
		v.image(b, p)
		v.text(b["title"], p+"/title", maxLabelLen, true, false)
	case "input":
		v.text(b["label"], p+"/label", maxLabelLen, true, true)
		v.text(b["hint"], p+"/hint", maxLabelLen, true, false)
		if b["element"] == nil {
			v.add(p+"/element", "missing required field: element")
		} else {
			v.element(b["element"], p+"/element")
		}
	case "markdown":
		s, ok := b["text"].(string)
		if !ok {
			v.add(p+"/text", "missing required field: text")
			break
		}
		v.markdownTotal += runes(s)
		if v.markdownTotal > maxMarkdownTotal {
			v.add(p+"/text", fmt.Sprintf("cumulative markdown text must be less than %d characters", maxMarkdownTotal+1))
		}
	case "rich_text", "file", "video":
		// Accepted as they are; deploybot does not build them.
	case "":
		v.add(p+"/type", "missing required field: type")
	default:
		v.add(p+"/type", fmt.Sprintf("unsupported type: %s", t))
	}
}

func (v *validator) image(b map[string]any, p string) {
	if b["image_url"] == nil && b["slack_file"] == nil {
		v.add(p+"/image_url", "missing required field: image_url")
	}
	v.maxLen(b["image_url"], p+"/image_url", maxURLLen)
	if s, ok := b["alt_text"].(string); !ok || s == "" {
		v.add(p+"/alt_text", "missing required field: alt_text")
	} else {
		v.maxLen(s, p+"/alt_text", maxLabelLen)
	}
}

func (v *validator) actionID(e map[string]any, p string) {
	id, ok := e["action_id"]
	if !ok {
		return
	}
	v.maxLen(id, p+"/action_id", maxIDLen)
	if s := str(id); s != "" {
		if v.actionIDs[s] {
			v.add(p+"/action_id", "duplicate action_id")
		}
		v.actionIDs[s] = true
	}
}

func (v *validator) element(x any, p string) {
	e, ok := x.(map[string]any)
	if !ok {
		v.add(p, "must be an object")
		return
	}
	v.actionID(e, p)
	switch t := str(e["type"]); t {
	case "button":
		v.text(e["text"], p+"/text", maxButtonTextLen, true, true)
		v.maxLen(e["value"], p+"/value", maxButtonValueLen)
		v.maxLen(e["url"], p+"/url", maxURLLen)
		if st, ok := e["style"]; ok && st != "primary" && st != "danger" {
			v.add(p+"/style", "must be one of primary, danger")
		}
	case "static_select", "multi_static_select", "radio_buttons", "checkboxes", "overflow":
		if t != "radio_buttons" && t != "checkboxes" {
			v.text(e["placeholder"], p+"/placeholder", maxPlaceholderLen, true, false)
		}
		// Option text is plain_text only in selects and overflow menus;
		// radio buttons and checkboxes take at most 10 options
		// (docs.slack.dev/reference/block-kit/composition-objects/option-object,
		// .../block-elements/checkboxes-element, .../radio-button-group-element).
		plainOnly := t != "radio_buttons" && t != "checkboxes"
		limit := maxOptions
		if !plainOnly {
			limit = maxChoiceOptions
		}
		v.options(e["options"], p+"/options", t == "overflow", plainOnly, limit)
		v.initialOptions(e, p)
	case "plain_text_input":
		v.text(e["placeholder"], p+"/placeholder", maxPlaceholderLen, true, false)
		v.maxLen(e["initial_value"], p+"/initial_value", maxTextLen)
	case "image":
		v.image(e, p)
	case "users_select", "conversations_select", "channels_select", "external_select",
		"multi_users_select", "multi_conversations_select", "multi_channels_select",
		"datepicker", "timepicker", "datetimepicker", "email_text_input", "number_input", "url_text_input":
		v.text(e["placeholder"], p+"/placeholder", maxPlaceholderLen, true, false)
	case "":
		v.add(p+"/type", "missing required field: type")
	default:
		v.add(p+"/type", fmt.Sprintf("unsupported type: %s", t))
	}
}

func (v *validator) options(x any, p string, overflow, plainOnly bool, limit int) {
	arr, ok := x.([]any)
	if !ok {
		v.add(p, "missing required field: options")
		return
	}
	switch {
	case overflow && (len(arr) < 2 || len(arr) > 5):
		v.add(p, "must provide between 2 and 5 items")
	case len(arr) > limit:
		v.add(p, fmt.Sprintf("no more than %d items allowed", limit))
	}
	for i, o := range arr {
		op := p + "/" + strconv.Itoa(i)
		obj, ok := o.(map[string]any)
		if !ok {
			v.add(op, "must be an object")
			continue
		}
		v.text(obj["text"], op+"/text", maxOptionTextLen, plainOnly, true)
		if s, ok := obj["value"].(string); !ok || s == "" {
			v.add(op+"/value", "missing required field: value")
		} else {
			v.maxLen(s, op+"/value", maxOptionValueLen)
		}
	}
}

// initialOptions checks that initial_option (selects, radio buttons) and
// initial_options (multi-selects, checkboxes) are among the element's
// options: Slack refuses the blocks otherwise
// (docs.slack.dev/reference/block-kit/block-elements/select-menu-element:
// "initial_option ... Must exactly match one of the options").
func (v *validator) initialOptions(e map[string]any, p string) {
	opts, _ := e["options"].([]any)
	known := func(o any) bool {
		want, _ := json.Marshal(o)
		for _, x := range opts {
			if got, _ := json.Marshal(x); string(got) == string(want) {
				return true
			}
		}
		return false
	}
	if o, ok := e["initial_option"]; ok && !known(o) {
		v.add(p+"/initial_option", "must exactly match one of the provided options")
	}
	if arr, ok := e["initial_options"].([]any); ok {
		for i, o := range arr {
			if !known(o) {
				v.add(p+"/initial_options/"+strconv.Itoa(i), "must exactly match one of the provided options")
			}
		}
	}
}
