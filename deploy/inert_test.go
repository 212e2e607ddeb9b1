package deploy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deploy"
)

// TestUserTextInertInDomainText: a lock reason full of Slack markup reaches
// the card (the blocker) and the refusal of a second lock escaped, so that
// it shows literally, next to the service's own live mention of the holder.
func TestUserTextInertInDomainText(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	reason := "<!subteam^S0LEADS|@leads> <!channel> <@U0EVIL> <https://evil.example|notes> & co"
	if _, err := h.svc.Lock(ctx, dev, "shop-web", "staging", reason); err != nil {
		t.Fatal(err)
	}
	want := "locked by <@" + dev + "> since 09:00 UTC: &lt;!subteam^S0LEADS|@leads&gt; &lt;!channel&gt; &lt;@U0EVIL&gt; &lt;https://evil.example|notes&gt; &amp; co"
	req := h.deploy(dev, "shop-web", "staging", "1.0.1")
	card, _ := h.notifier.LastCard(req.ID)
	if bot.RenderNote(card.Info.Blocker) != want {
		t.Errorf("blocker = %q\nwant      %q", bot.RenderNote(card.Info.Blocker), want)
	}
	_, err := h.svc.Lock(ctx, alice, "shop-web", "staging", "mine")
	var de *deploy.Error
	if !errors.As(err, &de) || !strings.Contains(de.Message, "&lt;!subteam^S0LEADS") || strings.Contains(de.Message, "<!subteam") {
		t.Errorf("second lock: %v; want the reason escaped", err)
	}
	if got := deploy.Literal("a <b> & c"); got != "a &lt;b&gt; &amp; c" {
		t.Errorf("Literal = %q", got)
	}
}

// TestRequestFromDirectMessageRefused: the domain's own channel check
// refuses a release asked for in a direct message, whatever the channel
// list says, with a message saying where to ask.
func TestRequestFromDirectMessageRefused(t *testing.T) {
	h := newHarness(t)
	_, err := h.svc.RequestDeploy(context.Background(), deploy.DeployInput{User: dev, Channel: "D0DIRECT01", App: "shop-web", Env: "staging", Version: "1.0.1"})
	wantCode(t, err, deploy.EFORBIDDEN)
	if msg := deploy.ErrorMessage(err); !strings.Contains(msg, "not in a direct message") && !strings.Contains(msg, "not used in this channel") {
		t.Errorf("refusal = %q", msg)
	}
}
