package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/config"
)

// playbookFor maps a job template role to the playbook it runs, as a path
// relative to the project's repository root: AWX lists and checks
// playbooks that way (the project's playbook_files).
var playbookFor = map[string]string{
	config.TemplateWeb:      "playbooks/web_deploy.yml",
	config.TemplateCustom:   "playbooks/custom_deploy.yml",
	config.TemplateRollback: "playbooks/rollback.yml",
}

// awxTimeout bounds one AWX API call unless tunables say otherwise.
const awxTimeout = 30 * time.Second

// newAWXClient builds the AWX client from the options; timeout bounds one
// call, and transport (nil for the default) carries its requests.
func newAWXClient(o *options, log zerolog.Logger, timeout time.Duration, transport http.RoundTripper) (*awxclient.Client, error) {
	opts := []awxclient.Option{
		awxclient.WithToken(o.AWXToken),
		awxclient.WithTimeout(timeout),
		awxclient.WithUserAgent("deploybot/" + version),
		awxclient.WithLogger(log.With().Str("component", "awx").Logger()),
	}
	if transport != nil {
		opts = append(opts, awxclient.WithHTTPClient(&http.Client{Transport: transport}))
	}
	c, err := awxclient.NewClient(o.AWXURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("awx client: %w", err)
	}
	return c, nil
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

// inventorySpecs is what the config says every app-env inventory holds.
func inventorySpecs(cfg *config.Config) []awxclient.InventorySpec {
	var specs []awxclient.InventorySpec
	for _, app := range cfg.AppNames() {
		a := cfg.Apps[app]
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
				Name:        cfg.InventoryName(app, env),
				Description: fmt.Sprintf("Managed by deploybot: %s %s. Edits are reverted.", app, env),
				Hosts:       hosts,
			})
		}
	}
	return specs
}

// awxSetup is what the bot learns of AWX at start.
type awxSetup struct {
	org int
}

// prepareAWX checks that the configured job templates can take the fields
// the bot sends and brings the inventories in line with the config. A
// template that cannot is an error the operator must fix; an unreachable
// AWX is the caller's to retry.
func prepareAWX(ctx context.Context, c *awxclient.Client, cfg *config.Config, log zerolog.Logger) (awxSetup, error) {
	org, err := c.GetOrganizationByName(ctx, cfg.AWX.Organization)
	if err != nil {
		return awxSetup{}, fmt.Errorf("awx organization %q: %w", cfg.AWX.Organization, err)
	}
	roles := make([]string, 0, len(cfg.AWX.JobTemplates))
	for role := range cfg.AWX.JobTemplates {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	var bad []error
	for _, role := range roles {
		jt, err := c.CheckJobTemplate(ctx, cfg.AWX.JobTemplates[role])
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
	if cfg.AWX.Credential != "" {
		// Resolved now so that a missing or ambiguous name stops the bot at
		// start, not at its first ad-hoc command.
		if _, err := c.FindCredential(ctx, org.ID, cfg.AWX.Credential, "ssh"); errors.Is(err, awxclient.ErrNotFound) || errors.Is(err, awxclient.ErrAmbiguous) {
			bad = append(bad, fmt.Errorf("awx.credential: %w", err))
		} else if err != nil {
			return awxSetup{}, err
		}
	}
	if err := errors.Join(bad...); err != nil {
		return awxSetup{}, &fatalError{err}
	}
	if err := reconcileInventories(ctx, c, org.ID, cfg, log); err != nil {
		return awxSetup{}, err
	}
	return awxSetup{org: org.ID}, nil
}

// reconcileInventories makes every app-env inventory hold exactly the
// configured hosts and logs the drift it corrected.
func reconcileInventories(ctx context.Context, c *awxclient.Client, org int, cfg *config.Config, log zerolog.Logger) error {
	for _, spec := range inventorySpecs(cfg) {
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

// fatalError marks a start-up problem that retrying cannot fix.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// runAWX runs the "awx" subcommands.
func runAWX(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "bootstrap" {
		return fmt.Errorf("usage: deploybot awx bootstrap --project-url URL [flags]")
	}
	var bo bootstrapOptions
	o, _, err := parseOptions("awx bootstrap", args[1:], getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&bo.projectURL, "project-url", "", "git URL of the repository holding playbooks/ (required)")
		fs.StringVar(&bo.projectName, "project-name", "deploybot", "name of the AWX project to create or update")
		fs.StringVar(&bo.scmCredential, "scm-credential", "", "name of the AWX Source Control credential for a private repository")
		fs.DurationVar(&bo.syncTimeout, "sync-timeout", 5*time.Minute, "how long to wait for AWX to sync the project")
	})
	if err != nil {
		return err
	}
	if bo.projectURL == "" {
		return fmt.Errorf("--project-url is required: the git repository that holds playbooks/")
	}
	if bo.syncTimeout <= 0 {
		return fmt.Errorf("--sync-timeout must be positive")
	}
	if o.AWXURL == "" || o.AWXToken == "" {
		return fmt.Errorf("set AWX_URL and AWX_TOKEN (a token with write scope)")
	}
	cfg, err := readConfig(o.ConfigPath)
	if err != nil {
		return err
	}
	secrets := redactor{o.AWXToken}
	log, err := newLogger(stderr, o.LogLevel, o.LogFormat, secrets)
	if err != nil {
		return err
	}
	if err := o.checkAWXURL(log); err != nil {
		return err
	}
	c, err := newAWXClient(o, log, awxTimeout, nil)
	if err != nil {
		return err
	}
	bo.syncPoll = time.Second
	if err := bootstrap(ctx, c, cfg, bo, stdout); err != nil {
		return errors.New(secrets.redact(err.Error()))
	}
	return nil
}

// bootstrapOptions are the flags of "deploybot awx bootstrap".
type bootstrapOptions struct {
	projectURL, projectName string
	// scmCredential names a Source Control credential ("" for a public
	// repository).
	scmCredential string
	// syncTimeout bounds the wait for the project's sync; syncPoll is the
	// interval between checks.
	syncTimeout, syncPoll time.Duration
}

// bootstrap creates or updates the AWX project, waits for AWX to sync it,
// and creates or updates the job templates the config names: their
// playbooks, "prompt on launch" for every field the bot sends (inventory,
// variables, limit, job type, diff mode), privilege escalation for the
// playbooks' server steps, and concurrent jobs (the bot itself runs one
// release per app environment at a time; apps sharing a template must not
// queue behind each other in AWX).
func bootstrap(ctx context.Context, c *awxclient.Client, cfg *config.Config, bo bootstrapOptions, out io.Writer) error {
	org, err := c.GetOrganizationByName(ctx, cfg.AWX.Organization)
	if err != nil {
		return fmt.Errorf("organization %q: %w", cfg.AWX.Organization, err)
	}
	scm := 0
	if bo.scmCredential != "" {
		cr, err := c.FindCredential(ctx, org.ID, bo.scmCredential, "scm")
		if err != nil {
			return fmt.Errorf("scm credential %q: %w", bo.scmCredential, err)
		}
		scm = cr.ID
	}
	proj, changed, err := c.EnsureProject(ctx, awxclient.ProjectSpec{Organization: org.ID, Name: bo.projectName,
		SCMURL: bo.projectURL, Credential: scm})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "project %q (id %d): %s\n", proj.Name, proj.ID, verb(changed))
	sctx, cancel := context.WithTimeout(ctx, bo.syncTimeout)
	proj, err = c.WaitProjectSync(sctx, proj.ID, bo.syncPoll)
	cancel()
	if err != nil {
		if sctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("AWX did not finish syncing project %q within %s (raise --sync-timeout, or look at the project update in AWX): %w", bo.projectName, bo.syncTimeout, err)
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
	roles := make([]string, 0, len(cfg.AWX.JobTemplates))
	for role := range cfg.AWX.JobTemplates {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	var missing []string
	for _, role := range roles {
		if !have[playbookFor[role]] {
			missing = append(missing, playbookFor[role])
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("project %q synced, but AWX finds no %s in %s: point --project-url at the repository that holds deploybot's playbooks/ directory",
			proj.Name, strings.Join(missing, ", "), bo.projectURL)
	}
	fmt.Fprintf(out, "project %q synced\n", proj.Name)
	cred := 0
	if cfg.AWX.Credential != "" {
		cr, err := c.FindCredential(ctx, org.ID, cfg.AWX.Credential, "ssh")
		if err != nil {
			return fmt.Errorf("credential %q: %w", cfg.AWX.Credential, err)
		}
		cred = cr.ID
	}
	for _, role := range roles {
		jt, changed, err := c.EnsureJobTemplate(ctx, awxclient.JobTemplateSpec{
			Name:              cfg.AWX.JobTemplates[role],
			Description:       "deploybot " + role + " (managed by deploybot awx bootstrap)",
			Organization:      org.ID,
			Project:           proj.ID,
			Playbook:          playbookFor[role],
			Credential:        cred,
			BecomeEnabled:     true,
			AllowSimultaneous: true,
		})
		if err != nil {
			return fmt.Errorf("%s job template %q: %w", role, cfg.AWX.JobTemplates[role], err)
		}
		fmt.Fprintf(out, "job template %q (id %d, %s): %s\n", jt.Name, jt.ID, playbookFor[role], verb(changed))
	}
	return nil
}

func verb(changed bool) string {
	if changed {
		return "created or updated"
	}
	return "already up to date"
}
