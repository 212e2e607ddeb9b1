package awxtest

import (
	"fmt"
	"html"
	"net/http"
	"strings"
)

// renderer is one of a view's renderer classes: its media type and the
// value of ?format= that selects it.
type renderer struct {
	mediaType, format string
}

// stdoutRenderers are UnifiedJobStdout's renderer_classes, in their order
// (ansible/awx awx/api/views/__init__.py, class UnifiedJobStdout, at
// e21dd0a0933fd544d1fe2513c54fe41203775eb5; media types and formats from
// awx/api/renderers.py and rest_framework/renderers.py).
var stdoutRenderers = []renderer{
	{"text/html", "api"},            // BrowsableAPIRenderer
	{"text/html", "html"},           // StaticHTMLRenderer
	{"text/plain", "txt"},           // PlainTextRenderer
	{"text/plain", "ansi"},          // AnsiTextRenderer
	{"application/json", "json"},    // JSONRenderer
	{"text/plain", "txt_download"},  // DownloadTextRenderer
	{"text/plain", "ansi_download"}, // AnsiDownloadRenderer
}

// negotiate picks a renderer as Django REST framework's
// DefaultContentNegotiation.select_renderer does
// (encode/django-rest-framework rest_framework/negotiation.py and
// utils/mediatypes.py, 3.15.1 as pinned by AWX's requirements.txt):
// ?format= first narrows the renderers (none left: 404 in 3.15), then the
// Accept header's media ranges, most specific first and with q ignored, are
// matched against each renderer in order. No match is 406 Not Acceptable,
// rendered by the view's first renderer (the browsable API's HTML page),
// because no renderer was accepted.
func negotiate(r *http.Request, renderers []renderer) (renderer, *apiError) {
	if f := r.URL.Query().Get("format"); f != "" {
		var keep []renderer
		for _, x := range renderers {
			if x.format == f {
				keep = append(keep, x)
			}
		}
		if len(keep) == 0 {
			return renderer{}, notFound
		}
		renderers = keep
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		accept = "*/*"
	}
	var byPrec [4][]mediaRange
	for _, tok := range strings.Split(accept, ",") {
		m := parseMediaRange(strings.TrimSpace(tok))
		byPrec[m.precedence()] = append(byPrec[m.precedence()], m)
	}
	for p := 3; p >= 0; p-- {
		if len(byPrec[p]) == 0 {
			continue
		}
		for _, x := range renderers {
			for _, m := range byPrec[p] {
				if m.matches(x.mediaType) {
					return x, nil
				}
			}
		}
	}
	return renderer{}, &apiError{status: http.StatusNotAcceptable, htmlDetail: "Could not satisfy the request Accept header."}
}

type mediaRange struct {
	main, sub string
	params    bool // has parameters other than q
}

func parseMediaRange(s string) mediaRange {
	base, params, _ := strings.Cut(s, ";")
	main, sub, _ := strings.Cut(strings.TrimSpace(base), "/")
	m := mediaRange{main: strings.TrimSpace(main), sub: strings.TrimSpace(sub)}
	for _, p := range strings.Split(params, ";") {
		k, _, _ := strings.Cut(strings.TrimSpace(p), "=")
		if k != "" && k != "q" {
			m.params = true
		}
	}
	return m
}

// precedence is _MediaType.precedence: 0 for */*, 1 for type/*, 2 for
// type/subtype, 3 for type/subtype with parameters.
func (m mediaRange) precedence() int {
	switch {
	case m.main == "*":
		return 0
	case m.sub == "*":
		return 1
	case !m.params:
		return 2
	}
	return 3
}

// matches is media_type_matches(renderer media type, m); renderer media
// types carry no parameters, so the range's parameters do not matter.
func (m mediaRange) matches(mediaType string) bool {
	main, sub, _ := strings.Cut(mediaType, "/")
	if m.sub != "*" && m.sub != sub {
		return false
	}
	return m.main == "*" || m.main == main
}

// renderedError is an error answer as the accepted renderer draws it: the
// plain text renderers print Python's repr of the error dict
// (PlainTextRenderer.render calls str(data) on it, awx/api/renderers.py).
func renderedError(x renderer, e *apiError) *apiError {
	if x.mediaType != "text/plain" {
		return e
	}
	detail := ""
	if m, ok := e.body.(map[string]any); ok {
		detail, _ = m["detail"].(string)
	}
	code := strings.ToLower(strings.ReplaceAll(http.StatusText(e.status), " ", "_"))
	return &apiError{status: e.status, text: fmt.Sprintf("{'detail': ErrorDetail(string=%s, code=%s)}", pyRepr(detail), pyRepr(code))}
}

func pyRepr(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

// browsableErrorPage is the browsable API's page for an error detail.
func browsableErrorPage(status int, detail string) string {
	return fmt.Sprintf("<!DOCTYPE html>\n<html><head><title>%d %s</title></head><body>\n<pre>%s</pre>\n</body></html>\n",
		status, html.EscapeString(http.StatusText(status)), html.EscapeString(fmt.Sprintf("{\n    \"detail\": %q\n}", detail)))
}
