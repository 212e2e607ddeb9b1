package awxtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ctx carries one request through the handlers (Server.mu held).
type reqCtx struct {
	s     *Server
	r     *http.Request
	u     *user
	body  map[string]any
	parts []string
}

// route dispatches one request. It writes the answer itself.
func (s *Server) route(w http.ResponseWriter, r *http.Request, raw []byte, start time.Time) {
	p := r.URL.Path
	if !strings.HasPrefix(p, "/api/v2/") || !strings.HasSuffix(p, "/") {
		s.unhandled(w, r, start)
		return
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(p, "/api/v2/"), "/"), "/")
	if parts[0] == "ping" && len(parts) == 1 {
		s.writeJSON(w, http.StatusOK, newObj("ha", false, "version", "24.6.1", "active_node", "awx-fake",
			"install_uuid", "00000000-0000-4000-8000-000000000000",
			"instances", []any{newObj("node", "awx-fake", "node_type", "hybrid", "uuid", "00000000-0000-4000-8000-000000000001",
				"heartbeat", ts(time.Now()), "capacity", 100, "version", "24.6.1")},
			"instance_groups", []any{newObj("name", "default", "capacity", 100, "instances", []any{"awx-fake"})}), start)
		return
	}
	u := s.authenticate(r)
	s.mu.Lock()
	requireAuth := s.requireAuth
	s.mu.Unlock()
	if u == nil && requireAuth {
		s.writeError(w, r, notAuthenticated, start)
		return
	}
	if u == nil {
		u = &user{id: 1, name: "admin", superuser: true, write: true}
	}
	w.Header().Set("X-API-Product-Version", "24.6.1")
	if !u.write && r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
		s.writeError(w, r, detailErr(http.StatusForbidden, "You do not have permission to perform this action."), start)
		return
	}
	var body map[string]any
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		var e *apiError
		body, e = decodeBody(r, raw)
		if e != nil {
			s.writeError(w, r, e, start)
			return
		}
	}
	c := &reqCtx{s: s, r: r, u: u, body: body, parts: parts}
	s.mu.Lock()
	s.db.tick()
	status, v, hdr, e := c.dispatch()
	s.broadcastLocked()
	s.mu.Unlock()
	for k, vs := range hdr {
		for _, hv := range vs {
			w.Header().Add(k, hv)
		}
	}
	switch {
	case e != nil && e.status == -1:
		s.unhandled(w, r, start)
	case e != nil:
		s.writeError(w, r, e, start)
	case status == 0:
		// the handler wrote a non-JSON answer already in v
		if txt, ok := v.(rawAnswer); ok {
			w.Header().Set("Content-Type", txt.contentType)
			w.Header().Set("X-API-Time", fmt.Sprintf("%.3fs", time.Since(start).Seconds()))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(txt.body))
		}
	default:
		s.writeJSON(w, status, v, start)
	}
}

type rawAnswer struct {
	contentType string
	body        string
}

var errUnhandled = &apiError{status: -1}

func (s *Server) unhandled(w http.ResponseWriter, r *http.Request, start time.Time) {
	if s.cfg.strict {
		s.errorf("awxtest: unhandled request %s %s", r.Method, r.URL.Path)
	}
	s.writeJSON(w, http.StatusNotFound, map[string]any{"detail": "The requested resource could not be found."}, start)
}

func methodNotAllowed(m string) *apiError {
	return detailErr(http.StatusMethodNotAllowed, fmt.Sprintf("Method \"%s\" not allowed.", m))
}

var notFound = detailErr(http.StatusNotFound, "Not found.")

func (c *reqCtx) id(i int) (int, *apiError) {
	if len(c.parts) <= i {
		return 0, errUnhandled
	}
	n, err := strconv.Atoi(c.parts[i])
	if err != nil || n <= 0 {
		return 0, errUnhandled
	}
	return n, nil
}

func (c *reqCtx) list(items []*odict, spec listSpec) (int, any, http.Header, *apiError) {
	if c.r.Method != http.MethodGet {
		return 0, nil, nil, methodNotAllowed(c.r.Method)
	}
	items, e := filterOrder(items, c.r.URL.Query(), spec)
	if e != nil {
		return 0, nil, nil, e
	}
	page, e := paginate(c.r, items, spec)
	if e != nil {
		return 0, nil, nil, e
	}
	return http.StatusOK, page, nil, nil
}

func created(loc string, v any) (int, any, http.Header, *apiError) {
	return http.StatusCreated, v, http.Header{"Location": {loc}}, nil
}

func ok(v any) (int, any, http.Header, *apiError) { return http.StatusOK, v, nil, nil }

func fail(e *apiError) (int, any, http.Header, *apiError) { return 0, nil, nil, e }

func (c *reqCtx) dispatch() (int, any, http.Header, *apiError) {
	st := c.s.db
	m := c.r.Method
	switch c.parts[0] {
	case "me":
		if len(c.parts) != 1 {
			return fail(errUnhandled)
		}
		me := newObj("id", c.u.id, "type", "user", "url", fmt.Sprintf("/api/v2/users/%d/", c.u.id),
			"related", newObj(), "summary_fields", newObj(), "created", ts(time.Unix(1700000000, 0)),
			"modified", ts(time.Unix(1700000000, 0)), "username", c.u.name, "first_name", "", "last_name", "",
			"email", "", "is_superuser", c.u.superuser, "is_system_auditor", false, "password", "$encrypted$",
			"ldap_dn", "", "last_login", nil, "external_account", nil)
		return c.list([]*odict{me}, listSpec{model: "User", defaultOrder: "username"})
	case "organizations":
		return c.simple(len(st.orgs), func() []*odict {
			var out []*odict
			for _, o := range st.orgs {
				out = append(out, st.renderOrg(o))
			}
			return out
		}, func(id int) *odict {
			if o := st.orgs[id]; o != nil {
				return st.renderOrg(o)
			}
			return nil
		}, listSpec{model: "Organization", defaultOrder: "name"})
	case "credentials":
		return c.simple(len(st.creds), func() []*odict {
			var out []*odict
			for _, o := range st.creds {
				out = append(out, st.renderCred(o))
			}
			return out
		}, func(id int) *odict {
			if o := st.creds[id]; o != nil {
				return st.renderCred(o)
			}
			return nil
		}, listSpec{model: "Credential", defaultOrder: "name"})
	case "projects":
		if len(c.parts) == 1 && m == http.MethodPost {
			return c.createProject()
		}
		if len(c.parts) == 2 && (m == http.MethodPatch || m == http.MethodPut) {
			return c.updateProject()
		}
		if len(c.parts) == 3 {
			return c.projectSub()
		}
		return c.simple(0, func() []*odict {
			var out []*odict
			for _, o := range st.projects {
				out = append(out, st.renderProject(o))
			}
			return out
		}, func(id int) *odict {
			if o := st.projects[id]; o != nil {
				return st.renderProject(o)
			}
			return nil
		}, listSpec{model: "Project", defaultOrder: "name"})
	case "job_templates":
		return c.jobTemplates()
	case "inventories":
		return c.inventories()
	case "hosts":
		return c.hostsRoute()
	case "jobs":
		return c.jobs("job")
	case "ad_hoc_commands":
		return c.jobs("ad_hoc_command")
	case "job_events", "ad_hoc_command_events":
		id, e := c.id(1)
		if e != nil || len(c.parts) != 2 {
			return fail(errUnhandled)
		}
		ev := st.events[id]
		if ev == nil || (ev.job.kind == "job") != (c.parts[0] == "job_events") {
			return fail(notFound)
		}
		return ok(st.renderEvent(ev, false))
	}
	return fail(errUnhandled)
}

// simple serves a read-only list and detail.
func (c *reqCtx) simple(_ int, all func() []*odict, one func(int) *odict, spec listSpec) (int, any, http.Header, *apiError) {
	switch len(c.parts) {
	case 1:
		return c.list(all(), spec)
	case 2:
		id, e := c.id(1)
		if e != nil {
			return fail(e)
		}
		if c.r.Method != http.MethodGet {
			return fail(methodNotAllowed(c.r.Method))
		}
		o := one(id)
		if o == nil {
			return fail(notFound)
		}
		return ok(o)
	}
	return fail(errUnhandled)
}

func str2(m map[string]any, k string) (string, bool, *apiError) {
	v, ok := m[k]
	if !ok || v == nil {
		return "", ok, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", true, fieldErr(k, "Not a valid string.")
	}
	return s, true, nil
}

func int2(m map[string]any, k string) (int, bool, *apiError) {
	v, ok := m[k]
	if !ok || v == nil {
		return 0, ok, nil
	}
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		if err == nil {
			return int(n), true, nil
		}
	case string:
		n, err := strconv.Atoi(x)
		if err == nil {
			return n, true, nil
		}
	}
	return 0, true, fieldErr(k, "Incorrect type. Expected pk value, received "+fmt.Sprintf("%T", v)+".")
}

func bool2(m map[string]any, k string) (bool, bool, *apiError) {
	v, ok := m[k]
	if !ok || v == nil {
		return false, ok, nil
	}
	switch x := v.(type) {
	case bool:
		return x, true, nil
	case string:
		b, e := parseBool(x)
		if e == nil {
			return b, true, nil
		}
	}
	return false, true, fieldErr(k, "Must be a valid boolean.")
}

func (c *reqCtx) createProject() (int, any, http.Header, *apiError) {
	st := c.s.db
	name, _, e := str2(c.body, "name")
	if e != nil {
		return fail(e)
	}
	if name == "" {
		return fail(fieldErr("name", "This field may not be blank."))
	}
	orgID, _, e := int2(c.body, "organization")
	if e != nil {
		return fail(e)
	}
	if st.orgs[orgID] == nil {
		return fail(fieldErr("organization", fmt.Sprintf("Invalid pk \"%d\" - object does not exist.", orgID)))
	}
	for _, p := range st.projects {
		if p.name == name && p.org == orgID {
			return fail(fieldErr("__all__", "Project with this Name and Organization already exists."))
		}
	}
	now := time.Now()
	p := &project{meta: meta{id: st.nextID("project"), name: name, created: now, modified: now}, org: orgID}
	if e := c.applyProject(p); e != nil {
		return fail(e)
	}
	st.projects[p.id] = p
	if p.scmType != "" {
		st.startSync(p, now)
	}
	return created(fmt.Sprintf("/api/v2/projects/%d/", p.id), st.renderProject(p))
}

func (c *reqCtx) applyProject(p *project) *apiError {
	if v, ok, e := str2(c.body, "name"); e != nil {
		return e
	} else if ok {
		p.name = v
	}
	if v, ok, e := str2(c.body, "description"); e != nil {
		return e
	} else if ok {
		p.description = v
	}
	if v, ok, e := str2(c.body, "scm_type"); e != nil {
		return e
	} else if ok {
		p.scmType = v
	}
	if v, ok, e := str2(c.body, "scm_url"); e != nil {
		return e
	} else if ok {
		p.scmURL = v
	}
	if v, ok, e := str2(c.body, "scm_branch"); e != nil {
		return e
	} else if ok {
		p.branch = v
	}
	if _, ok := c.body["credential"]; ok {
		v, _, e := int2(c.body, "credential")
		if e != nil {
			return e
		}
		if v != 0 {
			cr := c.s.db.creds[v]
			if cr == nil {
				return fieldErr("credential", fmt.Sprintf("Invalid pk \"%d\" - object does not exist.", v))
			}
			// ProjectOptions.clean_credential (awx/main/models/
			// projects.py): a git project takes a Source Control
			// credential only.
			if cr.kind != "scm" {
				return fieldErr("credential", "Credential kind must be 'scm'.")
			}
		}
		p.credential = v
	}
	if v, ok, e := bool2(c.body, "allow_override"); e != nil {
		return e
	} else if ok {
		p.allowOverride = v
	}
	if p.scmType == "git" && p.scmURL == "" {
		return fieldErr("scm_url", "SCM URL is required.")
	}
	p.modified = time.Now()
	return nil
}

func (c *reqCtx) updateProject() (int, any, http.Header, *apiError) {
	id, e := c.id(1)
	if e != nil {
		return fail(e)
	}
	p := c.s.db.projects[id]
	if p == nil {
		return fail(notFound)
	}
	before := [4]string{p.scmType, p.scmURL, p.branch, fmt.Sprint(p.credential)}
	if e := c.applyProject(p); e != nil {
		return fail(e)
	}
	// FIELDS_TRIGGER_UPDATE (awx/main/models/projects.py); a new
	// credential is only used by the next sync, which we start too so that
	// a private repository becomes reachable.
	if p.scmType != "" && before != [4]string{p.scmType, p.scmURL, p.branch, fmt.Sprint(p.credential)} {
		c.s.db.startSync(p, time.Now())
	}
	return ok(c.s.db.renderProject(p))
}

func sortedNames(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
