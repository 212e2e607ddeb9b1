package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy/awxrunner"
)

// awxTimeout bounds one AWX API call unless tunables say otherwise.
const awxTimeout = 30 * time.Second

// newAWXClient builds the AWX client from the options; timeout bounds one
// call, and transport (nil for the default) carries its requests.
func newAWXClient(o *options, log zerolog.Logger, timeout time.Duration, transport http.RoundTripper) (*awxclient.Client, error) {
	opts := []awxclient.Option{
		awxclient.WithToken(o.AWXToken),
		awxclient.WithTimeout(timeout),
		awxclient.WithUserAgent("deploybot/" + version),
		awxclient.WithLogger(log.With().Str("component", "awx").Logger()),
	}
	if transport != nil {
		opts = append(opts, awxclient.WithHTTPClient(&http.Client{Transport: transport}))
	}
	c, err := awxclient.NewClient(o.AWXURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("awx client: %w", err)
	}
	return c, nil
}

// runAWX runs the "awx" subcommands.
func runAWX(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "bootstrap" {
		return fmt.Errorf("usage: deploybot awx bootstrap --project-url URL [flags]")
	}
	var bo awxrunner.BootstrapOptions
	o, _, err := parseOptions("awx bootstrap", args[1:], getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&bo.ProjectURL, "project-url", "", "git URL of the repository holding playbooks/ (required)")
		fs.StringVar(&bo.ProjectName, "project-name", "deploybot", "name of the AWX project to create or update")
		fs.StringVar(&bo.SCMCredential, "scm-credential", "", "name of the AWX Source Control credential for a private repository")
		fs.DurationVar(&bo.SyncTimeout, "sync-timeout", 5*time.Minute, "how long to wait for AWX to sync the project")
	})
	if err != nil {
		return err
	}
	if bo.ProjectURL == "" {
		return fmt.Errorf("--project-url is required: the git repository that holds playbooks/")
	}
	if bo.SyncTimeout <= 0 {
		return fmt.Errorf("--sync-timeout must be positive")
	}
	if o.AWXURL == "" || o.AWXToken == "" {
		return fmt.Errorf("set AWX_URL and AWX_TOKEN (a token with write scope)")
	}
	cfg, err := readConfig(o.ConfigPath)
	if err != nil {
		return err
	}
	secrets := redactor{o.AWXToken}
	log, err := newLogger(stderr, o.LogLevel, o.LogFormat, secrets)
	if err != nil {
		return err
	}
	if err := o.checkAWXURL(log); err != nil {
		return err
	}
	c, err := newAWXClient(o, log, awxTimeout, nil)
	if err != nil {
		return err
	}
	bo.SyncPoll = time.Second
	if err := awxrunner.Bootstrap(ctx, c, cfg.Catalog(), awxSettings(cfg), bo, stdout); err != nil {
		return errors.New(secrets.redact(err.Error()))
	}
	return nil
}

// awxSettings are the AWX names of cfg the runner and the setup need.
func awxSettings(cfg *config.Config) awxrunner.Settings {
	return awxrunner.Settings{Organization: cfg.AWX.Organization, Credential: cfg.AWX.Credential}
}
