package awxclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/rs/zerolog"
)

const (
	apiPrefix        = "api/v2/"
	defaultUserAgent = "deploybot-awxclient"
	// maxPageSize is AWX's MAX_PAGE_SIZE; larger values are silently capped.
	maxPageSize = 200
)

// Client talks to one AWX server. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	rc        *resty.Client
	log       zerolog.Logger
	retry     retryPolicy
	userAgent string
}

type retryPolicy struct {
	count   int
	wait    time.Duration
	maxWait time.Duration
}

type options struct {
	token      string
	httpClient *http.Client
	timeout    time.Duration
	userAgent  string
	logger     zerolog.Logger
	retry      retryPolicy
}

// Option configures a Client built by NewClient.
type Option func(*options) error

// WithToken authenticates every request with an AWX personal access token
// (sent as "Authorization: Bearer"). The token never appears in errors or logs.
func WithToken(token string) Option {
	return func(o *options) error {
		if strings.ContainsAny(token, "\r\n") {
			return errors.New("token contains a line break")
		}
		o.token = token
		return nil
	}
}

// WithHTTPClient uses hc for transport (proxies, TLS settings, test servers).
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) error {
		if hc == nil {
			return errors.New("nil http client")
		}
		o.httpClient = hc
		return nil
	}
}

// WithTimeout bounds every HTTP exchange, including reading the body.
// Per-call deadlines come from the context; this is a safety net. Production
// use should set one.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return errors.New("negative timeout")
		}
		o.timeout = d
		return nil
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		o.userAgent = ua
		return nil
	}
}

// WithLogger logs every request at debug level (method, path, status,
// duration, attempt) and retries at warn level. Headers are never logged.
func WithLogger(l zerolog.Logger) Option {
	return func(o *options) error {
		o.logger = l
		return nil
	}
}

// WithRetry retries idempotent requests (GET, PUT, PATCH, DELETE) up to count
// times on network errors and 5xx answers, waiting wait, then doubling up to
// maxWait between attempts. Launches, relaunches and ad-hoc creations are
// never retried.
func WithRetry(count int, wait, maxWait time.Duration) Option {
	return func(o *options) error {
		if count < 0 || wait < 0 || maxWait < wait {
			return fmt.Errorf("invalid retry policy (count %d, wait %s, max wait %s)", count, wait, maxWait)
		}
		o.retry = retryPolicy{count: count, wait: wait, maxWait: maxWait}
		return nil
	}
}

// NewClient returns a client for the AWX server at baseURL, the address
// users open in a browser (for example "https://awx.example.com"); the API
// lives under its "api/v2/" path.
func NewClient(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("parse base url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("base url %q: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("base url %q: no host", u.Redacted())
	}
	if u.User != nil {
		return nil, errors.New("base url: credentials in the url are not supported, use WithToken")
	}
	u.RawQuery, u.Fragment = "", ""
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	o := options{userAgent: defaultUserAgent, logger: zerolog.Nop()}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("awxclient option: %w", err)
		}
	}
	hc := &http.Client{}
	if o.httpClient != nil {
		// A copy: WithTimeout must not change the caller's client.
		cp := *o.httpClient
		hc = &cp
	}
	rc := resty.NewWithClient(hc)
	rc.SetLogger(nopLogger{})
	rc.SetDisableWarn(true)
	if o.timeout > 0 {
		rc.SetTimeout(o.timeout)
	}
	if o.token != "" {
		rc.SetAuthToken(o.token)
	}
	return &Client{base: u, rc: rc, log: o.logger, retry: o.retry, userAgent: o.userAgent}, nil
}

// nopLogger keeps resty quiet: its messages can carry request details.
type nopLogger struct{}

func (nopLogger) Errorf(string, ...any) {}
func (nopLogger) Warnf(string, ...any)  {}
func (nopLogger) Debugf(string, ...any) {}

// request describes one API call.
type request struct {
	method string
	// path is relative to the API root ("jobs/1/") or an absolute path
	// returned by AWX ("/api/v2/jobs/1/job_events/?page=2").
	path  string
	query url.Values
	body  any
	// noRetry marks a POST that must never be repeated automatically.
	noRetry bool
	// ok lists the accepted statuses; empty means any 2xx.
	ok []int
	// accept is the Accept header ("" for application/json). AWX's stdout
	// view negotiates like Django REST framework: ?format=txt_download is
	// text/plain only, and an Accept that excludes it answers 406.
	accept string
}

// resolve turns a request path into an absolute URL on the AWX server.
func (c *Client) resolve(p string, q url.Values) (*url.URL, error) {
	var ref *url.URL
	var err error
	if strings.HasPrefix(p, "/") {
		ref, err = url.Parse(p)
	} else {
		if strings.Contains(p, "..") {
			return nil, fmt.Errorf("path %q climbs out of the api root", p)
		}
		ref, err = url.Parse(apiPrefix + p)
	}
	if err != nil {
		return nil, fmt.Errorf("parse path: %w", err)
	}
	if ref.Host != "" || ref.Scheme != "" {
		return nil, fmt.Errorf("path %q is not relative", p)
	}
	u := c.base.ResolveReference(ref)
	if len(q) > 0 {
		merged := u.Query()
		for k, vs := range q {
			merged[k] = vs
		}
		u.RawQuery = merged.Encode()
	}
	return u, nil
}

// send performs req and returns the response with its body unread; the
// caller must close it. Non-2xx answers become *Error.
func (c *Client) send(ctx context.Context, req request) (*http.Response, error) {
	u, err := c.resolve(req.path, req.query)
	if err != nil {
		return nil, err
	}
	var payload []byte
	if req.body != nil {
		payload, err = json.Marshal(req.body)
		if err != nil {
			return nil, fmt.Errorf("encode %s body: %w", req.method, err)
		}
	}
	attempts := 1
	if !req.noRetry && idempotent(req.method) {
		attempts += c.retry.count
	}
	wait := c.retry.wait
	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			d := wait
			if d > 0 {
				// Up to 25% jitter keeps replicas from retrying in step.
				d += time.Duration(rand.Int64N(int64(d)/4 + 1))
			}
			c.log.Warn().Str("method", req.method).Str("path", sanitizePath(u)).
				Int("attempt", attempt).Int64("wait_ms", d.Milliseconds()).Err(lastErr).Msg("awx retry")
			if err := sleepCtx(ctx, d); err != nil {
				return nil, errors.Join(lastErr, err)
			}
			wait = min(wait*2, c.retry.maxWait)
		}
		resp, err := c.once(ctx, req, u, payload, attempt)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if ctx.Err() != nil || !retryable(err) {
			return nil, err
		}
	}
	return nil, lastErr
}

func (c *Client) once(ctx context.Context, req request, u *url.URL, payload []byte, attempt int) (*http.Response, error) {
	start := time.Now()
	accept := req.accept
	if accept == "" {
		accept = "application/json"
	}
	r := c.rc.R().SetContext(ctx).SetDoNotParseResponse(true).
		SetHeader("Accept", accept).
		SetHeader("User-Agent", c.userAgent)
	if payload != nil {
		r.SetHeader("Content-Type", "application/json").SetBody(payload)
	}
	resp, err := r.Execute(req.method, u.String())
	path := sanitizePath(u)
	if err != nil {
		if resp != nil && resp.RawBody() != nil {
			resp.RawBody().Close()
		}
		c.log.Debug().Str("method", req.method).Str("path", path).Int("attempt", attempt).
			Int64("took_ms", time.Since(start).Milliseconds()).Str("error", cleanNetError(err)).Msg("awx request")
		return nil, &Error{Method: req.method, Path: path, Detail: cleanNetError(err), err: err}
	}
	raw := resp.RawResponse
	c.log.Debug().Str("method", req.method).Str("path", path).Int("status", raw.StatusCode).
		Int("attempt", attempt).Int64("took_ms", time.Since(start).Milliseconds()).Msg("awx request")
	if accepted(raw.StatusCode, req.ok) {
		return raw, nil
	}
	defer raw.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(raw.Body, 1<<20))
	return nil, newError(req.method, path, raw, body)
}

func accepted(status int, ok []int) bool {
	if len(ok) == 0 {
		return status >= 200 && status < 300
	}
	for _, s := range ok {
		if s == status {
			return true
		}
	}
	return false
}

// do performs req and decodes a JSON answer into v (if v is not nil).
func (c *Client) do(ctx context.Context, req request, v any) error {
	resp, err := c.send(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if v == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read %s %s: %w", req.method, sanitizePath(resp.Request.URL), err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode %s %s: %w", req.method, sanitizePath(resp.Request.URL), err)
	}
	return nil
}

// page is AWX's list envelope.
type page[T any] struct {
	Count   int    `json:"count"`
	Next    string `json:"next"`
	Results []T    `json:"results"`
}

// list follows "next" links and returns every item.
func list[T any](ctx context.Context, c *Client, path string, q url.Values) ([]T, error) {
	if q == nil {
		q = url.Values{}
	}
	if q.Get("page_size") == "" {
		q.Set("page_size", fmt.Sprint(maxPageSize))
	}
	var all []T
	req := request{method: http.MethodGet, path: path, query: q}
	for {
		var p page[T]
		if err := c.do(ctx, req, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Results...)
		if p.Next == "" {
			return all, nil
		}
		// next is a relative URL carrying the whole query.
		req = request{method: http.MethodGet, path: p.Next}
	}
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

func retryable(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.StatusCode == 0 || e.StatusCode >= 500
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// secretParams are query parameters whose values are never shown.
var secretParams = []string{"token", "access_token", "password", "secret", "key"}

// sanitizePath renders the path and query of u without user info, host or
// secret values, for errors and logs.
func sanitizePath(u *url.URL) string {
	p := u.EscapedPath()
	if u.RawQuery == "" {
		return p
	}
	q := u.Query()
	for k := range q {
		lk := strings.ToLower(k)
		for _, s := range secretParams {
			if strings.Contains(lk, s) {
				q[k] = []string{"REDACTED"}
			}
		}
	}
	return p + "?" + q.Encode()
}

// cleanNetError describes a transport error without the URL it was for
// (net/url errors embed it) so that errors carry only the sanitized path.
func cleanNetError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// jsonString encodes v as the JSON text AWX stores in string fields such as
// variables and ad-hoc extra_vars.
func jsonString(v map[string]any) (string, error) {
	if len(v) == 0 {
		return "", nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

func itoa(id int) string { return fmt.Sprint(id) }
