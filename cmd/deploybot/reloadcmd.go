package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// serveReload answers POST /reload (deploybot reload): it reloads the
// configuration at once and answers how it went, 200 when the file applied
// and 422 when it was refused, with the reason. Only a process on this
// machine may ask, since the health address may listen on every interface
// (as in Kubernetes): the request must come over loopback to a loopback
// address, name a loopback host (no DNS rebinding), carry no proxy's
// forwarding header, and not be a browser's cross-origin request;
// otherwise 403 says so and nothing is reloaded.
func (r *reloader) serveReload(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if why := notLocal(req); why != "" {
		r.log.Warn().Str("remote", req.RemoteAddr).Str("reason", why).Msg("reload request refused: it did not come from this machine over loopback")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "reload refused: %s. POST /reload is accepted only from this machine over loopback: "+
			"run `deploybot reload` where the bot runs (with kubectl exec in Kubernetes), or send the bot SIGHUP.\n", why)
		return
	}
	// The outcome does not depend on the caller's patience: a reload
	// whose caller hangs up is carried out all the same.
	res := r.reload(context.WithoutCancel(req.Context()))
	if res.Err != nil {
		w.WriteHeader(http.StatusUnprocessableEntity)
	}
	fmt.Fprintln(w, res.String())
}

// forwardingHeaders are what a proxy adds to a request it passes on: a
// request through a proxy on this machine would otherwise look local.
var forwardingHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip"}

// notLocal says why req is not from a process on this machine over
// loopback, or "" when it is.
func notLocal(req *http.Request) string {
	remote, err := netip.ParseAddrPort(req.RemoteAddr)
	if err != nil || !remote.Addr().Unmap().IsLoopback() {
		return fmt.Sprintf("it came from %s, not from a loopback address", req.RemoteAddr)
	}
	// A sidecar proxy (a service mesh) connects from a loopback address
	// to the pod's own address; deploybot reload connects to loopback.
	if local, ok := req.Context().Value(http.LocalAddrContextKey).(net.Addr); !ok || !isLoopbackAddr(local) {
		return fmt.Sprintf("it was sent to %v, not to a loopback address", req.Context().Value(http.LocalAddrContextKey))
	}
	if host, _, err := net.SplitHostPort(req.Host); err != nil || !isLoopback(host) {
		return fmt.Sprintf("it names host %q, not localhost or a loopback address", req.Host)
	}
	for _, h := range forwardingHeaders {
		if req.Header.Get(h) != "" {
			return "it came through a proxy (" + h + " header)"
		}
	}
	if err := http.NewCrossOriginProtection().Check(req); err != nil {
		return "it was sent by a web page of another origin"
	}
	return ""
}

// isLoopbackAddr reports whether a TCP address is on a loopback address.
func isLoopbackAddr(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// reloadWait bounds deploybot reload: the bot checks the new file with
// Slack and AWX before it answers.
const reloadWait = 2 * time.Minute

// errReloadRefused is deploybot reload's error when the bot kept its
// configuration.
var errReloadRefused = errors.New("the configuration was not reloaded")

// reloadCommand asks the bot running on this machine to reload its
// configuration (POST /reload on its health address) and prints the
// outcome; it fails when the bot refused the file or the request.
func reloadCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, _, err := parseOptions("reload", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	url, err := localURL(o.HTTPAddr, "/reload")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, reloadWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no deploybot answered at %s (DEPLOYBOT_HTTP_ADDR or --http-addr): is it running on this machine? %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprint(stdout, string(body))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnprocessableEntity, http.StatusForbidden:
		return errReloadRefused
	default:
		return fmt.Errorf("%s answered %s: is it a deploybot of this version?", url, resp.Status)
	}
}
