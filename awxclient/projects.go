package awxclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Project is an AWX project: a source of playbooks.
type Project struct {
	ID           int    `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Organization int    `json:"organization"`
	SCMType      string `json:"scm_type"`
	SCMURL       string `json:"scm_url"`
	SCMBranch    string `json:"scm_branch"`
	// Credential is the Source Control credential (0: none).
	Credential int    `json:"credential"`
	Status     string `json:"status"`
}

// ProjectSpec describes a git project for EnsureProject.
type ProjectSpec struct {
	Organization int
	Name         string
	SCMURL       string
	// Credential is a Source Control credential for a private repository
	// (0: none).
	Credential int
}

type projectBody struct {
	Name              string `json:"name"`
	Organization      int    `json:"organization"`
	SCMType           string `json:"scm_type"`
	SCMURL            string `json:"scm_url"`
	SCMUpdateOnLaunch bool   `json:"scm_update_on_launch"`
	Credential        *int   `json:"credential"`
}

// EnsureProject creates the git project spec.Name, or points the existing
// one at spec.SCMURL with spec.Credential. It reports whether it wrote
// anything. A new project, or a changed URL, starts a sync in AWX; see
// WaitProjectSync.
func (c *Client) EnsureProject(ctx context.Context, spec ProjectSpec) (Project, bool, error) {
	q := url.Values{"organization": {itoa(spec.Organization)}}
	p, err := byName[Project](ctx, c, "projects/", "project", spec.Name, q)
	body := projectBody{Name: spec.Name, Organization: spec.Organization, SCMType: "git", SCMURL: spec.SCMURL, SCMUpdateOnLaunch: true}
	if spec.Credential != 0 {
		body.Credential = &spec.Credential
	}
	switch {
	case errors.Is(err, ErrNotFound):
		err = c.do(ctx, request{method: http.MethodPost, path: "projects/", body: body,
			noRetry: true, ok: []int{http.StatusCreated}}, &p)
		if err != nil {
			return p, false, fmt.Errorf("create project %q: %w", spec.Name, err)
		}
		return p, true, nil
	case err != nil:
		return p, false, fmt.Errorf("ensure project %q: %w", spec.Name, err)
	case p.SCMType == "git" && p.SCMURL == spec.SCMURL && p.Credential == spec.Credential:
		return p, false, nil
	}
	err = c.do(ctx, request{method: http.MethodPatch, path: "projects/" + itoa(p.ID) + "/", body: body}, &p)
	if err != nil {
		return p, false, fmt.Errorf("update project %q: %w", spec.Name, err)
	}
	return p, true, nil
}

// GetProject returns the project with that id.
func (c *Client) GetProject(ctx context.Context, id int) (Project, error) {
	var p Project
	err := c.do(ctx, request{method: http.MethodGet, path: "projects/" + itoa(id) + "/"}, &p)
	return p, err
}

// ProjectPlaybooks lists the playbooks AWX found in the project's last
// sync, as paths relative to the repository root.
func (c *Client) ProjectPlaybooks(ctx context.Context, id int) ([]string, error) {
	var files []string
	if err := c.do(ctx, request{method: http.MethodGet, path: "projects/" + itoa(id) + "/playbooks/"}, &files); err != nil {
		return nil, fmt.Errorf("playbooks of project %d: %w", id, err)
	}
	return files, nil
}

// ErrProjectSync matches a project sync that ended without success.
var ErrProjectSync = errors.New("awx project sync failed")

// WaitProjectSync waits, polling every poll, until the project's sync has
// finished. AWX refuses job templates whose playbook is not in the
// project's file list ("Playbook not found for project"), and that list
// is filled only by a finished sync. A project that has never synced, or
// whose last sync failed, is synced once more. The context bounds the wait.
func (c *Client) WaitProjectSync(ctx context.Context, id int, poll time.Duration) (Project, error) {
	started := false
	for {
		p, err := c.GetProject(ctx, id)
		if err != nil {
			return p, fmt.Errorf("project %d: %w", id, err)
		}
		switch p.Status {
		case "successful", "ok":
			return p, nil
		case "failed", "error", "canceled", "never updated", "missing":
			if started {
				return p, fmt.Errorf("%w: project %q (id %d) ended its sync with status %q: check the repository URL %s and, for a private repository, the SCM credential; the project update's output in AWX says why",
					ErrProjectSync, p.Name, p.ID, p.Status, p.SCMURL)
			}
			if err := c.do(ctx, request{method: http.MethodPost, path: "projects/" + itoa(id) + "/update/",
				noRetry: true, ok: []int{http.StatusAccepted}}, nil); err != nil {
				return p, fmt.Errorf("start a sync of project %q: %w", p.Name, err)
			}
		}
		started = true
		if err := sleepCtx(ctx, poll); err != nil {
			return p, fmt.Errorf("project %q (id %d) still syncing (status %s): %w", p.Name, p.ID, p.Status, err)
		}
	}
}
