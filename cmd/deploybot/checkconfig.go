package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/deploybot/deploybot/config"
)

// checkConfig validates the configuration and prints a short summary.
func checkConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, _, err := parseOptions("check-config", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	cfg, err := readConfig(o.ConfigPath)
	if err != nil {
		return err
	}
	summarize(stdout, o.ConfigPath, cfg)
	printWarnings(stdout, o.ConfigPath, cfg.Warnings)
	return nil
}

// printWarnings prints the configuration's warnings, "warning: file:line:
// path: message", one a line; they do not make check-config fail.
func printWarnings(w io.Writer, path string, warnings []config.Problem) {
	for _, p := range warnings {
		fmt.Fprintf(w, "warning: %s", path)
		if p.Line > 0 {
			fmt.Fprintf(w, ":%d", p.Line)
		}
		if p.Path != "" {
			fmt.Fprintf(w, ": %s", p.Path)
		}
		fmt.Fprintf(w, ": %s\n", p.Message)
	}
}

func summarize(w io.Writer, path string, cfg *config.Config) {
	envs, hosts := 0, 0
	for _, app := range cfg.Apps {
		envs += len(app.Environments)
		for _, e := range app.Environments {
			hosts += len(e.Hosts)
		}
	}
	fmt.Fprintf(w, "%s: OK — %d apps, %d environments, %d hosts; time zone %s\n", path, len(cfg.Apps), envs, hosts, cfg.Timezone)
	fmt.Fprintf(w, "AWX: organization %s, inventories %s-<app>-<env>", cfg.AWX.Organization, cfg.AWX.InventoryPrefix)
	for _, role := range []string{config.TemplateWeb, config.TemplateCustom, config.TemplateRollback} {
		if t, ok := cfg.AWX.JobTemplates[role]; ok {
			fmt.Fprintf(w, ", %s template %q", role, t)
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, name := range cfg.AppNames() {
		app := cfg.Apps[name]
		kind := app.Type
		if app.Type == config.TypeWeb {
			kind += ", " + app.Server
		}
		fmt.Fprintf(tw, "%s (%s)\n", name, kind)
		for _, en := range app.EnvNames() {
			e := app.Environments[en]
			runs := ""
			if app.Type == config.TypeCustom {
				runs = "job template"
				if app.UsesAdHoc(e) {
					runs = "ad-hoc command"
				}
				runs = "\truns as " + runs
			}
			fmt.Fprintf(tw, "  %s\t%d host%s\tdeployers: %s\t%s%s\n", en, len(e.Hosts), hostsPlural(len(e.Hosts)), strings.Join(e.Deployers, ", "), approvalSummary(e.Approval), runs)
		}
	}
	tw.Flush()
}

func approvalSummary(a config.Approval) string {
	if !a.Required {
		return "no approval"
	}
	s := fmt.Sprintf("approval: %d of %s", a.MinApprovals, strings.Join(a.Approvers, ", "))
	if !a.AllowSelfApproval {
		s += ", not self"
	}
	return s + fmt.Sprintf(", expires after %s", a.ExpiresAfter)
}

// hostsPlural is the plural ending of "host" for n hosts.
func hostsPlural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
