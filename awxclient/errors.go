package awxclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Sentinels for errors.Is. An *Error matches the one for its status code.
var (
	// ErrNotFound matches 404 answers and lookups by name that found nothing.
	ErrNotFound = errors.New("awx: not found")
	// ErrUnauthorized matches 401 answers: a missing, invalid or expired token.
	ErrUnauthorized = errors.New("awx: unauthorized")
	// ErrForbidden matches 403 answers.
	ErrForbidden = errors.New("awx: forbidden")
	// ErrConflict matches 409 answers (an object is in use by running jobs).
	ErrConflict = errors.New("awx: conflict")
	// ErrAmbiguous matches lookups by name that found several objects.
	ErrAmbiguous = errors.New("awx: several objects match")
	// ErrCannotCancel matches a cancel of a job or ad-hoc command that has
	// already finished.
	ErrCannotCancel = errors.New("awx: job cannot be canceled")
	// ErrIgnoredFields matches a launch whose prompted fields AWX ignored.
	ErrIgnoredFields = errors.New("awx: launch fields ignored")
)

// Error is an AWX API failure: an answer outside 2xx, or a transport error
// (StatusCode 0). Path never carries secrets.
type Error struct {
	// StatusCode is the HTTP status, or 0 for a network error.
	StatusCode int
	// Method and Path identify the request; Path is the URL path and query
	// with secret parameters redacted.
	Method string
	Path   string
	// Detail is AWX's "detail", "error" or "msg" text, or the transport error.
	Detail string
	// Fields holds validation errors by field name; AWX reports non-field
	// errors under "__all__".
	Fields map[string][]string

	cannotCancel bool
	err          error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "awx %s %s", e.Method, e.Path)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if len(e.Fields) > 0 {
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "; %s: %s", k, strings.Join(e.Fields[k], " "))
		}
	}
	return b.String()
}

// Is reports whether target is the sentinel for e's status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrCannotCancel:
		return e.cannotCancel
	}
	return false
}

// Unwrap returns the transport error, if any.
func (e *Error) Unwrap() error { return e.err }

// Temporary reports whether retrying the same request may succeed: network
// errors and 5xx answers.
func (e *Error) Temporary() bool { return e.StatusCode == 0 || e.StatusCode >= 500 }

func newError(method, path string, resp *http.Response, body []byte) *Error {
	e := &Error{StatusCode: resp.StatusCode, Method: method, Path: path}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "html") {
			e.Detail = strings.TrimSpace(string(body))
			if len(e.Detail) > 200 {
				e.Detail = e.Detail[:200] + "..."
			}
		}
		return e
	}
	for k, raw := range m {
		switch k {
		case "detail", "error", "msg":
			var s string
			if json.Unmarshal(raw, &s) == nil {
				e.Detail = s
				continue
			}
		}
		if e.Fields == nil {
			e.Fields = map[string][]string{}
		}
		e.Fields[k] = fieldMessages(raw)
	}
	return e
}

// fieldMessages flattens AWX's field error values: a list of strings, a
// plain string (relaunch "hosts"), or a nested object.
func fieldMessages(raw json.RawMessage) []string {
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}
	}
	return []string{string(raw)}
}

// LookupError reports a lookup by name that matched no object or several.
// It matches ErrNotFound (Count 0) or ErrAmbiguous (Count > 1).
type LookupError struct {
	// Kind is the AWX object type, e.g. "job_template".
	Kind string
	// Name is the name looked up.
	Name string
	// Count is how many objects matched.
	Count int
	// Hint, when set, replaces the generic advice of the message.
	Hint string
}

// Error implements error.
func (e *LookupError) Error() string {
	if e.Hint != "" {
		if e.Count == 0 {
			return fmt.Sprintf("awx %s %q not found: %s", e.Kind, e.Name, e.Hint)
		}
		return fmt.Sprintf("awx %s %q is ambiguous: %s", e.Kind, e.Name, e.Hint)
	}
	if e.Count == 0 {
		return fmt.Sprintf("awx %s %q not found", e.Kind, e.Name)
	}
	return fmt.Sprintf("awx %s %q is ambiguous: %d match, give an id or an organization", e.Kind, e.Name, e.Count)
}

// Is matches ErrNotFound or ErrAmbiguous.
func (e *LookupError) Is(target error) bool {
	return (target == ErrNotFound && e.Count == 0) || (target == ErrAmbiguous && e.Count > 1)
}

// IgnoredFieldsError reports a launch that AWX accepted while dropping some
// of the given fields because their "Prompt on launch" setting is off. The
// job was created anyway, with the template's own values; JobID names it so
// the caller can cancel it. It matches ErrIgnoredFields.
type IgnoredFieldsError struct {
	JobID int
	// Fields maps each ignored field to the value AWX dropped; for
	// extra_vars it is the map of dropped variables.
	Fields map[string]any
}

// Error implements error.
func (e *IgnoredFieldsError) Error() string {
	names := e.FieldNames()
	return fmt.Sprintf("awx launched job %d but ignored %s: enable \"Prompt on launch\" for %s on the job template",
		e.JobID, strings.Join(names, ", "), strings.Join(names, ", "))
}

// FieldNames returns the ignored field names, sorted.
func (e *IgnoredFieldsError) FieldNames() []string {
	names := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Is matches ErrIgnoredFields.
func (e *IgnoredFieldsError) Is(target error) bool { return target == ErrIgnoredFields }

// TemplateSettingsError reports a job template whose settings do not allow
// what deploybot sends at launch.
type TemplateSettingsError struct {
	Template string
	ID       int
	// Missing lists the settings to enable, e.g. "ask_inventory_on_launch".
	Missing []string
	// Why, when set, says what the missing settings would break.
	Why string
}

var settingLabels = map[string]string{
	"ask_inventory_on_launch":  "Inventory: Prompt on launch",
	"ask_variables_on_launch":  "Variables: Prompt on launch",
	"ask_limit_on_launch":      "Limit: Prompt on launch",
	"ask_job_type_on_launch":   "Job Type: Prompt on launch",
	"ask_diff_mode_on_launch":  "Show Changes: Prompt on launch",
	"ask_credential_on_launch": "Credentials: Prompt on launch",
}

// SettingLabel is the AWX UI's wording of a job template setting, e.g.
// "Limit: Prompt on launch" for "ask_limit_on_launch".
func SettingLabel(setting string) string {
	if l, ok := settingLabels[setting]; ok {
		return l
	}
	return setting
}

// Error implements error.
func (e *TemplateSettingsError) Error() string {
	parts := make([]string, len(e.Missing))
	for i, m := range e.Missing {
		parts[i] = fmt.Sprintf("%s (%q)", m, settingLabels[m])
	}
	msg := fmt.Sprintf("awx job template %q (id %d) must enable %s", e.Template, e.ID, strings.Join(parts, " and "))
	if e.Why != "" {
		msg += ": " + e.Why
	}
	return msg
}
