package slacktest

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Call is one recorded Web API request.
type Call struct {
	// Method is the Web API method, e.g. "chat.postMessage".
	Method string
	// TokenKind is "bot", "app", "invalid" or "" (no token); the token itself
	// is not recorded.
	TokenKind string
	// Args holds the form arguments (token removed), or the top-level keys of
	// a JSON body rendered as strings (JSON strings unquoted).
	Args url.Values
	// Body is the raw request body of a JSON call, nil for form calls.
	Body json.RawMessage
	// Status is the HTTP status answered (200, 429 or 404).
	Status int
	// Error is the "error" field answered, "" on success.
	Error string
	// At is when the request arrived (server clock).
	At time.Time
}

// methodSpec describes one Web API method of the fake.
type methodSpec struct {
	fn    func(s *Server, rq *apiRequest) (map[string]any, *apiError)
	tier  int    // rate-limit tier; 0 means a special budget
	scope string // bot scope needed, "" for none
	app   bool   // needs the app-level token instead of the bot token
}

func methodTable() map[string]methodSpec {
	return map[string]methodSpec{
		"auth.test":                    {fn: (*Server).authTest},
		"chat.postMessage":             {fn: (*Server).chatPostMessage, scope: "chat:write"},
		"chat.update":                  {fn: (*Server).chatUpdate, tier: 3, scope: "chat:write"},
		"chat.postEphemeral":           {fn: (*Server).chatPostEphemeral, tier: 4, scope: "chat:write"},
		"chat.delete":                  {fn: (*Server).chatDelete, tier: 3, scope: "chat:write"},
		"views.open":                   {fn: (*Server).viewsOpen, tier: 4},
		"views.update":                 {fn: (*Server).viewsUpdate, tier: 4},
		"files.getUploadURLExternal":   {fn: (*Server).filesGetUploadURL, tier: 4, scope: "files:write"},
		"files.completeUploadExternal": {fn: (*Server).filesCompleteUpload, tier: 4, scope: "files:write"},
		"usergroups.list":              {fn: (*Server).usergroupsList, tier: 2, scope: "usergroups:read"},
		"usergroups.users.list":        {fn: (*Server).usergroupsUsersList, tier: 2, scope: "usergroups:read"},
		"users.info":                   {fn: (*Server).usersInfo, tier: 4, scope: "users:read"},
		"conversations.info":           {fn: (*Server).conversationsInfo, tier: 3},
		"apps.connections.open":        {fn: (*Server).appsConnectionsOpen, tier: 1, app: true},
	}
}

// apiRequest is a parsed Web API request.
type apiRequest struct {
	method string
	form   url.Values
	json   map[string]json.RawMessage
	body   []byte
	isJSON bool
}

// arg returns a named argument: a form value, or a top-level JSON value
// (strings unquoted, anything else as raw JSON).
func (rq *apiRequest) arg(name string) string {
	if rq.isJSON {
		raw, ok := rq.json[name]
		if !ok {
			return ""
		}
		var str string
		if json.Unmarshal(raw, &str) == nil {
			return str
		}
		return string(raw)
	}
	return rq.form.Get(name)
}

// has reports whether the argument is present at all.
func (rq *apiRequest) has(name string) bool {
	if rq.isJSON {
		_, ok := rq.json[name]
		return ok
	}
	_, ok := rq.form[name]
	return ok
}

// boolArg reads a "true"/"1" style boolean argument.
func (rq *apiRequest) boolArg(name string) bool {
	v := rq.arg(name)
	return v == "true" || v == "1"
}

// apiError is an ok:false answer.
type apiError struct {
	code  string
	extra map[string]any
}

func errf(code string) *apiError { return &apiError{code: code} }

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, method string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	rq := &apiRequest{method: method, body: body, form: url.Values{}}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		rq.isJSON = true
		rq.json = map[string]json.RawMessage{}
		if len(body) > 0 && json.Unmarshal(body, &rq.json) != nil {
			rq.json = map[string]json.RawMessage{}
			rq.isJSON = false // answered invalid_json below
		}
	} else {
		rq.form, _ = url.ParseQuery(string(body))
	}
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			rq.form.Add(k, v)
		}
	}

	s.mu.Lock()
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	status, resp, hdr := s.handleAPI(r, rq, ct)
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
}

// handleAPI authenticates, rate-limits, runs and records one call.
func (s *Server) handleAPI(r *http.Request, rq *apiRequest, contentType string) (int, map[string]any, map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()

	token, fromHeader := "", false
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token, fromHeader = strings.TrimPrefix(h, "Bearer "), true
	} else {
		token = rq.form.Get("token")
	}
	call := Call{Method: rq.method, TokenKind: s.tokenKind(token), Args: rq.recordedArgs(), At: s.now()}
	if contentType == "application/json" {
		call.Body = append(json.RawMessage(nil), rq.body...)
	}
	finish := func(status int, resp map[string]any) (int, map[string]any, map[string]string) {
		call.Status = status
		if e, ok := resp["error"].(string); ok {
			call.Error = e
		}
		s.calls = append(s.calls, call)
		hdr := map[string]string{}
		if call.TokenKind == "bot" {
			hdr["X-OAuth-Scopes"] = strings.Join(s.botScopes, ",")
		}
		return status, resp, hdr
	}
	fail := func(e *apiError) (int, map[string]any, map[string]string) {
		resp := map[string]any{"ok": false, "error": e.code}
		for k, v := range e.extra {
			resp[k] = v
		}
		return finish(http.StatusOK, resp)
	}

	spec, ok := s.methods[rq.method]
	if !ok {
		s.errorf("slacktest: unknown Web API method %q", rq.method)
		return finish(http.StatusNotFound, map[string]any{"ok": false, "error": "unknown_method", "req_method": rq.method})
	}
	if contentType == "application/json" && !rq.isJSON {
		return fail(errf("invalid_json"))
	}
	switch {
	case token == "":
		return fail(errf("not_authed"))
	case call.TokenKind == "invalid":
		return fail(errf("invalid_auth"))
	case spec.app && call.TokenKind != "app", !spec.app && call.TokenKind != "bot":
		return fail(errf("not_allowed_token_type"))
	case spec.app && !fromHeader:
		// apps.connections.open takes the app token in the header only.
		return fail(errf("not_authed"))
	case call.TokenKind == "bot" && s.revoked:
		return fail(errf("token_revoked"))
	}
	if spec.scope != "" {
		if e := s.needScopeLocked(spec.scope); e != nil {
			return fail(e)
		}
	}
	if ok, wait := s.limiter.check(rq.method, rq.arg("channel"), s.now(), spec.tier); !ok {
		s.limited[rq.method]++
		status, resp, hdr := finish(http.StatusTooManyRequests, map[string]any{"ok": false, "error": "ratelimited"})
		hdr["Retry-After"] = strconv.Itoa(retryAfterSeconds(wait))
		return status, resp, hdr
	}
	resp, e := spec.fn(s, rq)
	if e != nil {
		return fail(e)
	}
	resp["ok"] = true
	return finish(http.StatusOK, resp)
}

func (s *Server) tokenKind(token string) string {
	switch token {
	case "":
		return ""
	case s.BotToken:
		return "bot"
	case s.AppToken:
		return "app"
	}
	return "invalid"
}

// needScopeLocked answers missing_scope unless the bot token has scope.
func (s *Server) needScopeLocked(scope string) *apiError {
	if slices.Contains(s.botScopes, scope) {
		return nil
	}
	return &apiError{code: "missing_scope", extra: map[string]any{
		"needed": scope, "provided": strings.Join(s.botScopes, ","),
	}}
}

func (rq *apiRequest) recordedArgs() url.Values {
	out := url.Values{}
	for k, vs := range rq.form {
		if k != "token" {
			out[k] = append([]string(nil), vs...)
		}
	}
	for k := range rq.json {
		out.Set(k, rq.arg(k))
	}
	return out
}

func (s *Server) authTest(*apiRequest) (map[string]any, *apiError) {
	return map[string]any{
		"url":                   "https://" + s.TeamDomain + ".slack.com/",
		"team":                  s.TeamName,
		"user":                  s.BotName,
		"team_id":               s.TeamID,
		"user_id":               s.BotUserID,
		"bot_id":                s.BotID,
		"is_enterprise_install": false,
	}, nil
}

func (s *Server) usersInfo(rq *apiRequest) (map[string]any, *apiError) {
	u := s.users[rq.arg("user")]
	if u == nil {
		return nil, errf("user_not_found")
	}
	isBot := u.ID == s.BotUserID
	return map[string]any{"user": map[string]any{
		"id": u.ID, "team_id": s.TeamID, "name": u.Name, "deleted": false,
		"real_name": u.Name, "tz": "Europe/Paris", "tz_label": "Central European Time", "tz_offset": 3600,
		"profile": map[string]any{
			"real_name": u.Name, "display_name": u.Name, "real_name_normalized": u.Name,
			"display_name_normalized": u.Name, "team": s.TeamID,
		},
		"is_admin": false, "is_owner": false, "is_primary_owner": false, "is_restricted": false,
		"is_ultra_restricted": false, "is_bot": isBot, "is_app_user": false, "updated": 1700000000,
	}}, nil
}

func (s *Server) conversationsInfo(rq *apiRequest) (map[string]any, *apiError) {
	ch := s.channels[rq.arg("channel")]
	if ch == nil {
		if e := s.needScopeLocked("channels:read"); e != nil {
			return nil, e
		}
		return nil, errf("channel_not_found")
	}
	scope := "channels:read"
	if !ch.Public {
		scope = "groups:read"
	}
	if e := s.needScopeLocked(scope); e != nil {
		return nil, e
	}
	if !ch.Public && !ch.BotMember {
		return nil, errf("channel_not_found") // private channels are invisible to non-members
	}
	out := map[string]any{
		"id": ch.ID, "name": ch.Name, "name_normalized": ch.Name,
		"is_channel": ch.Public, "is_group": !ch.Public, "is_im": false, "is_mpim": false,
		"is_private": !ch.Public, "is_archived": ch.Archived, "is_general": false,
		"is_member": ch.BotMember, "created": 1700000000, "creator": s.BotUserID,
		"is_shared": false, "is_ext_shared": false, "is_org_shared": false,
		"topic":   map[string]any{"value": "", "creator": "", "last_set": 0},
		"purpose": map[string]any{"value": "", "creator": "", "last_set": 0},
	}
	if rq.boolArg("include_num_members") {
		out["num_members"] = len(ch.Members)
	}
	return map[string]any{"channel": out}, nil
}

func (s *Server) usergroupsList(rq *apiRequest) (map[string]any, *apiError) {
	if s.cfg.freePlan {
		return nil, errf("plan_upgrade_required") // see WithFreePlan
	}
	groups := []any{}
	for _, id := range s.groupOrder {
		g := s.groups[id]
		item := map[string]any{
			"id": g.ID, "team_id": s.TeamID, "is_usergroup": true, "is_subteam": true,
			"name": g.Handle, "description": "", "handle": g.Handle, "is_external": false,
			"date_create": 1700000000, "date_update": 1700000000, "date_delete": 0,
			"created_by": s.BotUserID, "user_count": len(g.Members),
			// Required by objs_subteam in slack-api-specs
			// web-api/slack_web_openapi_v2.json (see conformance_test.go).
			"auto_type": nil, "auto_provision": false, "enterprise_subteam_id": "",
			"updated_by": s.BotUserID, "deleted_by": nil,
			"prefs": map[string]any{"channels": []any{}, "groups": []any{}},
		}
		if rq.boolArg("include_users") {
			item["users"] = append([]string{}, g.Members...)
		}
		groups = append(groups, item)
	}
	return map[string]any{"usergroups": groups}, nil
}

func (s *Server) usergroupsUsersList(rq *apiRequest) (map[string]any, *apiError) {
	if s.cfg.freePlan {
		return nil, errf("plan_upgrade_required") // see WithFreePlan
	}
	g := s.groups[rq.arg("usergroup")]
	if g == nil {
		return nil, errf("no_such_subteam")
	}
	return map[string]any{"users": append([]string{}, g.Members...)}, nil
}

// Calls returns every recorded Web API request for method, or all of them
// when method is "", in arrival order.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}
