package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// buildBot compiles cmd/deploybot of the module at root into dir and
// returns the binary's path.
func buildBot(ctx context.Context, root, dir string, stderr io.Writer) (string, error) {
	bin := filepath.Join(dir, "deploybot")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/deploybot")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build cmd/deploybot in %s (or pass --bot PATH): %w", root, err)
	}
	return bin, nil
}

// botProcess is the deploybot binary running against the fakes.
type botProcess struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	err     error         // its exit, once done
	logPath string
	addr    string // health and metrics
	name    string // DEPLOYBOT_REPLICA, with several replicas
}

// startBot starts the binary with env added to the sandbox's own
// environment (minus any real Slack, AWX or deploybot settings), its log
// going to logPath, and waits until /readyz answers 200 (or the process
// dies, or ctx ends).
func startBot(ctx context.Context, bin, logPath string, env map[string]string) (*botProcess, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("bot log: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		logf.Close()
		return nil, err
	}
	env["DEPLOYBOT_HTTP_ADDR"] = addr
	cmd := exec.Command(bin)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SLACK_") || strings.HasPrefix(k, "AWX_") || strings.HasPrefix(k, "DEPLOYBOT_") ||
			k == "LOG_LEVEL" || k == "LOG_FORMAT" {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = botProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &botProcess{cmd: cmd, done: make(chan struct{}), logPath: logPath, addr: addr}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	if err := p.awaitReady(ctx, time.Minute); err != nil {
		p.stop(5 * time.Second)
		return nil, err
	}
	return p, nil
}

// awaitReady polls /readyz until it answers 200, the process exits or the
// deadline passes.
func (p *botProcess) awaitReady(ctx context.Context, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("deploybot exited while starting (%v); its log:\n%s", p.err, tail(p.logPath, 20))
		case <-ctx.Done():
			return fmt.Errorf("deploybot not ready within %s; its log (%s) ends with:\n%s", within, p.logPath, tail(p.logPath, 20))
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM, as a service manager would, and kills the process
// if it has not stopped within grace.
func (p *botProcess) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("deploybot did not stop within %s after SIGTERM; killed", grace)
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return fmt.Errorf("deploybot stopped: %w", p.err)
	}
	return p.err
}

// freeAddr returns a free address on 127.0.0.1.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
