package slacktest

import (
	"context"
	"encoding/json"
	"fmt"
)

// SubmitView has user submit an open modal with the given input values
// (block_id -> action_id -> value) and delivers the view_submission payload,
// then waits for the ack. Values are shaped by the element type found in the
// stored view: plain text inputs get "value", selects and radio buttons get
// the "selected_option" whose value matches. Input blocks left out are sent
// empty, as Slack does.
//
// The ack payload is applied: response_action "errors" keeps the modal open
// with View.Errors set, "update" replaces it, "push" opens another on top,
// "clear" closes the whole stack, and an empty ack closes the modal.
func (s *Server) SubmitView(ctx context.Context, userID, viewID string, values map[string]map[string]string) (Ack, error) {
	s.mu.Lock()
	u, v := s.users[userID], s.views[viewID]
	switch {
	case u == nil:
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("slacktest: submit view %s: unknown user %q", viewID, userID)
	case v == nil || !v.Open:
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("slacktest: submit view %s: no such open view", viewID)
	case v.User != userID:
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("slacktest: submit view %s: shown to %s, not %s", viewID, v.User, userID)
	}
	state, err := viewState(v.Raw, values)
	if err != nil {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("slacktest: submit view %s: %w", viewID, err)
	}
	vj := s.viewJSON(v)
	vj["state"] = map[string]any{"values": state}
	payload := map[string]any{
		"type": "view_submission", "team": map[string]any{"id": s.TeamID, "domain": s.TeamDomain},
		"user": s.userJSON(u), "api_app_id": s.AppID, "token": verificationToken,
		"trigger_id": s.newTriggerLocked(u.ID), "view": vj, "response_urls": []any{},
		"is_enterprise_install": false, "enterprise": nil,
	}
	s.mu.Unlock()
	return s.deliver(ctx, delivery{
		typ: "interactive", payload: payload, accepts: true,
		onAck: func(a *Ack) { s.applyViewAckLocked(v, a) },
		onTimeout: func() {
			s.ephemerals = append(s.ephemerals, Ephemeral{User: u.ID, TS: s.newTSLocked(), Source: "slack", Error: "operation_timeout"})
		},
	})
}

// viewState builds state.values for the input blocks of a stored view.
func viewState(raw json.RawMessage, values map[string]map[string]string) (map[string]any, error) {
	var view struct {
		Blocks []map[string]any `json:"blocks"`
	}
	if err := json.Unmarshal(raw, &view); err != nil {
		return nil, err
	}
	state := map[string]any{}
	used := 0
	for _, b := range view.Blocks {
		el, ok := b["element"].(map[string]any)
		if str(b["type"]) != "input" || !ok {
			continue
		}
		bid, aid, typ := str(b["block_id"]), str(el["action_id"]), str(el["type"])
		val, given := values[bid][aid]
		if given {
			used++
		}
		item := map[string]any{"type": typ}
		switch typ {
		case "static_select", "radio_buttons":
			item["selected_option"] = nil
			if given {
				opt := findOption(el, val)
				if opt == nil {
					return nil, fmt.Errorf("block %s: no option with value %q", bid, val)
				}
				item["selected_option"] = opt
			}
		default:
			item["value"] = nil
			if given {
				item["value"] = val
			}
		}
		state[bid] = map[string]any{aid: item}
	}
	n := 0
	for _, acts := range values {
		n += len(acts)
	}
	if used != n {
		return nil, fmt.Errorf("values name %d inputs, the view has %d of them", n, used)
	}
	return state, nil
}

func findOption(el map[string]any, value string) map[string]any {
	opts, _ := el["options"].([]any)
	for _, o := range opts {
		if m, ok := o.(map[string]any); ok && str(m["value"]) == value {
			return m
		}
	}
	return nil
}

// applyViewAckLocked applies a view_submission ack's response_action.
func (s *Server) applyViewAckLocked(v *View, a *Ack) {
	var p struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
		View           json.RawMessage   `json:"view"`
	}
	if a.Payload != nil {
		if err := json.Unmarshal(a.Payload, &p); err != nil {
			a.Errors = append(a.Errors, "payload: "+err.Error())
			return
		}
	}
	switch p.ResponseAction {
	case "":
		v.Open = false
	case "errors":
		// Every key must be the block_id of an input block of the view;
		// otherwise Slack shows the user "We had some trouble
		// connecting" and the errors are lost
		// (docs.slack.dev/surfaces/modals: "errors ... keyed by block_id
		// of input blocks").
		inputs := inputBlockIDs(v.Raw)
		for k := range p.Errors {
			if !inputs[k] {
				a.Errors = append(a.Errors, fmt.Sprintf("errors: %q is not the block_id of an input block of the view", k))
			}
		}
		if len(a.Errors) > 0 {
			v.Trouble = true
			return
		}
		v.Errors = p.Errors
	case "update", "push":
		if errs := ValidateView(p.View); len(errs) > 0 {
			a.Errors = append(a.Errors, errs...)
			return
		}
		obj, _ := decodeJSON(p.View).(map[string]any)
		if p.ResponseAction == "update" {
			s.setViewLocked(v, obj)
			v.Updates++
			return
		}
		nv := &View{ID: s.newIDLocked("V"), User: v.User, Open: true, RootViewID: v.RootViewID, PreviousViewID: v.ID}
		s.setViewLocked(nv, obj)
		s.views[nv.ID] = nv
	case "clear":
		for _, x := range s.views {
			if x.RootViewID == v.RootViewID {
				x.Open = false
			}
		}
	default:
		a.Errors = append(a.Errors, "unknown response_action "+p.ResponseAction)
	}
}

// inputBlockIDs returns the block_ids of the input blocks of a view.
func inputBlockIDs(raw json.RawMessage) map[string]bool {
	var view struct {
		Blocks []struct {
			Type    string `json:"type"`
			BlockID string `json:"block_id"`
		} `json:"blocks"`
	}
	_ = json.Unmarshal(raw, &view)
	out := map[string]bool{}
	for _, b := range view.Blocks {
		if b.Type == "input" {
			out[b.BlockID] = true
		}
	}
	return out
}

// SelectInView has user choose the option with value in the select (or
// radio buttons) blockID/actionID of an open modal, and delivers the
// block_actions payload Slack sends for it, then waits for the ack. Slack
// sends one only when the element dispatches actions: any element of an
// actions or section block, but an element of an input block only when the
// block sets dispatch_action (docs.slack.dev/reference/block-kit/blocks/
// input-block: "dispatch_action ... Defaults to false"); otherwise the
// choice is only seen on submission and SelectInView fails. The payload's
// view carries the current state, the chosen option included, and no
// response_url (actions in modals have none).
func (s *Server) SelectInView(ctx context.Context, userID, viewID, blockID, actionID, value string) (Ack, error) {
	s.mu.Lock()
	u, v := s.users[userID], s.views[viewID]
	switch {
	case u == nil:
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("slacktest: select in view %s: unknown user %q", viewID, userID)
	case v == nil || !v.Open:
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("slacktest: select in view %s: no such open view", viewID)
	case v.User != userID:
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("slacktest: select in view %s: shown to %s, not %s", viewID, v.User, userID)
	}
	var view struct {
		Blocks []map[string]any `json:"blocks"`
	}
	_ = json.Unmarshal(v.Raw, &view)
	var el map[string]any
	for _, b := range view.Blocks {
		if str(b["block_id"]) != blockID {
			continue
		}
		e, _ := b["element"].(map[string]any)
		if str(b["type"]) == "input" && e != nil && str(e["action_id"]) == actionID {
			if d, _ := b["dispatch_action"].(bool); !d {
				s.mu.Unlock()
				return Ack{}, fmt.Errorf("slacktest: select in view %s: input block %s does not set dispatch_action, so Slack sends nothing before submission", viewID, blockID)
			}
			el = e
		}
		if acc, _ := b["accessory"].(map[string]any); acc != nil && str(acc["action_id"]) == actionID {
			el = acc
		}
		if es, ok := b["elements"].([]any); ok {
			for _, x := range es {
				if e, _ := x.(map[string]any); e != nil && str(e["action_id"]) == actionID {
					el = e
				}
			}
		}
	}
	if el == nil {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("slacktest: select in view %s: no element %s/%s", viewID, blockID, actionID)
	}
	typ := str(el["type"])
	if typ != "static_select" && typ != "radio_buttons" {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("slacktest: select in view %s: %s/%s is a %s", viewID, blockID, actionID, typ)
	}
	opt := findOption(el, value)
	if opt == nil {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("slacktest: select in view %s: no option with value %q", viewID, value)
	}
	vj := s.viewJSON(v)
	vj["state"] = map[string]any{"values": map[string]any{blockID: map[string]any{actionID: map[string]any{"type": typ, "selected_option": opt}}}}
	payload := map[string]any{
		"type": "block_actions", "user": s.userJSON(u), "api_app_id": s.AppID, "token": verificationToken,
		"container":  map[string]any{"type": "view", "view_id": v.ID},
		"trigger_id": s.newTriggerLocked(u.ID),
		"team":       map[string]any{"id": s.TeamID, "domain": s.TeamDomain},
		"enterprise": nil, "is_enterprise_install": false,
		"view": vj,
		"actions": []any{map[string]any{
			"type": typ, "action_id": actionID, "block_id": blockID,
			"selected_option": opt, "action_ts": s.newTSLocked(),
		}},
	}
	s.mu.Unlock()
	return s.deliver(ctx, delivery{typ: "interactive", payload: payload, accepts: false})
}
