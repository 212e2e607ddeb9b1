package awxtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// store holds the fake's objects. Every access holds Server.mu.
type store struct {
	ids         map[string]int
	orgs        map[int]*org
	creds       map[int]*cred
	projects    map[int]*project
	templates   map[int]*template
	inventories map[int]*inventory
	hosts       map[int]*host
	jobs        map[int]*unifiedJob
	events      map[int]*event
	rnd         *rand.Rand
	// repos are the SCM repositories project syncs can reach, by URL;
	// syncTime is how long a sync takes.
	repos    map[string]repo
	syncTime time.Duration

	defaultBehavior Behavior
	adHocBehavior   Behavior
}

type meta struct {
	id          int
	name        string
	description string
	created     time.Time
	modified    time.Time
}

type org struct{ meta }

type cred struct {
	meta
	org  int
	kind string
}

type project struct {
	meta
	org        int
	scmType    string
	scmURL     string
	branch     string
	credential int
	// files is playbook_files: the playbooks found by the last successful
	// sync (awx/main/models/projects.py, Project.playbook_files).
	files []string
	// status is the project's status; while a sync runs it is the
	// update's ("pending", then "running") until syncDone.
	status      string
	syncDone    time.Time
	lastUpdated time.Time
	updates     int // project updates started, for their ids
	// allowOverride skips the playbook check (serializers.py,
	// JobOptionsSerializer.validate).
	allowOverride bool
}

// repo is what a sync of an SCM URL finds.
type repo struct {
	files   []string
	private bool
}

type template struct {
	meta
	JobTemplate
}

type inventory struct {
	meta
	org             int
	variables       string
	pendingDeletion bool
	deleteAfter     int // requests until the background delete runs
}

type host struct {
	meta
	inventory  int
	enabled    bool
	instanceID string
	variables  string
	lastJob    int
}

func newStore(seed uint64) *store {
	now := time.Now()
	st := &store{ids: map[string]int{}, orgs: map[int]*org{}, creds: map[int]*cred{}, projects: map[int]*project{},
		templates: map[int]*template{}, inventories: map[int]*inventory{}, hosts: map[int]*host{},
		jobs: map[int]*unifiedJob{}, events: map[int]*event{}, rnd: newRand(seed),
		repos: map[string]repo{}, syncTime: 300 * time.Millisecond}
	o := &org{meta{id: st.nextID("organization"), name: "Default", created: now, modified: now}}
	st.orgs[o.id] = o
	// The preload data's machine credential belongs to no organization
	// (awx/main/management/commands/create_preload_data.py creates it
	// with organization=None).
	c := &cred{meta: meta{id: st.nextID("credential"), name: "Demo Credential", created: now, modified: now}, kind: "ssh"}
	st.creds[c.id] = c
	// The preload data's project (awx/main/management/commands/
	// create_preload_data.py), already synced: its repository holds
	// hello_world.yml.
	p := &project{meta: meta{id: st.nextID("project"), name: "Demo Project", created: now, modified: now},
		org: o.id, scmType: "git", scmURL: "https://github.com/ansible/ansible-tower-samples", branch: "",
		files: []string{"hello_world.yml"}, status: "successful", lastUpdated: now}
	st.projects[p.id] = p
	return st
}

func (st *store) nextID(kind string) int {
	st.ids[kind]++
	return st.ids[kind]
}

// tick runs the background inventory deletions and ends the project syncs
// due at this request.
func (st *store) tick() {
	now := time.Now()
	for _, p := range st.projects {
		if (p.status == "pending" || p.status == "running") && !now.Before(p.syncDone) {
			st.finishSync(p, now)
		} else if p.status == "pending" && now.After(p.syncDone.Add(-st.syncTime/2)) {
			p.status = "running"
		}
	}
	for id, inv := range st.inventories {
		if inv.pendingDeletion {
			inv.deleteAfter--
			if inv.deleteAfter < 0 {
				delete(st.inventories, id)
				for hid, h := range st.hosts {
					if h.inventory == id {
						delete(st.hosts, hid)
					}
				}
			}
		}
	}
}

// parseVars checks AWX variables text (JSON or YAML) and returns it as a map.
func parseVars(s string) (map[string]any, error) {
	t := strings.TrimSpace(s)
	if t == "" || t == "---" {
		return map[string]any{}, nil
	}
	var m map[string]any
	jerr := json.Unmarshal([]byte(t), &m)
	if jerr == nil {
		return m, nil
	}
	if yerr := yaml.Unmarshal([]byte(t), &m); yerr != nil {
		//lint:ignore ST1005 this is AWX's message, shown to clients as is
		return nil, fmt.Errorf("Cannot parse as JSON (error: %v) or YAML (error: %v).", jerr, yerr)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

func (st *store) hostsOf(inv int) []*host {
	var hs []*host
	for _, h := range st.hosts {
		if h.inventory == inv {
			hs = append(hs, h)
		}
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].name < hs[j].name })
	return hs
}

func (st *store) hostByName(inv int, name string) *host {
	for _, h := range st.hosts {
		if h.inventory == inv && h.name == name {
			return h
		}
	}
	return nil
}

func (st *store) activeJobsOn(inv int) []map[string]any {
	var out []map[string]any
	for _, j := range st.jobs {
		if j.inventory == inv && !isFinal(j.status) {
			out = append(out, map[string]any{"id": j.id, "type": j.kind})
		}
	}
	sort.Slice(out, func(i, k int) bool { return out[i]["id"].(int) < out[k]["id"].(int) })
	return out
}

// --- renderers: key sets follow the captures in testdata/ ---

func userSummary() *odict {
	return newObj("id", 1, "username", "admin", "first_name", "", "last_name", "")
}

func (st *store) renderOrg(o *org) *odict {
	u := fmt.Sprintf("/api/v2/organizations/%d/", o.id)
	return newObj("id", o.id, "type", "organization", "url", u,
		"related", newObj("named_url", "/api/v2/organizations/"+o.name+"/", "inventories", u+"inventories/",
			"projects", u+"projects/", "job_templates", u+"job_templates/", "credentials", u+"credentials/"),
		"summary_fields", newObj("user_capabilities", newObj("edit", true, "delete", true)),
		"created", ts(o.created), "modified", ts(o.modified), "name", o.name, "description", o.description,
		"max_hosts", 0, "custom_virtualenv", nil, "default_environment", nil)
}

func (st *store) renderCred(c *cred) *odict {
	u := fmt.Sprintf("/api/v2/credentials/%d/", c.id)
	rel := newObj("credential_type", "/api/v2/credential_types/1/")
	var org any
	if c.org != 0 {
		org = c.org
		rel = newObj("organization", fmt.Sprintf("/api/v2/organizations/%d/", c.org), "credential_type", "/api/v2/credential_types/1/")
	}
	typeID, typeName := 1, "Machine"
	if c.kind == "scm" {
		typeID, typeName = 2, "Source Control"
	}
	rel.set("credential_type", fmt.Sprintf("/api/v2/credential_types/%d/", typeID))
	return newObj("id", c.id, "type", "credential", "url", u,
		"related", rel,
		"summary_fields", newObj("credential_type", newObj("id", typeID, "name", typeName, "description", "")),
		"created", ts(c.created), "modified", ts(c.modified), "name", c.name, "description", c.description,
		"organization", org, "credential_type", typeID, "managed", false,
		"inputs", newObj("username", "deploy", "ssh_key_data", "$encrypted$"), "kind", c.kind, "cloud", false, "kubernetes", false)
}

func (st *store) renderProject(p *project) *odict {
	u := fmt.Sprintf("/api/v2/projects/%d/", p.id)
	var cred, lastUpdated any
	if p.credential != 0 {
		cred = p.credential
	}
	if !p.lastUpdated.IsZero() {
		lastUpdated = ts(p.lastUpdated)
	}
	status := p.status
	if status == "" {
		status = "never updated"
	}
	return newObj("id", p.id, "type", "project", "url", u,
		"related", newObj("organization", fmt.Sprintf("/api/v2/organizations/%d/", p.org), "playbooks", u+"playbooks/",
			"update", u+"update/", "project_updates", u+"project_updates/"),
		"summary_fields", newObj("organization", st.orgSummary(p.org)),
		"created", ts(p.created), "modified", ts(p.modified), "name", p.name, "description", p.description,
		"local_path", fmt.Sprintf("_%d__%s", p.id, strings.ToLower(strings.ReplaceAll(p.name, " ", "_"))),
		"scm_type", p.scmType, "scm_url", p.scmURL, "scm_branch", p.branch, "scm_refspec", "", "scm_clean", false,
		"scm_track_submodules", false, "scm_delete_on_update", false, "credential", cred, "timeout", 0,
		"scm_revision", "", "last_job_run", lastUpdated, "last_job_failed", p.status == "failed", "next_job_run", nil, "status", status,
		"organization", p.org, "scm_update_on_launch", false, "scm_update_cache_timeout", 0,
		"allow_override", p.allowOverride, "custom_virtualenv", nil, "default_environment", nil, "signature_validation_credential", nil,
		"last_update_failed", p.status == "failed", "last_updated", lastUpdated)
}

// startSync starts a project update, as Project.save does for a new SCM
// project or a change of scm_url, scm_branch, scm_type or scm_refspec
// (FIELDS_TRIGGER_UPDATE, awx/main/models/projects.py). It takes
// st.syncTime; until then the project's status is its update's.
func (st *store) startSync(p *project, now time.Time) int {
	p.status = "pending"
	p.syncDone = now.Add(st.syncTime)
	p.updates++
	return p.id*1000 + p.updates
}

// finishSync ends a sync: a known repository (Server.AddRepo) gives its
// playbooks; an unknown one, or a private one without a credential,
// fails as git clone would, and keeps the files of the last good sync.
func (st *store) finishSync(p *project, now time.Time) {
	p.lastUpdated = now
	r, ok := st.repos[p.scmURL]
	if !ok || (r.private && p.credential == 0) {
		p.status = "failed"
		return
	}
	p.status = "successful"
	p.files = append([]string(nil), r.files...)
}

func (st *store) orgSummary(id int) *odict {
	o := st.orgs[id]
	if o == nil {
		return nil
	}
	return newObj("id", o.id, "name", o.name, "description", o.description)
}

func (st *store) invSummary(id int) *odict {
	inv := st.inventories[id]
	if inv == nil {
		return nil
	}
	return newObj("id", inv.id, "name", inv.name, "description", inv.description, "has_active_failures", false,
		"total_hosts", len(st.hostsOf(inv.id)), "hosts_with_active_failures", 0, "total_groups", 0,
		"has_inventory_sources", false, "total_inventory_sources", 0,
		"inventory_sources_with_failures", 0, "organization_id", inv.org, "kind", "")
}

func (st *store) renderInventory(inv *inventory) *odict {
	u := fmt.Sprintf("/api/v2/inventories/%d/", inv.id)
	orgName := ""
	if o := st.orgs[inv.org]; o != nil {
		orgName = o.name
	}
	rel := newObj("named_url", "/api/v2/inventories/"+inv.name+"++"+orgName+"/", "created_by", "/api/v2/users/1/",
		"modified_by", "/api/v2/users/1/", "hosts", u+"hosts/", "groups", u+"groups/", "root_groups", u+"root_groups/",
		"variable_data", u+"variable_data/", "script", u+"script/", "tree", u+"tree/",
		"inventory_sources", u+"inventory_sources/", "update_inventory_sources", u+"update_inventory_sources/",
		"activity_stream", u+"activity_stream/", "job_templates", u+"job_templates/", "ad_hoc_commands", u+"ad_hoc_commands/",
		"access_list", u+"access_list/", "object_roles", u+"object_roles/", "instance_groups", u+"instance_groups/",
		"copy", u+"copy/", "organization", fmt.Sprintf("/api/v2/organizations/%d/", inv.org))
	sf := newObj("organization", st.orgSummary(inv.org), "created_by", userSummary(), "modified_by", userSummary(),
		"object_roles", newObj(), "user_capabilities", newObj("edit", true, "delete", true, "copy", true, "adhoc", true))
	return newObj("id", inv.id, "type", "inventory", "url", u, "related", rel, "summary_fields", sf,
		"created", ts(inv.created), "modified", ts(inv.modified), "name", inv.name, "description", inv.description,
		"organization", inv.org, "kind", "", "host_filter", nil, "variables", inv.variables,
		"has_active_failures", false, "total_hosts", len(st.hostsOf(inv.id)), "hosts_with_active_failures", 0,
		"total_groups", 0, "has_inventory_sources", false,
		"total_inventory_sources", 0, "inventory_sources_with_failures", 0, "pending_deletion", inv.pendingDeletion,
		"prevent_instance_group_fallback", false)
}

func (st *store) renderHost(h *host) *odict {
	u := fmt.Sprintf("/api/v2/hosts/%d/", h.id)
	rel := newObj("created_by", "/api/v2/users/1/", "modified_by", "/api/v2/users/1/", "variable_data", u+"variable_data/",
		"groups", u+"groups/", "all_groups", u+"all_groups/", "job_events", u+"job_events/",
		"job_host_summaries", u+"job_host_summaries/", "activity_stream", u+"activity_stream/",
		"inventory_sources", u+"inventory_sources/", "smart_inventories", u+"smart_inventories/",
		"ad_hoc_commands", u+"ad_hoc_commands/", "ad_hoc_command_events", u+"ad_hoc_command_events/",
		"insights", u+"insights/", "ansible_facts", u+"ansible_facts/",
		"inventory", fmt.Sprintf("/api/v2/inventories/%d/", h.inventory))
	sf := newObj("inventory", st.invSummary(h.inventory))
	var lastJob, lastSummary any
	if j := st.jobs[h.lastJob]; j != nil {
		lastJob, lastSummary = j.id, j.id
		rel.set("last_job", fmt.Sprintf("/api/v2/jobs/%d/", j.id))
		rel.set("last_job_host_summary", fmt.Sprintf("/api/v2/job_host_summaries/%d/", j.id))
		sf.set("last_job", newObj("id", j.id, "name", j.name, "description", "", "finished", ts(j.finished),
			"status", j.status, "failed", j.failed(), "job_template_id", j.template, "job_template_name", j.name))
		sf.set("last_job_host_summary", newObj("id", j.id, "failed", j.failed()))
	}
	sf.set("user_capabilities", newObj("edit", true, "delete", true))
	sf.set("groups", newObj("count", 0, "results", []any{}))
	sf.set("recent_jobs", []any{})
	return newObj("id", h.id, "type", "host", "url", u, "related", rel, "summary_fields", sf,
		"created", ts(h.created), "modified", ts(h.modified), "name", h.name, "description", h.description,
		"inventory", h.inventory, "enabled", h.enabled, "instance_id", h.instanceID, "variables", h.variables,
		"has_active_failures", false, "has_inventory_sources", false, "last_job", lastJob,
		"last_job_host_summary", lastSummary, "ansible_facts_modified", nil)
}

func (st *store) renderTemplate(t *template) *odict {
	u := fmt.Sprintf("/api/v2/job_templates/%d/", t.id)
	rel := newObj("named_url", "/api/v2/job_templates/"+t.name+"++"+st.orgName(t.Organization)+"/",
		"created_by", "/api/v2/users/1/", "modified_by", "/api/v2/users/1/", "labels", u+"labels/")
	if t.Inventory != 0 {
		rel.set("inventory", fmt.Sprintf("/api/v2/inventories/%d/", t.Inventory))
	}
	rel.set("project", fmt.Sprintf("/api/v2/projects/%d/", t.Project))
	for _, k := range []string{"credentials", "jobs", "schedules", "activity_stream", "launch",
		"notification_templates_started", "notification_templates_success", "notification_templates_error",
		"access_list", "survey_spec", "object_roles", "instance_groups", "slice_workflow_jobs", "copy"} {
		rel.set(k, u+k+"/")
	}
	rel.set("organization", fmt.Sprintf("/api/v2/organizations/%d/", t.Organization))
	sf := newObj()
	if s := st.invSummary(t.Inventory); s != nil {
		sf.set("inventory", s)
	}
	if p := st.projects[t.Project]; p != nil {
		sf.set("project", newObj("id", p.id, "name", p.name, "description", p.description, "status", p.status, "scm_type", p.scmType))
	}
	sf.set("organization", st.orgSummary(t.Organization))
	sf.set("created_by", userSummary())
	sf.set("modified_by", userSummary())
	sf.set("object_roles", newObj())
	sf.set("user_capabilities", newObj("edit", true, "delete", true, "start", true, "schedule", true, "copy", true))
	sf.set("labels", newObj("count", 0, "results", []any{}))
	var creds []any
	for _, c := range t.Credentials {
		if cr := st.creds[c]; cr != nil {
			creds = append(creds, newObj("id", cr.id, "kind", cr.kind, "name", cr.name))
		}
	}
	sf.set("recent_jobs", []any{})
	sf.set("credentials", orEmpty(creds))
	var inv any
	if t.Inventory != 0 {
		inv = t.Inventory
	}
	jobType := t.JobType
	if jobType == "" {
		jobType = "run"
	}
	var last *unifiedJob
	for _, j := range st.jobs {
		if j.kind == "job" && j.template == t.id && (last == nil || j.id > last.id) {
			last = j
		}
	}
	var lastRun any
	status, lastFailed := "never updated", false
	if last != nil {
		status, lastFailed, lastRun = last.status, last.failed(), ts(last.finished)
	}
	return newObj("id", t.id, "type", "job_template", "url", u, "related", rel, "summary_fields", sf,
		"created", ts(t.created), "modified", ts(t.modified), "name", t.name, "description", t.description,
		"job_type", jobType, "inventory", inv, "project", t.Project, "playbook", t.Playbook, "scm_branch", "",
		"forks", 0, "limit", t.Limit, "verbosity", 0, "extra_vars", t.ExtraVars, "job_tags", "",
		"force_handlers", false, "skip_tags", "", "start_at_task", "", "timeout", 0, "use_fact_cache", false,
		"organization", t.Organization,
		"last_job_run", lastRun, "last_job_failed", lastFailed, "next_job_run", nil, "status", status,
		"host_config_key", "", "ask_scm_branch_on_launch", false, "ask_diff_mode_on_launch", t.AskDiffMode,
		"ask_variables_on_launch", t.AskVariables, "ask_limit_on_launch", t.AskLimit, "ask_tags_on_launch", false,
		"ask_skip_tags_on_launch", false, "ask_job_type_on_launch", t.AskJobType, "ask_verbosity_on_launch", false,
		"ask_inventory_on_launch", t.AskInventory, "ask_credential_on_launch", t.AskCredential,
		"ask_execution_environment_on_launch", false, "ask_labels_on_launch", false, "ask_forks_on_launch", false,
		"ask_job_slice_count_on_launch", false, "ask_timeout_on_launch", false, "ask_instance_groups_on_launch", false,
		"survey_enabled", false, "become_enabled", t.BecomeEnabled, "diff_mode", t.DiffMode,
		"allow_simultaneous", t.AllowSimultaneous, "custom_virtualenv", nil, "job_slice_count", max(1, t.JobSliceCount),
		"webhook_credential", nil, "webhook_service", "", "execution_environment", nil,
		"prevent_instance_group_fallback", false)
}

func (st *store) orgName(id int) string {
	if o := st.orgs[id]; o != nil {
		return o.name
	}
	return ""
}

func orEmpty(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}
