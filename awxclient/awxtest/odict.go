package awxtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// odict is a JSON object that keeps its key order, as AWX's serializers do.
type odict struct {
	keys []string
	vals map[string]any
}

func newObj(kv ...any) *odict {
	o := &odict{vals: map[string]any{}}
	for i := 0; i+1 < len(kv); i += 2 {
		o.set(kv[i].(string), kv[i+1])
	}
	return o
}

func (o *odict) set(k string, v any) *odict {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
	return o
}

func (o *odict) get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

// MarshalJSON writes the keys in insertion order.
func (o *odict) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := marshal(o.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// ts formats a time as AWX does (UTC, microseconds, Z), or nil if zero.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// apiError is an answer with a status and a JSON body.
type apiError struct {
	status int
	body   any
	// htmlDetail, when set, is answered as the browsable API's HTML page
	// (an error raised before any renderer was accepted).
	htmlDetail string
	// text, when set, is answered as text/plain (an error drawn by a plain
	// text renderer).
	text string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %v", e.status, e.body) }

func detailErr(status int, detail string) *apiError {
	return &apiError{status: status, body: map[string]any{"detail": detail}}
}

func fieldErr(field string, msgs ...string) *apiError {
	return &apiError{status: http.StatusBadRequest, body: map[string]any{field: msgs}}
}

// reserved query names that the field filter ignores
// (ansible_base/lib/dynamic_config/settings_logic.py).
var reserved = map[string]bool{"page": true, "page_size": true, "format": true, "order": true, "order_by": true,
	"search": true, "type": true, "host_filter": true, "count_disabled": true, "no_truncate": true,
	"limit": true, "validate": true}

// protected fields cannot be filtered on.
var protected = map[string]bool{"extra_vars": true, "job_args": true, "job_env": true, "host_config_key": true,
	"password": true, "inputs": true}

// listSpec describes one list view.
type listSpec struct {
	model        string // "Job", for error messages
	defaultOrder string // e.g. "id", "name", "-id", "start_line"
	limitPaging  bool   // event lists accept ?limit=N
}

// filterOrder applies AWX's field filters and ordering to rendered objects.
func filterOrder(items []*odict, q url.Values, spec listSpec) ([]*odict, *apiError) {
	var orGroups []func(*odict) bool
	out := items[:0:0]
	type pred func(*odict) bool
	var ands []pred
	for key, vals := range q {
		if reserved[key] {
			continue
		}
		for _, val := range vals {
			k := key
			// chain__ or or__ first, then not__ (as ansible_base parses them).
			negate, or := false, false
			if strings.HasPrefix(k, "chain__") {
				k = strings.TrimPrefix(k, "chain__")
			} else if strings.HasPrefix(k, "or__") {
				or, k = true, strings.TrimPrefix(k, "or__")
			}
			if strings.HasPrefix(k, "not__") {
				negate, k = true, strings.TrimPrefix(k, "not__")
			}
			field, lookup := k, "exact"
			if i := strings.LastIndex(k, "__"); i > 0 {
				if isLookup(k[i+2:]) {
					field, lookup = k[:i], k[i+2:]
				}
			}
			if protected[field] {
				return nil, detailErr(http.StatusForbidden, "Filtering on "+field+" is not allowed.")
			}
			if len(items) > 0 {
				if _, ok := items[0].get(field); !ok {
					return nil, detailErr(http.StatusBadRequest, fmt.Sprintf("%s has no field named '%s'", spec.model, field))
				}
			}
			p, err := makePred(field, lookup, val)
			if err != nil {
				return nil, err
			}
			if negate {
				inner := p
				p = func(o *odict) bool { return !inner(o) }
			}
			if or {
				orGroups = append(orGroups, p)
			} else {
				ands = append(ands, p)
			}
		}
	}
	for _, it := range items {
		ok := true
		for _, p := range ands {
			if !p(it) {
				ok = false
				break
			}
		}
		if ok && len(orGroups) > 0 {
			hit := false
			for _, p := range orGroups {
				if p(it) {
					hit = true
					break
				}
			}
			ok = hit
		}
		if ok {
			out = append(out, it)
		}
	}
	order := q.Get("order_by")
	if order == "" {
		order = q.Get("order")
	}
	if order == "" {
		order = spec.defaultOrder
	}
	keys := strings.Split(order, ",")
	for _, k := range keys {
		if len(items) > 0 {
			if _, ok := items[0].get(strings.TrimPrefix(k, "-")); !ok {
				return nil, detailErr(http.StatusBadRequest, fmt.Sprintf("Cannot resolve keyword '%s' into field.", strings.TrimPrefix(k, "-")))
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		for _, k := range keys {
			desc := strings.HasPrefix(k, "-")
			f := strings.TrimPrefix(k, "-")
			a, _ := out[i].get(f)
			b, _ := out[j].get(f)
			c := compare(a, b)
			if c == 0 {
				continue
			}
			if desc {
				return c > 0
			}
			return c < 0
		}
		return false
	})
	return out, nil
}

func isLookup(s string) bool {
	switch s {
	case "exact", "iexact", "contains", "icontains", "startswith", "istartswith", "endswith", "iendswith",
		"regex", "iregex", "gt", "gte", "lt", "lte", "in", "isnull", "search":
		return true
	}
	return false
}

func makePred(field, lookup, val string) (func(*odict) bool, *apiError) {
	get := func(o *odict) any { v, _ := o.get(field); return v }
	if lookup == "isnull" {
		want, err := parseBool(val)
		if err != nil {
			return nil, err
		}
		return func(o *odict) bool { return (get(o) == nil) == want }, nil
	}
	if lookup == "in" {
		parts := strings.Split(val, ",")
		return func(o *odict) bool {
			for _, p := range parts {
				if eq(get(o), p) {
					return true
				}
			}
			return false
		}, nil
	}
	switch lookup {
	case "exact":
		return func(o *odict) bool { return eq(get(o), val) }, nil
	case "iexact":
		return func(o *odict) bool { return strings.EqualFold(fmt.Sprint(get(o)), val) }, nil
	case "contains", "search":
		return func(o *odict) bool { return strings.Contains(str(get(o)), val) }, nil
	case "icontains":
		return func(o *odict) bool { return strings.Contains(strings.ToLower(str(get(o))), strings.ToLower(val)) }, nil
	case "startswith":
		return func(o *odict) bool { return strings.HasPrefix(str(get(o)), val) }, nil
	case "istartswith":
		return func(o *odict) bool {
			return strings.HasPrefix(strings.ToLower(str(get(o))), strings.ToLower(val))
		}, nil
	case "endswith":
		return func(o *odict) bool { return strings.HasSuffix(str(get(o)), val) }, nil
	case "iendswith":
		return func(o *odict) bool { return strings.HasSuffix(strings.ToLower(str(get(o))), strings.ToLower(val)) }, nil
	case "gt", "gte", "lt", "lte":
		return func(o *odict) bool {
			v := get(o)
			if v == nil {
				return false
			}
			c := compare(v, coerce(v, val))
			switch lookup {
			case "gt":
				return c > 0
			case "gte":
				return c >= 0
			case "lt":
				return c < 0
			}
			return c <= 0
		}, nil
	}
	return nil, detailErr(http.StatusBadRequest, "Unsupported lookup "+lookup)
}

func str(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func parseBool(s string) (bool, *apiError) {
	switch strings.ToLower(s) {
	case "true", "1", "t":
		return true, nil
	case "false", "0", "f":
		return false, nil
	}
	return false, detailErr(http.StatusBadRequest, fmt.Sprintf("Unable to convert \"%s\" to boolean", s))
}

// coerce converts a query value to the type of a field value.
func coerce(field any, val string) any {
	switch field.(type) {
	case int:
		n, err := strconv.Atoi(val)
		if err != nil {
			return val
		}
		return n
	case float64:
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return val
		}
		return f
	case bool:
		b, err := parseBool(val)
		if err != nil {
			return val
		}
		return b
	}
	return val
}

func eq(field any, val string) bool {
	if field == nil {
		l := strings.ToLower(val)
		return l == "none" || l == "null"
	}
	return compare(field, coerce(field, val)) == 0
}

// compare orders two field values of the same kind; times (AWX strings)
// compare as times.
func compare(a, b any) int {
	switch x := a.(type) {
	case int:
		if y, ok := b.(int); ok {
			return x - y
		}
	case float64:
		if y, ok := b.(float64); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	case bool:
		if y, ok := b.(bool); ok {
			switch {
			case x == y:
				return 0
			case !x:
				return -1
			}
			return 1
		}
	case string:
		y := str(b)
		if ta, err := time.Parse(time.RFC3339Nano, x); err == nil {
			if tb, err := time.Parse(time.RFC3339Nano, y); err == nil {
				return ta.Compare(tb)
			}
		}
		return strings.Compare(x, y)
	case nil:
		if b == nil {
			return 0
		}
		return -1
	}
	if b == nil {
		return 1
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

// paginate writes one page of items in AWX's envelope, honouring page,
// page_size (capped at 200), count_disabled and, for event lists, limit.
func paginate(r *http.Request, items []*odict, spec listSpec) (any, *apiError) {
	lo, hi, wrap, e := pageBounds(r, len(items), spec)
	if e != nil {
		return nil, e
	}
	return wrap(items[lo:hi]), nil
}

// pageBounds works out which of n items the request's page holds and how
// to wrap them.
func pageBounds(r *http.Request, n int, spec listSpec) (int, int, func([]*odict) any, *apiError) {
	q := r.URL.Query()
	if spec.limitPaging && q.Get("limit") != "" {
		l, err := strconv.Atoi(q.Get("limit"))
		if err == nil && l >= 0 {
			return 0, min(l, n), func(res []*odict) any { return map[string]any{"results": res} }, nil
		}
	}
	size := 25
	if ps, err := strconv.Atoi(q.Get("page_size")); err == nil && ps > 0 {
		size = min(ps, 200)
	}
	pages := max(1, (n+size-1)/size)
	pageNum := 1
	if p := q.Get("page"); p != "" {
		if p == "last" {
			pageNum = pages
		} else {
			v, err := strconv.Atoi(p)
			if err != nil || v < 1 || v > pages {
				return 0, 0, nil, detailErr(http.StatusNotFound, "Invalid page.")
			}
			pageNum = v
		}
	}
	lo := (pageNum - 1) * size
	hi := min(lo+size, n)
	if q.Get("count_disabled") != "" && q.Get("count_disabled") != "0" {
		return lo, hi, func(res []*odict) any { return map[string]any{"results": res} }, nil
	}
	link := func(p int) any {
		qq := r.URL.Query()
		qq.Set("page", strconv.Itoa(p))
		if qq.Get("page_size") != "" {
			qq.Set("page_size", strconv.Itoa(size))
		}
		return r.URL.Path + "?" + qq.Encode()
	}
	var next, prev any
	if pageNum < pages {
		next = link(pageNum + 1)
	}
	if pageNum > 1 {
		prev = link(pageNum - 1)
	}
	return lo, hi, func(res []*odict) any {
		return newObj("count", n, "next", next, "previous", prev, "results", res)
	}, nil
}
