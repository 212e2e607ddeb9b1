package awxtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"
)

// JobTemplate describes a job template to add with AddJobTemplate.
type JobTemplate struct {
	Name        string
	Description string
	// Playbook is the playbook file, relative to the project (for the
	// ansible executor: relative to the playbook directory).
	Playbook string
	// Project defaults to the seeded "Demo Project" (1).
	Project int
	// Organization defaults to "Default" (1).
	Organization int
	// Inventory is the template's own inventory (0: none).
	Inventory int
	// The "Prompt on launch" settings.
	AskInventory  bool
	AskVariables  bool
	AskLimit      bool
	AskJobType    bool
	AskDiffMode   bool
	AskCredential bool
	// The template's own values.
	ExtraVars         string
	Limit             string
	JobType           string
	DiffMode          bool
	AllowSimultaneous bool
	BecomeEnabled     bool
	// JobSliceCount above 1 makes a launch start a workflow job of slices
	// (0 is 1).
	JobSliceCount int
	Credentials   []int
	// Behavior drives this template's jobs (nil: the server default).
	Behavior Behavior
	// PacePerPoll makes the behaviour's WaitPoll wait for a client poll.
	PacePerPoll bool
	// EventsNeverProcessed keeps the jobs' event_processing_finished false
	// for good after they end, as AWX does when its callback receiver
	// falls behind or loses events (ansible/awx issues 9286, 15773).
	EventsNeverProcessed bool
	// Private hides the template and its jobs from every user but the
	// superuser (Server.Token): lists leave them out and their detail views
	// answer 403, as AWX does for objects a user may not read.
	Private bool
}

// AddJobTemplate adds a job template and returns its id.
func (s *Server) AddJobTemplate(jt JobTemplate) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if jt.Project == 0 {
		jt.Project = 1
	}
	if jt.Organization == 0 {
		jt.Organization = 1
	}
	if jt.JobType == "" {
		jt.JobType = "run"
	}
	now := time.Now()
	t := &template{meta: meta{id: s.db.nextID("job_template"), name: jt.Name, description: jt.Description,
		created: now, modified: now}, JobTemplate: jt}
	s.db.templates[t.id] = t
	return t.id
}

// SetBehavior sets the behaviour of a job template's future jobs.
func (s *Server) SetBehavior(templateID int, b Behavior, pacePerPoll bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.db.templates[templateID]; t != nil {
		t.Behavior, t.PacePerPoll = b, pacePerPoll
	}
}

// SetDefaultBehavior sets the behaviour of jobs whose template has none.
func (s *Server) SetDefaultBehavior(b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.db.defaultBehavior = b
}

// SetAdHocBehavior sets the behaviour of ad-hoc commands.
func (s *Server) SetAdHocBehavior(b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.db.adHocBehavior = b
}

// JobTemplateByName returns the id of the template with that name, or 0.
func (s *Server) JobTemplateByName(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.db.templates {
		if t.name == name {
			return t.id
		}
	}
	return 0
}

func (c *reqCtx) jobTemplates() (int, any, http.Header, *apiError) {
	st := c.s.db
	m := c.r.Method
	if len(c.parts) == 1 {
		if m == http.MethodPost {
			return c.saveTemplate(nil)
		}
		var out []*odict
		for _, t := range st.templates {
			if c.canRead(t.id) {
				out = append(out, st.renderTemplate(t))
			}
		}
		return c.list(out, listSpec{model: "JobTemplate", defaultOrder: "name"})
	}
	id, e := c.id(1)
	if e != nil {
		return fail(e)
	}
	t := st.templates[id]
	if t == nil {
		if len(c.parts) > 3 {
			return fail(errUnhandled)
		}
		return fail(notFound)
	}
	if !c.canRead(t.id) {
		return fail(permissionDenied)
	}
	if len(c.parts) == 2 {
		switch m {
		case http.MethodGet:
			return ok(st.renderTemplate(t))
		case http.MethodPatch, http.MethodPut:
			return c.saveTemplate(t)
		}
		return fail(methodNotAllowed(m))
	}
	if len(c.parts) != 3 {
		return fail(errUnhandled)
	}
	switch c.parts[2] {
	case "launch":
		switch m {
		case http.MethodGet:
			return ok(c.launchInfo(t))
		case http.MethodPost:
			return c.launch(t)
		}
		return fail(methodNotAllowed(m))
	case "credentials":
		if m == http.MethodPost {
			cid, _, e := int2(c.body, "id")
			if e != nil || cid == 0 {
				return fail(&apiError{status: 400, body: map[string]any{"msg": "\"id\" field must be an integer."}})
			}
			if st.creds[cid] == nil {
				return fail(detailErr(400, "Credential matching query does not exist."))
			}
			if dis, _, _ := bool2(c.body, "disassociate"); dis {
				var keep []int
				for _, x := range t.Credentials {
					if x != cid {
						keep = append(keep, x)
					}
				}
				t.Credentials = keep
			} else if !containsInt(t.Credentials, cid) {
				t.Credentials = append(t.Credentials, cid)
			}
			return http.StatusNoContent, nil, nil, nil
		}
		var out []*odict
		for _, cid := range t.Credentials {
			if cr := st.creds[cid]; cr != nil {
				out = append(out, st.renderCred(cr))
			}
		}
		return c.list(out, listSpec{model: "Credential", defaultOrder: "name"})
	}
	return fail(errUnhandled)
}

var permissionDenied = detailErr(http.StatusForbidden, "You do not have permission to perform this action.")

// canRead reports whether the caller may see a template and its jobs.
func (c *reqCtx) canRead(templateID int) bool {
	t := c.s.db.templates[templateID]
	return t == nil || !t.Private || c.u.superuser
}

func containsStr(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func (c *reqCtx) saveTemplate(t *template) (int, any, http.Header, *apiError) {
	st := c.s.db
	isNew := t == nil
	jt := JobTemplate{JobType: "run"}
	if !isNew {
		jt = t.JobTemplate
	}
	name := ""
	if !isNew {
		name = t.name
	}
	desc := ""
	if !isNew {
		desc = t.description
	}
	errs := map[string]any{}
	if v, ok, e := str2(c.body, "name"); e != nil {
		return fail(e)
	} else if ok {
		name = v
	}
	if v, ok, e := str2(c.body, "description"); e != nil {
		return fail(e)
	} else if ok {
		desc = v
	}
	if v, ok, e := str2(c.body, "playbook"); e != nil {
		return fail(e)
	} else if ok {
		jt.Playbook = v
	}
	if v, ok, e := str2(c.body, "job_type"); e != nil {
		return fail(e)
	} else if ok {
		if v != "run" && v != "check" {
			errs["job_type"] = []string{fmt.Sprintf("\"%s\" is not a valid choice.", v)}
		}
		jt.JobType = v
	}
	if v, ok, e := int2(c.body, "project"); e != nil {
		return fail(e)
	} else if ok {
		if st.projects[v] == nil {
			errs["project"] = []string{fmt.Sprintf("Invalid pk \"%d\" - object does not exist.", v)}
		}
		jt.Project = v
	}
	if _, ok := c.body["inventory"]; ok {
		v, _, e := int2(c.body, "inventory")
		if e != nil {
			return fail(e)
		}
		if v != 0 && st.inventories[v] == nil {
			errs["inventory"] = []string{fmt.Sprintf("Invalid pk \"%d\" - object does not exist.", v)}
		}
		jt.Inventory = v
	}
	flags := map[string]*bool{"ask_inventory_on_launch": &jt.AskInventory, "ask_variables_on_launch": &jt.AskVariables,
		"ask_limit_on_launch": &jt.AskLimit, "ask_job_type_on_launch": &jt.AskJobType,
		"ask_diff_mode_on_launch": &jt.AskDiffMode, "ask_credential_on_launch": &jt.AskCredential,
		"diff_mode": &jt.DiffMode, "allow_simultaneous": &jt.AllowSimultaneous, "become_enabled": &jt.BecomeEnabled}
	for k, p := range flags {
		if v, ok, e := bool2(c.body, k); e != nil {
			return fail(e)
		} else if ok {
			*p = v
		}
	}
	if v, ok, e := int2(c.body, "job_slice_count"); e != nil {
		return fail(e)
	} else if ok {
		jt.JobSliceCount = v
	}
	if name == "" {
		errs["name"] = []string{"This field may not be blank."}
	}
	if jt.Project == 0 {
		errs["project"] = []string{"This field is required."}
	}
	if jt.Playbook == "" {
		errs["playbook"] = []string{"This field is required."}
	} else if p := st.projects[jt.Project]; p != nil && p.scmType != "" && !p.allowOverride && !containsStr(p.files, jt.Playbook) {
		// JobOptionsSerializer.validate (awx/api/serializers.py): the
		// playbook must be in the project's playbook_files, which only a
		// finished sync fills, so a new project refuses every playbook
		// until its first sync is done.
		errs["playbook"] = []string{"Playbook not found for project."}
	}
	if len(errs) > 0 {
		return fail(&apiError{status: http.StatusBadRequest, body: errs})
	}
	if p := st.projects[jt.Project]; p != nil {
		jt.Organization = p.org
	}
	for _, o := range st.templates {
		if o != t && o.name == name && o.Organization == jt.Organization {
			return fail(fieldErr("__all__", "Job Template with this Name and Organization already exists."))
		}
	}
	now := time.Now()
	if isNew {
		t = &template{meta: meta{id: st.nextID("job_template"), created: now}}
		st.templates[t.id] = t
	}
	t.name, t.description, t.modified = name, desc, now
	t.JobTemplate = jt
	t.JobTemplate.Name, t.JobTemplate.Description = name, desc
	if isNew {
		return created(fmt.Sprintf("/api/v2/job_templates/%d/", t.id), st.renderTemplate(t))
	}
	return ok(st.renderTemplate(t))
}

func (c *reqCtx) launchInfo(t *template) *odict {
	var inv any
	if i := c.s.db.inventories[t.Inventory]; i != nil {
		inv = newObj("name", i.name, "id", i.id)
	}
	return newObj("can_start_without_user_input", t.Inventory != 0, "passwords_needed_to_start", []any{},
		"ask_scm_branch_on_launch", false, "ask_variables_on_launch", t.AskVariables, "ask_tags_on_launch", false,
		"ask_diff_mode_on_launch", t.AskDiffMode, "ask_skip_tags_on_launch", false, "ask_job_type_on_launch", t.AskJobType,
		"ask_limit_on_launch", t.AskLimit, "ask_verbosity_on_launch", false, "ask_inventory_on_launch", t.AskInventory,
		"ask_credential_on_launch", t.AskCredential, "ask_execution_environment_on_launch", false,
		"ask_labels_on_launch", false, "ask_forks_on_launch", false, "ask_job_slice_count_on_launch", false,
		"ask_timeout_on_launch", false, "ask_instance_groups_on_launch", false, "survey_enabled", false,
		"variables_needed_to_start", []any{}, "credential_needed_to_start", false,
		"inventory_needed_to_start", t.Inventory == 0 && t.AskInventory,
		"job_template_data", newObj("name", t.name, "id", t.id, "description", t.description),
		"defaults", newObj("extra_vars", t.ExtraVars, "diff_mode", t.DiffMode, "limit", t.Limit, "job_tags", "",
			"skip_tags", "", "job_type", t.JobType, "verbosity", 0, "inventory", inv, "credentials", []any{},
			"execution_environment", newObj(), "labels", []any{}, "forks", 0, "job_slice_count", max(1, t.JobSliceCount), "timeout", 0,
			"instance_groups", []any{}))
}

// launch implements POST job_templates/{id}/launch/: unprompted fields are
// dropped and reported in ignored_fields, never refused.
func (c *reqCtx) launch(t *template) (int, any, http.Header, *apiError) {
	s, st := c.s, c.s.db
	ignored := newObj()
	rec := Launch{Template: t.id, Body: c.body}
	defer func() { s.launches = append(s.launches, rec) }()

	inventory := t.Inventory
	if _, present := c.body["inventory"]; present {
		v, _, e := int2(c.body, "inventory")
		if e != nil {
			return fail(e)
		}
		switch {
		case v == t.Inventory:
		case !t.AskInventory:
			ignored.set("inventory", v)
		default:
			inv := st.inventories[v]
			if inv == nil {
				return fail(fieldErr("inventory", fmt.Sprintf("Invalid pk \"%d\" - object does not exist.", v)))
			}
			if inv.pendingDeletion {
				return fail(fieldErr("inventory", "The provided inventory is being deleted."))
			}
			inventory = v
		}
	}
	vars, e := templateVars(t.ExtraVars)
	if e != nil {
		return fail(e)
	}
	if raw, present := c.body["extra_vars"]; present && raw != nil {
		launchVars, e := launchExtraVars(raw)
		if e != nil {
			return fail(e)
		}
		if len(launchVars) > 0 {
			if t.AskVariables {
				for k, v := range launchVars {
					vars[k] = v
				}
			} else {
				ignored.set("extra_vars", launchVars)
			}
		}
	}
	limit := t.Limit
	if v, present, e := str2(c.body, "limit"); e != nil {
		return fail(e)
	} else if present && v != t.Limit {
		if t.AskLimit {
			limit = v
		} else {
			ignored.set("limit", v)
		}
	}
	jobType := t.JobType
	if v, present, e := str2(c.body, "job_type"); e != nil {
		return fail(e)
	} else if present && v != t.JobType {
		if v != "run" && v != "check" {
			return fail(fieldErr("job_type", fmt.Sprintf("\"%s\" is not a valid choice.", v)))
		}
		if t.AskJobType {
			jobType = v
		} else {
			ignored.set("job_type", v)
		}
	}
	diff := t.DiffMode
	if v, present, e := bool2(c.body, "diff_mode"); e != nil {
		return fail(e)
	} else if present && v != t.DiffMode {
		if t.AskDiffMode {
			diff = v
		} else {
			ignored.set("diff_mode", v)
		}
	}
	if inventory == 0 {
		return fail(fieldErr("resources_needed_to_start", "Job Template inventory is missing or undefined."))
	}
	// JobTemplate.get_effective_slice_ct and create_unified_job
	// (awx/main/models/jobs.py): a slice count above 1, capped by the
	// inventory's host count, makes a workflow job of slices, and
	// JobTemplateLaunch.post answers "workflow_job" instead of "job"
	// (awx/api/views/__init__.py).
	if n := min(max(1, t.JobSliceCount), len(st.hostsOf(inventory))); n > 1 {
		wid := st.nextID("unified_job")
		rec.Job = 0
		return created(fmt.Sprintf("/api/v2/workflow_jobs/%d/", wid), newObj("workflow_job", wid, "ignored_fields", ignored,
			"id", wid, "type", "workflow_job", "url", fmt.Sprintf("/api/v2/workflow_jobs/%d/", wid), "name", t.name,
			"status", "pending", "job_template", t.id, "is_sliced_job", true))
	}
	j := s.newJobLocked(t, inventory, vars, limit, jobType, diff, "manual")
	rec.Job = j.id
	out := newObj("job", j.id, "ignored_fields", ignored)
	rep := st.renderJob(j, false)
	for _, k := range rep.keys {
		out.set(k, rep.vals[k])
	}
	return created(j.path(), out)
}

func templateVars(s string) (map[string]any, *apiError) {
	m, err := parseVars(s)
	if err != nil {
		return nil, fieldErr("extra_vars", err.Error())
	}
	return m, nil
}

// launchExtraVars accepts a JSON object or a JSON/YAML string.
func launchExtraVars(raw any) (map[string]any, *apiError) {
	switch v := raw.(type) {
	case map[string]any:
		return v, nil
	case string:
		m, err := parseVars(v)
		if err != nil {
			return nil, fieldErr("extra_vars", err.Error())
		}
		return m, nil
	}
	return nil, fieldErr("extra_vars", "Cannot parse as JSON or YAML: not an object.")
}

// newJobLocked creates a job of template t and starts its behaviour.
func (s *Server) newJobLocked(t *template, inventory int, vars map[string]any, limit, jobType string, diff bool, launchType string) *unifiedJob {
	st := s.db
	now := time.Now()
	j := &unifiedJob{kind: "job", id: st.nextID("unified_job"), name: t.name, template: t.id, project: t.Project,
		playbook: t.Playbook, inventory: inventory, extraVars: varsText(vars), limit: limit, jobType: jobType,
		diffMode: diff, launchType: launchType, status: "new", created: now, modified: now, pace: t.PacePerPoll,
		eventsStuck: t.EventsNeverProcessed}
	st.jobs[j.id] = j
	j.setStatus("pending", now)
	b := t.Behavior
	if b == nil {
		b = st.defaultBehavior
	}
	if b == nil && s.cfg.ansible {
		b = AnsibleExecutor(s.cfg.playbookDir)
	}
	if b == nil {
		b = DefaultScript()
	}
	s.startLocked(j, b, s.runInfoLocked(j, vars))
	return j
}

func (s *Server) runInfoLocked(j *unifiedJob, vars map[string]any) RunInfo {
	hosts := map[string]map[string]any{}
	for _, h := range s.db.hostsOf(j.inventory) {
		if !h.enabled {
			continue
		}
		hv, err := parseVars(h.variables)
		if err != nil {
			hv = map[string]any{}
		}
		hosts[h.name] = hv
	}
	return RunInfo{Kind: j.kind, ID: j.id, Playbook: j.playbook, ModuleName: j.moduleName, ModuleArgs: j.moduleArgs,
		Hosts: hosts, ExtraVars: vars, Limit: j.limit, Check: j.jobType == "check", Diff: j.diffMode}
}

func varsText(m map[string]any) string {
	if len(m) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	o := newObj()
	for _, k := range keys {
		o.set(k, m[k])
	}
	b, _ := json.Marshal(o)
	return string(b)
}
