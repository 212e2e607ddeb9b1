package webrig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RequireTools looks up each named executable in PATH. A missing one fails
// the test when the environment variable CI is "true" and skips it otherwise.
func RequireTools(tb testing.TB, names ...string) {
	tb.Helper()
	var missing []string
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("missing tools: %s (apt-get install -y --no-install-recommends ansible-core ansible-lint nginx haproxy apache2 sudo)",
		strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitFor polls cond every 20 ms until it returns nil or the deadline
// passes, and returns the last error then.
func WaitFor(ctx context.Context, timeout time.Duration, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("wait %v: %w", timeout, ctx.Err()), err)
		case <-tick.C:
		}
	}
}

// portOpen reports whether something accepts TCP connections on the port.
func portOpen(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// dataPathNice is the niceness of the request path under test (nginx
// workers, HAProxy, the load generator) when the tests run as root: a CPU
// starved by other work on a small CI machine must not pass for downtime
// caused by a deploy. Ansible runs at the normal priority.
const dataPathNice = -10

// Prioritize gives every thread of the process pid (0: the calling one) the
// niceness of the request path, when running as root; threads it starts
// later inherit it. Elsewhere it does nothing.
func Prioritize(pid int) error {
	if os.Geteuid() != 0 {
		return nil
	}
	proc := "self"
	if pid != 0 {
		proc = strconv.Itoa(pid)
	}
	tasks, err := os.ReadDir("/proc/" + proc + "/task")
	if err != nil {
		return fmt.Errorf("prioritize: %w", err)
	}
	var errs []error
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, dataPathNice); err != nil {
			errs = append(errs, fmt.Errorf("prioritize thread %d: %w", tid, err))
		}
	}
	return errors.Join(errs...)
}

// normalPriority sets the niceness of the process pid back to 0 (as root).
func normalPriority(pid int) error {
	if os.Geteuid() != 0 {
		return nil
	}
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, pid, 0); err != nil {
		return fmt.Errorf("normal priority for %d: %w", pid, err)
	}
	return nil
}

// FreePrivilegedPort returns a TCP port below 1024 on 127.0.0.1 that was
// free a moment ago, avoiding except; the caller must be root.
func FreePrivilegedPort(tb testing.TB, except ...int) int {
	tb.Helper()
next:
	for port := 1023; port >= 600; port-- {
		for _, e := range except {
			if e == port {
				continue next
			}
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	tb.Fatal("no free port below 1024 on 127.0.0.1")
	return 0
}
