package awxtest

import (
	"fmt"
	"net/http"
	"time"
)

// AddRepo makes scmURL a repository that project syncs can reach, holding
// the playbooks files (paths relative to the repository root, as AWX lists
// them in playbook_files). A private repository syncs only for a project
// with an SCM credential. A project whose URL was not added fails its sync.
func (s *Server) AddRepo(scmURL string, private bool, files ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.db.repos[scmURL] = repo{files: append([]string(nil), files...), private: private}
}

// SetProjectSyncTime sets how long a project sync takes (300ms unless set).
func (s *Server) SetProjectSyncTime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.db.syncTime = d
}

// AddCredential adds a credential of kind ("ssh" for Machine, "scm" for
// Source Control) in organization org (0: none, as the preload data's
// "Demo Credential") and returns its id.
func (s *Server) AddCredential(name string, org int, kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	c := &cred{meta: meta{id: s.db.nextID("credential"), name: name, created: now, modified: now}, org: org, kind: kind}
	s.db.creds[c.id] = c
	return c.id
}

// projectSub serves projects/{id}/playbooks/ and projects/{id}/update/.
func (c *reqCtx) projectSub() (int, any, http.Header, *apiError) {
	st := c.s.db
	id, e := c.id(1)
	if e != nil {
		return fail(e)
	}
	p := st.projects[id]
	if p == nil {
		return fail(notFound)
	}
	switch c.parts[2] {
	case "playbooks":
		// ProjectPlaybooks answers a bare list (ProjectPlaybooksSerializer
		// .data returns ret['playbooks'], awx/api/serializers.py).
		if c.r.Method != http.MethodGet {
			return fail(methodNotAllowed(c.r.Method))
		}
		files := []any{}
		for _, f := range p.files {
			files = append(files, f)
		}
		return ok(files)
	case "update":
		// ProjectUpdateView (awx/api/views/__init__.py): GET says whether
		// it can update, POST starts an update and answers 202.
		switch c.r.Method {
		case http.MethodGet:
			return ok(newObj("can_update", p.scmType != ""))
		case http.MethodPost:
			if p.scmType == "" {
				return fail(detailErr(http.StatusMethodNotAllowed, "Method \"POST\" not allowed."))
			}
			uid := st.startSync(p, time.Now())
			return http.StatusAccepted, newObj("project_update", uid, "id", uid, "type", "project_update",
				"url", fmt.Sprintf("/api/v2/project_updates/%d/", uid)), nil, nil
		}
		return fail(methodNotAllowed(c.r.Method))
	}
	return fail(errUnhandled)
}

// AddProject adds a git project in organization "Default", already synced
// from scmURL with the playbooks files, and returns its id. Job templates
// saved through the API must name one of files.
func (s *Server) AddProject(name, scmURL string, files ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	p := &project{meta: meta{id: s.db.nextID("project"), name: name, created: now, modified: now}, org: 1,
		scmType: "git", scmURL: scmURL, files: append([]string(nil), files...), status: "successful", lastUpdated: now}
	s.db.projects[p.id] = p
	s.db.repos[scmURL] = repo{files: p.files}
	return p.id
}
