package slacktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// jsonKind names the JSON type of a decoded value.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "bool"
	case float64:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// shapeDiff compares what the fake sent (got) with a recorded sample (want):
// every field of got must exist in want with the same JSON type, unless its
// path is in allowed. null is accepted anywhere.
func shapeDiff(path string, got, want any, allowed []string) []string {
	if got == nil || want == nil || slices.Contains(allowed, path) {
		return nil
	}
	if gk, wk := jsonKind(got), jsonKind(want); gk != wk {
		return []string{fmt.Sprintf("%s: %s, sample has %s", path, gk, wk)}
	}
	var out []string
	switch g := got.(type) {
	case map[string]any:
		w := want.(map[string]any)
		for k, v := range g {
			wv, ok := w[k]
			if !ok && !slices.Contains(allowed, path+"/"+k) {
				out = append(out, fmt.Sprintf("%s/%s: not in the sample", path, k))
				continue
			}
			out = append(out, shapeDiff(path+"/"+k, v, wv, allowed)...)
		}
	case []any:
		if w := want.([]any); len(w) > 0 {
			for _, v := range g {
				out = append(out, shapeDiff(path+"/*", v, w[0], allowed)...)
			}
		}
	}
	return out
}

func loadFixture(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func TestWebAPIShapesMatchSamples(t *testing.T) {
	srv := newTestServer(t)
	srv.AddUserGroup("S1", "deployers", "U1")
	api := func(method, bearer string, form url.Values) any {
		t.Helper()
		if bearer == "" {
			form.Set("token", srv.BotToken)
		}
		status, body, _ := rawPost(t, srv, method, bearer, form)
		if status != http.StatusOK || body["ok"] != true {
			t.Fatalf("%s: %d %v", method, status, body)
		}
		return body
	}
	upload := api("files.getUploadURLExternal", "", url.Values{"filename": {"a.log"}, "length": {"3"}}).(map[string]any)
	req, _ := http.NewRequestWithContext(testCtx(t), http.MethodPost, upload["upload_url"].(string), strings.NewReader("abc"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %v %v", resp, err)
	}
	resp.Body.Close()
	files, _ := json.Marshal([]map[string]string{{"id": upload["file_id"].(string), "title": "A"}})

	tests := []struct {
		fixture string
		got     any
	}{
		{"auth.test.json", api("auth.test", "", url.Values{})},
		{"users.info.json", api("users.info", "", url.Values{"user": {"U1"}})},
		{"conversations.info.json", api("conversations.info", "", url.Values{"channel": {"C1"}, "include_num_members": {"true"}})},
		{"chat.postEphemeral.json", api("chat.postEphemeral", "", url.Values{"channel": {"C1"}, "user": {"U1"}, "text": {"x"}})},
		{"usergroups.users.list.json", api("usergroups.users.list", "", url.Values{"usergroup": {"S1"}})},
		{"apps.connections.open.json", api("apps.connections.open", srv.AppToken, url.Values{})},
		{"files.getUploadURLExternal.json", upload},
		{"files.completeUploadExternal.json", api("files.completeUploadExternal", "", url.Values{"files": {string(files)}, "channel_id": {"C1"}})},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			for _, d := range shapeDiff("", tt.got, loadFixture(t, tt.fixture), nil) {
				t.Error(d)
			}
		})
	}
}

func TestPayloadShapesMatchSamples(t *testing.T) {
	srv := newTestServer(t)
	connected(t, srv, ackWith(map[string]any{"response_action": "errors", "errors": map[string]string{"app": "no"}}))
	ctx := testCtx(t)
	if _, err := srv.SendSlashCommand(ctx, SlashCommand{User: "U1", Channel: "C1", Command: "/deploy", Text: "web"}); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	trig := srv.newTriggerLocked("U1")
	srv.mu.Unlock()
	status, body, _ := rawPostJSON(t, srv, "views.open", map[string]any{"trigger_id": trig, "view": map[string]any{
		"type": "modal", "callback_id": "deploy_form", "title": txt("plain_text", "Deploy"),
		"blocks": []any{map[string]any{"type": "input", "block_id": "app", "label": txt("plain_text", "App"),
			"element": map[string]any{"type": "plain_text_input", "action_id": "app_input"}}},
	}})
	if status != http.StatusOK || body["ok"] != true {
		t.Fatalf("views.open: %v", body)
	}
	viewID := body["view"].(map[string]any)["id"].(string)
	if _, err := srv.SubmitView(ctx, "U1", viewID, map[string]map[string]string{"app": {"app_input": "web"}}); err != nil {
		t.Fatal(err)
	}
	envs := srv.Envelopes()
	if len(envs) != 2 {
		t.Fatalf("envelopes = %d", len(envs))
	}
	tests := []struct {
		fixture string
		payload json.RawMessage
		// Fields real Slack sends that the sample lacks or types
		// differently (Slack's Socket Mode envelope and view_submission
		// payload docs: https://docs.slack.dev/apis/events-api/using-socket-mode/,
		// https://docs.slack.dev/reference/interaction-payloads/view-interactions-payload).
		allowed []string
	}{
		{"SlashCommandPayload.json", envs[0].Payload, []string{"/is_enterprise_install"}},
		{"ViewSubmissionPayload.json", envs[1].Payload, []string{"/response_urls", "/view/blocks", "/view/state/values"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			var got any
			if err := json.Unmarshal(tt.payload, &got); err != nil {
				t.Fatal(err)
			}
			for _, d := range shapeDiff("", got, loadFixture(t, tt.fixture), tt.allowed) {
				t.Error(d)
			}
		})
	}
	// Real Socket Mode slash commands carry is_enterprise_install as a string.
	var cmd map[string]any
	_ = json.Unmarshal(envs[0].Payload, &cmd)
	if cmd["is_enterprise_install"] != "false" {
		t.Errorf("is_enterprise_install = %#v, want the string \"false\"", cmd["is_enterprise_install"])
	}
}

// rawPostJSON posts a JSON body with the bot token as Bearer header.
func rawPostJSON(t *testing.T, srv *Server, method string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodPost, srv.APIURL()+method, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+srv.BotToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out, resp.Header
}

func TestShapeDiff(t *testing.T) {
	want := map[string]any{"a": "s", "o": map[string]any{"n": 1.0}, "l": []any{map[string]any{"id": "x"}}}
	tests := []struct {
		name string
		got  map[string]any
		n    int
	}{
		{"Same", map[string]any{"a": "t", "o": map[string]any{"n": 2.0}, "l": []any{map[string]any{"id": "y"}}}, 0},
		{"Null", map[string]any{"a": nil}, 0},
		{"WrongType", map[string]any{"a": true}, 1},
		{"Unknown", map[string]any{"zz": 1.0, "o": map[string]any{"m": 1.0}}, 2},
		{"InArray", map[string]any{"l": []any{map[string]any{"id": 3.0}}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := shapeDiff("", tt.got, want, nil); len(d) != tt.n {
				t.Errorf("diffs = %q, want %d", d, tt.n)
			}
		})
	}
}
