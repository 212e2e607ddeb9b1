package bot

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/bot/slacktest"
	"github.com/deploybot/deploybot/deploy"
)

// The mentions and links the bot itself writes in the messages below: the
// actor, the approvers, the request's channel and card. Nothing else may be
// live.
var (
	ownUsers    = map[string]bool{"U1": true, "U2": true, "UBOT1": true, "U0APP2": true}
	ownChannels = map[string]bool{"C1": true}
	ownLink     = "https://slack.com/archives/C1/p1700000000000100"
)

// domainText is s placed in text the domain composes, as package deploy
// does it: its own mentions around the user's words, escaped.
func domainText(s string) string {
	return fmt.Sprintf(":lock: <@UBOT1> in <#C1> (card <%s|#7>): %s", ownLink, deploy.Literal(s))
}

// renderAll renders s, as user text, through every renderer, into
// messages as Slack would receive them (top-level text and blocks JSON).
func renderAll(t testing.TB, s string) map[string][2]string {
	out := map[string][2]string{}
	add := func(name, text string, blocks any) {
		b, err := json.Marshal(blocks)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = [2]string{text, string(b)}
	}
	msg := func(name string, m Message) { add(name, m.Text, m.Blocks) }
	t0 := time.Unix(1700000000, 0)
	req := func(st deploy.Status) *deploy.Request {
		r := &deploy.Request{ID: 7, Kind: deploy.KindDeploy, App: s, Env: s, Version: s, RollbackTo: s, Status: st,
			RequestedBy: "U1", Channel: "C1", PlanHash: s, Outcome: domainText(s), CanceledBy: "U2",
			CreatedAt: t0, StartedAt: t0, FinishedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(time.Hour),
			Approvals: []deploy.Approval{{User: "U2", At: t0}},
			Plan: deploy.Plan{ArtifactURL: "https://b.example.com/x.tgz", ArtifactChecksum: s, ArtifactSize: 1 << 20,
				Hosts: []string{s, "web1"}, Restores: domainText(s)},
			Progress: deploy.Progress{Play: s, Task: s, Hosts: map[string]deploy.HostProgress{s: {Phase: s, State: "running"}, "web1": {Done: true, State: "ok"}},
				Failure: &deploy.Failure{Host: s, Task: s, Message: s}},
			Job: deploy.JobRef{ID: 42, Kind: "job"}}
		return r
	}
	info := deploy.CardInfo{QueuePosition: 2, Blocker: textNote(domainText(s)), ApprovalsMissing: 1, Approvers: []string{"U0APP2", "@" + s},
		CheckSummary: textNote(s), Note: domainText(s)}
	for _, st := range deploy.Statuses() {
		r := req(st)
		add("card "+string(st), CardText(r), RenderCard(r, info))
		rb := req(st)
		rb.Kind = deploy.KindRollback
		rb.Plan.RollbackVersion, rb.Plan.HostVersions = s, map[string][]string{s: {s, "1.4.1"}}
		add("rollback card "+string(st), CardText(rb), RenderCard(rb, info))
	}
	lock := deploy.Lock{App: s, Env: s, By: "U1", Reason: s, Since: t0}
	msg("status", RenderStatus(StatusView{Active: []*deploy.Request{req(deploy.StatusRunning)}, Queued: []*deploy.Request{req(deploy.StatusQueued)},
		Pending: []*deploy.Request{req(deploy.StatusPendingApproval)}, Locks: []deploy.Lock{lock}}, s, s))
	msg("lock", RenderLockNotice(lock, "U1", true, []int64{7}, time.UTC))
	msg("unlock", RenderLockNotice(lock, "U2", false, nil, time.UTC))
	msg("history", RenderHistory([]*deploy.Request{req(deploy.StatusSucceeded), req(deploy.StatusFailed)}, s, s))
	msg("help", RenderHelp(s))
	msg("syntax error", RenderSyntaxError(s, s))
	msg("refusal", RenderRefusal(domainText(s)))
	msg("internal error", RenderInternalError(s))
	msg("info", RenderInfo(domainText(s)))
	th, _ := RenderThread(domainText(s))
	msg("thread", th)
	msg("failure digest", RenderFailureDigest(req(deploy.StatusFailed), s))
	sch := &deploy.Schedule{ID: 3, App: s, Env: s, Version: s, Spec: s, TZ: s, Status: deploy.ScheduleActive, CreatedBy: "U1", At: t0}
	msg("schedules", RenderSchedules([]*deploy.Schedule{sch}, func(*deploy.Schedule) []deploy.RunTime { return []deploy.RunTime{{At: t0}} }))
	for _, k := range []deploy.AnnouncementKind{deploy.AnnounceApproval, deploy.AnnounceUpcoming, deploy.AnnounceCreated} {
		msg("announcement "+string(k), RenderAnnouncement(deploy.ScheduleAnnouncement{Kind: k, Schedule: *sch, Note: deploy.Note{Kind: deploy.NoteText, Text: domainText(s)}, NextRuns: []deploy.RunTime{{At: t0}}}))
	}
	form := RenderFormFor(testConfig(), s, s)
	add("form", "", []slack.Block(form.Blocks.BlockSet))
	return out
}

// checkInert fails when a rendered message has a live entity the bot did
// not write itself.
func checkInert(t testing.TB, s string) {
	t.Helper()
	for name, m := range renderAll(t, s) {
		for _, e := range slacktest.MrkdwnEntities(m[0], []byte(m[1])) {
			ok := false
			switch e.Kind {
			case "user":
				ok = ownUsers[e.ID] && e.Label == ""
			case "channel":
				ok = ownChannels[e.ID] && e.Label == ""
			case "date":
				ok = strings.HasPrefix(e.ID, "1700") // the bot's own dates
			case "link":
				ok = e.ID == ownLink && e.Label == "#7"
			}
			if !ok {
				t.Fatalf("%s: user text %.200q became a live %s %.200q", name, s, e.Kind, e.Raw)
			}
		}
	}
}

// checkUnescapedDomainText: even when the domain places user text raw
// (unescaped) in the text it composes, safeText keeps no broadcast, group
// mention, labelled mention or foreign link; at worst a bare mention of a
// user or channel by ID.
func checkUnescapedDomainText(t testing.TB, s string) {
	t.Helper()
	r := &deploy.Request{ID: 7, App: "a", Env: "e", Version: "1", Status: deploy.StatusQueued, RequestedBy: "U1", Outcome: s}
	th, _ := RenderThread(s)
	msgs := map[string]Message{
		"refusal": RenderRefusal(s), "info": RenderInfo(s), "thread": th,
		"announcement": RenderAnnouncement(deploy.ScheduleAnnouncement{Kind: deploy.AnnounceCreated, Note: deploy.Note{Kind: deploy.NoteText, Text: s}}),
		"card":         {Text: CardText(r), Blocks: RenderCard(r, deploy.CardInfo{Blocker: textNote(s), Note: s})},
	}
	for name, m := range msgs {
		b, err := json.Marshal(m.Blocks)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range slacktest.MrkdwnEntities(m.Text, b) {
			ok := false
			switch e.Kind {
			case "user", "channel":
				ok = e.Label == ""
			case "link":
				ok = strings.HasPrefix(e.ID, slackArchive) && (e.Label == "" || digits(strings.TrimPrefix(e.Label, "#")))
			}
			if !ok {
				t.Fatalf("%s: raw domain text %.200q kept a live %s %.200q", name, s, e.Kind, e.Raw)
			}
		}
	}
}

// hostileMarkup is user text that would ping, mention or link if shown raw.
var hostileMarkup = []string{
	"<!channel>", "<!here>", "<!everyone>", "<!here|here>", "<!subteam^S0LEADS|@leads> please",
	"<@U9>", "<@U9|boss>", "<@U1|renamed>", "<#C9|general>", "<#C1|fake>", "<https://evil.example|release notes>",
	"<https://slack.com/archives/C1/p1700000000000100|#7>", "<https://slack.com/archives/C9/p1|click>",
	"<mailto:a@example.com|mail>", "&lt;!channel&gt;", "&amp;lt;!here&amp;gt;", "<<!here>>", "<!date^1^{date}|x>",
	"```<!channel>```", "`<@U9>`", "a <b> c", "& < >",
}

// TestUserTextInert: every renderer shows hostile user text literally.
func TestUserTextInert(t *testing.T) {
	for _, s := range append(hostileMarkup, hostileStrings()...) {
		checkInert(t, s)
		checkUnescapedDomainText(t, s)
	}
}

// FuzzUserTextInert feeds any text as user text through every renderer and
// checks the result with slacktest's mrkdwn parser.
func FuzzUserTextInert(f *testing.F) {
	for _, s := range append(hostileMarkup, hostileStrings()...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkInert(t, s)
		checkUnescapedDomainText(t, s)
	})
}
