package slacktest

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// triggerTTL is how long a trigger_id stays valid (Slack: 3 s, one use).
const triggerTTL = 3 * time.Second

type trigger struct {
	user    string
	expires time.Time
	used    bool
}

// View is a modal opened with views.open.
type View struct {
	ID              string
	User            string // who the modal is shown to
	CallbackID      string
	PrivateMetadata string
	ExternalID      string
	Hash            string
	RootViewID      string
	PreviousViewID  string
	// Raw is the view object as the app last sent it, every block given a
	// block_id.
	Raw json.RawMessage
	// Open is false once the modal was closed (empty ack, clear) or replaced
	// on the stack.
	Open bool
	// Errors holds the per-block errors of the last response_action errors.
	Errors map[string]string
	// Trouble is set when the app answered a submission with errors Slack
	// could not show (a key that is not an input block_id): the user saw
	// "We had some trouble connecting".
	Trouble bool
	// Updates counts views.update calls and response_action update.
	Updates int
}

// newTriggerLocked hands out a trigger id for user, valid for triggerTTL and
// one use.
func (s *Server) newTriggerLocked(user string) string {
	s.seq++
	id := fmt.Sprintf("%d.%d.%s", 10000000000+s.seq, 26768298162, randHex(32))
	s.triggers[id] = &trigger{user: user, expires: s.now().Add(triggerTTL)}
	return id
}

func invalidArgs(msgs ...string) *apiError {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = "[ERROR] " + m
	}
	return &apiError{code: "invalid_arguments", extra: map[string]any{"response_metadata": map[string]any{"messages": out}}}
}

// checkViewArg validates the "view" argument.
func checkViewArg(rq *apiRequest) (map[string]any, *apiError) {
	raw := []byte(rq.arg("view"))
	if len(raw) == 0 {
		return nil, invalidArgs("missing required field: view [json-pointer:/view]")
	}
	obj, ok := decodeJSON(raw).(map[string]any)
	if !ok {
		return nil, invalidArgs("must be an object [json-pointer:/view]")
	}
	if errs := ValidateView(raw); len(errs) > 0 {
		return nil, invalidArgs(errs...)
	}
	return obj, nil
}

func (s *Server) viewsOpen(rq *apiRequest) (map[string]any, *apiError) {
	id := rq.arg("trigger_id")
	if id == "" {
		return nil, invalidArgs("missing required field: trigger_id [json-pointer:/trigger_id]")
	}
	tr := s.triggers[id]
	switch {
	case tr == nil:
		return nil, invalidArgs("invalid `trigger_id`")
	case tr.used:
		// Unverified string: views.open documents expired_trigger_id
		// (https://docs.slack.dev/reference/methods/views.open) but names
		// no error for a trigger used twice.
		return nil, errf("exchanged_trigger_id")
	case !s.now().Before(tr.expires):
		return nil, errf("expired_trigger_id")
	}
	obj, e := checkViewArg(rq)
	if e != nil {
		return nil, e
	}
	tr.used = true
	v := &View{ID: s.newIDLocked("V"), User: tr.user, Open: true}
	v.RootViewID = v.ID
	s.setViewLocked(v, obj)
	s.views[v.ID] = v
	return map[string]any{"view": s.viewJSON(v)}, nil
}

func (s *Server) viewsUpdate(rq *apiRequest) (map[string]any, *apiError) {
	var v *View
	if id := rq.arg("view_id"); id != "" {
		v = s.views[id]
	} else if ext := rq.arg("external_id"); ext != "" {
		for _, x := range s.views {
			if x.ExternalID == ext && x.Open {
				v = x
			}
		}
	} else {
		return nil, invalidArgs("missing required field: view_id [json-pointer:/view_id]")
	}
	if v == nil {
		return nil, errf("not_found")
	}
	if h := rq.arg("hash"); h != "" && h != v.Hash {
		return nil, errf("hash_conflict")
	}
	obj, e := checkViewArg(rq)
	if e != nil {
		return nil, e
	}
	s.setViewLocked(v, obj)
	v.Updates++
	return map[string]any{"view": s.viewJSON(v)}, nil
}

// setViewLocked stores the app's view object in v and gives it a new hash.
func (s *Server) setViewLocked(v *View, obj map[string]any) {
	if bl, ok := obj["blocks"].([]any); ok {
		obj["blocks"] = normalizeBlocks(bl)
	}
	v.Raw, _ = json.Marshal(obj)
	v.CallbackID = str(obj["callback_id"])
	v.PrivateMetadata = str(obj["private_metadata"])
	v.ExternalID = str(obj["external_id"])
	v.Hash = fmt.Sprintf("%d.%s", s.now().Unix(), randHex(8))
	v.Errors = nil
}

// viewJSON renders a view the way Slack returns it and sends it in
// view_submission payloads.
func (s *Server) viewJSON(v *View) map[string]any {
	out := map[string]any{}
	_ = json.Unmarshal(v.Raw, &out)
	maps.Copy(out, map[string]any{
		"id": v.ID, "team_id": s.TeamID, "type": "modal", "hash": v.Hash,
		"root_view_id": v.RootViewID, "previous_view_id": nilIfEmpty(v.PreviousViewID),
		"app_id": s.AppID, "app_installed_team_id": s.TeamID, "bot_id": s.BotID,
		"state": map[string]any{"values": map[string]any{}},
	})
	for _, k := range []string{"private_metadata", "callback_id", "external_id"} {
		if _, ok := out[k]; !ok {
			out[k] = ""
		}
	}
	for _, k := range []string{"clear_on_close", "notify_on_close"} {
		if _, ok := out[k]; !ok {
			out[k] = false
		}
	}
	return out
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// View returns a modal by id.
func (s *Server) View(id string) (View, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.views[id]
	if v == nil {
		return View{}, false
	}
	return copyView(v), true
}

// Views returns the modals opened for a user, open or closed, in no
// particular order.
func (s *Server) Views(userID string) []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []View
	for _, v := range s.views {
		if v.User == userID {
			out = append(out, copyView(v))
		}
	}
	return out
}

func copyView(v *View) View {
	c := *v
	c.Raw = append(json.RawMessage(nil), v.Raw...)
	c.Errors = maps.Clone(v.Errors)
	return c
}
