package slacktest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// specCommit is the commit of slackapi/slack-api-specs whose
// web-api/slack_web_openapi_v2.json the required fields below come from.
const specCommit = "bc08db49625630e3585bf2f1322128ea04f2a7f3"

// conformance lists, for every Web API method deploybot calls, the fields
// Slack's OpenAPI spec marks required in the success answer (the 200
// schema's "required", and "required" of the objects it references:
// objs_message for chat.postMessage's message, objs_subteam for each of
// usergroups.list's usergroups) and, for every method, in the error answer.
// Methods the spec at specCommit predates take the fields of the
// method's documented success answer (docs.slack.dev/reference/methods/...).
var conformance = []struct {
	method string
	args   func(s *Server) url.Values
	// required top-level fields; "a.b" names a field of object a, "a[].b"
	// one of every element of array a.
	required []string
	source   string
}{
	{"auth.test", nil, []string{"ok", "url", "team", "user", "team_id", "user_id"}, "spec /auth.test"},
	{"chat.postMessage", func(*Server) url.Values { return url.Values{"channel": {"C1"}, "text": {"hi"}} },
		[]string{"ok", "channel", "ts", "message", "message.text", "message.type", "message.ts"}, "spec /chat.postMessage, objs_message"},
	{"chat.update", func(s *Server) url.Values {
		ts := s.PostUserMessage("C1", s.BotUserID, "x")
		s.mu.Lock()
		s.findLocked("C1", ts).BotID = s.BotID
		s.mu.Unlock()
		return url.Values{"channel": {"C1"}, "ts": {ts}, "text": {"edited"}}
	}, []string{"ok", "channel", "ts", "text", "message", "message.text"}, "spec /chat.update"},
	{"chat.postEphemeral", func(*Server) url.Values { return url.Values{"channel": {"C1"}, "user": {"U1"}, "text": {"psst"}} },
		[]string{"ok", "message_ts"}, "spec /chat.postEphemeral"},
	{"usergroups.list", nil, []string{"ok", "usergroups", "usergroups[].id", "usergroups[].team_id", "usergroups[].is_usergroup",
		"usergroups[].is_subteam", "usergroups[].name", "usergroups[].description", "usergroups[].handle", "usergroups[].is_external",
		"usergroups[].date_create", "usergroups[].date_update", "usergroups[].date_delete", "usergroups[].auto_type",
		"usergroups[].auto_provision", "usergroups[].enterprise_subteam_id", "usergroups[].created_by", "usergroups[].updated_by",
		"usergroups[].deleted_by", "usergroups[].prefs"}, "spec /usergroups.list, objs_subteam"},
	{"usergroups.users.list", func(*Server) url.Values { return url.Values{"usergroup": {"S1"}} }, []string{"ok", "users"}, "spec /usergroups.users.list"},
	{"views.open", func(s *Server) url.Values {
		s.mu.Lock()
		trig := s.newTriggerLocked("U1")
		s.mu.Unlock()
		return url.Values{"trigger_id": {trig}, "view": {testView}}
	}, []string{"ok", "view", "view.id", "view.hash"}, "spec /views.open (ok); view, id and hash: docs.slack.dev/reference/methods/views.open"},
	{"views.update", func(s *Server) url.Values {
		s.mu.Lock()
		trig := s.newTriggerLocked("U1")
		s.mu.Unlock()
		id := callAs(s, "views.open", url.Values{"trigger_id": {trig}, "view": {testView}})["view"].(map[string]any)["id"].(string)
		return url.Values{"view_id": {id}, "view": {testView}}
	}, []string{"ok", "view", "view.id", "view.hash"}, "spec /views.update (ok); view: docs.slack.dev/reference/methods/views.update"},
	{"files.completeUploadExternal", func(s *Server) url.Values {
		up := callAs(s, "files.getUploadURLExternal", url.Values{"filename": {"a.log"}, "length": {"3"}})
		resp, err := http.Post(up["upload_url"].(string), "application/octet-stream", strings.NewReader("log"))
		if err == nil {
			resp.Body.Close()
		}
		return url.Values{"files": {`[{"id":"` + up["file_id"].(string) + `"}]`}, "channel_id": {"C1"}}
	}, []string{"ok", "files", "files[].id", "files[].title"}, "docs.slack.dev/reference/methods/files.completeUploadExternal"},
	{"files.getUploadURLExternal", func(*Server) url.Values { return url.Values{"filename": {"a.log"}, "length": {"3"}} },
		[]string{"ok", "upload_url", "file_id"}, "docs.slack.dev/reference/methods/files.getUploadURLExternal"},
}

const testView = `{"type":"modal","title":{"type":"plain_text","text":"T"},"blocks":[{"type":"section","text":{"type":"mrkdwn","text":"x"}}]}`

// call posts a Web API request with the bot token and decodes the answer.
func call(t *testing.T, s *Server, method string, args url.Values) map[string]any {
	t.Helper()
	out := callAs(s, method, args)
	if out == nil {
		t.Fatalf("%s: no JSON answer", method)
	}
	return out
}

// callAs is call without a test, for setting a call up; nil on failure.
func callAs(s *Server, method string, args url.Values) map[string]any {
	req, _ := http.NewRequest(http.MethodPost, s.APIURL()+method, strings.NewReader(args.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+s.BotToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out map[string]any
	if json.NewDecoder(resp.Body).Decode(&out) != nil {
		return nil
	}
	return out
}

// has reports whether the answer has field path (see conformance).
func has(x any, path string) bool {
	head, rest, nested := strings.Cut(path, ".")
	obj, ok := x.(map[string]any)
	if !ok {
		return false
	}
	if name, ok := strings.CutSuffix(head, "[]"); ok {
		arr, ok := obj[name].([]any)
		if !ok || len(arr) == 0 {
			return false
		}
		for _, e := range arr {
			if !has(e, rest) {
				return false
			}
		}
		return true
	}
	v, ok := obj[head]
	if !ok {
		return false
	}
	return !nested || has(v, rest)
}

// The fake's answers carry every field Slack's spec requires, for every
// method deploybot calls, on success and on error.
func TestConformanceWithSlackSpec(t *testing.T) {
	srv := newTestServer(t, WithRateLimits(false))
	srv.AddUserGroup("S1", "leads", "U1")
	for _, c := range conformance {
		t.Run(c.method, func(t *testing.T) {
			var args url.Values
			if c.args != nil {
				args = c.args(srv)
			}
			out := call(t, srv, c.method, args)
			if out["ok"] != true {
				t.Fatalf("%s answered %v", c.method, out)
			}
			for _, f := range c.required {
				if !has(out, f) {
					t.Errorf("%s: answer lacks %s (required by %s at slack-api-specs %s): %v", c.method, f, c.source, specCommit, out)
				}
			}
			// Every error answer: ok false and error (the spec's default
			// schemas require both).
			srv.RevokeBotToken()
			defer func() {
				srv.mu.Lock()
				srv.revoked = false
				srv.mu.Unlock()
			}()
			bad := call(t, srv, c.method, args)
			if bad["ok"] != false || bad["error"] == nil {
				t.Errorf("%s error answer = %v, want ok false and error", c.method, bad)
			}
		})
	}
}
