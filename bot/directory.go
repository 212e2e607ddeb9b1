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
	// listGroups maps the workspace's group handles (lower case, without
	// "@") to ids; listMembers lists a group's members.
	listGroups  func(ctx context.Context) (map[string]string, error)
	listMembers func(ctx context.Context, id string) ([]string, error)
	// groupsTTL and membersTTL are how long each answer is kept.
	groupsTTL, membersTTL time.Duration
	now                   func() time.Time

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
	ids, err := s.groups.groupIDs(ctx)
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
		members, err := s.groups.groupMembers(ctx, id)
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
	ids, err := s.groups.groupIDs(ctx)
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

// groupIDs returns the handle → id map, from the cache while it is fresh.
func (g *groupCache) groupIDs(ctx context.Context) (map[string]string, error) {
	g.mu.Lock()
	if !g.idsAt.IsZero() && g.now().Sub(g.idsAt) < g.groupsTTL {
		ids := g.ids
		g.mu.Unlock()
		return ids, nil
	}
	g.mu.Unlock()
	ids, err := g.listGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("resolve user groups: %w", err)
	}
	g.mu.Lock()
	g.ids, g.idsAt = ids, g.now()
	g.mu.Unlock()
	return ids, nil
}

// groupMembers returns the members of group id, from the cache while the
// list is fresh.
func (g *groupCache) groupMembers(ctx context.Context, id string) ([]string, error) {
	g.mu.Lock()
	if e, ok := g.members[id]; ok && g.now().Sub(e.at) < g.membersTTL {
		g.mu.Unlock()
		return e.users, nil
	}
	g.mu.Unlock()
	users, err := g.listMembers(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("resolve user group %s: %w", id, err)
	}
	g.mu.Lock()
	g.members[id] = memberEntry{users: users, at: g.now()}
	g.mu.Unlock()
	return users, nil
}

// listGroups maps the workspace's user group handles to ids
// (usergroups.list).
func (s *Slack) listGroups(ctx context.Context) (map[string]string, error) {
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
	return ids, err
}

// listMembers lists the members of user group id (usergroups.users.list).
func (s *Slack) listMembers(ctx context.Context, id string) ([]string, error) {
	var users []string
	err := s.do(ctx, "usergroups.users.list", "", func(ctx context.Context) error {
		var err error
		users, err = s.api.GetUserGroupMembersContext(ctx, id)
		return err
	})
	return users, err
}
