package awxtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/awxclient/awxtest"
)

// These tests check the fake against AWX's behaviour (ansible/awx:
// awx/api/views/__init__.py, awx/api/serializers.py, awx/api/pagination.py),
// with raw HTTP so nothing is smoothed over.

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %q", a.status, a.body)
	}
	return m
}

func call(t *testing.T, srv *awxtest.Server, token, method, path, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	srv := awxtest.NewServer(t)
	for _, token := range []string{"", "not-a-token"} {
		a := call(t, srv, token, "GET", "/api/v2/jobs/1/", "")
		if a.status != 401 || a.header.Get("WWW-Authenticate") != "Bearer realm=api authorization_url=/api/o/authorize/" ||
			a.json(t)["detail"] != "Authentication credentials were not provided. To establish a login session, visit /api/login/." {
			t.Fatalf("unauthenticated: %d %v %s", a.status, a.header, a.body)
		}
		if a.header.Get("X-API-Product-Version") != "" {
			t.Error("product version sent to an anonymous caller")
		}
	}
	if a := call(t, srv, "", "GET", "/api/v2/ping/", ""); a.status != 200 {
		t.Fatalf("ping: %d", a.status)
	}
	a := call(t, srv, srv.ReadToken, "POST", "/api/v2/inventories/", `{"name":"x","organization":1}`)
	if a.status != 403 {
		t.Fatalf("read token POST: %d %s", a.status, a.body)
	}
	a = call(t, srv, srv.Token, "GET", "/api/v2/me/", "")
	if a.status != 200 || a.header.Get("X-API-Product-Version") == "" || a.json(t)["count"] != 1.0 {
		t.Fatalf("me: %d %s", a.status, a.body)
	}
	srv.SetRequireAuth(false)
	if a := call(t, srv, "", "GET", "/api/v2/me/", ""); a.status != 200 {
		t.Fatalf("auth off: %d", a.status)
	}
}

func TestPaginationAndRelativeURLs(t *testing.T) {
	t.Parallel()
	srv := awxtest.NewServer(t)
	hosts := map[string]map[string]any{}
	for i := 0; i < 230; i++ {
		hosts[fmt.Sprintf("h%03d", i)] = map[string]any{"i": i}
	}
	inv := srv.AddInventory("big", hosts)
	base := fmt.Sprintf("/api/v2/inventories/%d/hosts/", inv)
	first := call(t, srv, srv.Token, "GET", base, "").json(t)
	if first["count"] != 230.0 || len(first["results"].([]any)) != 25 || first["previous"] != nil {
		t.Fatalf("default page: count %v, %d results", first["count"], len(first["results"].([]any)))
	}
	next := first["next"].(string)
	if !strings.HasPrefix(next, base+"?") || !strings.Contains(next, "page=2") {
		t.Fatalf("next = %q, want a relative URL", next)
	}
	second := call(t, srv, srv.Token, "GET", next, "").json(t)
	if prev := second["previous"].(string); !strings.Contains(prev, "page=1") || !strings.HasPrefix(prev, "/api/") {
		t.Fatalf("previous = %q, want page=1 and relative", prev)
	}
	capped := call(t, srv, srv.Token, "GET", base+"?page_size=1000", "").json(t)
	if len(capped["results"].([]any)) != 200 || !strings.Contains(capped["next"].(string), "page_size=200") {
		t.Fatalf("page_size=1000: %d results, next %v", len(capped["results"].([]any)), capped["next"])
	}
	if a := call(t, srv, srv.Token, "GET", base+"?page=99", ""); a.status != 404 || a.json(t)["detail"] != "Invalid page." {
		t.Fatalf("page 99: %d %s", a.status, a.body)
	}
	last := call(t, srv, srv.Token, "GET", base+"?page=last&page_size=100", "").json(t)
	if len(last["results"].([]any)) != 30 || last["next"] != nil {
		t.Fatalf("last page: %d results", len(last["results"].([]any)))
	}
	h := first["results"].([]any)[0].(map[string]any)
	if !strings.HasPrefix(h["url"].(string), "/api/v2/hosts/") || !strings.HasPrefix(h["related"].(map[string]any)["inventory"].(string), "/api/v2/") {
		t.Fatalf("object urls: %v %v", h["url"], h["related"])
	}
	if h["name"] != "h000" || h["variables"] != `{"i":0}` {
		t.Fatalf("default order by name, variables as text: %v %v", h["name"], h["variables"])
	}
	a := call(t, srv, srv.Token, "POST", "/api/v2/inventories/", `{"name":"new","organization":1}`)
	if a.status != 201 || !strings.HasPrefix(a.header.Get("Location"), "/api/v2/inventories/") {
		t.Fatalf("create: %d Location %q", a.status, a.header.Get("Location"))
	}
	// Filters, count_disabled, bad fields.
	f := call(t, srv, srv.Token, "GET", base+"?name__startswith=h22&order_by=-name", "").json(t)
	if f["count"] != 10.0 || f["results"].([]any)[0].(map[string]any)["name"] != "h229" {
		t.Fatalf("filter+order: %v", f["count"])
	}
	if cd := call(t, srv, srv.Token, "GET", base+"?count_disabled=1", "").json(t); cd["count"] != nil || len(cd["results"].([]any)) != 25 {
		t.Fatalf("count_disabled: %v", cd)
	}
	if a := call(t, srv, srv.Token, "GET", base+"?bogus=1", ""); a.status != 400 {
		t.Fatalf("unknown field filter: %d", a.status)
	}
	if a := call(t, srv, srv.Token, "GET", "/api/v2/jobs/?extra_vars__contains=x", ""); a.status != 403 && a.status != 200 {
		t.Fatalf("extra_vars filter: %d", a.status)
	}
}

func TestBodies(t *testing.T) {
	t.Parallel()
	srv := awxtest.NewServer(t)
	inv := srv.AddInventory("inv", map[string]map[string]any{"web1": {}})
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"malformed", "POST", "/api/v2/inventories/", `{"name":`, 400, "JSON parse error"},
		{"not an object", "POST", "/api/v2/inventories/", `[1]`, 400, "not a JSON object"},
		{"duplicate inventory", "POST", "/api/v2/inventories/", `{"name":"inv","organization":1}`, 400, `"__all__":["Inventory with this Name and Organization already exists."]`},
		{"duplicate host", "POST", fmt.Sprintf("/api/v2/inventories/%d/hosts/", inv), `{"name":"web1"}`, 400, `"__all__":["Host with this Name and Inventory already exists."]`},
		{"dict variables", "POST", fmt.Sprintf("/api/v2/inventories/%d/hosts/", inv), `{"name":"web2","variables":{"a":1}}`, 400, `"variables":["Not a valid string."]`},
		{"bad yaml", "POST", fmt.Sprintf("/api/v2/inventories/%d/hosts/", inv), `{"name":"web3","variables":"a: ["}`, 400, "Cannot parse as JSON"},
		{"host port", "POST", fmt.Sprintf("/api/v2/inventories/%d/hosts/", inv), `{"name":"web4:2222"}`, 201, `"ansible_ssh_port\":2222`},
		{"ad hoc dict extra_vars", "POST", "/api/v2/ad_hoc_commands/", fmt.Sprintf(`{"inventory":%d,"module_name":"shell","module_args":"id","extra_vars":{"a":1}}`, inv), 400, `"extra_vars":["Not a valid string."]`},
		{"ad hoc no args", "POST", "/api/v2/ad_hoc_commands/", fmt.Sprintf(`{"inventory":%d,"module_name":"shell"}`, inv), 400, "No argument passed to shell module."},
		{"ad hoc empty", "POST", "/api/v2/ad_hoc_commands/", ``, 400, "inventory"},
		{"method", "PUT", "/api/v2/jobs/", `{}`, 405, `Method \"PUT\" not allowed.`},
		{"missing", "GET", "/api/v2/inventories/999/", "", 404, `{"detail":"Not found."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, srv, srv.Token, tt.method, tt.path, tt.body)
			if a.status != tt.status || !strings.Contains(string(a.body), tt.want) {
				t.Fatalf("%s %s: %d %s; want %d containing %s", tt.method, tt.path, a.status, a.body, tt.status, tt.want)
			}
		})
	}
	req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL+"/api/v2/inventories/", strings.NewReader("name=x"))
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Fatalf("form body: %d", resp.StatusCode)
	}
}

func TestLaunchIgnoredFieldsAndStatusProgression(t *testing.T) {
	t.Parallel()
	srv := awxtest.NewServer(t)
	inv := srv.AddInventory("inv", map[string]map[string]any{"web1": {}})
	pb := awxtest.NewPlaybook("p.yml").Play("all").Task("t", "ping").OK("web1", "")
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "strict", Playbook: "p.yml", Inventory: inv,
		Behavior: pb.Behavior(awxtest.ScriptOptions{BatchSize: 2}), PacePerPoll: true})
	a := call(t, srv, srv.Token, "POST", fmt.Sprintf("/api/v2/job_templates/%d/launch/", jt),
		`{"extra_vars":{"foo":1},"limit":"web1","inventory":`+fmt.Sprint(inv)+`}`)
	if a.status != 201 || !bytes.HasPrefix(a.body, []byte(`{"job":`)) || !bytes.Contains(a.body[:40], []byte(`"ignored_fields":{`)) {
		t.Fatalf("launch: %d %.80s", a.status, a.body)
	}
	m := a.json(t)
	ign := m["ignored_fields"].(map[string]any)
	if len(ign) != 2 || ign["limit"] != "web1" || ign["extra_vars"].(map[string]any)["foo"] != 1.0 {
		t.Fatalf("ignored_fields = %v (inventory equal to the template's is not ignored)", ign)
	}
	if m["status"] != "pending" || m["failed"] != false || a.header.Get("Location") != fmt.Sprintf("/api/v2/jobs/%v/", m["job"]) {
		t.Fatalf("launch body status %v, Location %q", m["status"], a.header.Get("Location"))
	}
	if _, detailOnly := m["event_processing_finished"]; detailOnly {
		t.Error("launch body has detail-only fields")
	}
	path := fmt.Sprintf("/api/v2/jobs/%v/", m["job"])
	var statuses []string
	var runningElapsed []float64
	for i := 0; i < 100; i++ {
		j := call(t, srv, srv.Token, "GET", path, "").json(t)
		st := j["status"].(string)
		if len(statuses) == 0 || statuses[len(statuses)-1] != st {
			statuses = append(statuses, st)
		}
		failed := st == "failed" || st == "error" || st == "canceled"
		if j["failed"] != failed {
			t.Fatalf("status %s with failed=%v", st, j["failed"])
		}
		if st == "running" {
			runningElapsed = append(runningElapsed, j["elapsed"].(float64))
			if j["started"] == nil || j["finished"] != nil {
				t.Fatalf("running job started=%v finished=%v", j["started"], j["finished"])
			}
		}
		if st == "successful" {
			if j["finished"] == nil || j["event_processing_finished"] != true {
				t.Fatalf("final job: %v", j)
			}
			break
		}
		// A later status poll lets a paced job move on; wait for the
		// server to record this one first.
		if err := srv.AwaitRequests(t.Context(), i+1, "GET", path); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"pending", "waiting", "running", "successful"}
	if strings.Join(statuses, ",") != strings.Join(want, ",") && strings.Join(statuses, ",") != "waiting,running,successful" {
		t.Fatalf("statuses = %v, want %v", statuses, want)
	}
	if len(runningElapsed) < 2 || runningElapsed[len(runningElapsed)-1] < runningElapsed[0] {
		t.Fatalf("elapsed while running = %v", runningElapsed)
	}
}

func TestLateEventsAndLag(t *testing.T) {
	t.Parallel()
	srv := awxtest.NewServer(t, awxtest.WithEventLag(6, 42))
	inv := srv.AddInventory("inv", map[string]map[string]any{"web1": {}, "web2": {}})
	pb := awxtest.NewPlaybook("p.yml").Play("all")
	for i := 0; i < 5; i++ {
		pb.Task(fmt.Sprintf("t%d", i), "command").Changed("web1", "").OK("web2", "")
	}
	total := len(pb.Events())
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "j", Playbook: "p.yml", Inventory: inv, Behavior: pb.Behavior(awxtest.ScriptOptions{})})
	id := int(call(t, srv, srv.Token, "POST", fmt.Sprintf("/api/v2/job_templates/%d/launch/", jt), "").json(t)["job"].(float64))
	if err := srv.AwaitJob(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	// Final, but 6 events are still held: processing not finished, no
	// host_status_counts yet, stats missing from the list.
	if emitted, saved := srv.EventCount(id); emitted != total || saved != total-6 {
		t.Fatalf("emitted %d saved %d", emitted, saved)
	}
	events := func() []map[string]any {
		l := call(t, srv, srv.Token, "GET", fmt.Sprintf("/api/v2/jobs/%d/job_events/?page_size=200&order_by=id", id), "").json(t)
		var out []map[string]any
		for _, e := range l["results"].([]any) {
			out = append(out, e.(map[string]any))
		}
		return out
	}
	var j map[string]any
	var sawLate bool
	for i := 0; i < 20; i++ {
		j = call(t, srv, srv.Token, "GET", fmt.Sprintf("/api/v2/jobs/%d/", id), "").json(t)
		if j["status"] != "successful" {
			t.Fatalf("status %v", j["status"])
		}
		if j["event_processing_finished"] == true {
			break
		}
		sawLate = true
		if j["host_status_counts"] != nil && !hasStats(events()) {
			t.Fatal("host_status_counts before the stats event was saved")
		}
	}
	if !sawLate || j["event_processing_finished"] != true {
		t.Fatalf("late events: saw=%v final epf=%v", sawLate, j["event_processing_finished"])
	}
	hsc := j["host_status_counts"].(map[string]any)
	if hsc["changed"] != 1.0 || hsc["ok"] != 1.0 {
		t.Fatalf("host_status_counts = %v", hsc)
	}
	evs := events()
	if len(evs) != total {
		t.Fatalf("%d events listed, want %d", len(evs), total)
	}
	outOfOrder := false
	for i := 1; i < len(evs); i++ {
		if evs[i]["counter"].(float64) < evs[i-1]["counter"].(float64) {
			outOfOrder = true
		}
	}
	if !outOfOrder {
		t.Error("ids are in counter order; lag should scramble them")
	}
	// Parent task events of changed results turn changed at stats time.
	for _, e := range evs {
		if e["event"] == "playbook_on_task_start" && e["changed"] != true {
			t.Errorf("task %v not marked changed after stats", e["task"])
		}
	}
	sums := call(t, srv, srv.Token, "GET", fmt.Sprintf("/api/v2/jobs/%d/job_host_summaries/", id), "").json(t)
	if sums["count"] != 2.0 {
		t.Fatalf("host summaries: %v", sums["count"])
	}
}

func hasStats(evs []map[string]any) bool {
	for _, e := range evs {
		if e["event"] == "playbook_on_stats" {
			return true
		}
	}
	return false
}

func TestEventListsAndStdout(t *testing.T) {
	t.Parallel()
	srv := awxtest.NewServer(t)
	inv := srv.AddInventory("inv", map[string]map[string]any{"web1": {}})
	long := strings.Repeat("x", 3000)
	big := strings.Repeat("y", 1100*1024)
	events := append(awxtest.NewPlaybook("p.yml").Play("all").Task("t", "debug").Debug("web1", long).Events(),
		awxtest.EventSpec{Event: "verbose", Stdout: "\x1b[0;32m" + big + "\x1b[0m"})
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "j", Playbook: "p.yml", Inventory: inv,
		Behavior: awxtest.Script(events, awxtest.ScriptOptions{})})
	id := int(call(t, srv, srv.Token, "POST", fmt.Sprintf("/api/v2/job_templates/%d/launch/", jt), "").json(t)["job"].(float64))
	if err := srv.AwaitJob(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("/api/v2/jobs/%d/", id)
	a := call(t, srv, srv.Token, "GET", base+"job_events/", "")
	if a.header.Get("X-UI-Max-Events") != "4000" {
		t.Error("no X-UI-Max-Events header")
	}
	var prev float64 = -1
	for _, e := range a.json(t)["results"].([]any) {
		ev := e.(map[string]any)
		if sl := ev["start_line"].(float64); sl < prev {
			t.Fatal("job events not ordered by start_line by default")
		} else {
			prev = sl
		}
		if ev["event"] == "runner_on_ok" && len([]rune(ev["stdout"].(string))) != 1024 {
			t.Fatalf("list stdout has %d characters, want 1024", len(ev["stdout"].(string)))
		}
	}
	full := call(t, srv, srv.Token, "GET", base+"job_events/?no_truncate=1&event=runner_on_ok", "").json(t)
	if ev := full["results"].([]any)[0].(map[string]any); !strings.Contains(ev["stdout"].(string), long) {
		t.Fatal("no_truncate still truncates")
	}
	tests := []struct {
		query, ctype, want string
	}{
		{"", "text/html", "<html"},
		{"?format=txt", "text/plain", "Standard Output too large to display ("},
		{"?format=ansi", "text/plain", "only download supported for sizes over 1048576 bytes."},
		{"?format=txt_download", "text/plain", "TASK [t]"},
		{"?format=ansi_download", "text/plain", "\x1b[0;32m"},
	}
	for _, tt := range tests {
		a := call(t, srv, srv.Token, "GET", base+"stdout/"+tt.query, "")
		if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), tt.ctype) || !strings.Contains(string(a.body), tt.want) {
			t.Errorf("stdout%s: %d %s %.100q", tt.query, a.status, a.header.Get("Content-Type"), a.body)
		}
	}
	dl := call(t, srv, srv.Token, "GET", base+"stdout/?format=txt_download", "")
	if dl.header.Get("Content-Disposition") != fmt.Sprintf(`attachment; filename="job_%d.txt"`, id) ||
		bytes.Contains(dl.body, []byte("\x1b[")) || !bytes.Contains(dl.body, []byte(big)) {
		t.Errorf("txt_download: %v", dl.header)
	}
	js := call(t, srv, srv.Token, "GET", base+"stdout/?format=json", "").json(t)
	if js["range"].(map[string]any)["absolute_end"] != 1.0 {
		t.Errorf("json of a too large stdout: %v", js["range"])
	}
	if a := call(t, srv, srv.Token, "GET", base+"stdout/?format=bogus", ""); a.status != 404 {
		t.Errorf("unknown format: %d", a.status)
	}

	// A small job: json honours start_line/end_line, txt ignores them.
	small := srv.AddJobTemplate(awxtest.JobTemplate{Name: "s", Playbook: "p.yml", Inventory: inv})
	sid := int(call(t, srv, srv.Token, "POST", fmt.Sprintf("/api/v2/job_templates/%d/launch/", small), "").json(t)["job"].(float64))
	if err := srv.AwaitJob(t.Context(), sid); err != nil {
		t.Fatal(err)
	}
	sbase := fmt.Sprintf("/api/v2/jobs/%d/stdout/", sid)
	r := call(t, srv, srv.Token, "GET", sbase+"?format=json&start_line=1&end_line=3", "").json(t)
	rng := r["range"].(map[string]any)
	if rng["start"] != 1.0 || rng["end"] != 3.0 || !strings.HasPrefix(r["content"].(string), "PLAY [all]") {
		t.Errorf("json range: %v %q", rng, r["content"])
	}
	txt := call(t, srv, srv.Token, "GET", sbase+"?format=txt&start_line=1&end_line=3", "")
	if !strings.Contains(string(txt.body), "PLAY RECAP") {
		t.Errorf("txt honoured start_line: %q", txt.body)
	}
}

func TestCancelRelaunchDelete(t *testing.T) {
	t.Parallel()
	srv := awxtest.NewServer(t)
	inv := srv.AddInventory("inv", map[string]map[string]any{"web1": {}, "web2": {}})
	hold := awxtest.NewPlaybook("p.yml").Play("all").Task("t", "ping").OK("web1", "").Behavior(awxtest.ScriptOptions{HoldRunning: true})
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "hold", Playbook: "p.yml", Inventory: inv, Behavior: hold})
	id := int(call(t, srv, srv.Token, "POST", fmt.Sprintf("/api/v2/job_templates/%d/launch/", jt), "").json(t)["job"].(float64))
	ctx := t.Context()
	if err := srv.AwaitJob(ctx, id, "running"); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("/api/v2/jobs/%d/", id)
	if c := call(t, srv, srv.Token, "GET", base+"cancel/", "").json(t); c["can_cancel"] != true {
		t.Fatalf("can_cancel = %v", c)
	}
	// While running: host DELETE 409, inventory DELETE 409, relaunch of
	// failed hosts refused with a plain string.
	hostList := call(t, srv, srv.Token, "GET", fmt.Sprintf("/api/v2/inventories/%d/hosts/", inv), "").json(t)
	hostID := hostList["results"].([]any)[0].(map[string]any)["id"]
	a := call(t, srv, srv.Token, "DELETE", fmt.Sprintf("/api/v2/hosts/%v/", hostID), "")
	if a.status != 409 || a.json(t)["active_jobs"] == nil {
		t.Fatalf("host delete while running: %d %s", a.status, a.body)
	}
	a = call(t, srv, srv.Token, "POST", base+"relaunch/", `{"hosts":"failed"}`)
	if a.status != 400 || a.json(t)["hosts"] != "Wait until job finishes before retrying on failed hosts." {
		t.Fatalf("relaunch failed while running: %d %s", a.status, a.body)
	}
	a = call(t, srv, srv.Token, "POST", base+"cancel/", "")
	if a.status != 202 || len(a.body) != 0 {
		t.Fatalf("cancel: %d %q", a.status, a.body)
	}
	if err := srv.AwaitJob(ctx, id, "canceled"); err != nil {
		t.Fatal(err)
	}
	j := call(t, srv, srv.Token, "GET", base, "").json(t)
	if j["failed"] != true || j["canceled_on"] == nil || j["finished"] == nil {
		t.Fatalf("canceled job: %v", j)
	}
	if a := call(t, srv, srv.Token, "POST", base+"cancel/", ""); a.status != 405 {
		t.Fatalf("cancel again (superuser): %d", a.status)
	}
	if a := call(t, srv, srv.UserToken, "POST", base+"cancel/", ""); a.status != 403 {
		t.Fatalf("cancel again (user): %d", a.status)
	}
	a = call(t, srv, srv.Token, "POST", base+"relaunch/", `{}`)
	body := a.json(t)
	if a.status != 201 || body["ignored_fields"] != nil || body["launch_type"] != "relaunch" ||
		!bytes.HasSuffix(bytes.TrimSpace(a.body), []byte(fmt.Sprintf(`"job":%v}`, body["id"]))) {
		t.Fatalf("relaunch: %d %.200s", a.status, a.body)
	}
	newID := int(body["id"].(float64))
	call(t, srv, srv.Token, "POST", fmt.Sprintf("/api/v2/jobs/%d/cancel/", newID), "")
	if err := srv.AwaitJob(ctx, newID); err != nil {
		t.Fatal(err)
	}
	a = call(t, srv, srv.Token, "DELETE", fmt.Sprintf("/api/v2/inventories/%d/", inv), "")
	if a.status != 202 || len(a.body) != 0 {
		t.Fatalf("inventory delete: %d %q", a.status, a.body)
	}
	if i := call(t, srv, srv.Token, "GET", fmt.Sprintf("/api/v2/inventories/%d/", inv), "").json(t); i["pending_deletion"] != true {
		t.Fatalf("pending_deletion = %v", i["pending_deletion"])
	}
}

func TestAdHocFidelity(t *testing.T) {
	t.Parallel()
	srv := awxtest.NewServer(t, awxtest.WithEventLag(1, 3))
	inv := srv.AddInventory("inv", map[string]map[string]any{"a1": {}, "a2": {}, "a3": {}})
	a := call(t, srv, srv.Token, "POST", fmt.Sprintf("/api/v2/inventories/%d/ad_hoc_commands/", inv),
		`{"module_name":"shell","module_args":"uptime","extra_vars":"{\"x\": 1}"}`)
	m := a.json(t)
	if a.status != 201 || m["status"] != "new" || m["name"] != "shell" || m["extra_vars"] != `{"x": 1}` {
		t.Fatalf("ad hoc create: %d %v %v", a.status, m["status"], m["extra_vars"])
	}
	if _, ok := m["event_processing_finished"]; ok {
		t.Error("ad hoc create answer has detail fields")
	}
	id := int(m["id"].(float64))
	if err := srv.AwaitJob(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	srv.FlushEvents(id)
	l := call(t, srv, srv.Token, "GET", fmt.Sprintf("/api/v2/ad_hoc_commands/%d/events/", id), "")
	if l.header.Get("X-UI-Max-Events") != "" {
		t.Error("ad hoc events carry X-UI-Max-Events")
	}
	evs := l.json(t)["results"].([]any)
	for i := 1; i < len(evs); i++ {
		if evs[i].(map[string]any)["id"].(float64) > evs[i-1].(map[string]any)["id"].(float64) {
			t.Fatal("ad hoc events not ordered by -pk by default")
		}
	}
	ev := evs[0].(map[string]any)
	for _, k := range []string{"parent_uuid", "event_level", "play", "task", "role"} {
		if _, ok := ev[k]; ok {
			t.Errorf("ad hoc event has %q", k)
		}
	}
	if ev["type"] != "ad_hoc_command_event" {
		t.Errorf("type = %v", ev["type"])
	}
}

func TestFaultInjection(t *testing.T) {
	t.Parallel()
	srv := awxtest.NewServer(t, awxtest.WithLenientRoutes())
	srv.FailNext(2, "GET", "/api/v2/me/", 500)
	for i := 0; i < 2; i++ {
		if a := call(t, srv, srv.Token, "GET", "/api/v2/me/", ""); a.status != 500 || a.json(t)["detail"] != "A server error has occurred." {
			t.Fatalf("fault %d: %d %s", i, a.status, a.body)
		}
	}
	if a := call(t, srv, srv.Token, "GET", "/api/v2/me/", ""); a.status != 200 {
		t.Fatalf("after faults: %d", a.status)
	}
	srv.FailNext(1, "", "/api/v2/", 502)
	if a := call(t, srv, srv.Token, "GET", "/api/v2/me/", ""); a.status != 502 || !strings.Contains(a.header.Get("Content-Type"), "html") {
		t.Fatalf("proxy 502: %d %v", a.status, a.header)
	}
	srv.DropNext(1, "GET", "/api/v2/me/")
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/api/v2/me/", nil)
	// A fresh connection: net/http retries a GET that fails on a reused one.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := fresh.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("dropped connection answered")
	}
	srv.SetLatency(30 * time.Millisecond)
	start := time.Now()
	call(t, srv, srv.Token, "GET", "/api/v2/me/", "")
	if time.Since(start) < 30*time.Millisecond {
		t.Fatal("latency not applied")
	}
	srv.SetLatency(0)
	if a := call(t, srv, srv.Token, "GET", "/api/v2/nothing/", ""); a.status != 404 ||
		a.json(t)["detail"] != "The requested resource could not be found." {
		t.Fatalf("unknown route: %d %s", a.status, a.body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := srv.AwaitLaunches(ctx, 1); err == nil {
		t.Fatal("AwaitLaunches returned without a launch")
	}
	if n := len(srv.Requests()); n < 6 {
		t.Fatalf("recorded %d requests", n)
	}
}

func TestUnreadableObjects(t *testing.T) {
	t.Parallel()
	srv := awxtest.NewServer(t)
	inv := srv.AddInventory("inv", map[string]map[string]any{"h": {}})
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "secret", Playbook: "p.yml", Inventory: inv, Private: true})
	id := int(call(t, srv, srv.Token, "POST", fmt.Sprintf("/api/v2/job_templates/%d/launch/", jt), "").json(t)["job"].(float64))
	tests := []struct {
		path   string
		status int
	}{
		{fmt.Sprintf("/api/v2/job_templates/%d/", jt), 403},
		{fmt.Sprintf("/api/v2/jobs/%d/", id), 403},
		{fmt.Sprintf("/api/v2/jobs/%d/job_events/", id), 403},
		{"/api/v2/jobs/9999/", 404},
		{"/api/v2/job_templates/9999/", 404},
	}
	for _, tt := range tests {
		if a := call(t, srv, srv.UserToken, "GET", tt.path, ""); a.status != tt.status {
			t.Errorf("user GET %s: %d, want %d", tt.path, a.status, tt.status)
		}
		if a := call(t, srv, srv.Token, "GET", tt.path, ""); a.status != 200 && tt.status == 403 {
			t.Errorf("superuser GET %s: %d", tt.path, a.status)
		}
	}
	for _, p := range []string{"/api/v2/jobs/", "/api/v2/job_templates/"} {
		if n := call(t, srv, srv.UserToken, "GET", p, "").json(t)["count"]; n != 0.0 {
			t.Errorf("user list %s: count %v, want 0", p, n)
		}
		if n := call(t, srv, srv.Token, "GET", p, "").json(t)["count"]; n != 1.0 {
			t.Errorf("superuser list %s: count %v, want 1", p, n)
		}
	}
}

func TestAwait(t *testing.T) {
	t.Parallel()
	srv := awxtest.NewServer(t)
	inv := srv.AddInventory("inv", map[string]map[string]any{"h": {}})
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "j", Playbook: "p.yml", Inventory: inv})
	launched := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL+fmt.Sprintf("/api/v2/job_templates/%d/launch/", jt), nil)
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		launched <- err
	}()
	if err := srv.AwaitLaunches(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	id := srv.Launches()[0].Job
	err := srv.Await(t.Context(), func() bool {
		emitted, saved := srv.EventCount(id)
		return srv.JobStatus(id) == "successful" && emitted == saved && emitted > 0
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-launched; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(srv.JobStdout(id), "ok: [h]") {
		t.Errorf("stdout = %q", srv.JobStdout(id))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := srv.Await(ctx, func() bool { return false }); err == nil {
		t.Fatal("Await of a false condition returned nil")
	}
}

func TestEventFilters(t *testing.T) {
	t.Parallel()
	srv := awxtest.NewServer(t)
	inv := srv.AddInventory("inv", map[string]map[string]any{"h1": {}, "h2": {}})
	pb := awxtest.NewPlaybook("p.yml").Play("all").Task("t", "ping").OK("h1", "").Failed("h2", "x")
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "j", Playbook: "p.yml", Inventory: inv, Behavior: pb.Behavior(awxtest.ScriptOptions{})})
	id := int(call(t, srv, srv.Token, "POST", fmt.Sprintf("/api/v2/job_templates/%d/launch/", jt), "").json(t)["job"].(float64))
	if err := srv.AwaitJob(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	counters := func(query string) []int {
		t.Helper()
		a := call(t, srv, srv.Token, "GET", fmt.Sprintf("/api/v2/jobs/%d/job_events/?%s", id, query), "")
		if a.status != 200 {
			t.Fatalf("%s: %d %s", query, a.status, a.body)
		}
		var out []int
		for _, e := range a.json(t)["results"].([]any) {
			out = append(out, int(e.(map[string]any)["counter"].(float64)))
		}
		return out
	}
	tests := []struct {
		query string
		want  string
	}{
		{"order_by=counter&counter__gt=6", "[7 8]"},
		{"order_by=counter&or__counter__gt=7&or__counter__in=1,3", "[1 3 8]"},
		{"order_by=counter&or__counter__gt=7&or__event=playbook_on_start", "[1 8]"},
		{"order_by=counter&failed=true", "[2 3 7 8]"}, // parents flagged at stats
		{"order_by=-counter&not__stdout=&host_name=h1", "[5]"},
		{"order_by=counter&event__in=runner_on_ok,runner_on_failed", "[5 7]"},
		{"order_by=counter&counter__gte=2&counter__lte=3", "[2 3]"},
		{"order_by=counter&limit=2", "[1 2]"},
		{"order_by=counter&changed=true", "[]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(counters(tt.query)); got != tt.want && !(tt.want == "[]" && got == "[]") {
			t.Errorf("%s = %s, want %s", tt.query, got, tt.want)
		}
	}
}

func TestPerJobEventLag(t *testing.T) {
	t.Parallel()
	srv := awxtest.NewServer(t) // no lag by default
	inv := srv.AddInventory("inv", map[string]map[string]any{"h1": {}})
	pb := awxtest.NewPlaybook("p.yml").Play("all")
	for i := 0; i < 10; i++ {
		pb.Task(fmt.Sprintf("t%d", i), "ping").OK("h1", "")
	}
	ordered := srv.AddJobTemplate(awxtest.JobTemplate{Name: "ordered", Playbook: "p.yml", Inventory: inv,
		Behavior: pb.Behavior(awxtest.ScriptOptions{})})
	lagged := srv.AddJobTemplate(awxtest.JobTemplate{Name: "lagged", Playbook: "p.yml", Inventory: inv,
		Behavior: pb.Behavior(awxtest.ScriptOptions{EventLag: 5})})
	inOrder := func(jt int) (bool, int) {
		id := int(call(t, srv, srv.Token, "POST", fmt.Sprintf("/api/v2/job_templates/%d/launch/", jt), "").json(t)["job"].(float64))
		if err := srv.AwaitJob(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		emitted, saved := srv.EventCount(id)
		srv.FlushEvents(id)
		l := call(t, srv, srv.Token, "GET", fmt.Sprintf("/api/v2/jobs/%d/job_events/?order_by=id&page_size=200", id), "").json(t)
		prev := 0.0
		for _, e := range l["results"].([]any) {
			c := e.(map[string]any)["counter"].(float64)
			if c < prev {
				return false, emitted - saved
			}
			prev = c
		}
		return true, emitted - saved
	}
	if ok, held := inOrder(ordered); !ok || held != 0 {
		t.Errorf("no lag: in order %v, held at the end %d", ok, held)
	}
	if ok, held := inOrder(lagged); ok || held != 5 {
		t.Errorf("lag 5: in order %v, held at the end %d", ok, held)
	}
}

// TestStdoutNegotiation: the stdout view picks its renderer from ?format=
// and the Accept header as Django REST framework does; a JSON-only Accept
// on a download is 406, as on AWX.
func TestStdoutNegotiation(t *testing.T) {
	t.Parallel()
	srv := awxtest.NewServer(t)
	inv := srv.AddInventory("inv", map[string]map[string]any{"web1": {}})
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "j", Playbook: "p.yml", Inventory: inv})
	id := int(call(t, srv, srv.Token, "POST", fmt.Sprintf("/api/v2/job_templates/%d/launch/", jt), "").json(t)["job"].(float64))
	if err := srv.AwaitJob(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		job           int
		query         string
		accept        string
		status        int
		ctype, inBody string
	}{
		{id, "?format=txt_download", "application/json", 406, "text/html", "Could not satisfy the request Accept header."},
		{id, "?format=txt_download", "", 200, "text/plain", "PLAY RECAP"},
		{id, "?format=txt_download", "*/*", 200, "text/plain", "PLAY RECAP"},
		{id, "?format=txt_download", "text/plain", 200, "text/plain", "PLAY RECAP"},
		{id, "?format=txt_download", "text/*;q=0.5", 200, "text/plain", "PLAY RECAP"},
		{id, "?format=txt_download", "application/json, text/plain", 200, "text/plain", "PLAY RECAP"},
		{id, "?format=json", "text/plain", 406, "text/html", "Could not satisfy"},
		{id, "?format=json", "application/json", 200, "application/json", `"range"`},
		{id, "", "application/json", 200, "application/json", `"range"`},
		{id, "", "text/plain", 200, "text/plain", "PLAY RECAP"},
		{id, "", "", 200, "text/html", "<html"},
		{id, "?format=bogus", "", 404, "application/json", "Not found."},
		{999, "?format=txt_download", "application/json", 406, "text/html", "Could not satisfy"},
		{999, "?format=txt_download", "text/plain", 404, "text/plain", "{'detail': ErrorDetail(string='Not found.', code='not_found')}"},
	}
	for _, tt := range tests {
		req, err := http.NewRequestWithContext(t.Context(), "GET", fmt.Sprintf("%s/api/v2/jobs/%d/stdout/%s", srv.URL, tt.job, tt.query), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		if tt.accept != "" {
			req.Header.Set("Accept", tt.accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.ctype) || !strings.Contains(string(b), tt.inBody) {
			t.Errorf("job %d %s Accept %q: %d %s %.120q", tt.job, tt.query, tt.accept, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
}
