package main

import (
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot/slacktest"
)

// The load harness of replicas: three bots on one PostgreSQL database
// (e2e_replicas_test.go) with the bot's production tunables. Run it with
//
//	scripts/build.sh bin/deploybot
//	DEPLOYBOT_BIN=$PWD/bin/deploybot go test -run XXX -bench Replicas -benchtime 1x -timeout 30m ./cmd/deploybot/
//
// FAILOVER_RUNS sets the number of kill -9 runs of the failover scenario
// (10 by default; a quick look takes 2). Each sub-benchmark prints its
// figures with b.ReportMetric and b.Logf.

// BenchmarkReplicas runs the load scenarios of three replicas.
func BenchmarkReplicas(b *testing.B) {
	b.Run("failover", benchFailover)
	b.Run("ack500", benchReplicaAcks)
	b.Run("releases20", benchReplicaReleases)
}

// benchFailover: the replica following a running job is killed with
// SIGKILL, with the default lease TTL (15 s) and periodic pass (5 s) of
// the real binary; the time from the kill until another replica holds the
// request's lease (its /readyz lists it: it follows the job again), median
// and max over FAILOVER_RUNS runs.
func benchFailover(b *testing.B) {
	runs := 10
	if v := os.Getenv("FAILOVER_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("FAILOVER_RUNS=%q: give a number of runs", v)
		}
		runs = n
	}
	bin, _ := deploybotBinary(b)
	b.ResetTimer()
	for range b.N {
		rs := newReplicasOf(b, newStack(b), 3, bin, 0)
		rs.env["LOG_LEVEL"] = "info"
		rs.startAll()
		var took []time.Duration
		var last int64
		for i := range runs {
			open := make(chan struct{})
			rs.awx.SetBehavior(rs.tmpl["web"], gate(open), false)
			rs.slash(alice, fmt.Sprintf("shop-web staging 1.4.%d", i))
			id, _ := rs.newCard(last)
			last = id
			rs.card(id, "Running")
			lease := fmt.Sprintf("request/%d", id)
			follower := -1
			rs.await("a replica to hold "+lease, func() bool { follower = rs.holder(lease); return follower >= 0 })
			rs.kill(follower)
			killed := time.Now()
			rs.awaitLong("another replica to follow the job", 2*time.Minute, func() bool { return rs.holder(lease) >= 0 })
			took = append(took, time.Since(killed))
			close(open)
			rs.card(id, "Succeeded")
			if n := rs.launchesFor(id); n != 1 {
				b.Errorf("request #%d: %d launches, want 1", id, n)
			}
			rs.start(follower)
		}
		p50, worst := percentile(took, 0.5), percentile(took, 1)
		b.ReportMetric(p50.Seconds(), "failover-p50-s")
		b.ReportMetric(worst.Seconds(), "failover-max-s")
		b.Logf("kill -9 of the follower, lease TTL 15 s, %d runs: failover median %.1f s, max %.1f s, all %v (goals: median ≤ 20 s, max ≤ 30 s)",
			runs, p50.Seconds(), worst.Seconds(), took)
		if p50 > 20*time.Second || worst > 30*time.Second {
			b.Errorf("failover median %s, max %s over the goals", p50, worst)
		}
	}
}

// benchReplicaAcks: 500 commands at once (status, history and apps by
// five users) across three replicas; the ack latency of each as slacktest
// measures it (envelope written to ack read).
func benchReplicaAcks(b *testing.B) {
	const n = 500
	for range b.N {
		channels := loadChannels(1)
		rs := newReplicasOf(b, newLoadStack(b, 10, 2, channels), 3, "", 0)
		rs.startAll()
		users := []string{alice, bob, carol, dave, eve}
		texts := []string{"status", "history", "apps"}
		var mu sync.Mutex
		var lat []time.Duration
		conns := map[int]int{}
		busy := 0 // acked with "deploybot is busy": its work queue was full
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				ack, err := rs.slack.SendSlashCommand(rs.ctx(), slacktest.SlashCommand{
					User: users[i%len(users)], Channel: channels[0], Command: "/deploy", Text: texts[i%len(texts)]})
				if err != nil {
					b.Errorf("command %d: %v", i, err)
					return
				}
				mu.Lock()
				lat = append(lat, ack.Latency)
				conns[ack.Conn]++
				if strings.Contains(string(ack.Payload), "busy") {
					busy++
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		rs.stopAll()
		p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
		b.ReportMetric(ms(p50), "ack-p50-ms")
		b.ReportMetric(ms(p99), "ack-p99-ms")
		b.Logf("%d concurrent commands across 3 replicas (per connection %v): ack p50 %.1f ms, p99 %.1f ms, max %.1f ms (goal: p99 ≤ 50 ms); %d refused as busy",
			n, conns, ms(p50), ms(p99), ms(percentile(lat, 1)), busy)
		if p99 > 50*time.Millisecond {
			b.Errorf("ack p99 %s over the 50 ms goal", p99)
		}
	}
}

// benchReplicaReleases: 20 releases at once in one channel across three
// replicas with Slack's rate limits on (the replicas take their turns
// through the database): 429s, and the PostgreSQL transactions per
// release (pg_stat_database's xact_commit + xact_rollback of the bots'
// database, less what the three replicas spend idle over the same time,
// measured before).
func benchReplicaReleases(b *testing.B) {
	const n = 20
	for range b.N {
		channels := loadChannels(1)
		rs := newReplicasOf(b, newLoadStack(b, n, 2, channels), 3, "", 0)
		db, err := sql.Open("pgx", rs.env["DEPLOYBOT_DB"])
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		rs.startAll()

		const idle = 20 * time.Second
		idleFrom := xacts(b, db)
		time.Sleep(idle) // the idle rate of three replicas: nothing to wait for
		idleRate := float64(xacts(b, db)-idleFrom) / idle.Seconds()

		before := xacts(b, db)
		began := time.Now()
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { rs.slashIn(channels[0], fmt.Sprintf("app-%03d staging 1.0.%d", i, i)) })
		}
		wg.Wait()
		rs.awaitLong("every release to finish", 5*time.Minute, func() bool { return rs.finished(channels, "Succeeded") == n })
		rs.awaitLong("every output upload", time.Minute, func() bool {
			c := 0
			for _, u := range rs.slack.Uploads() {
				if u.Completed {
					c++
				}
			}
			return c >= n
		})
		took := time.Since(began)
		total := xacts(b, db) - before
		rs.stopAll()
		limited := rs.slack.RateLimited("")
		perRelease := (float64(total) - idleRate*took.Seconds()) / n
		b.ReportMetric(float64(limited), "429s")
		b.ReportMetric(perRelease, "pg-xacts/release")
		b.Logf("%d releases in one channel across 3 replicas in %s: %d 429s (goal 0); PostgreSQL transactions: %d in all, %.0f per release beyond the idle %.1f/s of three replicas",
			n, took.Round(time.Second), limited, total, perRelease, idleRate)
		if limited > 0 {
			b.Errorf("%d 429s received", limited)
		}
	}
}

// xacts is the number of transactions committed and rolled back in db's
// database so far, as pg_stat_database counts them, after the statistics
// of the last second have been flushed.
func xacts(b *testing.B, db *sql.DB) int64 {
	time.Sleep(1500 * time.Millisecond) // backends flush their counts at least every second
	var n int64
	if err := db.QueryRow(`SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
		b.Fatalf("read pg_stat_database: %v", err)
	}
	if _, err := db.Exec(`SELECT pg_stat_clear_snapshot()`); err != nil {
		b.Fatalf("pg_stat_clear_snapshot: %v", err)
	}
	return n
}
