package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"
)

const usage = `usage:
  deploybot [flags]                                   run the bot
  deploybot check-config [flags]                      validate the configuration and summarise it
  deploybot awx bootstrap --project-url URL [flags]   create the AWX project and job templates
  deploybot healthcheck [flags]                       ask the running bot's /healthz (the image's HEALTHCHECK)
  deploybot reload [flags]                            make the bot running on this machine reload its configuration
  deploybot audit export [--since 7d] [--format csv|json] [--db PATH]
                                                      print the audit trail (read-only; no sqlite3 needed)
  deploybot version                                   print the version
  deploybot help                                      print this help
Run "deploybot <command> -h" for the flags of a command.`

// run is the whole program; main only calls it. Tests call it too, with
// their own arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cmd, rest := "", args[1:]
	if len(rest) > 0 && len(rest[0]) > 0 && rest[0][0] != '-' {
		cmd, rest = rest[0], rest[1:]
	}
	var err error
	switch cmd {
	case "":
		err = runBot(ctx, rest, getenv, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "deploybot %s (commit %s)\n", version, commit)
	case "check-config":
		err = checkConfig(rest, getenv, stdout, stderr)
	case "awx":
		err = runAWX(ctx, rest, getenv, stdout, stderr)
	case "healthcheck":
		err = healthcheck(ctx, rest, getenv, stdout, stderr)
	case "reload":
		err = reloadCommand(ctx, rest, getenv, stdout, stderr)
	case "audit":
		err = runAudit(ctx, rest, getenv, stdout, stderr)
	case "help":
		fmt.Fprintln(stdout, usage)
	default:
		err = fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}
