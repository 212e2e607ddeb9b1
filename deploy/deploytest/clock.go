package deploytest

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Clock is a deploy.Clock that moves only when told to.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Directory is a deploy.Directory backed by a fixed map of user → group
// handles.
type Directory struct {
	mu sync.Mutex
	// Members maps a user ID to the @handles of the groups it belongs to.
	Members map[string][]string
	// Err, when set, is returned by every call.
	Err error
	// Hook, when set, is called at the start of every call, outside the
	// directory's lock (a test may block there: a slow Slack).
	Hook  func()
	calls int
}

// NewDirectory returns a directory with the given memberships.
func NewDirectory(members map[string][]string) *Directory {
	return &Directory{Members: members}
}

// Groups returns which of handles user belongs to.
func (d *Directory) Groups(_ context.Context, user string, handles []string) ([]string, error) {
	d.mu.Lock()
	hook := d.Hook
	d.mu.Unlock()
	if hook != nil {
		hook()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.Err != nil {
		return nil, d.Err
	}
	var out []string
	for _, g := range d.Members[user] {
		for _, h := range handles {
			if strings.EqualFold(g, h) {
				out = append(out, h)
			}
		}
	}
	return out, nil
}

// SetGroups replaces user's groups.
func (d *Directory) SetGroups(user string, groups ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Members == nil {
		d.Members = map[string][]string{}
	}
	d.Members[user] = groups
}

// Calls returns how many times Groups was called.
func (d *Directory) Calls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}
