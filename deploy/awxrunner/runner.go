package awxrunner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/deploy"
)

// RequestIDVar is the extra var that ties an AWX job to its request, so that
// a launch whose answer was lost can be found again.
const RequestIDVar = "deploybot_request_id"

// DefaultEventWait is Runner.EventWait's default.
const DefaultEventWait = 2 * time.Minute

// DefaultPendingNote is Runner.PendingNote's default.
const DefaultPendingNote = 2 * time.Minute

// Runner implements deploy.Runner on AWX.
type Runner struct {
	awx *awxclient.Client
	// orgName owns the inventories; credName is the machine credential of
	// ad-hoc commands ("" for none). Both are resolved on first use, so
	// that the bot can start while AWX is unreachable.
	orgName, credName string
	// HTTP is the client used to check builds; its timeout bounds a check.
	HTTP *http.Client
	// EventWait bounds the wait, after a job ends, for AWX to finish
	// saving its events; past it the release finishes with a note that
	// the output may be incomplete (DefaultEventWait unless set).
	EventWait time.Duration
	// PendingNote is how long a job may stay pending in AWX before the
	// request's thread is told why it waits (DefaultPendingNote unless
	// set; 0: never).
	PendingNote time.Duration

	mu        sync.Mutex
	org, cred int
	templates map[string]int // name or id → template id
	followers map[deploy.JobRef]*awxclient.EventFollower
	// notes are lines for a job's next poll (deploy.Update.Notes).
	notes map[deploy.JobRef][]string
	watch map[deploy.JobRef]*jobWatch
}

var _ deploy.Runner = (*Runner)(nil)

// New returns a Runner over an AWX client for the named organization and
// machine credential ("" for none). It does no I/O.
func New(c *awxclient.Client, organization, credential string) *Runner {
	return &Runner{
		awx: c, orgName: organization, credName: credential,
		HTTP:        &http.Client{Timeout: 15 * time.Second},
		EventWait:   DefaultEventWait,
		templates:   map[string]int{},
		followers:   map[deploy.JobRef]*awxclient.EventFollower{},
		notes:       map[deploy.JobRef][]string{},
		watch:       map[deploy.JobRef]*jobWatch{},
		PendingNote: DefaultPendingNote,
	}
}

// CheckBuild asks the build server whether the artifact exists (HTTP HEAD),
// and reads its size and, where the server publishes one, its SHA-256: the
// X-Checksum-Sha256 header or a "<url>.sha256" file beside it.
func (r *Runner) CheckBuild(ctx context.Context, url string) (deploy.Build, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return deploy.Build{}, deploy.Errorf(deploy.EINVALID, "The artifact URL %s is not valid: %v", url, err)
	}
	resp, err := r.HTTP.Do(req)
	if err != nil {
		return deploy.Build{}, deploy.Errorf(deploy.EINVALID, "Could not reach the build server to check %s (%v). Try again when it answers.", url, cleanURLError(err))
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return deploy.Build{}, deploy.Errorf(deploy.EINVALID, "No build at %s (HTTP %d). Check the version, or wait until the build is published.", url, resp.StatusCode)
	case resp.StatusCode/100 != 2:
		return deploy.Build{}, deploy.Errorf(deploy.EINVALID, "The build server answered HTTP %d for %s; the build cannot be confirmed.", resp.StatusCode, url)
	}
	b := deploy.Build{Size: resp.ContentLength}
	if b.Size < 0 {
		b.Size = 0
	}
	if sum := strings.ToLower(strings.TrimSpace(resp.Header.Get("X-Checksum-Sha256"))); isSHA256(sum) {
		b.Checksum = sum
		return b, nil
	}
	b.Checksum = r.sidecarChecksum(ctx, url+".sha256")
	return b, nil
}

// sidecarChecksum reads a "<hex>  <file>" checksum file, or returns "".
func (r *Runner) sidecarChecksum(ctx context.Context, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ""
	}
	resp, err := r.HTTP.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	fields := strings.Fields(string(body))
	if len(fields) > 0 && isSHA256(strings.ToLower(fields[0])) {
		return strings.ToLower(fields[0])
	}
	return ""
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func cleanURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return ue.Unwrap()
	}
	return err
}

// ids resolves the organization and credential ids once.
func (r *Runner) ids(ctx context.Context) (org, cred int, err error) {
	r.mu.Lock()
	org, cred = r.org, r.cred
	r.mu.Unlock()
	if org != 0 {
		return org, cred, nil
	}
	o, err := r.awx.GetOrganizationByName(ctx, r.orgName)
	if err != nil {
		return 0, 0, fmt.Errorf("organization %s: %w", r.orgName, err)
	}
	if r.credName != "" {
		c, err := r.awx.FindCredential(ctx, o.ID, r.credName, "ssh")
		if err != nil {
			return 0, 0, fmt.Errorf("credential %s: %w", r.credName, err)
		}
		cred = c.ID
	}
	r.mu.Lock()
	r.org, r.cred = o.ID, cred
	r.mu.Unlock()
	return o.ID, cred, nil
}

// template resolves a template name (or numeric id) once and caches it.
func (r *Runner) template(ctx context.Context, nameOrID string) (int, error) {
	r.mu.Lock()
	id, ok := r.templates[nameOrID]
	r.mu.Unlock()
	if ok {
		return id, nil
	}
	jt, err := r.awx.CheckJobTemplate(ctx, nameOrID)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.templates[nameOrID] = jt.ID
	r.mu.Unlock()
	return jt.ID, nil
}

// Launch starts the plan of req once: a job template launch, or an ad-hoc
// shell command. A failure whose outcome AWX did not state (network, 5xx)
// wraps deploy.ErrOutcomeUnknown. A token AWX refuses is told to the user
// as such, not as the first API path that met it.
func (r *Runner) Launch(ctx context.Context, req *deploy.Request) (deploy.JobRef, error) {
	ref, err := r.launch(ctx, req)
	if errors.Is(err, awxclient.ErrUnauthorized) {
		return ref, fmt.Errorf("%w: %w", deploy.Errorf(deploy.EINTERNAL,
			"AWX refused deploybot's token (401 Unauthorized), so nothing ran. An operator must renew AWX_TOKEN; /readyz says the same."), err)
	}
	return ref, err
}

func (r *Runner) launch(ctx context.Context, req *deploy.Request) (deploy.JobRef, error) {
	p := req.Plan
	org, cred, err := r.ids(ctx)
	if err != nil {
		return deploy.JobRef{}, err // nothing was launched
	}
	inv, err := r.awx.GetInventoryByName(ctx, org, p.Inventory)
	if err != nil {
		return deploy.JobRef{}, fmt.Errorf("inventory %s: %w", p.Inventory, err)
	}
	limit, extra, err := r.limit(ctx, inv, p)
	if err != nil {
		return deploy.JobRef{}, err // nothing was launched
	}
	vars := make(map[string]any, len(p.ExtraVars)+1)
	for k, v := range p.ExtraVars {
		vars[k] = v
	}
	vars[RequestIDVar] = strconv.FormatInt(req.ID, 10)
	jobType := "run"
	if p.Check {
		jobType = "check"
	}
	if p.AdHoc {
		cmd, err := r.awx.CreateAdHocCommand(ctx, awxclient.AdHocOptions{
			Inventory: inv.ID, Credential: cred, ModuleName: "shell", ModuleArgs: p.ModuleArgs,
			ExtraVars: vars, JobType: jobType, DiffMode: p.Check, Limit: limit, BecomeEnabled: p.Become,
		})
		if err != nil {
			return deploy.JobRef{}, classify("create ad-hoc command", err)
		}
		ref := deploy.JobRef{Kind: deploy.AdHocCommand, ID: int64(cmd.ID)}
		r.noteExtraHosts(ref, p, extra)
		return ref, nil
	}
	tid, err := r.template(ctx, p.JobTemplate)
	if err != nil {
		return deploy.JobRef{}, fmt.Errorf("job template %s: %w", p.JobTemplate, err)
	}
	opts := awxclient.LaunchOptions{Inventory: inv.ID, ExtraVars: vars, JobType: jobType, DiffMode: p.Check, Limit: limit}
	if err := r.awx.CheckLaunch(ctx, tid, opts); err != nil {
		return deploy.JobRef{}, refuseSettings(err) // nothing was launched
	}
	id, err := r.awx.LaunchJobTemplate(ctx, tid, opts)
	var ignored *awxclient.IgnoredFieldsError
	if errors.As(err, &ignored) {
		// The job runs with the template's own values, not the plan: stop it.
		cerr := r.awx.CancelJob(ctx, ignored.JobID)
		return deploy.JobRef{}, fmt.Errorf("%w (job %d canceled: %v)", err, ignored.JobID, cerr)
	}
	if err != nil {
		return deploy.JobRef{}, classify("launch", err)
	}
	ref := deploy.JobRef{Kind: deploy.JobTemplateRun, ID: int64(id)}
	r.noteExtraHosts(ref, p, extra)
	return ref, nil
}

// limit is the launch's host pattern: exactly the plan's approved hosts,
// so that hosts added to the AWX inventory after the approval stay out of
// the run. It refuses a plan whose hosts are not all in the inventory, or
// whose host names Ansible would read as a pattern rather than a name. It
// also returns the inventory's hosts that the limit keeps out.
func (r *Runner) limit(ctx context.Context, inv awxclient.Inventory, p deploy.Plan) (string, []string, error) {
	if len(p.Hosts) == 0 {
		return "", nil, deploy.Errorf(deploy.EINVALID, "The plan names no hosts, so nothing ran: without a host list AWX would run on the whole inventory %s.", p.Inventory)
	}
	for _, h := range p.Hosts {
		if !plainHostName(h) {
			return "", nil, deploy.Errorf(deploy.EINVALID, "Host %q cannot be named in an Ansible limit (it holds a pattern character or space), so nothing ran. Rename it in the config.", h)
		}
	}
	hosts, err := r.awx.ListHosts(ctx, inv.ID)
	if err != nil {
		return "", nil, fmt.Errorf("inventory %s hosts: %w", p.Inventory, err)
	}
	have := make(map[string]awxclient.Host, len(hosts))
	for _, h := range hosts {
		have[h.Name] = h
	}
	approved := make(map[string]bool, len(p.Hosts))
	var missing, disabled []string
	for _, h := range p.Hosts {
		approved[h] = true
		switch ah, ok := have[h]; {
		case !ok:
			missing = append(missing, h)
		case !ah.Enabled:
			disabled = append(disabled, h)
		}
	}
	if len(missing) > 0 {
		return "", nil, deploy.Errorf(deploy.EINVALID, "Approved host %s is no longer in AWX inventory %s, so nothing ran. Check the config and the inventory, then request again.", strings.Join(missing, ", "), p.Inventory)
	}
	if len(disabled) > 0 {
		return "", nil, deploy.Errorf(deploy.EINVALID, "Approved host %s is disabled in AWX inventory %s, so nothing ran. Enable it in AWX (or let deploybot reconcile the inventory), then request again.", strings.Join(disabled, ", "), p.Inventory)
	}
	var extra []string
	for _, h := range hosts {
		if !approved[h.Name] {
			extra = append(extra, h.Name)
		}
	}
	sort.Strings(extra)
	return strings.Join(p.Hosts, ","), extra, nil
}

// plainHostName reports whether name means itself in an Ansible host
// pattern joined with commas: no comma, wildcard, regex, file reference
// or set operator, no space.
func plainHostName(name string) bool {
	if name == "" || name == "all" || strings.HasPrefix(name, "~") {
		return false
	}
	return !strings.ContainsAny(name, ",*?[]!&@ \t\n\r")
}

// noteExtraHosts remembers, for the job's first poll, that the inventory
// held hosts the limit kept out.
func (r *Runner) noteExtraHosts(ref deploy.JobRef, p deploy.Plan, extra []string) {
	if len(extra) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes[ref] = append(r.notes[ref], fmt.Sprintf("AWX inventory %s also holds %s, which %s not approved: the launch's limit kept the job to %s.",
		p.Inventory, strings.Join(extra, ", "), plural(len(extra), "was", "were"), strings.Join(p.Hosts, ", ")))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// refuseSettings words a template that cannot take the launch for the
// requester: nothing ran, and an AWX admin must change the template.
func refuseSettings(err error) error {
	var tse *awxclient.TemplateSettingsError
	if !errors.As(err, &tse) {
		return err
	}
	labels := make([]string, len(tse.Missing))
	for i, m := range tse.Missing {
		labels[i] = m + " (\"" + awxclient.SettingLabel(m) + "\")"
	}
	return fmt.Errorf("%w: %w", deploy.Errorf(deploy.EINVALID,
		"AWX job template %s does not prompt on launch for what this run needs: %s; %s. Nothing ran. An AWX admin must enable %s on the template (deploybot awx bootstrap does).",
		tse.Template, strings.Join(labels, ", "), tse.Why, strings.Join(labels, " and ")), err)
}

// classify marks errors that leave the launch's outcome unknown.
func classify(what string, err error) error {
	var ae *awxclient.Error
	if errors.As(err, &ae) && !ae.Temporary() {
		return fmt.Errorf("%s: %w", what, err)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w: %w", what, deploy.ErrOutcomeUnknown, err)
}

// FindLaunched looks for the job launched for req since it was created.
func (r *Runner) FindLaunched(ctx context.Context, req *deploy.Request) (deploy.JobRef, bool, error) {
	since := req.CreatedAt.Add(-time.Minute)
	want := strconv.FormatInt(req.ID, 10)
	if req.Plan.AdHoc {
		cmd, err := r.awx.FindAdHocByExtraVar(ctx, awxclient.ListAdHocOptions{CreatedSince: since}, RequestIDVar, want)
		if errors.Is(err, awxclient.ErrNotFound) {
			return deploy.JobRef{}, false, nil
		}
		if err != nil {
			return deploy.JobRef{}, false, err
		}
		return deploy.JobRef{Kind: deploy.AdHocCommand, ID: int64(cmd.ID)}, true, nil
	}
	tid, err := r.template(ctx, req.Plan.JobTemplate)
	if err != nil {
		return deploy.JobRef{}, false, err
	}
	job, err := r.awx.FindJobByExtraVar(ctx, awxclient.ListJobsOptions{JobTemplate: tid, CreatedSince: since}, RequestIDVar, want)
	if errors.Is(err, awxclient.ErrNotFound) {
		return deploy.JobRef{}, false, nil
	}
	if err != nil {
		return deploy.JobRef{}, false, err
	}
	return deploy.JobRef{Kind: deploy.JobTemplateRun, ID: int64(job.ID)}, true, nil
}

// Poll reads the job's state and the events after cursor (a counter). The
// follower of a job is kept between calls; after a restart a new one
// resumes from the stored cursor.
func (r *Runner) Poll(ctx context.Context, job deploy.JobRef, cursor string) (deploy.Update, error) {
	f := r.follower(job, cursor)
	events, done, err := f.Poll(ctx)
	if errors.Is(err, awxclient.ErrNotFound) {
		// Deleted in AWX while followed: the follower counts these and
		// ends the request once it is sure.
		r.forget(job)
		return deploy.Update{}, fmt.Errorf("%w: %w", deploy.Errorf(deploy.ENOTFOUND, "AWX has no job %d (deleted?)", job.ID), err)
	}
	if err != nil {
		return deploy.Update{}, err
	}
	j := f.Job()
	u := deploy.Update{
		State:       State(j.Status),
		Cursor:      strconv.Itoa(f.Cursor()),
		Done:        done,
		Explanation: j.JobExplanation,
	}
	if j.Status == awxclient.StatusError {
		u.Explanation = errorExplanation(j)
	}
	r.mu.Lock()
	u.Notes = r.notes[job]
	delete(r.notes, job)
	st := r.watch[job]
	if st == nil {
		st = &jobWatch{}
		r.watch[job] = st
	}
	r.mu.Unlock()
	now := time.Now()
	switch j.Status {
	case awxclient.StatusNew, awxclient.StatusPending, awxclient.StatusWaiting:
		if st.pendingSince.IsZero() {
			st.pendingSince = now
		}
		if !st.pendingNoted && r.PendingNote > 0 && now.Sub(st.pendingSince) >= r.PendingNote {
			st.pendingNoted = true
			u.Notes = append(u.Notes, fmt.Sprintf("AWX has kept job %d %s for %s: it waits for free capacity, or for another job of the same job template to end (when the template does not allow simultaneous jobs). It starts when AWX can run it; cancel the request to stop it instead.",
				job.ID, j.Status, now.Sub(st.pendingSince).Round(time.Second)))
		}
	case awxclient.StatusCanceled:
		if done && !st.canceled {
			u.Notes = append(u.Notes, fmt.Sprintf("Job %d was canceled in AWX, not from Slack. The hosts may be part-way through the release: check them (or roll back) before deploying again.", job.ID))
		}
	}
	for _, e := range events {
		ev := Convert(e)
		u.Events = append(u.Events, ev)
		if e.Event == "playbook_on_stats" {
			if st, err := e.Stats(); err == nil {
				u.Recap = Recap(st)
			}
		}
	}
	if done {
		if f.Incomplete() {
			u.Notes = append(u.Notes, fmt.Sprintf("AWX had not finished saving this job's events %s after it ended, so the progress and output shown may be incomplete; AWX's page for job %d has the rest.",
				r.EventWait, job.ID))
		}
		r.forget(job)
	}
	return u, nil
}

// jobWatch is what the runner remembers of a followed job between polls.
type jobWatch struct {
	pendingSince time.Time
	pendingNoted bool
	// canceled is set when the bot asked AWX to cancel the job.
	canceled bool
}

// forget drops what the runner keeps for a job that is done or gone.
func (r *Runner) forget(job deploy.JobRef) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.followers, job)
	delete(r.watch, job)
	delete(r.notes, job)
}

// errorExplanation says what AWX said of a job that ended "error" (it ran
// into a problem of AWX's own, often before the playbook started: an
// execution environment image it could not pull, a credential it could not
// use) and what to do.
func errorExplanation(j awxclient.Job) string {
	said := strings.TrimSpace(j.JobExplanation)
	if tb := lastLine(j.ResultTraceback); tb != "" && !strings.Contains(said, tb) {
		if said != "" {
			said += ": "
		}
		said += tb
	}
	if said == "" {
		said = "no explanation given"
	}
	return fmt.Sprintf("AWX ended job %d with an error of its own (%s). Look at the job in AWX and fix the cause (often the execution environment, a credential or instance capacity), then request again.", j.ID, said)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func (r *Runner) follower(job deploy.JobRef, cursor string) *awxclient.EventFollower {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.followers[job]; ok {
		return f
	}
	after, _ := strconv.Atoi(cursor)
	opts := awxclient.FollowOptions{After: after, EventWait: r.EventWait}
	var f *awxclient.EventFollower
	if job.Kind == deploy.AdHocCommand {
		f = r.awx.FollowAdHocEvents(int(job.ID), opts)
	} else {
		f = r.awx.FollowJobEvents(int(job.ID), opts)
	}
	r.followers[job] = f
	return f
}

// Cancel asks AWX to cancel the job. A job that already ended gives an
// error wrapping deploy.ErrJobEnded: AWX answers 405 (403 to a user who is
// not a superuser) when can_cancel is false (ansible/awx
// awx/api/templates/api/job_cancel.md: "202 if successful, or 405 if the
// job cannot be canceled").
func (r *Runner) Cancel(ctx context.Context, job deploy.JobRef) error {
	r.mu.Lock()
	if r.watch[job] == nil {
		r.watch[job] = &jobWatch{}
	}
	r.watch[job].canceled = true
	r.mu.Unlock()
	var err error
	if job.Kind == deploy.AdHocCommand {
		err = r.awx.CancelAdHocCommand(ctx, int(job.ID))
	} else {
		err = r.awx.CancelJob(ctx, int(job.ID))
	}
	if errors.Is(err, awxclient.ErrCannotCancel) {
		return fmt.Errorf("cancel job %d: %w: %w", job.ID, deploy.ErrJobEnded, err)
	}
	return err
}

// Output writes the job's full plain-text output to w.
func (r *Runner) Output(ctx context.Context, job deploy.JobRef, w io.Writer) error {
	var err error
	if job.Kind == deploy.AdHocCommand {
		_, err = r.awx.AdHocCommandStdout(ctx, int(job.ID), w)
	} else {
		_, err = r.awx.JobStdout(ctx, int(job.ID), w)
	}
	return err
}
