package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The YAML shape. Pointers mark values whose absence matters (a default
// applies).
type rawConfig struct {
	Timezone string            `yaml:"timezone"`
	Slack    rawSlack          `yaml:"slack"`
	AWX      rawAWX            `yaml:"awx"`
	Apps     map[string]rawApp `yaml:"apps"`
	Limits   rawLimits         `yaml:"limits"`
}

type rawSlack struct {
	Channels        []string `yaml:"channels"`
	AnnounceChannel string   `yaml:"announce_channel"`
	AllowDM         bool     `yaml:"allow_dm"`
}

type rawAWX struct {
	Organization    string            `yaml:"organization"`
	InventoryPrefix string            `yaml:"inventory_prefix"`
	Credential      string            `yaml:"credential"`
	JobTemplates    map[string]string `yaml:"job_templates"`
	EventWait       string            `yaml:"event_wait"`
}

type rawApp struct {
	Type           string            `yaml:"type"`
	Server         string            `yaml:"server"`
	ArtifactURL    string            `yaml:"artifact_url"`
	VersionPattern string            `yaml:"version_pattern"`
	Docroot        string            `yaml:"docroot"`
	DeployPath     string            `yaml:"deploy_path"`
	PIDFile        string            `yaml:"pid_file"`
	Port           *int              `yaml:"port"`
	Healthcheck    rawHealthcheck    `yaml:"healthcheck"`
	Serial         string            `yaml:"serial"`
	Become         *bool             `yaml:"become"`
	Environments   map[string]rawEnv `yaml:"environments"`
}

type rawHealthcheck struct {
	Path       string `yaml:"path"`
	OKBody     string `yaml:"ok_body"`
	L4OutPath  string `yaml:"l4_out_path"`
	L4Interval string `yaml:"l4_interval"`
	L4Fall     *int   `yaml:"l4_fall"`
	L4Rise     *int   `yaml:"l4_rise"`
}

type rawEnv struct {
	Hosts        []string                  `yaml:"hosts"`
	HostVars     map[string]map[string]any `yaml:"host_vars"`
	Deployers    []string                  `yaml:"deployers"`
	Approval     rawApproval               `yaml:"approval"`
	PreCommands  []string                  `yaml:"pre_commands"`
	Command      string                    `yaml:"command"`
	PostCommands []string                  `yaml:"post_commands"`
}

type rawApproval struct {
	Required          bool     `yaml:"required"`
	Approvers         []string `yaml:"approvers"`
	MinApprovals      *int     `yaml:"min_approvals"`
	AllowSelfApproval bool     `yaml:"allow_self_approval"`
	ExpiresAfter      string   `yaml:"expires_after"`
}

// Problem is one thing wrong with a configuration file.
type Problem struct {
	// Path is the key path, like apps.shop-web.environments.production.hosts[1].
	Path string
	// Line is the 1-based line in the file, 0 when unknown.
	Line    int
	Message string
}

// ValidationError lists every problem found in a configuration file.
type ValidationError struct {
	File     string
	Problems []Problem
}

// Error implements error: one line per problem, "file:line: path: message".
func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s) in the configuration:", e.File, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
		if p.Path != "" {
			b.WriteString(p.Path)
			b.WriteString(": ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

// Option adds a rule the file must follow.
type Option func(*validator)

// ReservedNames refuses apps named like one of words: the /deploy
// command's own words, which would make "/deploy <app> <env> <version>"
// ambiguous.
func ReservedNames(words []string) Option {
	return func(v *validator) { v.reserved = words }
}

// Load reads and validates the configuration file at path.
func Load(path string, opts ...Option) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, opts...)
}

// Parse validates a configuration held in memory; name is used in messages.
func Parse(name string, data []byte, opts ...Option) (*Config, error) {
	v := &validator{lines: map[string]int{}}
	for _, o := range opts {
		o(v)
	}
	if ps := tabProblems(data, false); len(ps) > 0 {
		return nil, &ValidationError{File: name, Problems: ps}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if ps := tabProblems(data, true); len(ps) > 0 {
			return nil, &ValidationError{File: name, Problems: ps}
		}
		return nil, &ValidationError{File: name, Problems: []Problem{yamlProblem(err)}}
	}
	if len(doc.Content) == 0 {
		return nil, &ValidationError{File: name, Problems: []Problem{{Message: "the file is empty"}}}
	}
	root := doc.Content[0]
	v.walk(root, reflect.TypeOf(rawConfig{}), "")
	if v.structural {
		// Values of the wrong kind cannot be decoded; unknown keys can
		// (they are ignored), so those go on to the checks below and every
		// problem is reported at once.
		return nil, v.failure(name)
	}
	var raw rawConfig
	if err := root.Decode(&raw); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, m := range te.Errors {
				v.problems = append(v.problems, yamlProblem(errors.New(m)))
			}
		} else {
			v.problems = append(v.problems, yamlProblem(err))
		}
		return nil, v.failure(name)
	}
	cfg := v.build(&raw)
	if len(v.problems) > 0 {
		return nil, v.failure(name)
	}
	sortProblems(v.warnings)
	cfg.Warnings = v.warnings
	return cfg, nil
}

// tabMessage is the problem of a tab in indentation. YAML forbids tabs
// there (YAML 1.2, section 6.1: "tab characters must not be used in
// indentation"), and the parser's own message ("found character that
// cannot start any token") does not say so.
const tabMessage = "tabs are not allowed in YAML indentation: indent with spaces"

// tabProblems finds lines indented with a tab. A line that starts with a
// tab is always one (comments and blank lines aside); with anyLeading, set
// once the parser has failed, so is a tab anywhere in a line's leading
// whitespace, comments included (a tab after spaces can be text of a block
// scalar, which parses).
func tabProblems(data []byte, anyLeading bool) []Problem {
	var ps []Problem
	for i, line := range strings.Split(string(data), "\n") {
		rest := strings.TrimLeft(line, " \t")
		if rest == "" || rest == "\r" || (!anyLeading && strings.HasPrefix(rest, "#")) {
			continue
		}
		lead := line[:len(line)-len(rest)]
		if strings.HasPrefix(lead, "\t") || (anyLeading && strings.Contains(lead, "\t")) {
			ps = append(ps, Problem{Line: i + 1, Message: tabMessage})
		}
	}
	return ps
}

// sortProblems orders problems by line, then key path.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Path < b.Path
	})
}

// failure returns the problems found, in file order.
func (v *validator) failure(name string) *ValidationError {
	sortProblems(v.problems)
	return &ValidationError{File: name, Problems: v.problems}
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func yamlProblem(err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{Message: msg}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Message = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(msg, m[0]), ":"))
	}
	return p
}

type validator struct {
	problems []Problem
	// warnings are mistakes that do not stop the bot.
	warnings []Problem
	// structural is set when a value has the wrong kind (a list where a
	// mapping belongs...), which stops decoding.
	structural bool
	// lines maps a key path to the line of its value.
	lines map[string]int
	// reserved are names no app may have (ReservedNames).
	reserved []string
}

// addf records a problem at path; absent keys take the line of their
// nearest known parent.
func (v *validator) addf(path, format string, args ...any) {
	v.problems = append(v.problems, v.problem(path, format, args...))
}

// warnf records a warning: a mistake that does not stop the bot.
func (v *validator) warnf(path, format string, args ...any) {
	v.warnings = append(v.warnings, v.problem(path, format, args...))
}

// problem is a Problem at path, on the line of path or of its nearest
// known parent.
func (v *validator) problem(path, format string, args ...any) Problem {
	line := v.lines[path]
	for p := path; line == 0 && p != ""; {
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
		line = v.lines[p]
	}
	return Problem{Path: path, Line: line, Message: fmt.Sprintf(format, args...)}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// walk checks node against the Go type t: unknown keys, and values of the
// wrong kind. It records the line of every path it visits.
func (v *validator) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	v.lines[path] = n.Line
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			v.structural = true
			v.addf(path, "expected a mapping of keys, found %s", describe(n))
			return
		}
		fields := map[string]reflect.Type{}
		var known []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			fields[name] = f.Type
			known = append(known, name)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			v.lines[p] = k.Line
			ft, ok := fields[k.Value]
			if !ok {
				v.addf(p, "unknown key %q (known keys here: %s)", k.Value, strings.Join(known, ", "))
				continue
			}
			v.walk(val, ft, p)
			v.lines[p] = k.Line
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			v.structural = true
			v.addf(path, "expected a mapping, found %s", describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			v.walk(val, t.Elem(), p)
			v.lines[p] = k.Line
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			v.structural = true
			v.addf(path, "expected a list, found %s", describe(n))
			return
		}
		for i, el := range n.Content {
			v.walk(el, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			v.structural = true
			v.addf(path, "expected a single value, found %s", describe(n))
		}
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			v.structural = true
			v.addf(path, "expected a whole number, found %s", describe(n))
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			v.structural = true
			v.addf(path, "expected true or false, found %s", describe(n))
		}
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}
