package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot/slacktest"
	"github.com/deploybot/deploybot/deploy"
)

// TestCardShowsOneZone: every time on a card is in the configured zone,
// with UTC in brackets, never in the reader's zone (Slack's <!date>) next
// to the configured one.
func TestCardShowsOneZone(t *testing.T) {
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Fatal(err)
	}
	pending := baseRequest(deploy.StatusPendingApproval)
	pending.ExpiresAt = t0.Add(4 * time.Hour) // 18:02 UTC, 03:02 KST the next day
	done := baseRequest(deploy.StatusSucceeded)
	done.StartedAt, done.FinishedAt = t0, t0.Add(90*time.Second)
	canceled := baseRequest(deploy.StatusCanceled)
	canceled.FinishedAt, canceled.CanceledBy = t0, "U0OPS"
	cases := []struct {
		name string
		req  *deploy.Request
		loc  *time.Location
		want string
	}{
		{"pending in Seoul", pending, seoul, "Expires 2026-11-25 03:02 KST (Nov 24 18:02 UTC)"},
		{"pending in UTC", pending, nil, "Expires 2026-11-24 18:02 UTC"},
		{"succeeded in Seoul", done, seoul, "*Succeeded* 2026-11-24 23:03 KST (14:03 UTC) after 1m30s"},
		{"canceled in UTC", canceled, time.UTC, "*Canceled* 2026-11-24 14:02 UTC by <@U0OPS>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			all := strings.Join(texts(t, RenderCard(tc.req, deploy.CardInfo{Location: tc.loc}), true), "\n")
			if !strings.Contains(all, tc.want) {
				t.Errorf("card lacks %q:\n%s", tc.want, all)
			}
			if strings.Contains(all, "<!date") {
				t.Errorf("card shows a time in the reader's zone besides the configured one:\n%s", all)
			}
		})
	}
}

// TestCardHostsChangedIsSuccess: a host that changed things did its work;
// it reads as success like an ok host, not as a warning.
func TestCardHostsChangedIsSuccess(t *testing.T) {
	req := baseRequest(deploy.StatusSucceeded)
	req.Progress = deploy.Progress{Hosts: map[string]deploy.HostProgress{
		"web1": {State: "ok", OK: 3, Done: true},
		"web2": {State: "changed", OK: 3, Change: 2, Done: true},
		"web3": {State: "failed", OK: 1, Failed: 1, Done: true},
	}}
	all := strings.Join(texts(t, RenderCard(req, deploy.CardInfo{}), true), "\n")
	for _, want := range []string{"✅ `web1`", "✅ `web2`", "❌ `web3`"} {
		if !strings.Contains(all, want) {
			t.Errorf("card lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "🟡") || strings.Contains(all, ":warning:") {
		t.Errorf("a changed host reads as a warning:\n%s", all)
	}
}

// TestCardFailureOnce: the failure (host, task, message) is said once, even
// though the request's outcome names it too.
func TestCardFailureOnce(t *testing.T) {
	req := baseRequest(deploy.StatusFailed)
	req.StartedAt, req.FinishedAt = t0, t0.Add(2*time.Minute)
	req.Outcome = deploy.Literal(`Failed on web2 at task "Health check": Status code was 503 in 2m`)
	req.Progress = deploy.Progress{Hosts: map[string]deploy.HostProgress{
		"web2": {State: "failed", OK: 9, Failed: 1, Done: true},
	}, Failure: &deploy.Failure{Host: "web2", Task: "Health check", Message: "Status code was 503"}}
	all := strings.Join(texts(t, RenderCard(req, deploy.CardInfo{}), true), "\n")
	if n := strings.Count(all, "Status code was 503"); n != 1 {
		t.Errorf("the failure message appears %d times on the card, want 1:\n%s", n, all)
	}
	if !strings.Contains(all, "Failed on `web2` in task _Health check_: Status code was 503") {
		t.Errorf("the card does not name the failed host and task:\n%s", all)
	}

	// A failure without a known host keeps its outcome (AWX's explanation).
	req.Progress.Failure = nil
	req.Outcome = "Failed: Job terminated due to error"
	all = strings.Join(texts(t, RenderCard(req, deploy.CardInfo{}), true), "\n")
	if !strings.Contains(all, "Job terminated due to error") {
		t.Errorf("the outcome of a failure without a host is lost:\n%s", all)
	}
}

// TestCardPluralForms: counts read "1 host", "2 hosts", never "host(s)".
func TestCardPluralForms(t *testing.T) {
	for _, hosts := range [][]string{{"web1"}, {"web1", "web2"}} {
		req := baseRequest(deploy.StatusQueued)
		req.Plan.Hosts = hosts
		all := strings.Join(texts(t, RenderCard(req, deploy.CardInfo{}), true), "\n")
		want := map[int]string{1: "· 1 host", 2: "· 2 hosts"}[len(hosts)]
		if !strings.Contains(all, want) || strings.Contains(all, "(s)") {
			t.Errorf("card with %d hosts lacks %q or says (s):\n%s", len(hosts), want, all)
		}
	}
}

// TestCardShowsTheLock: a queued card held by a manual lock shows it as a
// lock, and the lock is gone from the card once the blocker is something
// else.
func TestCardShowsTheLock(t *testing.T) {
	req := baseRequest(deploy.StatusQueued)
	held := strings.Join(texts(t, RenderCard(req, deploy.CardInfo{QueuePosition: 1, Blocker: textNote("locked by <@U0OPS> since 14:02 UTC: freeze")}), true), "\n")
	if !strings.Contains(held, "🔒 locked by <@U0OPS> since 14:02 UTC: freeze") {
		t.Errorf("the held card does not show the lock:\n%s", held)
	}
	free := strings.Join(texts(t, RenderCard(req, deploy.CardInfo{QueuePosition: 1, Blocker: textNote("its turn: it starts in a moment")}), true), "\n")
	if strings.Contains(free, "🔒") || strings.Contains(free, "locked") {
		t.Errorf("the card still shows a lock after it was lifted:\n%s", free)
	}
}

// TestLockPostedInChannel: without a response URL the lock notice is still
// posted for the channel to see, as a message of the bot.
func TestLockPostedInChannel(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	b, _, _, srv := unitBot(t, Config{})
	b.HandleEvent(ctx, slashEvent("l1", "lock shop-web production hotfix freeze"))
	if _, err := srv.AwaitMessage(ctx, "C1", func(m slacktest.Message) bool {
		return m.BotID != "" && strings.Contains(m.Text, "shop-web production locked by <@U1>: hotfix freeze")
	}); err != nil {
		t.Fatalf("the lock was not posted in the channel: %v", err)
	}
	b.HandleEvent(ctx, slashEvent("l2", "unlock shop-web production"))
	if _, err := srv.AwaitMessage(ctx, "C1", func(m slacktest.Message) bool {
		return strings.Contains(m.Text, "shop-web production unlocked by <@U1>")
	}); err != nil {
		t.Fatalf("the unlock was not posted in the channel: %v", err)
	}
}

// writes are the domain calls that change something: calls without the
// status reads a lock makes to name the releases it holds.
func writes(calls []string) []string {
	var out []string
	for _, c := range calls {
		if !strings.HasPrefix(c, "status ") {
			out = append(out, c)
		}
	}
	return out
}

// TestCardRollbackHosts: before a rollback to one version runs, its card
// says where each host stands and where it ends, hosts grouped; once it
// runs, the card shows the run instead.
func TestCardRollbackHosts(t *testing.T) {
	rollback := func(st deploy.Status) *deploy.Request {
		req := baseRequest(st)
		req.Kind, req.Version = deploy.KindRollback, ""
		req.Plan.Kind, req.Plan.Hosts = deploy.KindRollback, []string{"web1", "web2", "web3", "web4"}
		req.Plan.RollbackVersion, req.Plan.RollbackRelease = "1.4.1", 12
		req.Plan.HostVersions = map[string][]string{
			"web1": {"1.4.2", "1.4.1"}, "web2": {"1.4.2", "1.4.1"}, "web3": {"1.4.1"}}
		return req
	}
	want := []string{
		"*Hosts* (as the release history says)",
		"`1.4.2` or `1.4.1` → `1.4.1`: web1, web2",
		"already `1.4.1`, left alone if healthy: web3",
		"not on record → `1.4.1`: web4",
	}
	tests := []struct {
		status deploy.Status
		shown  bool
	}{
		{deploy.StatusPendingApproval, true},
		{deploy.StatusQueued, true},
		{deploy.StatusRunning, false},
		{deploy.StatusSucceeded, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			all := strings.Join(texts(t, RenderCard(rollback(tt.status), deploy.CardInfo{}), true), "\n")
			for _, w := range want {
				if strings.Contains(all, w) != tt.shown {
					t.Errorf("shown %v, want %v: %q in\n%s", !tt.shown, tt.shown, w, all)
				}
			}
		})
	}
	// Without one version to reach (a restore of backups), nothing is said
	// per host before the run.
	req := rollback(deploy.StatusPendingApproval)
	req.Plan.RollbackVersion = ""
	if all := strings.Join(texts(t, RenderCard(req, deploy.CardInfo{}), true), "\n"); strings.Contains(all, "as the release history says") {
		t.Errorf("a backup restore shows per-host versions:\n%s", all)
	}
}
