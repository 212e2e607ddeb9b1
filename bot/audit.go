package bot

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/commands"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy"
)

// AuditReader reads the audit trail for /deploy audit; *storage.DB
// implements it. It returns the entries at or after since, oldest first,
// of one app or one environment of it ("" means all), the newest limit
// entries when limit > 0.
type AuditReader interface {
	AuditSince(ctx context.Context, since time.Time, app, env string, limit int) ([]deploy.AuditEntry, error)
}

// maxAuditRows caps the rows of one /deploy audit file; the newest are
// kept and the message says where to get the rest.
const maxAuditRows = 50_000

// auditScope is one app and environment whose audit trail a user may
// read; Env "" stands for every environment of App, App "" for everything.
type auditScope struct{ App, Env string }

// cmdAudit posts the audit trail of the apps and environments the user
// deploys to or approves in the channel, as a CSV file in the thread of a
// message that says who asked for what. Nobody else may export it.
func (b *Bot) cmdAudit(ctx context.Context, in *slashInput) {
	c := in.cmd.(commands.Audit)
	if b.cfg.Audit == nil {
		b.replyTo(ctx, in, RenderRefusal("The audit export is not available in this deploybot; the operators can run `deploybot audit export`."))
		return
	}
	conf := b.conf.Load()
	scopes, label, err := b.auditScopes(ctx, conf, in.User, c.App, c.Env)
	if err != nil {
		b.failTo(ctx, in, err)
		return
	}
	since := c.Since
	if since == 0 {
		since = commands.DefaultAuditSince
	}
	from := b.now().Add(-since)
	var rows []deploy.AuditEntry
	for _, s := range scopes {
		got, err := b.cfg.Audit.AuditSince(ctx, from, s.App, s.Env, maxAuditRows+1)
		if err != nil {
			b.failTo(ctx, in, fmt.Errorf("audit export: %w", err))
			return
		}
		rows = append(rows, got...)
	}
	slices.SortFunc(rows, func(a, b deploy.AuditEntry) int { return compareInt64(a.ID, b.ID) })
	truncated := len(rows) > maxAuditRows
	if truncated {
		rows = rows[len(rows)-maxAuditRows:]
	}
	loc := time.UTC
	if conf != nil && conf.Location != nil {
		loc = conf.Location
	}
	fromText := from.In(loc).Format("2006-01-02 15:04 MST")
	if len(rows) == 0 {
		b.replyTo(ctx, in, RenderInfo(fmt.Sprintf("No audit entries for %s since %s (%s).", label, fromText, commands.FormatSince(since))))
		return
	}
	var buf bytes.Buffer
	if err := WriteAuditCSV(&buf, rows); err != nil {
		b.failTo(ctx, in, fmt.Errorf("audit export: %w", err))
		return
	}
	text := fmt.Sprintf(":ledger: Audit trail of %s since %s (%s), exported for <@%s>: %d entr%s, as CSV in the thread.",
		label, fromText, commands.FormatSince(since), in.User, len(rows), map[bool]string{true: "y", false: "ies"}[len(rows) == 1])
	if truncated {
		text += fmt.Sprintf(" Only the newest %d are in the file; `deploybot audit export` on the bot's host prints them all.", maxAuditRows)
	}
	parts := []string{"deploybot-audit"}
	for _, p := range []string{c.App, c.Env} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	name := strings.Join(append(parts, b.now().UTC().Format("20060102-1504")), "-") + ".csv"
	if err := b.gw.PostWithFile(ctx, in.Channel, RenderInfo(text), name, "Audit trail of "+label, bytes.NewReader(buf.Bytes())); err != nil {
		b.failTo(ctx, in, err)
	}
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// auditScopes decides what user may export: the environments where the
// user is a deployer or an approver (user groups resolved now), among
// app/env when given. Without an app, that is every such environment of
// every app; with an app, those of the app. When the user may read every
// environment of an app (or of every app) the scope is the app (or
// everything), which also takes in entries about it that name no single
// environment. It returns the scopes to read and their description, or a
// refusal that says who may export.
func (b *Bot) auditScopes(ctx context.Context, conf *config.Config, user, app, env string) ([]auditScope, string, error) {
	if conf == nil {
		return nil, "", deploy.Errorf(deploy.EINVALID, "deploybot has no configuration loaded; nothing was done.")
	}
	apps := conf.AppNames()
	if app != "" {
		a := conf.Apps[app]
		if a == nil {
			return nil, "", deploy.Errorf(deploy.ENOTFOUND, "There is no app %q. Apps: %s.", app, strings.Join(apps, ", "))
		}
		if env != "" && a.Environments[env] == nil {
			return nil, "", deploy.Errorf(deploy.ENOTFOUND, "%s has no environment %q. Environments: %s.", app, env, strings.Join(a.EnvNames(), ", "))
		}
		apps = []string{app}
	}
	var handles []string
	for _, an := range apps {
		for _, e := range conf.Apps[an].Environments {
			handles = append(handles, deploy.Handles(e.Deployers)...)
			handles = append(handles, deploy.Handles(e.Approval.Approvers)...)
		}
	}
	slices.Sort(handles)
	groups, err := b.gw.Groups(ctx, user, slices.Compact(handles))
	if err != nil {
		return nil, "", fmt.Errorf("audit export: resolve user groups: %w", err)
	}
	who := deploy.Identity{User: user, Groups: groups}
	may := func(e *config.Environment) bool { return who.In(e.Deployers) || who.In(e.Approval.Approvers) }

	if env != "" {
		if !may(conf.Apps[app].Environments[env]) {
			return nil, "", deploy.Errorf(deploy.EFORBIDDEN, "Only deployers and approvers of %s %s can export its audit trail, and you are neither. Ask one of them, or the operators (`deploybot audit export`).", app, env)
		}
		return []auditScope{{app, env}}, app + " " + env, nil
	}
	var scopes []auditScope
	var labels []string
	whole := true
	for _, an := range apps {
		a := conf.Apps[an]
		var envs []string
		for _, en := range a.EnvNames() {
			if may(a.Environments[en]) {
				envs = append(envs, en)
			}
		}
		switch len(envs) {
		case 0:
			whole = false
			continue
		case len(a.Environments):
			scopes = append(scopes, auditScope{App: an})
			labels = append(labels, an)
		default:
			whole = false
			for _, en := range envs {
				scopes = append(scopes, auditScope{an, en})
			}
			labels = append(labels, an+" ("+strings.Join(envs, ", ")+")")
		}
	}
	switch {
	case len(scopes) == 0 && app != "":
		return nil, "", deploy.Errorf(deploy.EFORBIDDEN, "Only deployers and approvers of %s can export its audit trail, and you are neither in any of its environments. Ask one of them, or the operators (`deploybot audit export`).", app)
	case len(scopes) == 0:
		return nil, "", deploy.Errorf(deploy.EFORBIDDEN, "Only deployers and approvers can export the audit trail, each of the apps and environments they deploy or approve, and you are neither anywhere. Ask the operators (`deploybot audit export`).")
	case whole && app == "":
		return []auditScope{{}}, "every app", nil
	}
	return scopes, strings.Join(labels, ", "), nil
}

// PostWithFile posts msg in channel and a file in its thread (files upload
// v2). When Slack refuses the file there (the bot is not a member of the
// channel: files need membership, chat:write.public does not give it), it
// says so in the thread and returns the refusal as an EINVALID error that
// tells the user what to do.
func (s *Slack) PostWithFile(ctx context.Context, channel string, msg Message, filename, title string, content io.ReadSeeker) error {
	ts, err := s.post(ctx, channel, msg)
	if err != nil {
		if unavailable(err) {
			return deploy.Errorf(deploy.EINVALID, "I cannot post in this channel; invite me with `/invite @deploybot` and try again.")
		}
		return fmt.Errorf("post with file: %w", err)
	}
	ref := deploy.MessageRef{Channel: channel, TS: ts}
	err = s.upload(ctx, ref, filename, title, content)
	if !unavailable(err) {
		return err
	}
	note := RenderInfo(fmt.Sprintf(":warning: I could not attach %s here: Slack lets an app share files only in channels it is a member of. Invite me with `/invite @deploybot` and ask again.", filename))
	if _, perr := s.post(ctx, channel, note, slack.MsgOptionTS(ts)); perr != nil {
		s.log.Warn().Err(perr).Str("channel", channel).Msg("note a refused upload")
	}
	return deploy.Errorf(deploy.EINVALID, "Slack refused the file in this channel: invite me with `/invite @deploybot` and ask again.")
}

// auditHeader is the first row of an audit CSV.
var auditHeader = []string{"id", "at", "actor", "action", "request_id", "schedule_id", "app", "env", "detail"}

// WriteAuditCSV writes entries as CSV (RFC 4180, encoding/csv) with a
// header row; times are UTC RFC 3339 with milliseconds, a zero request or
// schedule id is empty. A cell a spreadsheet would read as a formula
// (starting with =, +, -, @, a tab or a carriage return) is prefixed with
// a single quote, as OWASP advises against CSV injection
// (https://owasp.org/www-community/attacks/CSV_Injection): details hold
// text users typed, such as lock reasons.
func WriteAuditCSV(w io.Writer, entries []deploy.AuditEntry) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(auditHeader); err != nil {
		return fmt.Errorf("write audit csv: %w", err)
	}
	id := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	for _, e := range entries {
		row := []string{
			strconv.FormatInt(e.ID, 10), e.At.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
			cell(e.Actor), cell(e.Action), id(e.RequestID), id(e.ScheduleID), cell(e.App), cell(e.Env), cell(e.Detail),
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("write audit csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write audit csv: %w", err)
	}
	return nil
}

// cell neutralises text a spreadsheet would run as a formula.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
