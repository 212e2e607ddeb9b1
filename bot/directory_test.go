package bot

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// TestGroupCache: the handle map is kept for groupsTTL and a member list
// for membersTTL, each on its own; a failed lookup is not kept.
func TestGroupCache(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	var groupLists, memberLists int
	var fail error
	g := &groupCache{
		listGroups: func(context.Context) (map[string]string, error) {
			groupLists++
			if fail != nil {
				return nil, fail
			}
			return map[string]string{"ops": "S1"}, nil
		},
		listMembers: func(_ context.Context, id string) ([]string, error) {
			memberLists++
			if fail != nil {
				return nil, fail
			}
			return []string{"U1"}, nil
		},
		groupsTTL: time.Minute, membersTTL: 10 * time.Second,
		now: func() time.Time { return now },
		ids: map[string]string{}, members: map[string]memberEntry{},
	}
	ctx := testCtx(t)
	steps := []struct {
		name          string
		after         time.Duration
		fail          error
		groups, users int // the lookups made so far
		wantErr       string
	}{
		{name: "first lookup asks Slack", groups: 1, users: 1},
		{name: "both are kept", after: 5 * time.Second, groups: 1, users: 1},
		{name: "members expire first", after: 5 * time.Second, groups: 1, users: 2},
		{name: "then the handle map", after: time.Minute, groups: 2, users: 3},
		{name: "a failure is reported", after: time.Minute, fail: slack.SlackErrorResponse{Err: "plan_upgrade_required"},
			groups: 3, users: 3, wantErr: "resolve user groups: plan_upgrade_required"},
		{name: "and not kept", groups: 4, users: 4},
	}
	for _, st := range steps {
		now = now.Add(st.after)
		fail = st.fail
		ids, err := g.groupIDs(ctx)
		if err == nil {
			var users []string
			users, err = g.groupMembers(ctx, ids["ops"])
			if err == nil && (len(users) != 1 || users[0] != "U1") {
				t.Errorf("%s: members %v", st.name, users)
			}
		}
		if st.wantErr == "" && err != nil || st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)) {
			t.Errorf("%s: err = %v, want %q", st.name, err, st.wantErr)
		}
		var se slack.SlackErrorResponse
		if st.fail != nil && !errors.As(err, &se) {
			t.Errorf("%s: the Slack error is not kept in %v", st.name, err)
		}
		if groupLists != st.groups || memberLists != st.users {
			t.Errorf("%s: %d usergroups.list, %d usergroups.users.list; want %d, %d", st.name, groupLists, memberLists, st.groups, st.users)
		}
	}
}
