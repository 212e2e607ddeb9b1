package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// awxProxy stands between the bot and the fake AWX and injects the faults
// the fake cannot: an answer lost after AWX acted on the request, and
// latency on one path only.
type awxProxy struct {
	URL string
	rp  *httputil.ReverseProxy

	mu      sync.Mutex
	rules   []*proxyRule
	revoked bool // requests carry a token AWX does not know
}

// proxyRule applies to the next n requests of method whose path starts
// with prefix.
type proxyRule struct {
	n      int
	method string
	prefix string
	// dropAnswer: the request reaches AWX, its answer is lost (the
	// connection closes without one).
	dropAnswer bool
	// delay holds the request back before it reaches AWX.
	delay time.Duration
	// held gets each matching request as it arrives; it then waits until
	// release is closed and reaches AWX even if the bot hung up meanwhile
	// (as a request already on its way to AWX when the bot died).
	held    chan<- struct{}
	release <-chan struct{}
}

func newAWXProxy(t testing.TB, target string) *awxProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &awxProxy{}
	p.rp = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		p.mu.Lock()
		revoked := p.revoked
		p.mu.Unlock()
		if revoked {
			pr.Out.Header.Set("Authorization", "Bearer revoked0000000000000000000000000000")
		}
	}}
	hs := httptest.NewServer(p)
	t.Cleanup(hs.Close)
	p.URL = hs.URL
	return p
}

// DropAnswers makes the next n matching requests reach AWX and lose their
// answer.
func (p *awxProxy) DropAnswers(n int, method, prefix string) {
	p.add(&proxyRule{n: n, method: method, prefix: prefix, dropAnswer: true})
}

// Delay holds the next n matching requests back by d before they reach AWX.
func (p *awxProxy) Delay(n int, method, prefix string, d time.Duration) {
	p.add(&proxyRule{n: n, method: method, prefix: prefix, delay: d})
}

// Hold holds the next n matching requests back until release is closed,
// telling held of each as it arrives; then they reach AWX whether or not
// the bot still waits for the answer.
func (p *awxProxy) Hold(n int, method, prefix string, held chan<- struct{}, release <-chan struct{}) {
	p.add(&proxyRule{n: n, method: method, prefix: prefix, held: held, release: release})
}

// Revoke makes every later request carry a token AWX refuses, as when the
// bot's token is revoked.
func (p *awxProxy) Revoke() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revoked = true
}

// Clear forgets the rules not used up yet.
func (p *awxProxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Unused counts the requests the rules still wait for.
func (p *awxProxy) Unused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.rules {
		n += r.n
	}
	return n
}

func (p *awxProxy) add(r *proxyRule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, r)
}

func (p *awxProxy) match(r *http.Request) *proxyRule {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rule := range p.rules {
		if rule.n > 0 && (rule.method == "" || rule.method == r.Method) && strings.HasPrefix(r.URL.Path, rule.prefix) {
			rule.n--
			c := *rule
			return &c
		}
	}
	return nil
}

func (p *awxProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rule := p.match(r)
	if rule == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	if rule.release != nil {
		// Read the body first: the bot may be gone when it is sent on.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rule.held <- struct{}{}
		<-rule.release
		// Sent on whatever became of the bot: through a recorder, as
		// the proxy would cancel the request once the bot's connection
		// is seen closed.
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	if rule.delay > 0 {
		t := time.NewTimer(rule.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	if !rule.dropAnswer {
		p.rp.ServeHTTP(w, r)
		return
	}
	// AWX does the work; the bot never hears of it.
	p.rp.ServeHTTP(httptest.NewRecorder(), r)
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
