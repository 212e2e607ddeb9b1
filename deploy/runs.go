package deploy

import (
	"context"
	"sync"
	"time"
)

// runs is the part of the Service that carries approved work out: the
// queue of each environment, the launch, the follower of each AWX job,
// the final card and what is owed to Slack, and the output uploads. It is
// the only part that talks to the Runner after a request is made, and the
// only one that starts goroutines (the followers, under Run's context).
type runs struct {
	*core

	mu        sync.Mutex
	runCtx    context.Context     // set while Run runs; followers live under it
	following map[int64]bool      // requests with a follower goroutine
	inflight  map[int64]bool      // requests whose Launch call is in progress
	logSent   map[int64]time.Time // when /deploy log last uploaded a request's output
	wg        sync.WaitGroup
	prunedAt  time.Time // when pruneOwed last ran (guarded by Service.tickMu)
}

func newRuns(c *core) *runs {
	return &runs{
		core:      c,
		following: map[int64]bool{},
		inflight:  map[int64]bool{},
		logSent:   map[int64]time.Time{},
	}
}
