package awxtest

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
)

// unifiedJob is a job or an ad-hoc command.
type unifiedJob struct {
	kind      string // "job" or "ad_hoc_command"
	id        int
	name      string
	template  int
	project   int
	playbook  string
	inventory int
	limit     string
	extraVars string // JSON text
	jobType   string
	diffMode  bool
	// becomeEnabled is an ad-hoc command's become_enabled (AdHocCommand
	// model, default False: awx/main/models/ad_hoc_commands.py).
	becomeEnabled bool
	launchType    string
	moduleName    string
	moduleArgs    string
	credential    int
	ancestor      int
	status        string
	explanation   string
	traceback     string
	created       time.Time
	modified      time.Time
	started       time.Time
	finished      time.Time
	canceledOn    time.Time

	cancel     context.CancelFunc
	runnerDone bool // the behaviour returned: the emitted count is known

	counter int      // last counter emitted
	lines   int      // stdout lines emitted
	held    []*event // emitted, not saved yet
	saved   []*event // saved, in save (id) order
	byUUID  map[string]*event

	statsSaved bool
	summaries  []*hostSummary
	polls      int // requests about this job, to pace scripted behaviours
	pace       bool
	// eventsStuck keeps event_processing_finished false for good, as when
	// AWX's callback receiver falls behind or loses events (ansible/awx
	// issues 9286 and 15773).
	eventsStuck bool
}

type hostSummary struct {
	id                                                                int
	host                                                              int
	hostName                                                          string
	changed, dark, failures, ok, processed, skipped, ignored, rescued int
}

// event is a saved or held job event.
type event struct {
	id         int
	job        *unifiedJob
	counter    int
	name       string
	data       map[string]any
	uuid       string
	parentUUID string
	host       int
	hostName   string
	playbook   string
	play       string
	task       string
	role       string
	stdout     string
	startLine  int
	endLine    int
	failed     bool
	changed    bool
	verbosity  int
	created    time.Time
	modified   time.Time
}

func isFinal(status string) bool {
	switch status {
	case "successful", "failed", "error", "canceled":
		return true
	}
	return false
}

func (j *unifiedJob) failed() bool {
	return j.status == "failed" || j.status == "error" || j.status == "canceled"
}

func (j *unifiedJob) eventProcessingFinished() bool {
	return isFinal(j.status) && j.runnerDone && len(j.held) == 0 && !j.eventsStuck
}

func (j *unifiedJob) elapsed(now time.Time) float64 {
	switch {
	case j.started.IsZero():
		return 0
	case j.finished.IsZero():
		return math.Round(now.Sub(j.started).Seconds()*1000) / 1000
	}
	return math.Round(j.finished.Sub(j.started).Seconds()*1000) / 1000
}

func (j *unifiedJob) path() string {
	if j.kind == "job" {
		return fmt.Sprintf("/api/v2/jobs/%d/", j.id)
	}
	return fmt.Sprintf("/api/v2/ad_hoc_commands/%d/", j.id)
}

// setStatus applies AWX's status invariants.
func (j *unifiedJob) setStatus(status string, now time.Time) {
	if isFinal(j.status) {
		return
	}
	j.status = status
	j.modified = now
	if status == "running" && j.started.IsZero() {
		j.started = now
		j.explanation = ""
	}
	if isFinal(status) && j.finished.IsZero() {
		j.finished = now
		if j.started.IsZero() {
			j.started = now
		}
	}
}

// hostStatusCounts counts hosts by worst outcome once stats are saved.
func (j *unifiedJob) hostStatusCounts() any {
	if !j.statsSaved {
		return nil
	}
	counts := map[string]int{}
	for _, s := range j.summaries {
		switch {
		case s.dark > 0:
			counts["dark"]++
		case s.failures > 0:
			counts["failures"]++
		case s.changed > 0:
			counts["changed"]++
		case s.ok > 0:
			counts["ok"]++
		case s.skipped > 0:
			counts["skipped"]++
		}
	}
	return counts
}

var eventDisplay = map[string]string{
	"runner_on_failed": "Host Failed", "runner_on_start": "Host Started", "runner_on_ok": "Host OK",
	"runner_on_error": "Host Failure", "runner_on_skipped": "Host Skipped", "runner_on_unreachable": "Host Unreachable",
	"runner_on_no_hosts": "No Hosts Remaining", "runner_on_async_poll": "Host Polling", "runner_on_async_ok": "Host Async OK",
	"runner_on_async_failed": "Host Async Failure", "runner_item_on_ok": "Item OK", "runner_item_on_failed": "Item Failed",
	"runner_item_on_skipped": "Item Skipped", "runner_retry": "Host Retry", "runner_on_file_diff": "File Difference",
	"playbook_on_start": "Playbook Started", "playbook_on_notify": "Running Handlers",
	"playbook_on_include": "Including File", "playbook_on_no_hosts_matched": "No Hosts Matched",
	"playbook_on_no_hosts_remaining": "No Hosts Remaining", "playbook_on_task_start": "Task Started",
	"playbook_on_vars_prompt": "Variables Prompted", "playbook_on_setup": "Gathering Facts",
	"playbook_on_import_for_host": "internal: on Import for Host", "playbook_on_not_import_for_host": "internal: on Not Import for Host",
	"playbook_on_play_start": "Play Started", "playbook_on_stats": "Playbook Complete",
	"debug": "Debug", "verbose": "Verbose", "deprecated": "Deprecated", "warning": "Warning",
	"system_warning": "System Warning", "error": "Error",
}

var eventLevel = map[string]int{"playbook_on_start": 0, "playbook_on_vars_prompt": 1, "playbook_on_play_start": 1,
	"playbook_on_stats": 1, "debug": 0, "verbose": 0, "deprecated": 0, "warning": 0, "system_warning": 0, "error": 0}

var failureEvents = map[string]bool{"runner_on_failed": true, "runner_on_error": true, "runner_on_unreachable": true,
	"runner_on_async_failed": true, "runner_item_on_failed": true, "error": true}

func (e *event) display() string {
	d, ok := eventDisplay[e.name]
	if !ok {
		return e.name
	}
	if e.job.kind == "ad_hoc_command" {
		if _, ok := map[string]bool{"runner_on_failed": true, "runner_on_ok": true, "runner_on_unreachable": true,
			"runner_on_skipped": true, "debug": true, "verbose": true, "deprecated": true, "warning": true,
			"system_warning": true, "error": true}[e.name]; !ok {
			return e.name
		}
		return d
	}
	switch e.name {
	case "playbook_on_play_start":
		return d + " (" + e.play + ")"
	case "playbook_on_task_start":
		if e.role != "" {
			return d + " (" + e.role + " | " + e.task + ")"
		}
		return d + " (" + e.task + ")"
	}
	return d
}

func (e *event) level() int {
	if l, ok := eventLevel[e.name]; ok {
		return l
	}
	if strings.HasPrefix(e.name, "playbook_on") {
		return 2
	}
	return 3
}

const stdoutDisplayMax = 1024

func (st *store) renderEvent(e *event, truncate bool) *odict {
	j := e.job
	out := e.stdout
	if truncate && !strings.HasPrefix(e.name, "playbook_on") && len([]rune(out)) > stdoutDisplayMax {
		out = string([]rune(out)[:stdoutDisplayMax])
	}
	var hostID any
	if e.host != 0 {
		hostID = e.host
	}
	if j.kind == "ad_hoc_command" {
		u := fmt.Sprintf("/api/v2/ad_hoc_command_events/%d/", e.id)
		rel := newObj("ad_hoc_command", j.path())
		sf := newObj()
		if e.host != 0 {
			rel.set("host", fmt.Sprintf("/api/v2/hosts/%d/", e.host))
			sf.set("host", newObj("id", e.host, "name", e.hostName, "description", ""))
		}
		return newObj("id", e.id, "type", "ad_hoc_command_event", "url", u, "related", rel, "summary_fields", sf,
			"created", ts(e.created), "modified", ts(e.modified), "ad_hoc_command", j.id, "event", e.name,
			"counter", e.counter, "event_display", e.display(), "event_data", e.data, "failed", e.failed,
			"changed", e.changed, "uuid", e.uuid, "host", hostID, "host_name", e.hostName, "stdout", out,
			"start_line", e.startLine, "end_line", e.endLine, "verbosity", e.verbosity)
	}
	u := fmt.Sprintf("/api/v2/job_events/%d/", e.id)
	rel := newObj("job", j.path(), "children", u+"children/")
	sf := newObj()
	if e.host != 0 {
		rel.set("host", fmt.Sprintf("/api/v2/hosts/%d/", e.host))
		sf.set("host", newObj("id", e.host, "name", e.hostName, "description", ""))
	}
	sf.set("job", newObj("id", j.id, "name", j.name, "description", "", "status", j.status, "failed", j.failed(),
		"elapsed", j.elapsed(time.Now()), "type", "job", "job_template_id", j.template, "job_template_name", j.name))
	sf.set("role", newObj())
	return newObj("id", e.id, "type", "job_event", "url", u, "related", rel, "summary_fields", sf,
		"created", ts(e.created), "modified", ts(e.modified), "job", j.id, "event", e.name, "counter", e.counter,
		"event_display", e.display(), "event_data", e.data, "event_level", e.level(), "failed", e.failed,
		"changed", e.changed, "uuid", e.uuid, "parent_uuid", e.parentUUID, "host", hostID, "host_name", e.hostName,
		"playbook", e.playbook, "play", e.play, "task", e.task, "role", e.role, "stdout", out,
		"start_line", e.startLine, "end_line", e.endLine, "verbosity", e.verbosity)
}

// renderJob renders a job as the detail view (detail) or the list view.
func (st *store) renderJob(j *unifiedJob, detail bool) *odict {
	now := time.Now()
	if j.kind == "ad_hoc_command" {
		return st.renderAdHoc(j, detail, now)
	}
	u := j.path()
	rel := newObj("created_by", "/api/v2/users/1/", "labels", u+"labels/")
	if j.inventory != 0 {
		rel.set("inventory", fmt.Sprintf("/api/v2/inventories/%d/", j.inventory))
	}
	rel.set("project", fmt.Sprintf("/api/v2/projects/%d/", j.project))
	rel.set("organization", "/api/v2/organizations/1/")
	rel.set("credentials", u+"credentials/")
	rel.set("unified_job_template", fmt.Sprintf("/api/v2/job_templates/%d/", j.template))
	for _, k := range []string{"stdout", "job_events", "job_host_summaries", "activity_stream", "notifications", "create_schedule"} {
		rel.set(k, u+k+"/")
	}
	rel.set("job_template", fmt.Sprintf("/api/v2/job_templates/%d/", j.template))
	rel.set("cancel", u+"cancel/")
	rel.set("project_update", fmt.Sprintf("/api/v2/project_updates/%d/", j.project))
	rel.set("relaunch", u+"relaunch/")
	sf := newObj()
	if s := st.invSummary(j.inventory); s != nil {
		sf.set("inventory", s)
	}
	if p := st.projects[j.project]; p != nil {
		sf.set("project", newObj("id", p.id, "name", p.name, "description", p.description, "status", "successful", "scm_type", p.scmType))
	}
	sf.set("job_template", newObj("id", j.template, "name", j.name, "description", ""))
	sf.set("unified_job_template", newObj("id", j.template, "name", j.name, "description", "", "unified_job_type", "job"))
	sf.set("created_by", userSummary())
	sf.set("user_capabilities", newObj("delete", true, "start", true))
	sf.set("labels", newObj("count", 0, "results", []any{}))
	sf.set("credentials", []any{})
	if j.ancestor != 0 && detail {
		sf.set("ancestor_job", newObj("id", j.ancestor, "name", j.name, "type", "job", "url", fmt.Sprintf("/api/v2/jobs/%d/", j.ancestor)))
	}
	var inv any
	if j.inventory != 0 {
		inv = j.inventory
	}
	o := newObj("id", j.id, "type", "job", "url", u, "related", rel, "summary_fields", sf,
		"created", ts(j.created), "modified", ts(j.modified), "name", j.name, "description", "",
		"job_type", j.jobType, "inventory", inv, "project", j.project, "playbook", j.playbook, "scm_branch", "",
		"forks", 0, "limit", j.limit, "verbosity", 0, "extra_vars", j.extraVars, "job_tags", "",
		"force_handlers", false, "skip_tags", "", "start_at_task", "", "timeout", 0, "use_fact_cache", false,
		"organization", 1, "unified_job_template", j.template, "launch_type", j.launchType, "status", j.status,
		"execution_environment", nil, "failed", j.failed(), "started", ts(j.started), "finished", ts(j.finished),
		"canceled_on", ts(j.canceledOn), "elapsed", j.elapsed(now))
	if detail {
		o.set("job_args", fmt.Sprintf(`["ansible-playbook", "-i", "/runner/inventory/hosts", "-e", "@/runner/env/extravars", %q]`, j.playbook))
		o.set("job_cwd", "/runner/project")
		o.set("job_env", map[string]string{"JOB_ID": fmt.Sprint(j.id), "INVENTORY_ID": fmt.Sprint(j.inventory), "ANSIBLE_FORCE_COLOR": "True"})
	}
	o.set("job_explanation", j.explanation)
	o.set("execution_node", "awx-fake")
	o.set("controller_node", "")
	if detail {
		o.set("result_traceback", j.traceback)
		o.set("event_processing_finished", j.eventProcessingFinished())
	}
	o.set("launched_by", newObj("id", 1, "name", "admin", "type", "user", "url", "/api/v2/users/1/"))
	o.set("work_unit_id", nil)
	o.set("job_template", j.template)
	o.set("passwords_needed_to_start", []any{})
	o.set("allow_simultaneous", false)
	o.set("artifacts", map[string]any{})
	o.set("scm_revision", "")
	o.set("instance_group", 1)
	o.set("diff_mode", j.diffMode)
	o.set("job_slice_number", 0)
	o.set("job_slice_count", 1)
	o.set("webhook_service", "")
	o.set("webhook_credential", nil)
	o.set("webhook_guid", "")
	if detail {
		o.set("host_status_counts", j.hostStatusCounts())
		plays, tasks := 0, 0
		for _, e := range j.saved {
			switch e.name {
			case "playbook_on_play_start":
				plays++
			case "playbook_on_task_start":
				tasks++
			}
		}
		o.set("playbook_counts", newObj("play_count", plays, "task_count", tasks))
		o.set("custom_virtualenv", nil)
	}
	return o
}

func (st *store) renderAdHoc(j *unifiedJob, detail bool, now time.Time) *odict {
	u := j.path()
	rel := newObj("created_by", "/api/v2/users/1/")
	for _, k := range []string{"events", "activity_stream", "notifications", "stdout", "cancel", "relaunch"} {
		rel.set(k, u+k+"/")
	}
	rel.set("inventory", fmt.Sprintf("/api/v2/inventories/%d/", j.inventory))
	var credential any
	if j.credential != 0 {
		credential = j.credential
		rel.set("credential", fmt.Sprintf("/api/v2/credentials/%d/", j.credential))
	}
	sf := newObj()
	if s := st.invSummary(j.inventory); s != nil {
		sf.set("inventory", s)
	}
	sf.set("created_by", userSummary())
	sf.set("user_capabilities", newObj("delete", true, "start", true))
	o := newObj("id", j.id, "type", "ad_hoc_command", "url", u, "related", rel, "summary_fields", sf,
		"created", ts(j.created), "modified", ts(j.modified), "name", j.moduleName, "launch_type", j.launchType,
		"status", j.status, "failed", j.failed(), "started", ts(j.started), "finished", ts(j.finished),
		"canceled_on", ts(j.canceledOn), "elapsed", j.elapsed(now), "execution_environment", nil)
	if detail {
		o.set("job_args", fmt.Sprintf(`["ansible", "-i", "/runner/inventory/hosts", "-m", %q, "-a", %q, %q]`, j.moduleName, j.moduleArgs, j.limit))
		o.set("job_cwd", "/runner/project")
		o.set("job_env", map[string]string{"AD_HOC_COMMAND_ID": fmt.Sprint(j.id)})
	}
	o.set("job_explanation", j.explanation)
	o.set("execution_node", "awx-fake")
	o.set("controller_node", "")
	if detail {
		o.set("result_traceback", j.traceback)
	}
	o.set("launched_by", newObj("id", 1, "name", "admin", "type", "user", "url", "/api/v2/users/1/"))
	o.set("work_unit_id", nil)
	o.set("job_type", j.jobType)
	o.set("inventory", j.inventory)
	o.set("limit", j.limit)
	o.set("credential", credential)
	o.set("module_name", j.moduleName)
	o.set("module_args", j.moduleArgs)
	o.set("forks", 0)
	o.set("verbosity", 0)
	o.set("extra_vars", j.extraVars)
	o.set("become_enabled", j.becomeEnabled)
	o.set("diff_mode", j.diffMode)
	if detail {
		o.set("event_processing_finished", j.eventProcessingFinished())
		o.set("host_status_counts", j.hostStatusCounts())
	}
	return o
}

func (st *store) renderSummary(j *unifiedJob, s *hostSummary) *odict {
	u := fmt.Sprintf("/api/v2/job_host_summaries/%d/", s.id)
	var hostID any
	rel := newObj("job", j.path())
	if s.host != 0 {
		hostID = s.host
		rel.set("host", fmt.Sprintf("/api/v2/hosts/%d/", s.host))
	}
	return newObj("id", s.id, "type", "job_host_summary", "url", u, "related", rel,
		"summary_fields", newObj("host", newObj("id", s.host, "name", s.hostName, "description", ""),
			"job", newObj("id", j.id, "name", j.name, "status", j.status, "failed", j.failed())),
		"created", ts(j.finished), "modified", ts(j.finished), "job", j.id, "host", hostID, "constructed_host", nil,
		"host_name", s.hostName, "changed", s.changed, "dark", s.dark, "failures", s.failures, "ok", s.ok,
		"processed", s.processed, "skipped", s.skipped, "failed", s.dark > 0 || s.failures > 0,
		"ignored", s.ignored, "rescued", s.rescued)
}

var ansiRE = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

// stdoutText rebuilds a job's output from its saved events, as AWX does.
func (j *unifiedJob) stdoutText() string {
	evs := make([]*event, 0, len(j.saved))
	for _, e := range j.saved {
		if e.stdout != "" {
			evs = append(evs, e)
		}
	}
	sort.SliceStable(evs, func(a, b int) bool { return evs[a].startLine < evs[b].startLine })
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(strings.ReplaceAll(e.stdout, "\r\n", "\n"))
		b.WriteByte('\n')
	}
	return b.String()
}
