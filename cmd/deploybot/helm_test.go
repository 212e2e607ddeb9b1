package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/deploybot/deploybot/config"
)

// helmBinary is the helm that make test builds from its Go module
// (HELM_BIN, or bin/helm of this clone: `make helm`). The tests do not
// build it themselves: a cold build of helm takes minutes.
func helmBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HELM_BIN")
	if bin == "" {
		bin, _ = filepath.Abs("../../bin/helm")
	}
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("helm is missing (%v): build it with `make helm`, or set HELM_BIN", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

const chartDir = "../../charts/deploybot"

// chartValues writes a values file: the example configuration as config,
// an AWX URL and the tokens from a Secret named by the operator, with
// extra merged on top.
func chartValues(t *testing.T, extra map[string]any) string {
	t.Helper()
	example, err := os.ReadFile("../../deploybot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(example, &cfg); err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{
		"config":  cfg,
		"awx":     map[string]any{"url": "https://awx.example.com"},
		"secrets": map[string]any{"existingSecret": "deploybot-tokens"},
	}
	for k, v := range extra {
		vals[k] = v
	}
	data, err := yaml.Marshal(vals)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), helmBinary(t), args...)
	// helm keeps its caches and settings under HOME; keep them out of the user's.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out.String(), err
}

// manifests renders the chart and returns its objects by kind.
func manifests(t *testing.T, values string, set ...string) map[string][]map[string]any {
	t.Helper()
	args := []string{"template", "rel", chartDir, "-f", values}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := runHelm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string][]map[string]any{}
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("rendered manifests are not YAML: %v\n%s", err, out)
		}
		if obj != nil {
			kind, _ := obj["kind"].(string)
			objs[kind] = append(objs[kind], obj)
		}
	}
	return objs
}

// dig walks nested maps and lists: dig(obj, "spec", "template", 0, "name").
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// TestHelmChart lints the chart with the real helm and checks what a
// cluster would run: one pod (SQLite), probes on /healthz and /readyz, a
// non-root pod with a read-only root filesystem, the tokens only as
// references to a Secret, a configuration the bot accepts, and a pod that
// rolls when the configuration changes.
func TestHelmChart(t *testing.T) {
	values := chartValues(t, nil)
	if out, err := runHelm(t, "lint", "--strict", chartDir, "-f", values); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	objs := manifests(t, values)
	if len(objs["Deployment"]) != 1 {
		t.Fatalf("want one Deployment, got %d", len(objs["Deployment"]))
	}
	dep := objs["Deployment"][0]
	if got := dig(dep, "spec", "replicas"); got != 1 {
		t.Errorf("replicas = %v, want 1", got)
	}
	if got := dig(dep, "spec", "strategy", "type"); got != "Recreate" {
		t.Errorf("strategy = %v, want Recreate: two pods must never open one SQLite file", got)
	}
	pod := dig(dep, "spec", "template", "spec")
	if dig(pod, "securityContext", "runAsNonRoot") != true || dig(pod, "securityContext", "runAsUser") != 65532 {
		t.Errorf("pod securityContext = %v, want runAsNonRoot and user 65532 (the image's)", dig(pod, "securityContext"))
	}
	if dig(pod, "automountServiceAccountToken") != false {
		t.Errorf("the bot needs no Kubernetes API token in the pod")
	}
	c := dig(pod, "containers", 0)
	for path, want := range map[string]any{
		"readOnlyRootFilesystem":   true,
		"allowPrivilegeEscalation": false,
	} {
		if got := dig(c, "securityContext", path); got != want {
			t.Errorf("container securityContext.%s = %v, want %v", path, got, want)
		}
	}
	if got := fmt.Sprint(dig(c, "securityContext", "capabilities", "drop")); got != "[ALL]" {
		t.Errorf("capabilities.drop = %s, want [ALL]", got)
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := dig(c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path = %v, want %s", probe, got, path)
		}
	}

	env := map[string]map[string]any{}
	for _, e := range dig(c, "env").([]any) {
		m := e.(map[string]any)
		env[m["name"].(string)] = m
	}
	for _, name := range []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "AWX_TOKEN"} {
		e := env[name]
		if e == nil || e["value"] != nil {
			t.Errorf("%s: want a secretKeyRef and no value, got %v", name, e)
			continue
		}
		if got := dig(e, "valueFrom", "secretKeyRef", "name"); got != "deploybot-tokens" {
			t.Errorf("%s comes from secret %v, want the existing secret deploybot-tokens", name, got)
		}
	}
	if n := len(objs["Secret"]); n != 0 {
		t.Errorf("with secrets.existingSecret the chart renders %d Secrets, want none", n)
	}
	if got := dig(env["DEPLOYBOT_DB"], "value"); got != "/data/deploybot.db" {
		t.Errorf("DEPLOYBOT_DB = %v, want /data/deploybot.db on the volume", got)
	}
	if got := dig(env["DEPLOYBOT_REPLICA"], "valueFrom", "fieldRef", "fieldPath"); got != "metadata.name" {
		t.Errorf("DEPLOYBOT_REPLICA from %v, want the pod's name (metadata.name)", got)
	}
	if len(objs["PodDisruptionBudget"]) != 0 || dig(pod, "affinity") != nil {
		t.Errorf("one replica on SQLite renders a PodDisruptionBudget or an affinity: %v %v", objs["PodDisruptionBudget"], dig(pod, "affinity"))
	}
	if len(objs["PersistentVolumeClaim"]) != 1 {
		t.Errorf("want one PersistentVolumeClaim for /data, got %d", len(objs["PersistentVolumeClaim"]))
	}
	if len(objs["ServiceMonitor"]) != 0 {
		t.Errorf("a ServiceMonitor is rendered by default: it needs the Prometheus Operator's CRDs")
	}

	// The mounted configuration is one the bot accepts.
	text, _ := dig(objs["ConfigMap"][0], "data", "deploybot.yaml").(string)
	if _, err := config.Parse("deploybot.yaml", []byte(text)); err != nil {
		t.Errorf("the bot refuses the rendered configuration: %v\n%s", err, text)
	}

	// A changed configuration rolls the pod.
	sum := func(o map[string]any) any {
		return dig(o, "spec", "template", "metadata", "annotations", "checksum/config")
	}
	changed := manifests(t, values, "config.timezone=UTC")["Deployment"][0]
	if sum(dep) == nil || sum(dep) == sum(changed) {
		t.Errorf("checksum/config %v → %v: a changed configuration must change the pod template", sum(dep), sum(changed))
	}
}

// TestHelmChartOptions covers the other shapes of an install: tokens given
// as values (the chart makes the Secret), a pinned image digest, the
// ServiceMonitor.
func TestHelmChartOptions(t *testing.T) {
	values := chartValues(t, map[string]any{
		"secrets":        map[string]any{"slackAppToken": "xapp-1", "slackBotToken": "xoxb-1", "awxToken": "awx-1"},
		"image":          map[string]any{"digest": "sha256:" + strings.Repeat("ab", 32)},
		"serviceMonitor": map[string]any{"enabled": true},
	})
	objs := manifests(t, values)
	if len(objs["Secret"]) != 1 {
		t.Fatalf("want the chart's Secret, got %d", len(objs["Secret"]))
	}
	secret := objs["Secret"][0]
	for _, key := range []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "AWX_TOKEN"} {
		if dig(secret, "stringData", key) == nil {
			t.Errorf("the Secret lacks %s", key)
		}
	}
	dep := objs["Deployment"][0]
	c := dig(dep, "spec", "template", "spec", "containers", 0)
	if got := dig(c, "image"); got != "ghcr.io/deploybot/deploybot@sha256:"+strings.Repeat("ab", 32) {
		t.Errorf("image = %v, want the pinned digest", got)
	}
	for _, e := range dig(c, "env").([]any) {
		if v, _ := dig(e, "value").(string); strings.HasPrefix(v, "xoxb-") || strings.HasPrefix(v, "xapp-") || v == "awx-1" {
			t.Errorf("a token is in the pod spec as a plain value: %v", e)
		}
	}
	if dig(dep, "spec", "template", "metadata", "annotations", "checksum/secret") == nil {
		t.Errorf("a changed token must roll the pod: no checksum/secret annotation")
	}
	if len(objs["ServiceMonitor"]) != 1 || dig(objs["ServiceMonitor"][0], "spec", "endpoints", 0, "path") != "/metrics" {
		t.Errorf("want a ServiceMonitor scraping /metrics, got %v", objs["ServiceMonitor"])
	}

	// The configuration given as the file itself, comments and all.
	out, err := runHelm(t, "template", "rel", chartDir, "-f", values, "--set-file", "config=../../deploybot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	example, _ := os.ReadFile("../../deploybot.example.yaml")
	for _, line := range strings.Split(strings.TrimSpace(string(example)), "\n") {
		if !strings.Contains(out, "    "+line) {
			t.Fatalf("--set-file config: the ConfigMap lacks the line %q of the file", line)
		}
	}
}

// TestHelmChartPostgres: with the database URL in a Secret, the pod reads
// DEPLOYBOT_DB from it, and no volume is claimed or mounted for a SQLite
// file.
func TestHelmChartPostgres(t *testing.T) {
	values := chartValues(t, map[string]any{
		"secrets":  map[string]any{"existingSecret": "deploybot-tokens"},
		"database": map[string]any{"urlSecret": map[string]any{"name": "deploybot-db", "key": "url"}},
	})
	objs := manifests(t, values)
	if n := len(objs["PersistentVolumeClaim"]); n != 0 {
		t.Errorf("PostgreSQL install claims %d volumes, want none", n)
	}
	dep := objs["Deployment"][0]
	c := dig(dep, "spec", "template", "spec", "containers", 0)
	var db any
	for _, e := range dig(c, "env").([]any) {
		if dig(e, "name") == "DEPLOYBOT_DB" {
			db = e
		}
	}
	if dig(db, "valueFrom", "secretKeyRef", "name") != "deploybot-db" || dig(db, "valueFrom", "secretKeyRef", "key") != "url" || dig(db, "value") != nil {
		t.Errorf("DEPLOYBOT_DB = %v, want it from Secret deploybot-db key url, never a plain value", db)
	}
	for _, m := range dig(c, "volumeMounts").([]any) {
		if dig(m, "mountPath") == "/data" {
			t.Errorf("a /data volume is mounted on a PostgreSQL install: %v", m)
		}
	}
	for _, v := range dig(dep, "spec", "template", "spec", "volumes").([]any) {
		if dig(v, "persistentVolumeClaim") != nil {
			t.Errorf("the pod uses a claim on a PostgreSQL install: %v", v)
		}
	}
}

// TestHelmChartReplicas: on PostgreSQL several replicas render (the case
// the chart refused before replicas shared a database): upgrades roll a new
// pod in before an old one stops, each pod names itself after its pod
// through DEPLOYBOT_REPLICA, a PodDisruptionBudget keeps one running when
// asked for, the pods prefer different nodes, and nothing claims a volume.
// With one replica there is no budget (it would block every node drain) and
// no spreading.
func TestHelmChartReplicas(t *testing.T) {
	values := chartValues(t, map[string]any{
		"database":            map[string]any{"urlSecret": map[string]any{"name": "deploybot-db"}},
		"podDisruptionBudget": map[string]any{"enabled": true},
	})
	if out, err := runHelm(t, "lint", "--strict", chartDir, "-f", values, "--set", "replicaCount=3"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	objs := manifests(t, values, "replicaCount=3")
	dep := objs["Deployment"][0]
	if got := dig(dep, "spec", "replicas"); got != 3 {
		t.Errorf("replicas = %v, want 3", got)
	}
	if got := dig(dep, "spec", "strategy", "type"); got != "RollingUpdate" {
		t.Errorf("strategy = %v, want RollingUpdate on PostgreSQL", got)
	}
	if got, want := fmt.Sprint(dig(dep, "spec", "strategy", "rollingUpdate")), "map[maxSurge:1 maxUnavailable:0]"; got != want {
		t.Errorf("rollingUpdate = %s, want %s: a new pod is ready before an old one stops", got, want)
	}
	pod := dig(dep, "spec", "template", "spec")
	var replica any
	for _, e := range dig(pod, "containers", 0, "env").([]any) {
		if dig(e, "name") == "DEPLOYBOT_REPLICA" {
			replica = e
		}
	}
	if dig(replica, "valueFrom", "fieldRef", "fieldPath") != "metadata.name" || dig(replica, "value") != nil {
		t.Errorf("DEPLOYBOT_REPLICA = %v, want the pod's name through the downward API (fieldRef metadata.name)", replica)
	}
	if n := len(objs["PersistentVolumeClaim"]); n != 0 {
		t.Errorf("PostgreSQL replicas claim %d volumes, want none", n)
	}
	for _, v := range dig(pod, "volumes").([]any) {
		if dig(v, "persistentVolumeClaim") != nil {
			t.Errorf("the pods use a claim on a PostgreSQL install: %v", v)
		}
	}
	if len(objs["PodDisruptionBudget"]) != 1 {
		t.Fatalf("want one PodDisruptionBudget, got %d", len(objs["PodDisruptionBudget"]))
	}
	pdb := objs["PodDisruptionBudget"][0]
	if dig(pdb, "spec", "minAvailable") != 1 || fmt.Sprint(dig(pdb, "spec", "selector", "matchLabels")) != fmt.Sprint(dig(dep, "spec", "selector", "matchLabels")) {
		t.Errorf("PodDisruptionBudget spec = %v, want minAvailable 1 over the Deployment's pods", dig(pdb, "spec"))
	}
	term := dig(pod, "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", 0, "podAffinityTerm")
	if dig(term, "topologyKey") != "kubernetes.io/hostname" || fmt.Sprint(dig(term, "labelSelector", "matchLabels")) != fmt.Sprint(dig(dep, "spec", "selector", "matchLabels")) {
		t.Errorf("affinity = %v, want a preferred anti-affinity spreading the pods over nodes", dig(pod, "affinity"))
	}
	if dig(pod, "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution") != nil {
		t.Errorf("the anti-affinity is required: replicas would not schedule on a one-node cluster")
	}

	// The operator's own affinity wins.
	own := manifests(t, values, "replicaCount=3", "affinity.nodeAffinity.foo=bar")["Deployment"][0]
	if got := fmt.Sprint(dig(own, "spec", "template", "spec", "affinity")); got != "map[nodeAffinity:map[foo:bar]]" {
		t.Errorf("with affinity set, the pod's affinity = %s, want the operator's alone", got)
	}

	// One replica: no budget, no spreading, but still a rolling update
	// and the replica's name.
	one := manifests(t, values)
	if n := len(one["PodDisruptionBudget"]); n != 0 {
		t.Errorf("one replica renders %d PodDisruptionBudgets, want none: minAvailable 1 of 1 blocks every drain", n)
	}
	if a := dig(one["Deployment"][0], "spec", "template", "spec", "affinity"); a != nil {
		t.Errorf("one replica has affinity %v, want none", a)
	}
	if got := dig(one["Deployment"][0], "spec", "strategy", "type"); got != "RollingUpdate" {
		t.Errorf("strategy = %v, want RollingUpdate on PostgreSQL", got)
	}
}

// TestHelmChartRefuses shows the installs the chart refuses, each with a
// message that says what to set.
func TestHelmChartRefuses(t *testing.T) {
	tests := []struct {
		name  string
		extra map[string]any
		set   []string
		want  string
	}{
		{"two replicas on SQLite", nil, []string{"replicaCount=2"}, "on SQLite deploybot keeps its state in one file, so it runs as one replica; set replicaCount to 1, or keep the state in PostgreSQL (database.urlSecret.name)"},
		{"a database secret without a key", map[string]any{"database": map[string]any{"urlSecret": map[string]any{"name": "deploybot-db", "key": ""}}}, nil, "database.urlSecret.key is empty"},
		{"no AWX URL", map[string]any{"awx": map[string]any{"url": ""}}, nil, "awx.url is empty"},
		{"no configuration", map[string]any{"config": map[string]any{}}, nil, "config is empty"},
		{"no token and no secret", map[string]any{"secrets": map[string]any{"slackAppToken": "xapp-1", "awxToken": "a"}}, nil, "secrets.slackBotToken (SLACK_BOT_TOKEN) is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"template", "rel", chartDir, "-f", chartValues(t, tt.extra)}
			for _, s := range tt.set {
				args = append(args, "--set", s)
			}
			out, err := runHelm(t, args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("want an error containing %q, got %v\n%s", tt.want, err, out)
			}
		})
	}
}
