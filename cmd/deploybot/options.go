package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// options are the settings listed in README.md ("Environment variables"):
// environment variables, which flags override.
type options struct {
	ConfigPath  string
	DBPath      string
	HTTPAddr    string
	LogLevel    string
	LogFormat   string
	SlackAPIURL string
	AWXURL      string
	// Replica names this process among the replicas sharing one
	// PostgreSQL database; "" picks a unique default.
	Replica string
	// LeaseTTL is how long a replica's leases hold without renewal.
	LeaseTTL time.Duration
	// AllowInsecureAWX accepts an http:// AWX_URL to a host other than
	// loopback (the token then crosses the network in clear).
	AllowInsecureAWX bool
	// Secrets: never logged, never printed.
	SlackAppToken string
	SlackBotToken string
	AWXToken      string
}

// envDefault returns getenv(key), or def when it is empty.
func envDefault(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// parseOptions reads the environment, then the flags of one subcommand.
func parseOptions(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (*options, *flag.FlagSet, error) {
	o := &options{
		SlackAppToken: getenv("SLACK_APP_TOKEN"),
		SlackBotToken: getenv("SLACK_BOT_TOKEN"),
		AWXToken:      getenv("AWX_TOKEN"),
	}
	insecure, err := envBool(getenv, "DEPLOYBOT_ALLOW_INSECURE_AWX")
	if err != nil {
		return nil, nil, err
	}
	ttl := 15 * time.Second
	if v := strings.TrimSpace(getenv("DEPLOYBOT_LEASE_TTL")); v != "" {
		if ttl, err = time.ParseDuration(v); err != nil {
			return nil, nil, fmt.Errorf("DEPLOYBOT_LEASE_TTL=%q: use a duration such as 15s", v)
		}
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		if name == "deploybot" {
			// The bare command runs the bot; its help also lists the
			// subcommands.
			fmt.Fprintf(fs.Output(), "%s\n\nFlags of the bot (each names the environment variable it overrides):\n", usage)
		} else {
			fmt.Fprintf(fs.Output(), "usage: deploybot %s [flags]\n\nFlags:\n", name)
		}
		fs.PrintDefaults()
	}
	fs.StringVar(&o.ConfigPath, "config", envDefault(getenv, "DEPLOYBOT_CONFIG", "deploybot.yaml"), "configuration file (DEPLOYBOT_CONFIG)")
	fs.StringVar(&o.DBPath, "db", envDefault(getenv, "DEPLOYBOT_DB", "deploybot.db"), "SQLite database file, or postgres://user:password@host/db URL of a PostgreSQL database (DEPLOYBOT_DB)")
	fs.StringVar(&o.HTTPAddr, "http-addr", envDefault(getenv, "DEPLOYBOT_HTTP_ADDR", ":8080"), "address of /healthz, /readyz and /metrics (DEPLOYBOT_HTTP_ADDR)")
	fs.StringVar(&o.LogLevel, "log-level", envDefault(getenv, "LOG_LEVEL", "info"), "debug, info, warn or error (LOG_LEVEL)")
	fs.StringVar(&o.LogFormat, "log-format", envDefault(getenv, "LOG_FORMAT", "auto"), "json, console, or auto: console on a terminal (LOG_FORMAT)")
	fs.StringVar(&o.SlackAPIURL, "slack-api-url", envDefault(getenv, "SLACK_API_URL", "https://slack.com/api/"), "Slack Web API base URL (SLACK_API_URL)")
	fs.StringVar(&o.AWXURL, "awx-url", getenv("AWX_URL"), "AWX base URL, like https://awx.example.com (AWX_URL)")
	fs.StringVar(&o.Replica, "replica", getenv("DEPLOYBOT_REPLICA"),
		"name of this replica among those sharing a PostgreSQL database; unique per process (DEPLOYBOT_REPLICA; default: host name and process id)")
	fs.DurationVar(&o.LeaseTTL, "lease-ttl", ttl,
		"how long a replica's work waits, after it died, before another replica takes it over; more than the clock skew between replicas (DEPLOYBOT_LEASE_TTL)")
	fs.BoolVar(&o.AllowInsecureAWX, "allow-insecure-awx", insecure,
		"accept an http:// AWX URL to a host other than loopback, sending the token in clear (DEPLOYBOT_ALLOW_INSECURE_AWX)")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if o.LeaseTTL < 3*time.Second {
		return nil, nil, fmt.Errorf("--lease-ttl %s is too short: a lease is renewed every third of it; use 3s or more (15s by default)", o.LeaseTTL)
	}
	if !strings.HasSuffix(o.SlackAPIURL, "/") {
		o.SlackAPIURL += "/"
	}
	return o, fs, nil
}

// envBool reads a boolean environment variable; unset or empty is false.
func envBool(getenv func(string) string, key string) (bool, error) {
	v := strings.TrimSpace(getenv(key))
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: use true or false", key, v)
	}
	return b, nil
}

// checkAWXURL refuses an http:// AWX URL to a host other than loopback,
// where the token would cross the network in clear, unless the operator
// allowed it; then it logs a warning. Loopback (tests, a local proxy) is
// always allowed. Host names other than localhost are not resolved.
func (o *options) checkAWXURL(log zerolog.Logger) error {
	u, err := url.Parse(o.AWXURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("AWX_URL %q is not a URL like https://awx.example.com", o.AWXURL)
	}
	if !strings.EqualFold(u.Scheme, "http") || isLoopback(u.Hostname()) {
		return nil
	}
	if !o.AllowInsecureAWX {
		return fmt.Errorf("AWX_URL %s uses plain http:// to %s, which is not this machine: AWX_TOKEN would cross the network in clear. "+
			"Use https://, or, if the network path is trusted, start with --allow-insecure-awx (or DEPLOYBOT_ALLOW_INSECURE_AWX=true)",
			u.Redacted(), u.Hostname())
	}
	log.Warn().Str("awx_url", u.Redacted()).
		Msg("AWX is reached over plain http:// to a host other than loopback (--allow-insecure-awx): the AWX token crosses the network in clear")
	return nil
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkSecrets reports the settings the bot cannot run without, all at once.
func (o *options) checkSecrets() error {
	var missing []string
	if o.SlackAppToken == "" {
		missing = append(missing, "SLACK_APP_TOKEN (the app-level token, xapp-…, with connections:write)")
	} else if !strings.HasPrefix(o.SlackAppToken, "xapp-") {
		missing = append(missing, "SLACK_APP_TOKEN must be an app-level token starting with xapp-")
	}
	if o.SlackBotToken == "" {
		missing = append(missing, "SLACK_BOT_TOKEN (the bot token, xoxb-…)")
	} else if !strings.HasPrefix(o.SlackBotToken, "xoxb-") {
		missing = append(missing, "SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
	}
	if o.AWXURL == "" {
		missing = append(missing, "AWX_URL (or --awx-url)")
	}
	if o.AWXToken == "" {
		missing = append(missing, "AWX_TOKEN (an AWX personal access token with write scope)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing settings:\n  %s", strings.Join(missing, "\n  "))
	}
	return nil
}

// redactor removes secret values from text, for errors that may quote a
// URL or a request.
type redactor []string

func (r redactor) redact(s string) string {
	for _, secret := range r {
		if len(secret) >= 6 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// writer returns a writer that redacts secrets from what it passes on to w.
// It is the last line of defence; code does not log secrets in the first
// place.
func (r redactor) writer(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		if _, err := io.WriteString(w, r.redact(string(p))); err != nil {
			return 0, err
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
