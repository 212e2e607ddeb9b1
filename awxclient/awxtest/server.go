package awxtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a fake AWX: a real HTTP server on 127.0.0.1 that keeps its
// objects in memory and answers like AWX does (ansible/awx: the views in
// awx/api/views/, the serializers in awx/api/serializers.py).
// Create it with NewServer; it closes itself when the test ends. Start
// creates one outside of tests.
type Server struct {
	// URL is the server's base URL, e.g. "http://127.0.0.1:41234".
	URL string
	// Token is a valid token of a superuser ("admin").
	Token string
	// UserToken is a valid token of a normal user with write scope.
	UserToken string
	// ReadToken is a valid token with read scope only.
	ReadToken string

	hs  *httptest.Server
	cfg config

	mu   sync.Mutex
	cond *sync.Cond
	gen  uint64 // bumped on every state change, for Await
	db   *store

	requireAuth bool
	latency     time.Duration
	faults      []*fault
	requests    []Request
	launches    []Launch
	bytesOut    int64

	runCtx    context.Context
	runCancel context.CancelFunc
	runs      sync.WaitGroup
}

type config struct {
	playbookDir string
	ansible     bool
	gzip        bool
	eventLag    int
	seed        uint64
	strict      bool
	logf        func(format string, args ...any)
	errorf      func(format string, args ...any)
	addr        string
}

// Option configures a Server.
type Option func(*config)

// WithAnsible makes jobs and ad-hoc commands run the real ansible-playbook
// and ansible commands by default, playbooks being read from dir. See
// AnsibleExecutor.
func WithAnsible(dir string) Option {
	return func(c *config) { c.ansible, c.playbookDir = true, dir }
}

// WithGzip compresses answers for clients that accept gzip, as AWX's nginx
// front does for JSON.
func WithGzip() Option { return func(c *config) { c.gzip = true } }

// WithEventLag holds back up to n emitted events of every job, saving a
// random one (seeded) whenever more are waiting, so events are saved out
// of counter order; the ones still held when the job turns final are saved
// one per later request about the job, after the final status, as AWX's
// callback receiver does.
func WithEventLag(n int, seed uint64) Option {
	return func(c *config) { c.eventLag, c.seed = n, seed }
}

// WithLenientRoutes stops the server from failing the test on requests to
// routes it does not implement (they still get AWX's 404).
func WithLenientRoutes() Option { return func(c *config) { c.strict = false } }

// WithLogf sends the server's log lines (one per finished job) to logf
// instead of tb.Logf; nil silences them.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(c *config) { c.logf = logf }
}

// WithAddr makes the server listen on addr (e.g. "127.0.0.1:8052") instead
// of a free loopback port.
func WithAddr(addr string) Option {
	return func(c *config) { c.addr = addr }
}

// NewServer starts a fake AWX seeded with organization "Default" (id 1), a
// machine credential "Demo Credential" (id 1) and a project "Demo Project"
// (id 1). It registers tb.Cleanup to stop running jobs and close. Requests
// the fake does not implement and answers it cannot encode fail the test.
func NewServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := start(config{strict: true, seed: 1, logf: tb.Logf, errorf: tb.Errorf}, opts)
	if err != nil {
		tb.Fatalf("awxtest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Start starts a fake AWX outside of a test, seeded like NewServer's, on a
// free loopback port unless WithAddr says otherwise. Its log lines, and
// what would fail a test under NewServer (unimplemented routes, answers
// that cannot be encoded), go to the WithLogf function, if any. The caller
// closes it with Close.
func Start(opts ...Option) (*Server, error) {
	return start(config{strict: true, seed: 1}, opts)
}

func start(cfg config, opts []Option) (*Server, error) {
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.errorf == nil {
		cfg.errorf = cfg.logf
	}
	s := &Server{cfg: cfg, requireAuth: true,
		Token: randHex(20), UserToken: randHex(20), ReadToken: randHex(20)}
	s.cond = sync.NewCond(&s.mu)
	s.db = newStore(cfg.seed)
	s.runCtx, s.runCancel = context.WithCancel(context.Background())
	s.hs = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	if cfg.addr != "" {
		ln, err := net.Listen("tcp", cfg.addr)
		if err != nil {
			s.hs.Listener.Close()
			s.runCancel()
			return nil, fmt.Errorf("listen on %s: %w", cfg.addr, err)
		}
		s.hs.Listener.Close()
		s.hs.Listener = ln
	}
	s.hs.Start()
	s.URL = s.hs.URL
	return s, nil
}

// errorf reports misuse of the fake: a test failure under NewServer.
func (s *Server) errorf(format string, args ...any) {
	if s.cfg.errorf != nil {
		s.cfg.errorf(format, args...)
	}
}

// Close stops running jobs and the HTTP server.
func (s *Server) Close() {
	s.runCancel()
	s.mu.Lock()
	s.broadcastLocked()
	s.mu.Unlock()
	s.runs.Wait()
	s.hs.Close()
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// SetRequireAuth turns token checking on (the default) or off.
func (s *Server) SetRequireAuth(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requireAuth = on
}

// SetLatency delays every answer by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

type fault struct {
	n      int
	method string
	prefix string
	status int // 0: drop the connection
}

// FailNext makes the next n requests whose method is method ("" for any)
// and whose path starts with pathPrefix answer status with AWX's body for
// that status (500: "A server error has occurred.").
func (s *Server) FailNext(n int, method, pathPrefix string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{n: n, method: method, prefix: pathPrefix, status: status})
}

// DropNext makes the next n matching requests lose their connection
// without an answer.
func (s *Server) DropNext(n int, method, pathPrefix string) {
	s.FailNext(n, method, pathPrefix, 0)
}

// Request is one request the server received.
type Request struct {
	Method string
	Path   string
	Query  string
	Body   []byte
	Status int
	// BytesOut counts the answer's body bytes as sent (after compression).
	BytesOut int64
}

// IsWrite reports whether the request could change state.
func (r Request) IsWrite() bool { return r.Method != http.MethodGet && r.Method != http.MethodHead }

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Writes counts the requests other than GET/HEAD, by "METHOD path".
func (s *Server) Writes() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for _, r := range s.requests {
		if r.IsWrite() {
			m[r.Method+" "+r.Path]++
		}
	}
	return m
}

// WriteCount counts requests other than GET/HEAD.
func (s *Server) WriteCount() int {
	n := 0
	for _, c := range s.Writes() {
		n += c
	}
	return n
}

// Traffic sums requests and answer bytes so far.
func (s *Server) Traffic() (requests int, bytesOut int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests), s.bytesOut
}

// ResetTraffic forgets the recorded requests.
func (s *Server) ResetTraffic() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.bytesOut = nil, 0
}

// Launch is a recorded job template launch.
type Launch struct {
	Template int
	// Job is 0 when the launch failed.
	Job  int
	Body map[string]any
}

// Launches returns the recorded launch requests.
func (s *Server) Launches() []Launch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Launch(nil), s.launches...)
}

// broadcastLocked wakes the waiters after a state change.
func (s *Server) broadcastLocked() {
	s.gen++
	s.cond.Broadcast()
}

// Await blocks until cond returns true or ctx ends. cond runs without the
// server's lock (it may call the server's methods) and again after every
// change of the server's state: a request, a job step, an event.
func (s *Server) Await(ctx context.Context, cond func() bool) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.broadcastLocked()
		s.mu.Unlock()
	})
	defer stop()
	for {
		s.mu.Lock()
		gen := s.gen
		s.mu.Unlock()
		if cond() {
			return nil
		}
		s.mu.Lock()
		for s.gen == gen && ctx.Err() == nil {
			s.cond.Wait()
		}
		s.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("awxtest await: %w", err)
		}
	}
}

// await is Await for conditions that read the state under the lock.
func (s *Server) await(ctx context.Context, cond func() bool) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.broadcastLocked()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for !cond() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("awxtest await: %w", err)
		}
		s.cond.Wait()
	}
	return nil
}

// AwaitLaunches waits until n launches were recorded.
func (s *Server) AwaitLaunches(ctx context.Context, n int) error {
	return s.await(ctx, func() bool { return len(s.launches) >= n })
}

// AwaitJob waits until the job's status is one of statuses (any final
// status if none is given).
func (s *Server) AwaitJob(ctx context.Context, id int, statuses ...string) error {
	return s.await(ctx, func() bool {
		j := s.db.jobs[id]
		if j == nil {
			return false
		}
		if len(statuses) == 0 {
			return isFinal(j.status)
		}
		for _, st := range statuses {
			if j.status == st {
				return true
			}
		}
		return false
	})
}

// AwaitRequests waits until a request matching method and path prefix has
// been answered n times.
func (s *Server) AwaitRequests(ctx context.Context, n int, method, pathPrefix string) error {
	return s.await(ctx, func() bool {
		c := 0
		for _, r := range s.requests {
			if (method == "" || r.Method == method) && strings.HasPrefix(r.Path, pathPrefix) {
				c++
			}
		}
		return c >= n
	})
}

// countingWriter counts body bytes and optionally gzips them.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
	gz     *gzip.Writer
}

func (w *countingWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.gz != nil {
		return w.gz.Write(p)
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

type countTo struct {
	w *countingWriter
}

func (c countTo) Write(p []byte) (int, error) {
	n, err := c.w.ResponseWriter.Write(p)
	c.w.n += int64(n)
	return n, err
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	s.mu.Lock()
	latency := s.latency
	var hit *fault
	for _, f := range s.faults {
		if f.n > 0 && (f.method == "" || f.method == r.Method) && strings.HasPrefix(r.URL.Path, f.prefix) {
			f.n--
			hit = f
			break
		}
	}
	s.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
	}
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body}
	cw := &countingWriter{ResponseWriter: w}
	if hit != nil && hit.status == 0 {
		s.record(rec)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if s.cfg.gzip && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Add("Vary", "Accept-Encoding")
		cw.gz = gzip.NewWriter(countTo{cw})
	}
	start := time.Now()
	w.Header().Set("X-API-Node", "awx-fake")
	w.Header().Set("X-API-Product-Name", "AWX")
	if hit != nil {
		s.writeError(cw, r, &apiError{status: hit.status, body: faultBody(hit.status)}, start)
	} else {
		s.route(cw, r, body, start)
	}
	if cw.gz != nil {
		cw.gz.Close()
	}
	rec.Status = cw.status
	rec.BytesOut = cw.n
	s.record(rec)
}

func faultBody(status int) any {
	switch status {
	case http.StatusInternalServerError:
		return map[string]any{"detail": "A server error has occurred."}
	case http.StatusNotFound:
		return map[string]any{"detail": "Not found."}
	case http.StatusConflict:
		return map[string]any{"error": "Resource is being used by running jobs.", "active_jobs": []any{}}
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return nil // a proxy's HTML page
	}
	return map[string]any{"detail": http.StatusText(status)}
}

func (s *Server) record(rec Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, rec)
	s.bytesOut += rec.BytesOut
	s.broadcastLocked()
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any, start time.Time) {
	w.Header().Set("X-API-Time", fmt.Sprintf("%.3fs", time.Since(start).Seconds()))
	if v == nil {
		w.WriteHeader(status)
		return
	}
	b, err := marshal(v)
	if err != nil {
		s.errorf("awxtest: encode answer: %v", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if cw, ok := w.(*countingWriter); ok && cw.gz != nil {
		w.Header().Del("Content-Length")
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, e *apiError, start time.Time) {
	switch {
	case e.htmlDetail != "":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(e.status)
		_, _ = io.WriteString(w, browsableErrorPage(e.status, e.htmlDetail))
		return
	case e.text != "":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(e.status)
		_, _ = io.WriteString(w, e.text)
		return
	}
	if e.body == nil {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(e.status)
		_, _ = fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", e.status, http.StatusText(e.status))
		return
	}
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer realm=api authorization_url=/api/o/authorize/")
	}
	s.writeJSON(w, e.status, e.body, start)
}

// decodeBody parses a request body as AWX's JSONParser does.
func decodeBody(r *http.Request, body []byte) (map[string]any, *apiError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return nil, detailErr(http.StatusUnsupportedMediaType,
			"You did not use correct Content-Type in your HTTP request. If you are using our REST API, the Content-Type must be application/json")
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, detailErr(http.StatusBadRequest, "JSON parse error - "+err.Error()+"\nPossible cause: trailing comma.")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, detailErr(http.StatusBadRequest, "JSON parse error - not a JSON object")
	}
	return m, nil
}

// user identifies the caller.
type user struct {
	id        int
	name      string
	superuser bool
	write     bool
}

func (s *Server) authenticate(r *http.Request) *user {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return nil
	}
	switch tok {
	case s.Token:
		return &user{id: 1, name: "admin", superuser: true, write: true}
	case s.UserToken:
		return &user{id: 2, name: "deployer", write: true}
	case s.ReadToken:
		return &user{id: 3, name: "auditor"}
	}
	return nil
}

var notAuthenticated = detailErr(http.StatusUnauthorized,
	"Authentication credentials were not provided. To establish a login session, visit /api/login/.")

// newRand returns the deterministic random source used for event lag.
func newRand(seed uint64) *mrand.Rand { return mrand.New(mrand.NewPCG(seed, seed^0x5eed)) }
