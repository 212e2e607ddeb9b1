package awxclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Job statuses. The first four are active; the others are final.
const (
	StatusNew        = "new"
	StatusPending    = "pending"
	StatusWaiting    = "waiting"
	StatusRunning    = "running"
	StatusSuccessful = "successful"
	StatusFailed     = "failed"
	StatusError      = "error"
	StatusCanceled   = "canceled"
)

// IsFinal reports whether an AWX job status is final.
func IsFinal(status string) bool {
	switch status {
	case StatusSuccessful, StatusFailed, StatusError, StatusCanceled:
		return true
	}
	return false
}

// PlaybookCounts is the job detail's playbook_counts.
type PlaybookCounts struct {
	PlayCount int `json:"play_count"`
	TaskCount int `json:"task_count"`
}

// Job is an AWX job. List answers leave the detail-only fields empty
// (JobArgs, JobCwd, JobEnv, ResultTraceback, EventProcessingFinished,
// HostStatusCounts, PlaybookCounts).
type Job struct {
	ID                 int               `json:"id"`
	Type               string            `json:"type"`
	URL                string            `json:"url"`
	Created            time.Time         `json:"created"`
	Modified           time.Time         `json:"modified"`
	Name               string            `json:"name"`
	Description        string            `json:"description"`
	JobType            string            `json:"job_type"`
	Inventory          int               `json:"inventory"`
	Project            int               `json:"project"`
	Playbook           string            `json:"playbook"`
	SCMBranch          string            `json:"scm_branch"`
	Forks              int               `json:"forks"`
	Limit              string            `json:"limit"`
	Verbosity          int               `json:"verbosity"`
	ExtraVars          string            `json:"extra_vars"`
	JobTags            string            `json:"job_tags"`
	SkipTags           string            `json:"skip_tags"`
	Timeout            int               `json:"timeout"`
	UnifiedJobTemplate int               `json:"unified_job_template"`
	LaunchType         string            `json:"launch_type"`
	Status             string            `json:"status"`
	Failed             bool              `json:"failed"`
	Started            *time.Time        `json:"started"`
	Finished           *time.Time        `json:"finished"`
	CanceledOn         *time.Time        `json:"canceled_on,omitempty"`
	Elapsed            float64           `json:"elapsed"`
	JobArgs            string            `json:"job_args"`
	JobCwd             string            `json:"job_cwd"`
	JobEnv             map[string]string `json:"job_env"`
	JobExplanation     string            `json:"job_explanation"`
	ExecutionNode      string            `json:"execution_node"`
	ResultTraceback    string            `json:"result_traceback"`
	// EventProcessingFinished turns true only once every event of a
	// finished job has been saved; events can arrive after the final status.
	EventProcessingFinished bool            `json:"event_processing_finished"`
	JobTemplate             int             `json:"job_template"`
	Artifacts               json.RawMessage `json:"artifacts"`
	SCMRevision             string          `json:"scm_revision"`
	DiffMode                bool            `json:"diff_mode"`
	// HostStatusCounts counts hosts by worst outcome (ok, changed,
	// failures, dark, skipped); nil until the stats event is processed.
	HostStatusCounts map[string]int  `json:"host_status_counts"`
	PlaybookCounts   *PlaybookCounts `json:"playbook_counts"`
}

// Done reports whether the job is final and all its events are saved.
func (j Job) Done() bool { return IsFinal(j.Status) && j.EventProcessingFinished }

// ExtraVarsMap parses the job's extra_vars (AWX returns them as text).
func (j Job) ExtraVarsMap() (map[string]any, error) { return ParseVariables(j.ExtraVars) }

// GetJob returns the job detail.
// https://docs.ansible.com/automation-controller/latest/html/controllerapi/api_ref.html#/Jobs/Jobs_jobs_read_0
func (c *Client) GetJob(ctx context.Context, id int) (Job, error) {
	var j Job
	err := c.do(ctx, request{method: http.MethodGet, path: "jobs/" + itoa(id) + "/"}, &j)
	return j, err
}

// ListJobsOptions filter ListJobs. Zero values do not filter.
type ListJobsOptions struct {
	JobTemplate int
	// CreatedSince keeps jobs created at or after this time (created__gte).
	CreatedSince time.Time
	// Status keeps jobs in any of these statuses (status__in).
	Status []string
	// Max stops after this many jobs (0: all). Jobs come newest first.
	Max int
}

// ListJobs returns jobs, newest first. Each carries extra_vars, so a caller
// that lost track of a launch (a crash between POST and storing the id) can
// find its job by a request id it put there; see FindJobByExtraVar.
func (c *Client) ListJobs(ctx context.Context, opts ListJobsOptions) ([]Job, error) {
	q := url.Values{"order_by": {"-id"}}
	if opts.JobTemplate != 0 {
		q.Set("job_template", itoa(opts.JobTemplate))
	}
	if !opts.CreatedSince.IsZero() {
		q.Set("created__gte", opts.CreatedSince.UTC().Format(time.RFC3339Nano))
	}
	if len(opts.Status) > 0 {
		q.Set("status__in", strings.Join(opts.Status, ","))
	}
	if opts.Max > 0 && opts.Max < maxPageSize {
		q.Set("page_size", itoa(opts.Max))
	}
	jobs, err := list[Job](ctx, c, "jobs/", q)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	if opts.Max > 0 && len(jobs) > opts.Max {
		jobs = jobs[:opts.Max]
	}
	return jobs, nil
}

// FindJobByExtraVar returns the newest job matching opts whose extra_vars
// hold key with the string value value. It fails with ErrNotFound if none.
func (c *Client) FindJobByExtraVar(ctx context.Context, opts ListJobsOptions, key, value string) (Job, error) {
	jobs, err := c.ListJobs(ctx, opts)
	if err != nil {
		return Job{}, err
	}
	for _, j := range jobs {
		vars, err := j.ExtraVarsMap()
		if err != nil {
			continue
		}
		if v, ok := vars[key]; ok && fmt.Sprint(v) == value {
			return j, nil
		}
	}
	return Job{}, &LookupError{Kind: "job", Name: key + "=" + value}
}

// CancelJob asks AWX to cancel a job (202). The status turns "canceled"
// later, asynchronously. A job that is already final gives an error
// matching ErrCannotCancel.
func (c *Client) CancelJob(ctx context.Context, id int) error {
	return c.cancel(ctx, "jobs/"+itoa(id)+"/cancel/")
}

func (c *Client) cancel(ctx context.Context, path string) error {
	err := c.do(ctx, request{method: http.MethodPost, path: path, ok: []int{http.StatusAccepted}}, nil)
	var e *Error
	if err == nil || !errors.As(err, &e) {
		return err
	}
	switch e.StatusCode {
	case http.StatusMethodNotAllowed:
		// Superusers get 405 for a job that cannot be canceled.
		e.cannotCancel = true
	case http.StatusForbidden:
		// Others get 403 both for "cannot cancel" and for missing rights;
		// can_cancel tells them apart.
		var cc struct {
			CanCancel bool `json:"can_cancel"`
		}
		if c.do(ctx, request{method: http.MethodGet, path: path}, &cc) == nil && !cc.CanCancel {
			e.cannotCancel = true
		}
	}
	return err
}

// RelaunchOptions select the hosts of a relaunch.
type RelaunchOptions struct {
	// Hosts is "all" (default) or "failed".
	Hosts string
}

// RelaunchJob relaunches a job with the same prompts and returns the new
// job's id. The POST is never retried.
func (c *Client) RelaunchJob(ctx context.Context, id int, opts RelaunchOptions) (int, error) {
	body := map[string]string{}
	if opts.Hosts != "" {
		body["hosts"] = opts.Hosts
	}
	var resp struct {
		Job int `json:"job"`
	}
	err := c.do(ctx, request{method: http.MethodPost, path: "jobs/" + itoa(id) + "/relaunch/", body: body,
		noRetry: true, ok: []int{http.StatusCreated}}, &resp)
	if err != nil {
		return 0, fmt.Errorf("relaunch job %d: %w", id, err)
	}
	return resp.Job, nil
}

// HostSummary is a job's outcome on one host.
type HostSummary struct {
	ID        int    `json:"id"`
	Job       int    `json:"job"`
	Host      int    `json:"host"`
	HostName  string `json:"host_name"`
	Changed   int    `json:"changed"`
	Dark      int    `json:"dark"`
	Failures  int    `json:"failures"`
	OK        int    `json:"ok"`
	Processed int    `json:"processed"`
	Skipped   int    `json:"skipped"`
	Ignored   int    `json:"ignored"`
	Rescued   int    `json:"rescued"`
	// Failed means failures or unreachable (dark).
	Failed bool `json:"failed"`
}

// JobHostSummaries returns the per-host outcome of a job. It is empty until
// the job's stats event has been processed.
func (c *Client) JobHostSummaries(ctx context.Context, id int) ([]HostSummary, error) {
	s, err := list[HostSummary](ctx, c, "jobs/"+itoa(id)+"/job_host_summaries/", url.Values{"order_by": {"host_name"}})
	if err != nil {
		return nil, fmt.Errorf("job %d host summaries: %w", id, err)
	}
	return s, nil
}

// JobStdout streams a job's whole output as plain text (ANSI codes
// removed) into w, using format=txt_download, which has no size limit. It
// returns the number of bytes written.
func (c *Client) JobStdout(ctx context.Context, id int, w io.Writer) (int64, error) {
	return c.stdout(ctx, "jobs/"+itoa(id)+"/stdout/", w)
}

func (c *Client) stdout(ctx context.Context, path string, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: path, query: url.Values{"format": {"txt_download"}},
		accept: "text/plain"})
	if err != nil {
		return 0, fmt.Errorf("stdout: %w", err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("stdout %s: %w", sanitizePath(resp.Request.URL), err)
	}
	return n, nil
}
