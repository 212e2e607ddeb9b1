package webrig

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Nginx is one nginx instance on 127.0.0.1 with its own config, PID file,
// docroot and out-of-service flag file (kept outside the docroot).
type Nginx struct {
	Name       string // inventory host name and HAProxy server name
	Dir        string // prefix: config, logs, temp files
	Docroot    string
	DeployPath string // where the playbooks keep builds and backups
	ConfPath   string
	PIDFile    string
	FlagFile   string
	Port       int
}

// NewNginx writes the config and docroot of an instance under dir/name,
// with files (name → content) in the docroot, without starting it.
func NewNginx(tb testing.TB, dir, name string, files map[string]string) *Nginx {
	tb.Helper()
	base := filepath.Join(dir, name)
	n := &Nginx{
		Name:       name,
		Dir:        base,
		Docroot:    filepath.Join(base, "docroot"),
		DeployPath: filepath.Join(base, "deploy"),
		ConfPath:   filepath.Join(base, "nginx.conf"),
		PIDFile:    filepath.Join(base, "nginx.pid"),
		FlagFile:   filepath.Join(base, "l4_out_of_service"),
		Port:       FreePort(tb),
	}
	for _, d := range []string{n.Docroot, filepath.Join(base, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatalf("nginx %s: %v", name, err)
		}
	}
	for file, content := range files {
		if err := os.WriteFile(filepath.Join(n.Docroot, file), []byte(content), 0o644); err != nil {
			tb.Fatalf("nginx %s: %v", name, err)
		}
	}
	if err := os.WriteFile(n.ConfPath, []byte(n.config()), 0o644); err != nil {
		tb.Fatalf("nginx %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := n.Stop(context.Background()); err != nil {
			tb.Errorf("nginx %s: %v", name, err)
		}
	})
	return n
}

// config is the instance's nginx.conf: the static docroot and the health
// check contract of playbooks/README.md.
func (n *Nginx) config() string {
	user := ""
	if os.Geteuid() == 0 {
		// Workers must read files under the caller's 0700 temp dir, and run
		// ahead of the rest of a busy test machine (see Prioritize).
		user = fmt.Sprintf("user root;\nworker_priority %d;\n", dataPathNice)
	}
	tmp := filepath.Join(n.Dir, "tmp")
	return fmt.Sprintf(`%sworker_processes 1;
daemon on;
pid %s;
error_log %s warn;
events { worker_connections 512; }
http {
    access_log off;
    default_type text/plain;
    client_body_temp_path %s/body;
    proxy_temp_path %s/proxy;
    fastcgi_temp_path %s/fastcgi;
    uwsgi_temp_path %s/uwsgi;
    scgi_temp_path %s/scgi;
    server {
        listen 127.0.0.1:%d;
        root %s;
        location = /healthcheck {
            if (-f %s) {
                return 503 "out_of_service\n";
            }
            return 200 "skp_healthcheck_ok\n";
        }
    }
}
`, user, n.PIDFile, n.errorLog(), tmp, tmp, tmp, tmp, tmp, n.Port, n.Docroot, n.FlagFile)
}

func (n *Nginx) errorLog() string { return filepath.Join(n.Dir, "error.log") }

// ExtraArgs are the nginx command-line options the instance needs besides
// -c: its prefix and its early error log.
func (n *Nginx) ExtraArgs() string {
	return "-p " + n.Dir + "/ -e " + n.errorLog()
}

// Start starts nginx the way the playbooks do and waits until it answers.
func (n *Nginx) Start(ctx context.Context) error {
	args := append([]string{"-c", n.ConfPath}, strings.Fields(n.ExtraArgs())...)
	out, err := exec.CommandContext(ctx, "nginx", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("start nginx %s: %w: %s", n.Name, err, out)
	}
	return WaitFor(ctx, 5*time.Second, func() error {
		_, err := n.Get(ctx, "/healthcheck")
		return err
	})
}

// PID returns the process id in the PID file.
func (n *Nginx) PID() (int, error) { return readPID(n.PIDFile) }

// Stop ends the instance through its PID file, if it runs, and waits until
// the process is gone.
func (n *Nginx) Stop(ctx context.Context) error {
	return stopByPID(ctx, "nginx "+n.Name, n.PIDFile)
}

// Running reports whether the process named in the PID file is alive.
func (n *Nginx) Running() bool { return runningByPID(n.PIDFile) }

// Get fetches path from the instance directly and returns the body of a
// 200 or 503 answer.
func (n *Nginx) Get(ctx context.Context, path string) (string, error) {
	return getLocal(ctx, n.Port, path)
}

// HostVars are the per-host inventory variables that point the playbooks
// at this instance (see playbooks/README.md).
func (n *Nginx) HostVars() map[string]any {
	return map[string]any{
		"ansible_connection":         "local",
		"ansible_python_interpreter": "/usr/bin/python3",
		"host_docroot":               n.Docroot,
		"host_deploy_path":           n.DeployPath,
		"host_pid_file":              n.PIDFile,
		"host_web_port":              n.Port,
		"web_server_config":          n.ConfPath,
		"web_server_extra_args":      n.ExtraArgs(),
		"healthcheck_flag_file":      n.FlagFile,
		"l4_server":                  n.Name,
	}
}

// SetPort moves the instance, before it starts, to port (e.g. one below
// 1024 from FreePrivilegedPort, which only root may bind).
func (n *Nginx) SetPort(tb testing.TB, port int) {
	tb.Helper()
	n.Port = port
	if err := os.WriteFile(n.ConfPath, []byte(n.config()), 0o644); err != nil {
		tb.Fatalf("nginx %s: %v", n.Name, err)
	}
}
