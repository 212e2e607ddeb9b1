package deploy

import (
	"regexp"
	"strings"
)

// shellMeta are the characters refused in any argument that could reach a
// shell or a URL, whatever an app's version_pattern says: the pattern is
// checked by config, and this is the second lock on the same door.
const shellMeta = ";&|$`()<>\\\"'*?[]{}~#!=%^ \t\r\n"

// releaseIDRE is what a rollback target (a release id, which is a request
// id or a backup name) may look like; playbooks/rollback.yml checks the
// same.
var releaseIDRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$`)

// checkVersion refuses a version that does not match app's version_pattern
// or that holds a shell metacharacter or a control character.
func checkVersion(app *App, version string) error {
	if version == "" {
		return Errorf(EINVALID, "Give the version to deploy, e.g. `/deploy %s <env> 1.4.2`.", app.Name)
	}
	if unsafeText(version) || app.VersionRE == nil || !app.VersionRE.MatchString(version) {
		return Errorf(EINVALID, "%q is not a valid version of %s: it must match `%s`.", printable(version), app.Name, app.VersionPattern)
	}
	return nil
}

// unsafeText reports whether s holds a shell metacharacter, a control
// character or a non-ASCII character.
func unsafeText(s string) bool {
	for _, r := range s {
		if r < 0x20 || r >= 0x7f || strings.ContainsRune(shellMeta, r) {
			return true
		}
	}
	return false
}

// printable shows s with control characters escaped and at most 64
// characters, for error messages.
func printable(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i >= 64 {
			b.WriteString("…")
			break
		}
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '`':
			b.WriteString("'")
		case r < 0x20 || r == 0x7f:
			b.WriteString("?")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ShellQuote quotes s for a POSIX shell: it wraps s in single quotes and
// writes each single quote inside as quote, backslash, quote, quote.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// fillVersion replaces {version} in a command with the shell-quoted
// version. Call it only with a version that passed checkVersion.
func fillVersion(cmd, version string) string {
	return strings.ReplaceAll(cmd, "{version}", ShellQuote(version))
}

// planInput is what a plan is built from.
type planInput struct {
	// cat is the catalog app and env were read from; the one in force
	// when nil.
	cat        *Catalog
	kind       Kind
	version    string
	rollbackTo string
	// rollback is, for a rollback without rollbackTo, the version every
	// host is brought to (see chooseRollback).
	rollback rollbackChoice
	check    bool
	build    Build
}

// buildPlan freezes what a request will do. version must have passed
// checkVersion (for deploys) and rollbackTo must match releaseIDRE.
func (s *requests) buildPlan(app *App, env *Environment, in planInput) Plan {
	cat := in.cat
	if cat == nil {
		cat = s.cat()
	}
	p := Plan{
		Kind: in.kind, App: app.Name, Env: env.Name, Version: in.version,
		Hosts:     append([]string(nil), env.Hosts...),
		Inventory: cat.InventoryName(app.Name, env.Name),
		Check:     in.check,
		Become:    app.Become,
	}
	serial := app.Serial
	if serial == "" {
		serial = "1"
	}
	vars := map[string]any{
		"deploy_app":          app.Name,
		"deploy_env":          env.Name,
		"deploy_version":      in.version,
		"artifact_url":        "",
		"docroot":             app.Docroot,
		"deploy_path":         app.DeployPath,
		"web_server":          app.Server,
		"pid_file":            app.PIDFile,
		"web_port":            app.Port,
		"healthcheck_path":    app.Healthcheck.Path,
		"healthcheck_ok_body": app.Healthcheck.OKBody,
		"l4_out_path":         app.Healthcheck.L4OutPath,
		"l4_interval":         app.Healthcheck.L4Interval.Seconds(),
		"l4_fall":             app.Healthcheck.L4Fall,
		"l4_rise":             app.Healthcheck.L4Rise,
		"deploy_serial":       serial,
		"pre_commands":        []string{},
		"deploy_command":      "",
		"post_commands":       []string{},
		"deploy_become":       app.Become,
	}
	switch {
	case in.kind == KindRollback:
		p.JobTemplate = cat.Templates[TemplateRollback]
		vars["deploy_version"] = ""
		// The brief names the variable rollback_release; playbooks/rollback.yml
		// reads rollback_release_id. Both carry the same value.
		vars["rollback_release"] = in.rollbackTo
		vars["rollback_release_id"] = in.rollbackTo
		vars["rollback_version"] = ""
		if rel := in.rollback.release; rel != nil && in.rollbackTo == "" {
			p.RollbackVersion, p.RollbackRelease = rel.Version, rel.ID
			p.HostVersions = in.rollback.hostVersions
			vars["rollback_version"] = rel.Version
		}
	case app.Type == TypeWeb:
		p.JobTemplate = cat.Templates[TemplateWeb]
		p.ArtifactURL = strings.ReplaceAll(app.ArtifactURL, "{version}", in.version)
		p.ArtifactSize, p.ArtifactChecksum = in.build.Size, in.build.Checksum
		vars["artifact_url"] = p.ArtifactURL
		if sum := in.build.Checksum; sum != "" {
			// The hosts verify the download against what the build server
			// published (get_url's "<algorithm>:<hex>").
			if !strings.Contains(sum, ":") {
				sum = "sha256:" + sum
			}
			vars["artifact_checksum"] = sum
		}
	case app.UsesAdHoc(env):
		p.AdHoc = true
		p.ModuleArgs = fillVersion(env.Command, in.version)
		vars["deploy_command"] = p.ModuleArgs
	default:
		p.JobTemplate = cat.Templates[TemplateCustom]
		pre := make([]string, 0, len(env.PreCommands))
		for _, c := range env.PreCommands {
			pre = append(pre, fillVersion(c, in.version))
		}
		post := make([]string, 0, len(env.PostCommands))
		for _, c := range env.PostCommands {
			post = append(post, fillVersion(c, in.version))
		}
		vars["pre_commands"] = pre
		vars["deploy_command"] = fillVersion(env.Command, in.version)
		vars["post_commands"] = post
	}
	p.ExtraVars = vars
	return p
}
