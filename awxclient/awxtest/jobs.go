package awxtest

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// stdoutMaxBytes is AWX's STDOUT_MAX_BYTES_DISPLAY.
const stdoutMaxBytes = 1048576

var adHocModules = map[string]bool{"command": true, "shell": true, "yum": true, "apt": true, "apt_key": true,
	"apt_repository": true, "apt_rpm": true, "service": true, "group": true, "user": true, "mount": true,
	"ping": true, "selinux": true, "setup": true, "win_ping": true, "win_service": true, "win_updates": true,
	"win_group": true, "win_user": true}

func jsonNum(n int) json.Number { return json.Number(strconv.Itoa(n)) }

// JobStatus returns a job's (or ad-hoc command's) status, or "" if unknown.
func (s *Server) JobStatus(id int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.db.jobs[id]; j != nil {
		return j.status
	}
	return ""
}

// JobStdout returns the output rebuilt from the events saved so far.
func (s *Server) JobStdout(id int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.db.jobs[id]; j != nil {
		return j.stdoutText()
	}
	return ""
}

// EventCount returns how many events of the job were emitted and saved.
func (s *Server) EventCount(id int) (emitted, saved int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.db.jobs[id]; j != nil {
		return j.counter, len(j.saved)
	}
	return 0, 0
}

// FlushEvents saves every held event of a job at once.
func (s *Server) FlushEvents(id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.db.jobs[id]; j != nil {
		for len(j.held) > 0 {
			s.saveLocked(j, 0)
		}
		s.broadcastLocked()
	}
}

func (c *reqCtx) jobs(kind string) (int, any, http.Header, *apiError) {
	s, st := c.s, c.s.db
	m := c.r.Method
	if len(c.parts) == 1 {
		if kind == "ad_hoc_command" && m == http.MethodPost {
			return c.createAdHoc()
		}
		var out []*odict
		for _, j := range st.jobs {
			if j.kind == kind && c.canRead(j.template) {
				out = append(out, st.renderJob(j, false))
			}
		}
		model := "Job"
		if kind == "ad_hoc_command" {
			model = "AdHocCommand"
		}
		return c.list(out, listSpec{model: model, defaultOrder: "id"})
	}
	id, e := c.id(1)
	if e != nil {
		return fail(e)
	}
	// The stdout view negotiates its renderer before it looks the job up
	// (APIView.initial runs perform_content_negotiation first), so a bad
	// Accept header is 406 even for a job that does not exist, and a
	// missing job is drawn by the accepted renderer.
	var stdoutRenderer renderer
	if len(c.parts) == 3 && c.parts[2] == "stdout" && m == http.MethodGet {
		if stdoutRenderer, e = negotiate(c.r, stdoutRenderers); e != nil {
			return fail(e)
		}
	}
	j := st.jobs[id]
	if j == nil || j.kind != kind {
		if len(c.parts) > 3 {
			return fail(errUnhandled)
		}
		return fail(renderedError(stdoutRenderer, notFound))
	}
	if j.kind == "job" && !c.canRead(j.template) {
		return fail(permissionDenied)
	}
	if m == http.MethodGet {
		s.releaseLocked(j, len(c.parts) == 2)
	}
	if len(c.parts) == 2 {
		switch m {
		case http.MethodGet:
			return ok(st.renderJob(j, true))
		case http.MethodDelete:
			if !isFinal(j.status) {
				return fail(detailErr(http.StatusForbidden, "Cannot delete running job resource."))
			}
			delete(st.jobs, j.id)
			return http.StatusNoContent, nil, nil, nil
		case http.MethodPut, http.MethodPatch:
			return fail(methodNotAllowed(m))
		}
		return fail(methodNotAllowed(m))
	}
	if len(c.parts) != 3 {
		return fail(errUnhandled)
	}
	switch c.parts[2] {
	case "job_events", "events":
		if (kind == "job") != (c.parts[2] == "job_events") {
			return fail(errUnhandled)
		}
		return c.events(j)
	case "job_host_summaries":
		if kind != "job" {
			return fail(errUnhandled)
		}
		var out []*odict
		if j.statsSaved {
			for _, hs := range j.summaries {
				out = append(out, st.renderSummary(j, hs))
			}
		}
		return c.list(out, listSpec{model: "JobHostSummary", defaultOrder: "-id"})
	case "stdout":
		if m != http.MethodGet {
			return fail(methodNotAllowed(m))
		}
		return c.stdout(j, stdoutRenderer.format)
	case "cancel":
		return c.cancel(j)
	case "relaunch":
		return c.relaunch(j)
	}
	return fail(errUnhandled)
}

func (c *reqCtx) events(j *unifiedJob) (int, any, http.Header, *apiError) {
	st := c.s.db
	q := c.r.URL.Query()
	truncate := true
	if v := q.Get("no_truncate"); v != "" {
		if b, e := parseBool(v); e == nil && b {
			truncate = false
		}
	}
	// Rendering every event for every request is slow for big jobs:
	// apply counter bounds first (the generic filter applies them again).
	lo, hi := 0, int(^uint(0)>>1)
	bound := func(key string, adj int, f func(int)) {
		if n, err := strconv.Atoi(q.Get(key)); err == nil {
			f(n + adj)
		}
	}
	bound("counter__gt", 1, func(n int) { lo = max(lo, n) })
	bound("counter__gte", 0, func(n int) { lo = max(lo, n) })
	bound("counter__lt", -1, func(n int) { hi = min(hi, n) })
	bound("counter__lte", 0, func(n int) { hi = min(hi, n) })
	minStart := -1
	if n, err := strconv.Atoi(q.Get("start_line__gte")); err == nil {
		minStart = n
	}
	// The follower's "new or missing" query: or__counter__gt, or__counter__in.
	orGt, hasOrGt := 0, false
	if n, err := strconv.Atoi(q.Get("or__counter__gt")); err == nil {
		orGt, hasOrGt = n, true
	}
	orIn := map[int]bool{}
	for _, v := range strings.Split(q.Get("or__counter__in"), ",") {
		if n, err := strconv.Atoi(v); err == nil {
			orIn[n] = true
		}
	}
	hasOr := hasOrGt || len(orIn) > 0
	for k := range q {
		if strings.HasPrefix(k, "or__") && k != "or__counter__gt" && k != "or__counter__in" {
			hasOr = false // other OR terms: leave it all to the generic filter
		}
	}
	var evs []*event
	for _, e := range j.saved {
		if e.counter < lo || e.counter > hi || e.startLine < minStart {
			continue
		}
		if hasOr && !((hasOrGt && e.counter > orGt) || orIn[e.counter]) {
			continue
		}
		evs = append(evs, e)
	}
	spec := listSpec{model: "JobEvent", defaultOrder: "start_line", limitPaging: true}
	if j.kind == "ad_hoc_command" {
		spec = listSpec{model: "AdHocCommandEvent", defaultOrder: "-id", limitPaging: true}
	}
	var hdr http.Header
	if j.kind == "job" {
		hdr = http.Header{"X-UI-Max-Events": {"4000"}}
	}
	if page, ok := c.fastEvents(evs, spec, truncate); ok {
		return http.StatusOK, page, hdr, nil
	}
	out := make([]*odict, 0, len(evs))
	for _, e := range evs {
		out = append(out, st.renderEvent(e, truncate))
	}
	status, v, _, e := c.list(out, spec)
	if e != nil {
		hdr = nil
	}
	return status, v, hdr, e
}

// fastEvents serves the common event queries (bounds on counter and
// start_line, ordered by counter, start_line or id) by sorting and paging
// before rendering: big jobs would otherwise render every event per request.
func (c *reqCtx) fastEvents(evs []*event, spec listSpec, truncate bool) (any, bool) {
	q := c.r.URL.Query()
	for k := range q {
		switch k {
		case "page", "page_size", "order_by", "order", "no_truncate", "count_disabled", "limit",
			"counter__gt", "counter__gte", "counter__lt", "counter__lte", "start_line__gte",
			"or__counter__gt", "or__counter__in":
		default:
			return nil, false
		}
	}
	order := q.Get("order_by")
	if order == "" {
		order = q.Get("order")
	}
	if order == "" {
		order = spec.defaultOrder
	}
	desc := strings.HasPrefix(order, "-")
	var key func(e *event) int
	switch strings.TrimPrefix(order, "-") {
	case "counter":
		key = func(e *event) int { return e.counter }
	case "start_line":
		key = func(e *event) int { return e.startLine }
	case "id":
		key = func(e *event) int { return e.id }
	default:
		return nil, false
	}
	sorted := append([]*event(nil), evs...)
	sort.SliceStable(sorted, func(a, b int) bool {
		if desc {
			return key(sorted[a]) > key(sorted[b])
		}
		return key(sorted[a]) < key(sorted[b])
	})
	lo, hi, wrap, e := pageBounds(c.r, len(sorted), spec)
	if e != nil {
		return nil, false
	}
	res := make([]*odict, 0, hi-lo)
	for _, ev := range sorted[lo:hi] {
		res = append(res, c.s.db.renderEvent(ev, truncate))
	}
	return wrap(res), true
}

// stdout answers UnifiedJobStdout in the negotiated format.
func (c *reqCtx) stdout(j *unifiedJob, format string) (int, any, http.Header, *apiError) {
	q := c.r.URL.Query()
	size := 0
	for _, e := range j.saved {
		size += len(e.stdout)
	}
	content := j.stdoutText()
	tooLarge := size > stdoutMaxBytes
	tooLargeMsg := fmt.Sprintf("Standard Output too large to display (%d bytes), only download supported for sizes over %d bytes.", size, stdoutMaxBytes)
	prefix := "job"
	if j.kind == "ad_hoc_command" {
		prefix = "ad_hoc_command"
	}
	switch format {
	case "txt", "ansi":
		if tooLarge {
			return 0, rawAnswer{"text/plain; charset=utf-8", tooLargeMsg}, nil, nil
		}
		if format == "txt" {
			content = ansiRE.ReplaceAllString(content, "")
		}
		return 0, rawAnswer{"text/plain; charset=utf-8", content}, nil, nil
	case "txt_download", "ansi_download":
		name := fmt.Sprintf("%s_%d.txt", prefix, j.id)
		if format == "txt_download" {
			content = ansiRE.ReplaceAllString(content, "")
		} else {
			name = fmt.Sprintf("%s_%d.ansi.txt", prefix, j.id)
		}
		return 0, rawAnswer{"text/plain; charset=utf-8", content},
			http.Header{"Content-Disposition": {fmt.Sprintf("attachment; filename=\"%s\"", name)}}, nil
	case "json", "html", "api":
		lines := strings.SplitAfter(content, "\n")
		if len(lines) > 0 && lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		total := len(lines)
		start, end := 0, total
		if v, err := strconv.Atoi(q.Get("start_line")); err == nil {
			start = v
			if start < 0 {
				start = max(0, total+start)
			}
		}
		if v, err := strconv.Atoi(q.Get("end_line")); err == nil {
			end = v
		}
		start = min(start, total)
		end = max(start, min(end, total))
		body := strings.Join(lines[start:end], "")
		if format == "json" {
			if tooLarge {
				return ok(newObj("range", newObj("start", 0, "end", 1, "absolute_end", 1), "content", tooLargeMsg))
			}
			return ok(newObj("range", newObj("start", start, "end", end, "absolute_end", total), "content", body))
		}
		if tooLarge {
			body = tooLargeMsg
		}
		page := "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Type</title></head><body>\n<div class=\"nocode ansi_fore ansi_back\"><pre>" +
			html.EscapeString(ansiRE.ReplaceAllString(body, "")) + "</pre></div>\n</body></html>\n"
		return 0, rawAnswer{"text/html; charset=utf-8", page}, nil, nil
	}
	return fail(notFound)
}

func (c *reqCtx) cancel(j *unifiedJob) (int, any, http.Header, *apiError) {
	can := !isFinal(j.status)
	switch c.r.Method {
	case http.MethodGet:
		return ok(map[string]any{"can_cancel": can})
	case http.MethodPost:
	default:
		return fail(methodNotAllowed(c.r.Method))
	}
	if !can {
		// A job that has ended cannot be canceled: AWX's GenericCancelView
		// (awx/api/generics.py) answers http_method_not_allowed, 405, when
		// can_cancel is false ("202 if successful, or 405 if the job cannot
		// be canceled", awx/api/templates/api/job_cancel.md); for a user
		// who is not a superuser the cancel permission check
		// (awx/main/access.py, can_cancel) refuses first, with 403.
		if c.u.superuser {
			return fail(methodNotAllowed("POST"))
		}
		return fail(detailErr(http.StatusForbidden, "You do not have permission to perform this action."))
	}
	now := time.Now()
	if j.canceledOn.IsZero() {
		j.canceledOn = now
	}
	if j.status != "running" {
		// Not dispatched yet: canceled at once.
		j.setStatus("canceled", now)
	}
	if j.cancel != nil {
		j.cancel()
	}
	return http.StatusAccepted, nil, nil, nil
}

func (c *reqCtx) relaunch(j *unifiedJob) (int, any, http.Header, *apiError) {
	s, st := c.s, c.s.db
	if c.r.Method == http.MethodGet {
		var retry any = "Relaunch by host status not available until job finishes running."
		if isFinal(j.status) {
			failed := 0
			for _, hs := range j.summaries {
				if hs.failures > 0 || hs.dark > 0 {
					failed++
				}
			}
			retry = newObj("all", len(j.summaries), "failed", failed)
		}
		return ok(newObj("passwords_needed_to_start", []any{}, "retry_counts", retry))
	}
	if c.r.Method != http.MethodPost {
		return fail(methodNotAllowed(c.r.Method))
	}
	hosts, _, e := str2(c.body, "hosts")
	if e != nil {
		return fail(e)
	}
	if hosts == "" {
		hosts = "all"
	}
	if hosts != "all" && hosts != "failed" {
		return fail(fieldErr("hosts", fmt.Sprintf("\"%s\" is not a valid choice.", hosts)))
	}
	if j.kind == "ad_hoc_command" {
		n := s.newAdHocLocked(j.inventory, j.credential, j.moduleName, j.moduleArgs, j.limit, j.extraVars, j.jobType, j.diffMode, "relaunch")
		n.becomeEnabled = j.becomeEnabled
		out := st.renderJob(n, false)
		out.set("ad_hoc_command", n.id)
		return created(n.path(), out)
	}
	limit := j.limit
	if hosts == "failed" {
		if !isFinal(j.status) {
			return fail(&apiError{status: 400, body: map[string]any{"hosts": "Wait until job finishes before retrying on failed hosts."}})
		}
		if !j.statsSaved {
			return fail(&apiError{status: 400, body: map[string]any{"hosts": "Cannot retry on failed hosts, playbook stats not available."}})
		}
		var names []string
		for _, hs := range j.summaries {
			if hs.failures > 0 || hs.dark > 0 {
				names = append(names, hs.hostName)
			}
		}
		if len(names) == 0 {
			return fail(&apiError{status: 400, body: map[string]any{"hosts": "Cannot relaunch because previous job had 0 failed hosts."}})
		}
		sort.Strings(names)
		limit = strings.Join(names, ",")
	}
	t := st.templates[j.template]
	if t == nil {
		return fail(&apiError{status: 400, body: map[string]any{"errors": []string{"Job Template Project is missing or undefined."}}})
	}
	if st.inventories[j.inventory] == nil {
		return fail(&apiError{status: 400, body: map[string]any{"errors": []string{"Job Template Inventory is missing or undefined."}}})
	}
	vars, _ := parseVars(j.extraVars)
	n := s.newJobLocked(t, j.inventory, vars, limit, j.jobType, j.diffMode, "relaunch")
	n.ancestor = j.id
	out := st.renderJob(n, false)
	out.set("job", n.id)
	return created(n.path(), out)
}

func (c *reqCtx) createAdHoc() (int, any, http.Header, *apiError) {
	s, st := c.s, c.s.db
	if len(c.body) == 0 {
		return fail(fieldErr("inventory", "No valid inventory."))
	}
	errs := map[string]any{}
	invID, _, e := int2(c.body, "inventory")
	if e != nil {
		return fail(e)
	}
	if inv := st.inventories[invID]; inv == nil || inv.pendingDeletion {
		errs["inventory"] = []string{"No valid inventory."}
	}
	credID, _, e := int2(c.body, "credential")
	if e != nil {
		return fail(e)
	}
	if credID != 0 {
		cr := st.creds[credID]
		if cr == nil {
			return fail(detailErr(400, "Credential matching query does not exist."))
		}
		if cr.kind != "ssh" {
			errs["credential"] = []string{"You must provide a machine / SSH credential."}
		}
	}
	module, _, e := str2(c.body, "module_name")
	if e != nil {
		return fail(e)
	}
	if module == "" {
		module = "command"
	}
	if !adHocModules[module] {
		errs["module_name"] = []string{fmt.Sprintf("\"%s\" is not a valid choice.", module)}
	}
	args, _, e := str2(c.body, "module_args")
	if e != nil {
		return fail(e)
	}
	if (module == "command" || module == "shell") && strings.TrimSpace(args) == "" {
		errs["module_args"] = []string{"No argument passed to " + module + " module."}
	}
	vars, _, e := str2(c.body, "extra_vars")
	if e != nil {
		return fail(e) // a dict: "Not a valid string."
	}
	if vars != "" {
		m, err := parseVars(vars)
		if err != nil {
			errs["extra_vars"] = []string{err.Error()}
		}
		var bad []string
		for k := range m {
			if strings.HasPrefix(k, "ansible_") {
				bad = append(bad, k)
			}
		}
		if len(bad) > 0 {
			sort.Strings(bad)
			errs["extra_vars"] = []string{strings.Join(bad, ", ") + " are prohibited from use in ad hoc commands."}
		}
	}
	limit, _, e := str2(c.body, "limit")
	if e != nil {
		return fail(e)
	}
	jobType, _, e := str2(c.body, "job_type")
	if e != nil {
		return fail(e)
	}
	if jobType == "" {
		jobType = "run"
	}
	if jobType != "run" && jobType != "check" {
		errs["job_type"] = []string{fmt.Sprintf("\"%s\" is not a valid choice.", jobType)}
	}
	diff, _, e := bool2(c.body, "diff_mode")
	if e != nil {
		return fail(e)
	}
	become, _, e := bool2(c.body, "become_enabled")
	if e != nil {
		return fail(e)
	}
	if len(errs) > 0 {
		return fail(&apiError{status: http.StatusBadRequest, body: errs})
	}
	j := s.newAdHocLocked(invID, credID, module, args, limit, vars, jobType, diff, "manual")
	j.becomeEnabled = become
	return created(j.path(), st.renderAdHoc(j, false, time.Now()))
}

// newAdHocLocked creates an ad-hoc command; it starts after the caller has
// rendered it with status "new" (AWX serializes before signal_start).
// jinjaRE is what sanitize_jinja refuses: {{ x }} or {% x %}
// (awx/main/utils/safe_yaml.py).
var jinjaRE = regexp.MustCompile(`\{\{[^}]+}}|\{%[^%]+%}`)

func (s *Server) newAdHocLocked(inv, cred int, module, args, limit, vars, jobType string, diff bool, launchType string) *unifiedJob {
	now := time.Now()
	j := &unifiedJob{kind: "ad_hoc_command", id: s.db.nextID("unified_job"), name: module, inventory: inv,
		credential: cred, moduleName: module, moduleArgs: args, limit: limit, extraVars: vars, jobType: jobType,
		diffMode: diff, launchType: launchType, status: "new", created: now, modified: now}
	s.db.jobs[j.id] = j
	b := s.db.adHocBehavior
	if b == nil && s.cfg.ansible {
		b = AnsibleExecutor(s.cfg.playbookDir)
	}
	if b == nil {
		b = DefaultAdHocScript()
	}
	if jinjaRE.MatchString(args) {
		// RunAdHocCommand.build_module_args runs sanitize_jinja on the
		// arguments (ALLOW_JINJA_IN_EXTRA_VARS is "template" by default),
		// which raises before anything runs: the command ends "error"
		// with no events (awx/main/tasks/jobs.py,
		// awx/main/utils/safe_yaml.py).
		b = BehaviorFunc(func(context.Context, *Run) error {
			return &JobError{Explanation: "Job terminated due to error",
				Traceback: "Traceback (most recent call last):\n  File \"/awx_devel/awx/main/tasks/jobs.py\", in build_module_args\nValueError: Inline Jinja variables are not allowed."}
		})
	}
	parsed, _ := parseVars(vars)
	info := s.runInfoLocked(j, parsed)
	// The answer is rendered before the job moves on: start it once the
	// handler has released the lock.
	s.runs.Add(1)
	go func() {
		defer s.runs.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		if j.status == "new" {
			j.setStatus("pending", time.Now())
			s.startLocked(j, b, info)
		}
	}()
	return j
}
