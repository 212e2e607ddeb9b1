package main

import (
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestStoryMetrics: after a staging release and with a production request
// waiting for approval, /metrics says which build runs, that Slack, AWX
// and the database are up, what runs and waits per app and env, when each
// last released, and how long AWX requests take; and it passes
// "promtool check metrics".
func TestStoryMetrics(t *testing.T) {
	s := newStack(t)
	s.start()
	before := time.Now().Add(-time.Second)
	s.slash(alice, "shop-web staging 1.4.2")
	id, _ := s.newCard(0)
	s.card(id, "Succeeded")
	s.slash(alice, "shop-web production 1.4.2")
	id, _ = s.newCard(id)
	s.card(id, "Waiting for approval")

	url := "http://" + s.env["DEPLOYBOT_HTTP_ADDR"] + "/metrics"
	_, body := waitHTTP(t, url, func(status int, body string) bool {
		return status == http.StatusOK && strings.Contains(body, `deploybot_last_successful_release_timestamp_seconds{app="shop-web",env="staging"}`)
	})
	for _, want := range []string{
		`deploybot_build_info{goversion="go`,
		`deploybot_dependency_up{dependency="slack"} 1`,
		`deploybot_dependency_up{dependency="awx"} 1`,
		`deploybot_dependency_up{dependency="database"} 1`,
		`deploybot_releases_running{app="shop-web",env="staging"} 0`,
		`deploybot_approvals_pending{app="shop-web",env="production"} 1`,
		`deploybot_approvals_pending{app="batch-api",env="production"} 0`,
		`deploybot_awx_request_duration_seconds_bucket{method="POST",le="+Inf"}`,
		`deploybot_awx_request_duration_seconds_count{method="GET"}`,
		`deploybot_config_reload_total{result="applied"} 0`,
		`deploybot_config_reload_total{result="refused"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if m := regexp.MustCompile(`deploybot_build_info\{goversion="[^"]+",version="([^"]+)"\} 1`).FindStringSubmatch(body); m == nil || m[1] != version {
		t.Errorf("deploybot_build_info does not carry version %q: %v", version, m)
	}
	m := regexp.MustCompile(`deploybot_last_successful_release_timestamp_seconds\{app="shop-web",env="staging"\} (\S+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no last successful release time for shop-web staging")
	}
	if f, err := strconv.ParseFloat(m[1], 64); err != nil || f < float64(before.Unix()) || f > float64(time.Now().Unix()+1) {
		t.Errorf("last successful release time %s is not the release's end (started after %d)", m[1], before.Unix())
	}
	if strings.Contains(body, `deploybot_last_successful_release_timestamp_seconds{app="shop-web",env="production"}`) {
		t.Error("production has a last successful release time, but nothing was released there")
	}
	checkMetricsText(t, body)

	// A dependency that stops answering reads 0.
	s.awx.Close()
	waitHTTP(t, url, func(status int, body string) bool {
		return status == http.StatusOK && strings.Contains(body, `deploybot_dependency_up{dependency="awx"} 0`)
	})
}

// checkMetricsText lints an exposition as "promtool check metrics" does:
// with promlint, the linter promtool runs, and with promtool itself, which
// scripts/install-test-deps.sh installs (required under CI=true).
func checkMetricsText(t *testing.T, body string) {
	t.Helper()
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	if _, err := exec.LookPath("promtool"); err != nil {
		msg := "promtool is missing: run scripts/install-test-deps.sh"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Log(msg + "; only promlint checked the metrics")
		return
	}
	cmd := exec.CommandContext(t.Context(), "promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
