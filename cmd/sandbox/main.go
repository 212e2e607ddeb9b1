package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

// run is the whole program; tests call it with their own input.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	botPath := fs.String("bot", getenv("SANDBOX_BOT"), "deploybot binary to run (default: go build ./cmd/deploybot into the sandbox directory) (SANDBOX_BOT)")
	dirFlag := fs.String("dir", "", "directory for the config, database and logs (default: a new temporary directory, removed on exit unless --keep)")
	keep := fs.Bool("keep", false, "keep the temporary directory (bot log, database) after quitting")
	example := fs.String("example", "", "configuration to derive the sandbox's from (default: deploybot.example.yaml of the repository)")
	step := fs.Duration("step", 400*time.Millisecond, "time between the tasks of a scripted AWX job")
	logLevel := fs.String("log-level", "debug", "the bot's LOG_LEVEL")
	as := fs.String("as", "alice", "the user you start as")
	quiet := fs.Duration("quiet", 700*time.Millisecond, "after a command, print what the bot does until it is quiet this long")
	replicas := fs.Int("replicas", 1, "how many bots to run; above 1 they share a PostgreSQL database the sandbox starts (Debian's postgresql: make deps installs it)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sandbox [flags]\n\nRuns deploybot against a fake Slack and a fake AWX; type help at the prompt.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	if *replicas < 1 {
		return fmt.Errorf("--replicas %d: run at least one bot", *replicas)
	}

	dir := *dirFlag
	if dir == "" {
		if dir, err = os.MkdirTemp("", "deploybot-sandbox-"); err != nil {
			return fmt.Errorf("sandbox directory: %w", err)
		}
		if !*keep {
			defer os.RemoveAll(dir)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sandbox directory: %w", err)
	}
	cwd, _ := os.Getwd()
	if *example == "" {
		if *example, err = findExample(cwd); err != nil {
			return err
		}
	}
	exampleText, err := os.ReadFile(*example)
	if err != nil {
		return fmt.Errorf("read the example config: %w", err)
	}

	fakeLog, err := os.Create(filepath.Join(dir, "fakes.log"))
	if err != nil {
		return fmt.Errorf("fakes log: %w", err)
	}
	defer fakeLog.Close()
	logf := func(format string, args ...any) {
		fmt.Fprintf(fakeLog, time.Now().Format(time.TimeOnly)+" "+format+"\n", args...)
	}

	slack, err := startSlack(logf)
	if err != nil {
		return err
	}
	defer slack.Close()
	awx, err := startAWX(*step, logf)
	if err != nil {
		return err
	}
	defer awx.Close()
	builds := newBuildServer()
	defer builds.Close()

	cfg, err := sandboxConfig(exampleText, builds.URL)
	if err != nil {
		return fmt.Errorf("%s: %w", *example, err)
	}
	cfgPath := filepath.Join(dir, "deploybot.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return fmt.Errorf("write the sandbox config: %w", err)
	}

	bin := *botPath
	if bin == "" {
		root, err := findExample(cwd)
		if err != nil {
			return fmt.Errorf("no --bot given, and cannot build one: %w", err)
		}
		fmt.Fprintln(stdout, "building cmd/deploybot (pass --bot PATH to skip)…")
		if bin, err = buildBot(ctx, filepath.Dir(root), dir, stderr); err != nil {
			return err
		}
	}
	db := filepath.Join(dir, "deploybot.db")
	if *replicas > 1 {
		fmt.Fprintf(stdout, "starting PostgreSQL for %d replicas…\n", *replicas)
		pg, url, err := startPostgres(ctx, *replicas)
		if err != nil {
			return err
		}
		defer pg.Stop()
		db = url
	}
	bots, err := startReplicas(ctx, bin, dir, *replicas, map[string]string{
		"SLACK_APP_TOKEN":  slack.AppToken,
		"SLACK_BOT_TOKEN":  slack.BotToken,
		"SLACK_API_URL":    slack.APIURL(),
		"AWX_URL":          awx.URL,
		"AWX_TOKEN":        awx.Token,
		"DEPLOYBOT_CONFIG": cfgPath,
		"DEPLOYBOT_DB":     db,
		"LOG_LEVEL":        *logLevel,
		"LOG_FORMAT":       "json",
	})
	if err != nil {
		return err
	}
	defer func() {
		if serr := stopReplicas(bots, 20*time.Second); serr != nil && err == nil {
			err = serr
		}
	}()

	logPath, note := bots[0].logPath, ""
	if len(bots) > 1 {
		var b strings.Builder
		for i, bot := range bots {
			if i > 0 {
				b.WriteString("\n           ")
			}
			fmt.Fprintf(&b, "%s: %s (http://%s)", bot.name, bot.logPath, bot.addr)
		}
		logPath = b.String()
		note = fmt.Sprintf("%d replicas share one PostgreSQL database; the fake Slack hands each command and\nclick to one of them. Type replicas to see which handled what.\n", len(bots))
	}
	fmt.Fprintf(stdout, `deploybot is running against a fake Slack and a fake AWX.
  config   %s (from %s)
  bot log  %s
  fakes    Slack %s, AWX %s, builds %s
Versions containing "fail" fail their health check on one host; versions containing
"missing" do not exist on the build server. Type help for the commands, quit to stop.
%s`, cfgPath, *example, logPath, slack.URL, awx.URL, builds.URL, note)
	if !*keep && *dirFlag == "" {
		fmt.Fprintln(stdout, "(the directory is removed when you quit; --keep keeps it)")
	}

	r := newREPL(slack, awx, stdout)
	r.bots = bots
	r.quiet = *quiet
	if err := r.as(*as); err != nil {
		return err
	}
	if f, ok := stdin.(*os.File); !ok || !isatty.IsTerminal(f.Fd()) {
		r.echo = true
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.loop(rctx, lines)
	fmt.Fprintln(stdout, "stopping deploybot…")
	return nil
}
