package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/deploybot/deploybot/storage/pgtest"
)

// startPostgres starts a throwaway PostgreSQL server (storage/pgtest:
// Debian's postgresql in a temporary directory, on a free loopback port)
// for replicas > 1, and returns the URL of a new database on it.
func startPostgres(ctx context.Context, replicas int) (*pgtest.Server, string, error) {
	pg, err := pgtest.Start()
	if errors.Is(err, pgtest.ErrNotInstalled) {
		return nil, "", fmt.Errorf("--replicas %d shares one PostgreSQL database between the bots: %w (make deps runs it)", replicas, err)
	}
	if err != nil {
		return nil, "", err
	}
	url, err := pg.NewDatabase(ctx)
	if err != nil {
		pg.Stop()
		return nil, "", err
	}
	return pg, url, nil
}

// startReplicas starts n bots with env. One bot keeps the sandbox's usual
// names (deploybot.log, no DEPLOYBOT_REPLICA); several are named
// sandbox-1…sandbox-n, each with its own log (deploybot-1.log…) and HTTP
// address. They start one after the other: the first applies the
// migrations. On an error the bots already started are stopped.
func startReplicas(ctx context.Context, bin, dir string, n int, env map[string]string) ([]*botProcess, error) {
	var bots []*botProcess
	for i := 1; i <= n; i++ {
		e := make(map[string]string, len(env)+1)
		for k, v := range env {
			e[k] = v
		}
		logPath := filepath.Join(dir, "deploybot.log")
		name := ""
		if n > 1 {
			name = fmt.Sprintf("sandbox-%d", i)
			e["DEPLOYBOT_REPLICA"] = name
			logPath = filepath.Join(dir, fmt.Sprintf("deploybot-%d.log", i))
		}
		bot, err := startBot(ctx, bin, logPath, e)
		if err != nil {
			_ = stopReplicas(bots, 20*time.Second)
			if name != "" {
				err = fmt.Errorf("replica %s: %w", name, err)
			}
			return nil, err
		}
		bot.name = name
		bots = append(bots, bot)
	}
	return bots, nil
}

// stopReplicas stops the bots at once (SIGTERM, then SIGKILL after grace)
// and returns the first error.
func stopReplicas(bots []*botProcess, grace time.Duration) error {
	errs := make([]error, len(bots))
	var wg sync.WaitGroup
	for i, b := range bots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.stop(grace); err != nil && b.name != "" {
				errs[i] = fmt.Errorf("replica %s: %w", b.name, err)
			} else {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// replicas prints, for each bot, its name, address and log, the leases it
// holds now (the leases line of its /readyz) and what it did to which
// request, from its log.
func (r *repl) replicas(ctx context.Context) {
	for _, b := range r.bots {
		name := b.name
		if name == "" {
			name = "deploybot (one replica: --replicas N runs several)"
		}
		fmt.Fprintf(r.out, "  %s  http://%s  log %s\n", name, b.addr, b.logPath)
		fmt.Fprintf(r.out, "    %s\n", leasesLine(ctx, b.addr))
		acts, err := activity(b.logPath)
		if err != nil {
			fmt.Fprintf(r.out, "    (log: %v)\n", err)
			continue
		}
		ids := make([]int64, 0, len(acts))
		for id := range acts {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			fmt.Fprintf(r.out, "    #%d: %s\n", id, strings.Join(acts[id], ", "))
		}
		if len(ids) == 0 {
			fmt.Fprintln(r.out, "    no request handled yet")
		}
	}
}

// leasesLine is the "leases: …" line of the bot's /readyz.
func leasesLine(ctx context.Context, addr string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		return "leases: " + err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "leases: /readyz does not answer: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "leases") {
			return strings.TrimSpace(l)
		}
	}
	return "leases: not on /readyz"
}

// logged are the bot's log messages about a request that activity
// reports (deploy logs them with request_id).
var logged = map[string]bool{
	"request created": true,
	"approved":        true,
	"job launched":    true,
	"job cancel sent": true,
	"job finished":    true,
}

// activity reads a bot's JSON log and returns, by request id, the
// messages of logged it wrote about the request, in order.
func activity(logPath string) (map[int64][]string, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	acts := map[int64][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var line struct {
			Message   string `json:"message"`
			RequestID int64  `json:"request_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.RequestID == 0 || !logged[line.Message] {
			continue
		}
		acts[line.RequestID] = append(acts[line.RequestID], line.Message)
	}
	return acts, sc.Err()
}
