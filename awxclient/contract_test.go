package awxclient_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/awxclient/awxtest"
)

// The captures in testdata/ come from a real AWX (see testdata/README.md).

func readCapture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertLossless re-encodes a decoded value and checks that every field it
// models equals the capture's value for the same key.
func assertLossless(t *testing.T, label string, raw json.RawMessage, v any) {
	t.Helper()
	var capture map[string]any
	if err := json.Unmarshal(raw, &capture); err != nil {
		t.Fatal(err)
	}
	enc, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var ours map[string]any
	if err := json.Unmarshal(enc, &ours); err != nil {
		t.Fatal(err)
	}
	for k, mine := range ours {
		theirs, ok := capture[k]
		if !ok {
			t.Errorf("%s: field %q is not in the capture", label, k)
			continue
		}
		if k == "created" || k == "modified" || k == "started" || k == "finished" {
			if !sameTime(mine, theirs) {
				t.Errorf("%s: %s = %v, capture %v", label, k, mine, theirs)
			}
			continue
		}
		if theirs == nil && (mine == 0.0 || mine == "" || mine == false) {
			continue // AWX's null for "none": the zero value in Go
		}
		if !reflect.DeepEqual(mine, theirs) {
			t.Errorf("%s: %s = %#v, capture %#v", label, k, mine, theirs)
		}
	}
}

func sameTime(a, b any) bool {
	as, _ := a.(string)
	bs, _ := b.(string)
	ta, err1 := time.Parse(time.RFC3339Nano, as)
	tb, err2 := time.Parse(time.RFC3339Nano, bs)
	return err1 == nil && err2 == nil && ta.Equal(tb)
}

func TestDecodeCapturedJob(t *testing.T) {
	t.Parallel()
	raw := readCapture(t, "job.json")
	var j awxclient.Job
	if err := json.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	assertLossless(t, "job", raw, j)
	if j.ID != 2 || j.Status != "successful" || !j.EventProcessingFinished || !j.Done() || j.Started == nil ||
		j.Elapsed != 31.79 || !reflect.DeepEqual(j.HostStatusCounts, map[string]int{"ok": 1}) ||
		j.PlaybookCounts == nil || j.PlaybookCounts.TaskCount != 1 || j.JobEnv["JOB_ID"] != "2" {
		t.Fatalf("job = %+v", j)
	}
	vars, err := j.ExtraVarsMap()
	if err != nil || vars["num_messages"] != 94.0 {
		t.Fatalf("extra vars = %v, %v", vars, err)
	}
	for name, v := range map[string]any{"job_template.json": &awxclient.JobTemplate{}, "inventory.json": &awxclient.Inventory{},
		"host.json": &awxclient.Host{}} {
		raw := readCapture(t, name)
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatal(err)
		}
		assertLossless(t, name, raw, v)
	}
	var hosts struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(readCapture(t, "hosts.json"), &hosts); err != nil {
		t.Fatal(err)
	}
	for i, r := range hosts.Results {
		var h awxclient.Host
		if err := json.Unmarshal(r, &h); err != nil {
			t.Fatal(err)
		}
		assertLossless(t, fmt.Sprintf("hosts[%d]", i), r, h)
	}
}

func TestDecodeCapturedEvents(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"job_events.json", "filtered_job_events.json"} {
		var page struct {
			Results []json.RawMessage `json:"results"`
		}
		if err := json.Unmarshal(readCapture(t, name), &page); err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Results {
			var ev awxclient.Event
			if err := json.Unmarshal(r, &ev); err != nil {
				t.Fatal(err)
			}
			assertLossless(t, fmt.Sprintf("%s counter %d", name, ev.Counter), r, ev)
		}
	}
	events := capturedEvents(t)
	byCounter := map[int]awxclient.Event{}
	for _, ev := range events {
		byCounter[ev.Counter] = ev
	}
	if len(byCounter) != 100 || byCounter[99].ID < byCounter[100].ID {
		t.Fatalf("capture: %d counters; ids of 99/100: %d/%d", len(byCounter), byCounter[99].ID, byCounter[100].ID)
	}
	st, err := byCounter[100].Stats()
	if err != nil || st.OK["localhost"] != 1 || st.Processed["localhost"] != 1 {
		t.Fatalf("stats = %+v, %v", st, err)
	}
	if msg := byCounter[5].EventData.Msg(); msg != "This is a debug message: 1" {
		t.Errorf("res.msg = %q", msg)
	}
	if _, err := byCounter[1].Stats(); err == nil {
		t.Error("Stats of a playbook_on_start event succeeded")
	}
}

func capturedEvents(t *testing.T) []awxclient.Event {
	t.Helper()
	var page struct {
		Results []awxclient.Event `json:"results"`
	}
	if err := json.Unmarshal(readCapture(t, "job_events.json"), &page); err != nil {
		t.Fatal(err)
	}
	return page.Results
}

// TestFollowCapturedJob replays the real capture through a minimal server
// that saves counter 99 late (after 100, as in the capture) and checks that
// the follower delivers all 100 events once, in order.
func TestFollowCapturedJob(t *testing.T) {
	t.Parallel()
	c := captureServer(t, func(counter, polls int) bool { return polls > 1 || counter != 99 })
	f := c.FollowJobEvents(8, awxclient.FollowOptions{PageSize: 30})
	first, done, err := f.Poll(t.Context())
	if err != nil || done || len(first) != 98 || f.Cursor() != 98 {
		t.Fatalf("first poll: %d events, done=%v, cursor %d, %v", len(first), done, f.Cursor(), err)
	}
	rest, done, err := f.Poll(t.Context())
	if err != nil || !done || len(rest) != 2 || rest[0].Counter != 99 || rest[1].Counter != 100 {
		t.Fatalf("second poll: %d events, done=%v, %v", len(rest), done, err)
	}
}

// TestFollowPermanentHole: if AWX never saves some event, the follower
// still ends once the job is done, delivering what exists in order.
func TestFollowPermanentHole(t *testing.T) {
	t.Parallel()
	c := captureServer(t, func(counter, _ int) bool { return counter != 50 })
	f := c.FollowJobEvents(8, awxclient.FollowOptions{})
	var all []awxclient.Event
	for i := 0; i < 5; i++ {
		evs, done, err := f.Poll(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
		if done {
			break
		}
	}
	if len(all) != 99 || all[48].Counter != 49 || all[49].Counter != 51 || f.Cursor() != 100 {
		t.Fatalf("%d events, cursor %d", len(all), f.Cursor())
	}
}

// captureServer serves the captured job and its events (those show lets
// through, given the number of job polls so far) under a base path.
func captureServer(t *testing.T, show func(counter, polls int) bool) *awxclient.Client {
	t.Helper()
	events := capturedEvents(t)
	var job map[string]any
	if err := json.Unmarshal(readCapture(t, "job.json"), &job); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	polls := 0
	mux := http.NewServeMux()
	mux.HandleFunc("/awx/api/v2/jobs/8/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		polls++
		job["event_processing_finished"] = polls > 1
		_ = json.NewEncoder(w).Encode(job)
	})
	mux.HandleFunc("/awx/api/v2/jobs/8/job_events/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		q := r.URL.Query()
		if q.Get("order_by") != "counter" {
			t.Errorf("order_by = %q", q.Get("order_by"))
		}
		lo, hi := 0, 1<<30
		if v, err := strconv.Atoi(q.Get("counter__gt")); err == nil {
			lo = v + 1
		}
		if v, err := strconv.Atoi(q.Get("counter__gte")); err == nil {
			lo = v
		}
		if v, err := strconv.Atoi(q.Get("counter__lte")); err == nil {
			hi = v
		}
		orGt, hasOrGt := strconv.Atoi(q.Get("or__counter__gt"))
		orIn := map[string]bool{}
		for _, v := range strings.Split(q.Get("or__counter__in"), ",") {
			orIn[v] = true
		}
		var out []awxclient.Event
		for _, ev := range events {
			if hasOrGt == nil && !(ev.Counter > orGt || orIn[strconv.Itoa(ev.Counter)]) {
				continue
			}
			if ev.Counter >= lo && ev.Counter <= hi && show(ev.Counter, polls) {
				out = append(out, ev)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Counter < out[j].Counter })
		size, _ := strconv.Atoi(q.Get("page_size"))
		page, _ := strconv.Atoi(q.Get("page"))
		page = max(page, 1)
		start := min((page-1)*size, len(out))
		end := min(start+size, len(out))
		var next any
		if end < len(out) {
			q.Set("page", strconv.Itoa(page+1))
			next = r.URL.Path + "?" + q.Encode() // relative, as AWX sends
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"count": len(out), "next": next, "results": out[start:end]})
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	c, err := awxclient.NewClient(hs.URL + "/awx/")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func getJSON(t *testing.T, srv *awxtest.Server, path string) map[string]any {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return m
}

// compareKeys checks that the fake's object has the capture's keys, plus
// only the listed newer keys (fields AWX added after the capture was made).
// dropped are keys the captures (UI fixtures, some older than the AWX
// they are tagged with) hold but AWX's serializers no longer emit
// (awxclient/awxtest/testdata/serializer_fields.json has the current lists).
var dropped = []string{"groups_with_active_failures", "insights_system_id", "webhook_key"}

func compareKeys(t *testing.T, label string, capture, fake map[string]any, newer ...string) {
	t.Helper()
	var missing, extra []string
	for k := range capture {
		if _, ok := fake[k]; !ok && !slices.Contains(dropped, k) {
			missing = append(missing, k)
		}
	}
	for k := range fake {
		if _, ok := capture[k]; !ok && !slices.Contains(newer, k) {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("%s: fake lacks %v, has unexpected %v", label, missing, extra)
	}
}

func TestFakeMatchesCapturedKeys(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := t.Context()
	inv := srv.AddInventory("inv", map[string]map[string]any{"localhost": {"ansible_connection": "local"}})
	pb := awxtest.NewPlaybook("chatty_tasks.yml").Play("all").Task("debug", "debug").Debug("localhost", "hi")
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "chatty", Playbook: "chatty_tasks.yml", Inventory: inv,
		Behavior: pb.Behavior(awxtest.ScriptOptions{})})
	id, err := c.LaunchJobTemplate(ctx, jt, awxclient.LaunchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.FollowJob(ctx, id, time.Millisecond, func(awxclient.Event) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var capJob map[string]any
	_ = json.Unmarshal(readCapture(t, "job.json"), &capJob)
	fakeJob := getJSON(t, srv, fmt.Sprintf("/api/v2/jobs/%d/", id))
	compareKeys(t, "job", capJob, fakeJob, "organization", "canceled_on", "launched_by", "work_unit_id",
		"webhook_service", "webhook_credential", "webhook_guid")
	compareKeys(t, "job.related", capJob["related"].(map[string]any), fakeJob["related"].(map[string]any), "organization")

	var capEvents struct {
		Results []map[string]any `json:"results"`
	}
	_ = json.Unmarshal(readCapture(t, "job_events.json"), &capEvents)
	fakeEvents := getJSON(t, srv, fmt.Sprintf("/api/v2/jobs/%d/job_events/?order_by=counter", id))
	compareKeys(t, "event list", map[string]any{"count": 0, "next": 0, "previous": 0, "results": 0}, fakeEvents)
	byName := func(list []any, event string) map[string]any {
		for _, e := range list {
			if m := e.(map[string]any); m["event"] == event {
				return m
			}
		}
		t.Fatalf("no %s event", event)
		return nil
	}
	capList := make([]any, len(capEvents.Results))
	for i, e := range capEvents.Results {
		capList[i] = e
	}
	fakeList := fakeEvents["results"].([]any)
	for _, name := range []string{"playbook_on_start", "playbook_on_play_start", "playbook_on_task_start",
		"runner_on_start", "runner_on_ok", "playbook_on_stats"} {
		ce, fe := byName(capList, name), byName(fakeList, name)
		compareKeys(t, name, ce, fe)
		compareKeys(t, name+".related", ce["related"].(map[string]any), fe["related"].(map[string]any))
		compareKeys(t, name+".summary_fields", ce["summary_fields"].(map[string]any), fe["summary_fields"].(map[string]any))
		compareKeys(t, name+".summary_fields.job", ce["summary_fields"].(map[string]any)["job"].(map[string]any),
			fe["summary_fields"].(map[string]any)["job"].(map[string]any))
		newer := []string{}
		if name == "runner_on_ok" {
			// the capture's task is a loop, whose runner_on_ok has no start/end
			newer = []string{"start", "end", "duration", "event_loop", "remote_addr"}
		}
		compareKeys(t, name+".event_data", ce["event_data"].(map[string]any), fe["event_data"].(map[string]any), newer...)
	}

	for _, tc := range []struct {
		file, path string
		newer      []string
	}{
		{"job_template.json", fmt.Sprintf("/api/v2/job_templates/%d/", jt), []string{"organization",
			"ask_execution_environment_on_launch", "ask_labels_on_launch", "ask_forks_on_launch",
			"ask_job_slice_count_on_launch", "ask_timeout_on_launch", "ask_instance_groups_on_launch"}},
		{"inventory.json", fmt.Sprintf("/api/v2/inventories/%d/", inv), nil},
	} {
		var capture map[string]any
		_ = json.Unmarshal(readCapture(t, tc.file), &capture)
		compareKeys(t, tc.file, capture, getJSON(t, srv, tc.path), tc.newer...)
	}
	var capHost map[string]any
	_ = json.Unmarshal(readCapture(t, "host.json"), &capHost)
	hosts := getJSON(t, srv, fmt.Sprintf("/api/v2/inventories/%d/hosts/", inv))
	fakeHost := hosts["results"].([]any)[0].(map[string]any)
	compareKeys(t, "host", capHost, fakeHost)
	compareKeys(t, "host.related", capHost["related"].(map[string]any), fakeHost["related"].(map[string]any))
	if got := keys(fakeHost["summary_fields"].(map[string]any)); !reflect.DeepEqual(got, keys(capHost["summary_fields"].(map[string]any))) {
		t.Errorf("host summary_fields keys = %v", got)
	}
}
