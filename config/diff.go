package config

import (
	"reflect"
	"slices"
	"sort"
	"strings"
	"unicode"
)

// Changes is what a new configuration changes from the one in force: what
// a reload reports. Every list is sorted.
type Changes struct {
	AppsAdded   []string
	AppsRemoved []string
	// EnvsAdded and EnvsRemoved are the environments added to or removed
	// from an app that both configurations have (an added or removed app
	// brings its environments with it).
	EnvsAdded   []EnvRef
	EnvsRemoved []EnvRef
	// Envs are the environments both configurations have whose hosts or
	// approvers changed.
	Envs []EnvChanges
	// Other are the key paths of the other settings that changed, like
	// "awx.job_templates" or "apps.shop-web.environments.qa.deployers".
	Other []string
}

// EnvRef names one environment of an app.
type EnvRef struct{ App, Env string }

// EnvChanges is how the hosts and approvers of one environment changed.
type EnvChanges struct {
	EnvRef
	HostsAdded, HostsRemoved         []string
	ApproversAdded, ApproversRemoved []string
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return len(c.AppsAdded)+len(c.AppsRemoved)+len(c.EnvsAdded)+len(c.EnvsRemoved)+len(c.Envs)+len(c.Other) == 0
}

// Diff compares two loaded configurations: what new adds, removes and
// changes compared with old. Hosts and approvers are compared as sets; a
// list whose order alone changed counts among Other.
func Diff(old, new *Config) Changes {
	var c Changes
	if old.Timezone != new.Timezone {
		c.Other = append(c.Other, "timezone")
	}
	c.Other = append(c.Other, changedFields("slack", old.Slack, new.Slack)...)
	c.Other = append(c.Other, changedFields("awx", old.AWX, new.AWX)...)
	if !reflect.DeepEqual(old.Limits, new.Limits) {
		c.Other = append(c.Other, "limits")
	}
	c.AppsAdded, c.AppsRemoved = setDiff(keys(old.Apps), keys(new.Apps))
	for _, name := range keys(old.Apps) {
		oa, na := old.Apps[name], new.Apps[name]
		if na == nil {
			continue
		}
		path := "apps." + name
		c.Other = append(c.Other, changedFields(path, *oa, *na, "Name", "VersionRE", "Environments")...)
		added, removed := setDiff(keys(oa.Environments), keys(na.Environments))
		for _, e := range added {
			c.EnvsAdded = append(c.EnvsAdded, EnvRef{name, e})
		}
		for _, e := range removed {
			c.EnvsRemoved = append(c.EnvsRemoved, EnvRef{name, e})
		}
		for _, env := range keys(oa.Environments) {
			oe, ne := oa.Environments[env], na.Environments[env]
			if ne == nil {
				continue
			}
			epath := path + ".environments." + env
			ec := EnvChanges{EnvRef: EnvRef{name, env}}
			ec.HostsAdded, ec.HostsRemoved = setDiff(oe.Hosts, ne.Hosts)
			ec.ApproversAdded, ec.ApproversRemoved = setDiff(oe.Approval.Approvers, ne.Approval.Approvers)
			if len(ec.HostsAdded)+len(ec.HostsRemoved)+len(ec.ApproversAdded)+len(ec.ApproversRemoved) > 0 {
				c.Envs = append(c.Envs, ec)
			}
			if len(ec.HostsAdded)+len(ec.HostsRemoved) == 0 && !slices.Equal(oe.Hosts, ne.Hosts) {
				c.Other = append(c.Other, epath+".hosts")
			}
			c.Other = append(c.Other, changedFields(epath, *oe, *ne, "Name", "Hosts", "Approval")...)
			oap, nap := oe.Approval, ne.Approval
			sameSet := len(ec.ApproversAdded)+len(ec.ApproversRemoved) == 0
			oap.Approvers, nap.Approvers = nil, nil
			if !reflect.DeepEqual(oap, nap) || sameSet && !slices.Equal(oe.Approval.Approvers, ne.Approval.Approvers) {
				c.Other = append(c.Other, epath+".approval")
			}
		}
	}
	sort.Strings(c.Other)
	return c
}

// changedFields returns prefix.key for each field of the structs a and b
// (of one type) that differs, but the skipped ones; key is the field's
// name in the file (AllowDM: allow_dm).
func changedFields(prefix string, a, b any, skip ...string) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := range va.NumField() {
		f := va.Type().Field(i)
		if slices.Contains(skip, f.Name) {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, prefix+"."+fileKey(f.Name))
		}
	}
	return out
}

// fileKey turns a Go field name into its key in the file: JobTemplates is
// job_templates, PIDFile pid_file, ArtifactURL artifact_url.
func fileKey(field string) string {
	r := []rune(field)
	var b strings.Builder
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) &&
			(unicode.IsLower(r[i-1]) || i+1 < len(r) && unicode.IsLower(r[i+1]) && unicode.IsUpper(r[i-1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// keys returns a map's keys, sorted.
func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// setDiff returns what b has that a lacks, and what a has that b lacks,
// each sorted and without repeats.
func setDiff(a, b []string) (added, removed []string) {
	for _, s := range b {
		if !slices.Contains(a, s) && !slices.Contains(added, s) {
			added = append(added, s)
		}
	}
	for _, s := range a {
		if !slices.Contains(b, s) && !slices.Contains(removed, s) {
			removed = append(removed, s)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}
