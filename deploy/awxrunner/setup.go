package awxrunner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/deploy"
)

// Playbook returns the playbook a job template role runs, as a path
// relative to the project's repository root: AWX lists and checks
// playbooks that way (the project's playbook_files). "" for an unknown
// role.
func Playbook(role string) string {
	switch role {
	case deploy.TemplateWeb:
		return "playbooks/web_deploy.yml"
	case deploy.TemplateCustom:
		return "playbooks/custom_deploy.yml"
	case deploy.TemplateRollback:
		return "playbooks/rollback.yml"
	}
	return ""
}

// hostVarNames maps the config's per-host settings to the inventory
// variables the playbooks read. Extra vars beat inventory vars in Ansible,
// so a per-host value travels under its own name (host_<var>) and the
// playbooks prefer it to the app-wide extra var (playbooks/README.md).
// Other host vars (ansible_host, ansible_user, ...) pass through as they are.
var hostVarNames = map[string]string{
	"port":        "host_web_port",
	"web_port":    "host_web_port",
	"docroot":     "host_docroot",
	"deploy_path": "host_deploy_path",
	"pid_file":    "host_pid_file",
	"server":      "host_web_server",
	"web_server":  "host_web_server",
}

// InventorySpecs is what the catalog says every app-env inventory holds.
func InventorySpecs(cat *deploy.Catalog) []awxclient.InventorySpec {
	var specs []awxclient.InventorySpec
	for _, app := range cat.AppNames() {
		a := cat.Apps[app]
		for _, env := range a.EnvNames() {
			e := a.Environments[env]
			hosts := map[string]map[string]any{}
			for _, h := range e.Hosts {
				vars := map[string]any{}
				for k, v := range e.HostVars[h] {
					if name, ok := hostVarNames[k]; ok {
						k = name
					}
					vars[k] = v
				}
				hosts[h] = vars
			}
			specs = append(specs, awxclient.InventorySpec{
				Name:        cat.InventoryName(app, env),
				Description: fmt.Sprintf("Managed by deploybot: %s %s. Edits are reverted.", app, env),
				Hosts:       hosts,
			})
		}
	}
	return specs
}

// Settings name the AWX objects the bot uses besides the catalog's
// templates and inventories.
type Settings struct {
	// Organization owns the inventories the bot keeps.
	Organization string
	// Credential is the machine credential of ad-hoc commands ("" for none).
	Credential string
}

// Prepare checks AWX for the catalog (Check), then brings the inventories
// in line with it. A template or credential that cannot work is a
// *SetupError the operator must fix; any other error (an unreachable AWX)
// is the caller's to retry.
func Prepare(ctx context.Context, c *awxclient.Client, cat *deploy.Catalog, set Settings, log zerolog.Logger) error {
	org, err := Check(ctx, c, cat, set, log)
	if err != nil {
		return err
	}
	return reconcileInventories(ctx, c, org, cat, log)
}

// Check checks, without changing anything, that the catalog's job
// templates can take the fields the bot sends and that the machine
// credential resolves, and returns the organization's id. Errors as
// Prepare.
func Check(ctx context.Context, c *awxclient.Client, cat *deploy.Catalog, set Settings, log zerolog.Logger) (org int, err error) {
	o, err := c.GetOrganizationByName(ctx, set.Organization)
	if err != nil {
		return 0, fmt.Errorf("awx organization %q: %w", set.Organization, err)
	}
	roles := make([]string, 0, len(cat.Templates))
	for role := range cat.Templates {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	var bad []error
	for _, role := range roles {
		jt, err := c.CheckJobTemplate(ctx, cat.Templates[role])
		if err != nil {
			bad = append(bad, fmt.Errorf("%s job template: %w", role, err))
			continue
		}
		if !jt.AskJobTypeOnLaunch || !jt.AskDiffModeOnLaunch {
			log.Warn().Str("job_template", jt.Name).Bool("ask_job_type_on_launch", jt.AskJobTypeOnLaunch).
				Bool("ask_diff_mode_on_launch", jt.AskDiffModeOnLaunch).
				Msg("job template does not prompt for job type and diff mode: dry runs on it will be refused")
		}
	}
	if set.Credential != "" {
		// Resolved now so that a missing or ambiguous name stops the bot at
		// start, not at its first ad-hoc command.
		if _, err := c.FindCredential(ctx, o.ID, set.Credential, "ssh"); errors.Is(err, awxclient.ErrNotFound) || errors.Is(err, awxclient.ErrAmbiguous) {
			bad = append(bad, fmt.Errorf("awx.credential: %w", err))
		} else if err != nil {
			return 0, err
		}
	}
	if err := errors.Join(bad...); err != nil {
		return 0, &SetupError{err}
	}
	return o.ID, nil
}

// reconcileInventories makes every app-env inventory hold exactly the
// configured hosts and logs the drift it corrected.
func reconcileInventories(ctx context.Context, c *awxclient.Client, org int, cat *deploy.Catalog, log zerolog.Logger) error {
	for _, spec := range InventorySpecs(cat) {
		rep, err := c.ReconcileInventory(ctx, org, spec)
		if err != nil {
			return fmt.Errorf("reconcile inventory %s: %w", spec.Name, err)
		}
		if rep.Changed() {
			log.Warn().Str("inventory", spec.Name).Strs("created", rep.Created).Strs("updated", rep.Updated).
				Strs("deleted", rep.Deleted).Strs("drift", rep.Drift).Bool("created_inventory", rep.CreatedInventory).
				Msg("corrected AWX inventory drift")
		} else {
			log.Debug().Str("inventory", spec.Name).Msg("AWX inventory matches the config")
		}
	}
	return nil
}

// SetupError is a problem in AWX's setup that retrying cannot fix: the
// operator must change a job template or the configuration.
type SetupError struct{ Err error }

func (e *SetupError) Error() string { return e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// BootstrapOptions say which project holds the playbooks.
type BootstrapOptions struct {
	// ProjectURL is the git repository holding playbooks/; ProjectName
	// the AWX project to create or update.
	ProjectURL, ProjectName string
	// SCMCredential names a Source Control credential ("" for a public
	// repository).
	SCMCredential string
	// SyncTimeout bounds the wait for the project's sync; SyncPoll is the
	// interval between checks.
	SyncTimeout, SyncPoll time.Duration
}

// Bootstrap creates or updates the AWX project, waits for AWX to sync it,
// and creates or updates the job templates the catalog names: their
// playbooks, "prompt on launch" for every field the bot sends (inventory,
// variables, limit, job type, diff mode), privilege escalation for the
// playbooks' server steps, and concurrent jobs (the bot itself runs one
// release per app environment at a time; apps sharing a template must not
// queue behind each other in AWX).
func Bootstrap(ctx context.Context, c *awxclient.Client, cat *deploy.Catalog, set Settings, bo BootstrapOptions, out io.Writer) error {
	org, err := c.GetOrganizationByName(ctx, set.Organization)
	if err != nil {
		return fmt.Errorf("organization %q: %w", set.Organization, err)
	}
	scm := 0
	if bo.SCMCredential != "" {
		cr, err := c.FindCredential(ctx, org.ID, bo.SCMCredential, "scm")
		if err != nil {
			return fmt.Errorf("scm credential %q: %w", bo.SCMCredential, err)
		}
		scm = cr.ID
	}
	proj, changed, err := c.EnsureProject(ctx, awxclient.ProjectSpec{Organization: org.ID, Name: bo.ProjectName,
		SCMURL: bo.ProjectURL, Credential: scm})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "project %q (id %d): %s\n", proj.Name, proj.ID, verb(changed))
	sctx, cancel := context.WithTimeout(ctx, bo.SyncTimeout)
	proj, err = c.WaitProjectSync(sctx, proj.ID, bo.SyncPoll)
	cancel()
	if err != nil {
		if sctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("AWX did not finish syncing project %q within %s (raise --sync-timeout, or look at the project update in AWX): %w", bo.ProjectName, bo.SyncTimeout, err)
		}
		return err
	}
	files, err := c.ProjectPlaybooks(ctx, proj.ID)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, f := range files {
		have[f] = true
	}
	roles := make([]string, 0, len(cat.Templates))
	for role := range cat.Templates {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	var missing []string
	for _, role := range roles {
		if !have[Playbook(role)] {
			missing = append(missing, Playbook(role))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("project %q synced, but AWX finds no %s in %s: point --project-url at the repository that holds deploybot's playbooks/ directory",
			proj.Name, strings.Join(missing, ", "), bo.ProjectURL)
	}
	fmt.Fprintf(out, "project %q synced\n", proj.Name)
	cred := 0
	if set.Credential != "" {
		cr, err := c.FindCredential(ctx, org.ID, set.Credential, "ssh")
		if err != nil {
			return fmt.Errorf("credential %q: %w", set.Credential, err)
		}
		cred = cr.ID
	}
	for _, role := range roles {
		jt, changed, err := c.EnsureJobTemplate(ctx, awxclient.JobTemplateSpec{
			Name:              cat.Templates[role],
			Description:       "deploybot " + role + " (managed by deploybot awx bootstrap)",
			Organization:      org.ID,
			Project:           proj.ID,
			Playbook:          Playbook(role),
			Credential:        cred,
			BecomeEnabled:     true,
			AllowSimultaneous: true,
		})
		if err != nil {
			return fmt.Errorf("%s job template %q: %w", role, cat.Templates[role], err)
		}
		fmt.Fprintf(out, "job template %q (id %d, %s): %s\n", jt.Name, jt.ID, Playbook(role), verb(changed))
	}
	return nil
}

func verb(changed bool) string {
	if changed {
		return "created or updated"
	}
	return "already up to date"
}
