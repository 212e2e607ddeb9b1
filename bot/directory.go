package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// groupCache keeps the user group handle → id map and recent member lists.
// It has its own lock: a directory lookup never waits for card writes.
type groupCache struct {
	mu      sync.Mutex
	ids     map[string]string // lower-case handle without "@" → S-id
	idsAt   time.Time
	members map[string]memberEntry
}

type memberEntry struct {
	users []string
	at    time.Time
}

// Groups returns which of handles (like "@shop-leads") user belongs to. The
// handle → id map (usergroups.list) is cached for GroupsTTL and member
// lists (usergroups.users.list) for MembersTTL, so membership is close to
// what it is at click time. Unknown handles match nobody.
func (s *Slack) Groups(ctx context.Context, user string, handles []string) ([]string, error) {
	if len(handles) == 0 {
		return nil, nil
	}
	ids, err := s.groupIDs(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range handles {
		id, ok := ids[normHandle(h)]
		if !ok {
			s.log.Warn().Str("handle", h).Msg("unknown user group handle")
			continue
		}
		members, err := s.groupMembers(ctx, id)
		if err != nil {
			return nil, err
		}
		if slices.Contains(members, user) {
			out = append(out, h)
		}
	}
	return out, nil
}

// ErrNoUserGroups means the workspace has no user groups at all: Slack's
// free plan answers usergroups.list with plan_upgrade_required.
var ErrNoUserGroups = errors.New("this Slack workspace has no user groups (a feature of Standard plans and above)")

// CheckGroups makes sure the workspace can resolve handles (like
// "@shop-leads"): it fails with ErrNoUserGroups on a plan without user
// groups, and reports the handles no group has.
func (s *Slack) CheckGroups(ctx context.Context, handles []string) (unknown []string, err error) {
	if len(handles) == 0 {
		return nil, nil
	}
	ids, err := s.groupIDs(ctx)
	if err != nil {
		var se slack.SlackErrorResponse
		if errors.As(err, &se) && se.Err == "plan_upgrade_required" {
			return nil, fmt.Errorf("%w: %w", ErrNoUserGroups, err)
		}
		return nil, err
	}
	for _, h := range handles {
		if _, ok := ids[normHandle(h)]; !ok {
			unknown = append(unknown, h)
		}
	}
	return unknown, nil
}

func normHandle(h string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(h), "@"))
}

func (s *Slack) groupIDs(ctx context.Context) (map[string]string, error) {
	s.groups.mu.Lock()
	if !s.groups.idsAt.IsZero() && time.Since(s.groups.idsAt) < s.opts.GroupsTTL {
		ids := s.groups.ids
		s.groups.mu.Unlock()
		return ids, nil
	}
	s.groups.mu.Unlock()
	var ids map[string]string
	err := s.do(ctx, "usergroups.list", "", func(ctx context.Context) error {
		groups, err := s.api.GetUserGroupsContext(ctx)
		if err != nil {
			return err
		}
		ids = make(map[string]string, len(groups))
		for _, g := range groups {
			ids[normHandle(g.Handle)] = g.ID
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("resolve user groups: %w", err)
	}
	s.groups.mu.Lock()
	s.groups.ids, s.groups.idsAt = ids, time.Now()
	s.groups.mu.Unlock()
	return ids, nil
}

func (s *Slack) groupMembers(ctx context.Context, id string) ([]string, error) {
	s.groups.mu.Lock()
	if e, ok := s.groups.members[id]; ok && time.Since(e.at) < s.opts.MembersTTL {
		s.groups.mu.Unlock()
		return e.users, nil
	}
	s.groups.mu.Unlock()
	var users []string
	err := s.do(ctx, "usergroups.users.list", "", func(ctx context.Context) error {
		var err error
		users, err = s.api.GetUserGroupMembersContext(ctx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("resolve user group %s: %w", id, err)
	}
	s.groups.mu.Lock()
	s.groups.members[id] = memberEntry{users: users, at: time.Now()}
	s.groups.mu.Unlock()
	return users, nil
}
