package slacktest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/slack-go/slack"
)

// What the bot may do in each kind of conversation, by its membership (see
// the channel type for the sources).
func TestMembershipPerConversation(t *testing.T) {
	srv := newTestServer(t)
	srv.AddChannel("G2", "secret", false, false)
	srv.AddDM("D1", "U1", srv.BotUserID) // alice and the bot
	srv.AddDM("D2", "U1", "U2")          // alice and bob
	srv.JoinChannel("C1", "U1")
	srv.JoinChannel("C2", "U1")
	srv.JoinChannel("G1", "U1")
	srv.JoinChannel("G2", "U1")
	api := newAPI(srv)
	ctx := testCtx(t)
	cases := []struct {
		name, channel          string
		post, ephemeral, files string // "" for success, else the error
	}{
		{"public, member", "C1", "", "", ""},
		{"public, not member", "C2", "", "channel_not_found", "not_in_channel"},
		{"private, member", "G1", "", "", ""},
		{"private, not member", "G2", "channel_not_found", "channel_not_found", "channel_not_found"},
		{"DM with the bot", "D1", "", "", ""},
		{"DM between people", "D2", "channel_not_found", "channel_not_found", "channel_not_found"},
	}
	errName := func(err error) string {
		var se slack.SlackErrorResponse
		if errors.As(err, &se) {
			return se.Err
		}
		if err != nil {
			return err.Error()
		}
		return ""
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ts, err := api.PostMessageContext(ctx, tc.channel, slack.MsgOptionText("card", false))
			if got := errName(err); got != tc.post {
				t.Errorf("chat.postMessage: %q, want %q", got, tc.post)
			}
			_, err = api.PostEphemeralContext(ctx, tc.channel, "U1", slack.MsgOptionText("only you", false))
			if got := errName(err); got != tc.ephemeral {
				t.Errorf("chat.postEphemeral: %q, want %q", got, tc.ephemeral)
			}
			_, err = api.UploadFileContext(ctx, slack.UploadFileParameters{
				Reader: bytes.NewReader([]byte("log")), FileSize: 3, Filename: "a.log", Channel: tc.channel, ThreadTimestamp: ts,
			})
			if got := errName(err); got != tc.files {
				t.Errorf("file share: %q, want %q", got, tc.files)
			}
		})
	}
}

// A free workspace has no user groups.
func TestFreePlanHasNoUserGroups(t *testing.T) {
	srv := newTestServer(t, WithFreePlan())
	srv.AddUserGroup("S1", "leads", "U1")
	api := newAPI(srv)
	if _, err := api.GetUserGroupsContext(testCtx(t)); err == nil || err.Error() != "plan_upgrade_required" {
		t.Errorf("usergroups.list: %v, want plan_upgrade_required", err)
	}
	if _, err := api.GetUserGroupMembersContext(testCtx(t), "S1"); err == nil || err.Error() != "plan_upgrade_required" {
		t.Errorf("usergroups.users.list: %v, want plan_upgrade_required", err)
	}
}
