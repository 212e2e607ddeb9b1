package awxclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// JobTemplate is an AWX job template.
type JobTemplate struct {
	ID                    int        `json:"id"`
	Name                  string     `json:"name"`
	Description           string     `json:"description"`
	JobType               string     `json:"job_type"`
	Inventory             int        `json:"inventory"`
	Project               int        `json:"project"`
	Organization          int        `json:"organization,omitempty"`
	Playbook              string     `json:"playbook"`
	Limit                 string     `json:"limit"`
	ExtraVars             string     `json:"extra_vars"`
	Verbosity             int        `json:"verbosity"`
	Forks                 int        `json:"forks"`
	DiffMode              bool       `json:"diff_mode"`
	Status                string     `json:"status"`
	LastJobRun            *time.Time `json:"last_job_run"`
	AskInventoryOnLaunch  bool       `json:"ask_inventory_on_launch"`
	AskVariablesOnLaunch  bool       `json:"ask_variables_on_launch"`
	AskLimitOnLaunch      bool       `json:"ask_limit_on_launch"`
	AskJobTypeOnLaunch    bool       `json:"ask_job_type_on_launch"`
	AskDiffModeOnLaunch   bool       `json:"ask_diff_mode_on_launch"`
	AskCredentialOnLaunch bool       `json:"ask_credential_on_launch"`
	SurveyEnabled         bool       `json:"survey_enabled"`
	AllowSimultaneous     bool       `json:"allow_simultaneous"`
	BecomeEnabled         bool       `json:"become_enabled"`
	// JobSliceCount above 1 makes a launch start a workflow job of
	// slices instead of a job.
	JobSliceCount int `json:"job_slice_count"`
}

// GetJobTemplate returns the job template with that id.
func (c *Client) GetJobTemplate(ctx context.Context, id int) (JobTemplate, error) {
	var jt JobTemplate
	err := c.do(ctx, request{method: http.MethodGet, path: "job_templates/" + itoa(id) + "/"}, &jt)
	return jt, err
}

// GetJobTemplateByName returns the job template with that exact name. Names
// are unique only per organization: org (when not 0) narrows the search.
// It fails with a *LookupError matching ErrNotFound or ErrAmbiguous.
func (c *Client) GetJobTemplateByName(ctx context.Context, org int, name string) (JobTemplate, error) {
	q := url.Values{}
	if org != 0 {
		q.Set("organization", itoa(org))
	}
	return byName[JobTemplate](ctx, c, "job_templates/", "job_template", name, q)
}

// resolveJobTemplate accepts a name or a numeric id.
func (c *Client) resolveJobTemplate(ctx context.Context, nameOrID string) (JobTemplate, error) {
	jt, err := c.GetJobTemplateByName(ctx, 0, nameOrID)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return jt, err
	}
	id, convErr := strconv.Atoi(nameOrID)
	if convErr != nil || id <= 0 {
		return jt, err
	}
	return c.GetJobTemplate(ctx, id)
}

// CheckJobTemplate finds a job template by name (or id) and verifies that
// it prompts on launch for the inventory, the extra variables and the
// limit, which deploybot sends with every launch: AWX silently drops
// unprompted launch fields (ignored_fields) and runs the template's own
// values instead. The error is a *TemplateSettingsError naming the template
// and the settings to enable. Prompts needed only by dry runs (job type,
// diff mode) are checked at each launch by CheckLaunch.
func (c *Client) CheckJobTemplate(ctx context.Context, nameOrID string) (JobTemplate, error) {
	jt, err := c.resolveJobTemplate(ctx, nameOrID)
	if err != nil {
		return jt, fmt.Errorf("check job template: %w", err)
	}
	var missing []string
	for _, p := range []struct {
		on   bool
		name string
	}{
		{jt.AskInventoryOnLaunch, "ask_inventory_on_launch"},
		{jt.AskVariablesOnLaunch, "ask_variables_on_launch"},
		{jt.AskLimitOnLaunch, "ask_limit_on_launch"},
	} {
		if !p.on {
			missing = append(missing, p.name)
		}
	}
	if len(missing) > 0 {
		return jt, &TemplateSettingsError{Template: jt.Name, ID: jt.ID, Missing: missing}
	}
	if jt.JobSliceCount > 1 {
		return jt, sliceError(jt.Name, jt.ID, jt.JobSliceCount)
	}
	return jt, nil
}

// ErrJobSlicing matches a job template that slices its jobs.
var ErrJobSlicing = errors.New("awx job template slices its jobs")

// sliceError refuses a sliced template: its launch starts a workflow job
// of slices, not the one job deploybot follows and cancels.
func sliceError(name string, id, n int) error {
	return fmt.Errorf("%w: awx job template %q (id %d) has job_slice_count %d (\"Job Slicing\"); a launch would start a workflow of %d jobs, which deploybot does not follow: set Job Slicing to 1",
		ErrJobSlicing, name, id, n, n)
}

// LaunchInfo is what GET job_templates/{id}/launch/ says a launch may
// carry.
type LaunchInfo struct {
	AskInventoryOnLaunch    bool     `json:"ask_inventory_on_launch"`
	AskVariablesOnLaunch    bool     `json:"ask_variables_on_launch"`
	AskLimitOnLaunch        bool     `json:"ask_limit_on_launch"`
	AskJobTypeOnLaunch      bool     `json:"ask_job_type_on_launch"`
	AskDiffModeOnLaunch     bool     `json:"ask_diff_mode_on_launch"`
	AskCredentialOnLaunch   bool     `json:"ask_credential_on_launch"`
	SurveyEnabled           bool     `json:"survey_enabled"`
	PasswordsNeededToStart  []string `json:"passwords_needed_to_start"`
	VariablesNeededToStart  []string `json:"variables_needed_to_start"`
	CredentialNeededToStart bool     `json:"credential_needed_to_start"`
	JobTemplateData         struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	} `json:"job_template_data"`
	Defaults struct {
		JobType       string `json:"job_type"`
		DiffMode      bool   `json:"diff_mode"`
		Limit         string `json:"limit"`
		JobSliceCount int    `json:"job_slice_count"`
		Inventory     *struct {
			ID int `json:"id"`
		} `json:"inventory"`
	} `json:"defaults"`
}

// GetLaunchInfo returns what a launch of the job template may carry.
func (c *Client) GetLaunchInfo(ctx context.Context, id int) (LaunchInfo, error) {
	var li LaunchInfo
	err := c.do(ctx, request{method: http.MethodGet, path: "job_templates/" + itoa(id) + "/launch/"}, &li)
	if err != nil {
		return li, fmt.Errorf("launch info of job template %d: %w", id, err)
	}
	return li, nil
}

// CheckLaunch reads the template's launch info and refuses, before
// anything starts, a launch carrying a field the template would ignore
// (its prompt is off and the value differs from the template's own), as
// the awx.awx collection's job_launch module does. AWX would otherwise
// start the job with the template's values: a dry run would run for real,
// a limit would not hold. It also refuses templates that need passwords or
// survey answers at launch, which deploybot cannot give. The error is a
// *TemplateSettingsError naming the template and the settings to enable.
func (c *Client) CheckLaunch(ctx context.Context, id int, opts LaunchOptions) error {
	li, err := c.GetLaunchInfo(ctx, id)
	if err != nil {
		return err
	}
	name := li.JobTemplateData.Name
	var missing, why []string
	need := func(on bool, setting, what string) {
		if !on {
			missing = append(missing, setting)
			why = append(why, what)
		}
	}
	if opts.Inventory != 0 && (li.Defaults.Inventory == nil || li.Defaults.Inventory.ID != opts.Inventory) {
		need(li.AskInventoryOnLaunch, "ask_inventory_on_launch", "the job would run on the template's inventory")
	}
	if len(opts.ExtraVars) > 0 {
		need(li.AskVariablesOnLaunch, "ask_variables_on_launch", "the playbook would not get the release's variables")
	}
	if opts.Limit != "" && opts.Limit != li.Defaults.Limit {
		need(li.AskLimitOnLaunch, "ask_limit_on_launch", "the job would not be limited to the approved hosts")
	}
	if opts.JobType != "" && opts.JobType != li.Defaults.JobType {
		what := "the job would run with job type " + strconv.Quote(li.Defaults.JobType)
		if opts.JobType == "check" {
			what = "a dry run would run the playbook for real"
		}
		need(li.AskJobTypeOnLaunch, "ask_job_type_on_launch", what)
	}
	if opts.DiffMode && !li.Defaults.DiffMode {
		need(li.AskDiffModeOnLaunch, "ask_diff_mode_on_launch", "a dry run would show no changes")
	}
	if len(missing) > 0 {
		return &TemplateSettingsError{Template: name, ID: id, Missing: missing, Why: strings.Join(why, "; ")}
	}
	if li.Defaults.JobSliceCount > 1 {
		return sliceError(name, id, li.Defaults.JobSliceCount)
	}
	if len(li.PasswordsNeededToStart) > 0 {
		return fmt.Errorf("awx job template %q (id %d) needs passwords at launch (%s), which deploybot cannot give: save them in the credential",
			name, id, strings.Join(li.PasswordsNeededToStart, ", "))
	}
	if len(li.VariablesNeededToStart) > 0 {
		return fmt.Errorf("awx job template %q (id %d) has a survey with required answers (%s), which deploybot cannot give: disable the survey",
			name, id, strings.Join(li.VariablesNeededToStart, ", "))
	}
	return nil
}

// LaunchOptions are the prompted fields of a launch. Zero values are not sent.
type LaunchOptions struct {
	// Inventory is the inventory id (needs ask_inventory_on_launch).
	Inventory int
	// ExtraVars are sent as a JSON object (needs ask_variables_on_launch).
	ExtraVars map[string]any
	// Limit is a host pattern (needs ask_limit_on_launch).
	Limit string
	// JobType is "run" or "check" (needs ask_job_type_on_launch).
	JobType string
	// DiffMode asks for diffs (needs ask_diff_mode_on_launch).
	DiffMode bool
}

type launchBody struct {
	Inventory int            `json:"inventory,omitempty"`
	ExtraVars map[string]any `json:"extra_vars,omitempty"`
	Limit     string         `json:"limit,omitempty"`
	JobType   string         `json:"job_type,omitempty"`
	DiffMode  bool           `json:"diff_mode,omitempty"`
}

type launchResponse struct {
	Job           int                        `json:"job"`
	WorkflowJob   int                        `json:"workflow_job"`
	IgnoredFields map[string]json.RawMessage `json:"ignored_fields"`
}

// LaunchJobTemplate launches a job template and returns the new job's id.
// The POST is never retried. If AWX reports ignored_fields (fields whose
// prompt is off, which it drops while still launching the job), the error is
// an *IgnoredFieldsError and the returned id is that of the job that started
// anyway.
// https://docs.ansible.com/automation-controller/latest/html/controllerapi/api_ref.html#/Job_Templates/Job_Templates_job_template_launch_create
func (c *Client) LaunchJobTemplate(ctx context.Context, id int, opts LaunchOptions) (int, error) {
	body := launchBody(opts)
	var resp launchResponse
	err := c.do(ctx, request{method: http.MethodPost, path: "job_templates/" + itoa(id) + "/launch/",
		body: body, noRetry: true, ok: []int{http.StatusCreated}}, &resp)
	if err != nil {
		return 0, fmt.Errorf("launch job template %d: %w", id, err)
	}
	if resp.WorkflowJob != 0 {
		// JobTemplateLaunch.post answers workflow_job instead of job when
		// the template slices (awx/api/views/__init__.py).
		return 0, fmt.Errorf("launch job template %d: %w: AWX started workflow job %d instead of a job; cancel it in AWX and set Job Slicing to 1",
			id, ErrJobSlicing, resp.WorkflowJob)
	}
	if resp.Job == 0 {
		return 0, fmt.Errorf("launch job template %d: answer has no job id", id)
	}
	if len(resp.IgnoredFields) > 0 {
		fields := make(map[string]any, len(resp.IgnoredFields))
		for k, raw := range resp.IgnoredFields {
			var v any
			_ = json.Unmarshal(raw, &v)
			fields[k] = v
		}
		return resp.Job, &IgnoredFieldsError{JobID: resp.Job, Fields: fields}
	}
	return resp.Job, nil
}

// JobTemplateSpec describes a job template for EnsureJobTemplate.
type JobTemplateSpec struct {
	Name        string
	Description string
	// Organization narrows the lookup by name; AWX derives the template's
	// organization from its project.
	Organization int
	Project      int
	Playbook     string
	// Inventory is an optional placeholder inventory; with
	// ask_inventory_on_launch AWX accepts none.
	Inventory int
	// Credential, when not 0, is attached to the template (a machine
	// credential for SSH).
	Credential int
	// BecomeEnabled runs the playbook with privilege escalation.
	BecomeEnabled bool
	// AllowSimultaneous lets AWX run several jobs of the template at once.
	AllowSimultaneous bool
}

type jobTemplateBody struct {
	Name                 string `json:"name"`
	Description          string `json:"description"`
	JobType              string `json:"job_type"`
	Project              int    `json:"project"`
	Playbook             string `json:"playbook"`
	Inventory            *int   `json:"inventory"`
	AskInventoryOnLaunch bool   `json:"ask_inventory_on_launch"`
	AskVariablesOnLaunch bool   `json:"ask_variables_on_launch"`
	AskLimitOnLaunch     bool   `json:"ask_limit_on_launch"`
	AskJobTypeOnLaunch   bool   `json:"ask_job_type_on_launch"`
	AskDiffModeOnLaunch  bool   `json:"ask_diff_mode_on_launch"`
	BecomeEnabled        bool   `json:"become_enabled"`
	AllowSimultaneous    bool   `json:"allow_simultaneous"`
}

// EnsureJobTemplate creates the job template or updates it so that it runs
// spec's playbook from spec's project and prompts on launch for inventory,
// variables, limit, job type and diff mode. It reports whether it wrote
// anything.
func (c *Client) EnsureJobTemplate(ctx context.Context, spec JobTemplateSpec) (JobTemplate, bool, error) {
	body := jobTemplateBody{Name: spec.Name, Description: spec.Description, JobType: "run",
		Project: spec.Project, Playbook: spec.Playbook,
		AskInventoryOnLaunch: true, AskVariablesOnLaunch: true, AskLimitOnLaunch: true,
		AskJobTypeOnLaunch: true, AskDiffModeOnLaunch: true,
		BecomeEnabled: spec.BecomeEnabled, AllowSimultaneous: spec.AllowSimultaneous}
	if spec.Inventory != 0 {
		body.Inventory = &spec.Inventory
	}
	jt, err := c.GetJobTemplateByName(ctx, spec.Organization, spec.Name)
	changed := false
	switch {
	case errors.Is(err, ErrNotFound):
		err = c.do(ctx, request{method: http.MethodPost, path: "job_templates/", body: body,
			noRetry: true, ok: []int{http.StatusCreated}}, &jt)
		if err != nil {
			return jt, false, fmt.Errorf("create job template %q: %w", spec.Name, err)
		}
		changed = true
	case err != nil:
		return jt, false, fmt.Errorf("ensure job template %q: %w", spec.Name, err)
	default:
		if jt.Project != spec.Project || jt.Playbook != spec.Playbook || !jt.AskInventoryOnLaunch ||
			!jt.AskVariablesOnLaunch || !jt.AskLimitOnLaunch || !jt.AskJobTypeOnLaunch ||
			!jt.AskDiffModeOnLaunch || (spec.Inventory != 0 && jt.Inventory != spec.Inventory) ||
			jt.Description != spec.Description || jt.BecomeEnabled != spec.BecomeEnabled ||
			jt.AllowSimultaneous != spec.AllowSimultaneous {
			if spec.Inventory == 0 && jt.Inventory != 0 {
				body.Inventory = &jt.Inventory
			}
			err = c.do(ctx, request{method: http.MethodPatch, path: "job_templates/" + itoa(jt.ID) + "/", body: body}, &jt)
			if err != nil {
				return jt, false, fmt.Errorf("update job template %q: %w", spec.Name, err)
			}
			changed = true
		}
	}
	if spec.Credential != 0 {
		added, err := c.ensureTemplateCredential(ctx, jt.ID, spec.Credential)
		if err != nil {
			return jt, changed, fmt.Errorf("ensure job template %q credential: %w", spec.Name, err)
		}
		changed = changed || added
	}
	return jt, changed, nil
}

func (c *Client) ensureTemplateCredential(ctx context.Context, jtID, credID int) (bool, error) {
	path := "job_templates/" + itoa(jtID) + "/credentials/"
	creds, err := list[Credential](ctx, c, path, nil)
	if err != nil {
		return false, err
	}
	for _, cr := range creds {
		if cr.ID == credID {
			return false, nil
		}
	}
	err = c.do(ctx, request{method: http.MethodPost, path: path, body: map[string]int{"id": credID},
		ok: []int{http.StatusNoContent}}, nil)
	return err == nil, err
}
