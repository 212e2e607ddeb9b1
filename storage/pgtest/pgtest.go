// Package pgtest runs a real PostgreSQL server for tests: Debian's
// postgresql package (/usr/lib/postgresql/<version>/bin/initdb and
// postgres), started in a temporary data directory on a free loopback port
// and stopped at the end. A test package starts one server (the first test
// that needs it starts it; TestMain stops it) and each test gets a fresh
// database cloned from a template, which is fast.
//
// When PostgreSQL is not installed the tests that need it are skipped with a
// message, except under CI=true where they fail. scripts/install-test-deps.sh
// installs it.
//
// Typical use:
//
//	var pg = &pgtest.Server{}
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		pg.Stop()
//		os.Exit(code)
//	}
//
//	func TestX(t *testing.T) {
//		url := pg.URL(t) // postgres://… of a new, empty database
//		...
//	}
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx"
)

// Server is a PostgreSQL server for the tests of one package. The zero
// value is ready to use: the first call to URL starts the server.
type Server struct {
	// Init, when set, prepares the template database every URL clones
	// (for example by applying migrations). It runs once, on the first
	// call to URL, with the template's URL.
	Init func(ctx context.Context, url string) error

	once     sync.Once
	startErr error
	skip     bool

	dir  string // temporary directory: data, socket, log
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the postgres process has exited
	// admin is a connection pool to the postgres database, for CREATE
	// DATABASE.
	admin *sql.DB

	mu sync.Mutex
	n  int // databases created
}

// template is the database every URL clones.
const template = "pgtest_template"

// Require starts the server if it is not running yet. Without PostgreSQL
// it skips t, or fails it under CI=true.
func (s *Server) Require(t testing.TB) {
	t.Helper()
	s.once.Do(func() { s.skip, s.startErr = s.start() })
	if s.startErr != nil {
		if s.skip && os.Getenv("CI") != "true" {
			t.Skipf("PostgreSQL is not installed (%v); scripts/install-test-deps.sh installs Debian's postgresql package", s.startErr)
		}
		t.Fatalf("PostgreSQL test server: %v", s.startErr)
	}
}

// URL returns the URL of a new database, a copy of the template prepared
// by Init, on the server, which it starts on first use (see Require).
func (s *Server) URL(t testing.TB) string {
	t.Helper()
	return s.create(t, template)
}

// EmptyURL returns the URL of a new, empty database (not prepared by
// Init).
func (s *Server) EmptyURL(t testing.TB) string {
	t.Helper()
	return s.create(t, "template0")
}

func (s *Server) create(t testing.TB, from string) string {
	t.Helper()
	s.Require(t)
	url, err := s.createDB(context.Background(), from)
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// ErrNotInstalled is the error Start wraps when PostgreSQL is not
// installed.
var ErrNotInstalled = errors.New("PostgreSQL is not installed (scripts/install-test-deps.sh installs Debian's postgresql package)")

// Start starts a server outside of a test, for a program that needs a
// throwaway PostgreSQL (cmd/sandbox). Without PostgreSQL the error wraps
// ErrNotInstalled. Call Stop when done.
func Start() (*Server, error) {
	s := &Server{}
	s.once.Do(func() { s.skip, s.startErr = s.start() })
	if s.startErr != nil {
		if s.skip {
			return nil, fmt.Errorf("%w: %v", ErrNotInstalled, s.startErr)
		}
		return nil, fmt.Errorf("PostgreSQL server: %w", s.startErr)
	}
	return s, nil
}

// NewDatabase returns the URL of a new, empty database on a server from
// Start.
func (s *Server) NewDatabase(ctx context.Context) (string, error) {
	if s.admin == nil {
		return "", errors.New("the PostgreSQL server is not running")
	}
	return s.createDB(ctx, "template0")
}

// createDB creates a database copied from the database from.
func (s *Server) createDB(ctx context.Context, from string) (string, error) {
	// Two CREATE DATABASE from one template at once can fail with "source
	// database is being accessed by other users": one at a time.
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	name := fmt.Sprintf("test_%d", s.n)
	if _, err := s.admin.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE `+from); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.url(name), nil
}

// Stop stops the server, if it was started, and removes its directory.
// Call it from TestMain after m.Run.
func (s *Server) Stop() {
	if s.admin != nil {
		_ = s.admin.Close()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		// SIGQUIT is PostgreSQL's immediate shutdown: nothing to keep.
		_ = s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

func (s *Server) url(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// BinDir returns the directory of Debian's PostgreSQL programs, the newest
// version installed.
func BinDir() (string, error) {
	dirs, err := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if err != nil {
		return "", err
	}
	if len(dirs) == 0 {
		return "", errors.New("no /usr/lib/postgresql/<version>/bin/initdb")
	}
	version := func(p string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		return n
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	return filepath.Dir(dirs[0]), nil
}

// start starts the server; skip reports that PostgreSQL is not installed.
func (s *Server) start() (skip bool, err error) {
	bin, err := BinDir()
	if err != nil {
		return true, err
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if s.dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return false, err
	}
	// PostgreSQL refuses to run as root: run it as the postgres user that
	// Debian's package creates, in a directory it owns.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return false, fmt.Errorf("running as root and no postgres user to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(s.dir, uid, gid); err != nil {
			return false, err
		}
	}
	data := filepath.Join(s.dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = s.dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return false, fmt.Errorf("initdb: %w\n%s", err, out)
	}

	// A free port: the kernel picks one, which is closed again for
	// postgres to take; another process could take it meanwhile, so a
	// start that fails is tried again on another port.
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			return false, err
		}
		err = s.run(bin, data, cred)
		if err == nil || attempt == 2 {
			break
		}
	}
	if err != nil {
		return false, err
	}
	if s.admin, err = sql.Open("pgx", s.url("postgres")); err != nil {
		return false, err
	}
	ctx := context.Background()
	if _, err := s.admin.ExecContext(ctx, `CREATE DATABASE `+template+` TEMPLATE template0`); err != nil {
		return false, fmt.Errorf("create template: %w", err)
	}
	if s.Init != nil {
		if err := s.Init(ctx, s.url(template)); err != nil {
			return false, fmt.Errorf("prepare template: %w", err)
		}
	}
	return false, nil
}

// run starts postgres on s.port and waits until it accepts connections.
func (s *Server) run(bin, data string, cred *syscall.Credential) error {
	logPath := filepath.Join(s.dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	if cred != nil {
		_ = os.Chown(logPath, int(cred.Uid), int(cred.Gid))
	}
	// Durability is of no use in tests: no fsync. Many connections: the
	// concurrency tests open dozens of handles at once.
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+s.dir,
		"-c", "max_connections=400",
		"-c", "shared_buffers=32MB",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
	)
	// A test binary killed at its -timeout does not leave the server
	// running: it gets SIGQUIT (immediate shutdown) when its parent dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	// Wait for it to accept connections, or to exit.
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), time.Second)
		if err == nil {
			_ = c.Close()
			if err := s.ping(); err == nil {
				return nil
			}
		}
		select {
		case <-done:
			s.cmd = nil
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited at start:\n%s", lastLines(string(log), 20))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres did not accept connections within a minute:\n%s", lastLines(string(log), 20))
		}
	}
}

// ping connects to the postgres database once.
func (s *Server) ping() error {
	db, err := sql.Open("pgx", s.url("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
