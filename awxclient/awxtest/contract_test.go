package awxtest_test

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/awxclient/awxtest"
)

// TestSerializerFieldsContract compares the top-level keys of awxtest's
// answers with the field lists of AWX's serializers, stored in
// testdata/serializer_fields.json (its "source" names the ansible/awx
// commit they were read from): a key AWX has and the fake lacks, or one
// the fake invents, fails.
func TestSerializerFieldsContract(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/serializer_fields.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Source      string              `json:"source"`
		Serializers map[string][]string `json:"serializers"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc.Source, "e21dd0a0933fd544d1fe2513c54fe41203775eb5") {
		t.Fatalf("source %q does not name the AWX commit", doc.Source)
	}

	srv := awxtest.NewServer(t)
	inv := srv.AddInventory("inv", map[string]map[string]any{"web1": {}})
	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "jt", Playbook: "p.yml", Inventory: inv})
	job := int(call(t, srv, srv.Token, "POST", fmt.Sprintf("/api/v2/job_templates/%d/launch/", jt), "").json(t)["job"].(float64))
	adhoc := int(call(t, srv, srv.Token, "POST", "/api/v2/ad_hoc_commands/",
		fmt.Sprintf(`{"inventory": %d, "credential": 1, "module_name": "shell", "module_args": "true"}`, inv)).json(t)["id"].(float64))
	if err := srv.AwaitJob(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	if err := srv.AwaitJob(t.Context(), adhoc); err != nil {
		t.Fatal(err)
	}
	first := func(path string) string {
		return fmt.Sprintf("%s?page_size=1", path)
	}
	tests := []struct {
		serializer string
		path       string
		list       bool
	}{
		{"JobTemplateSerializer", fmt.Sprintf("/api/v2/job_templates/%d/", jt), false},
		{"JobDetailSerializer", fmt.Sprintf("/api/v2/jobs/%d/", job), false},
		{"JobListSerializer", first("/api/v2/jobs/"), true},
		{"ProjectSerializer", "/api/v2/projects/1/", false},
		{"CredentialSerializer", "/api/v2/credentials/1/", false},
		{"InventorySerializer", fmt.Sprintf("/api/v2/inventories/%d/", inv), false},
		{"HostSerializer", first(fmt.Sprintf("/api/v2/inventories/%d/hosts/", inv)), true},
		{"OrganizationSerializer", "/api/v2/organizations/1/", false},
		{"AdHocCommandDetailSerializer", fmt.Sprintf("/api/v2/ad_hoc_commands/%d/", adhoc), false},
		{"AdHocCommandListSerializer", first("/api/v2/ad_hoc_commands/"), true},
		{"JobEventSerializer", first(fmt.Sprintf("/api/v2/jobs/%d/job_events/", job)), true},
		{"AdHocCommandEventSerializer", first(fmt.Sprintf("/api/v2/ad_hoc_commands/%d/events/", adhoc)), true},
		{"JobHostSummarySerializer", first(fmt.Sprintf("/api/v2/jobs/%d/job_host_summaries/", job)), true},
	}
	for _, tt := range tests {
		want, ok := doc.Serializers[tt.serializer]
		if !ok {
			t.Errorf("%s: not in testdata", tt.serializer)
			continue
		}
		obj := call(t, srv, srv.Token, "GET", tt.path, "").json(t)
		if tt.list {
			results, _ := obj["results"].([]any)
			if len(results) == 0 {
				t.Errorf("%s: %s lists nothing", tt.serializer, tt.path)
				continue
			}
			obj = results[0].(map[string]any)
		}
		have := map[string]bool{}
		for k := range obj {
			have[k] = true
		}
		var missing, extra []string
		for _, k := range want {
			if !have[k] {
				missing = append(missing, k)
			}
			delete(have, k)
		}
		for k := range have {
			extra = append(extra, k)
		}
		sort.Strings(extra)
		if len(missing)+len(extra) > 0 {
			t.Errorf("%s (%s): awxtest lacks %v; invents %v", tt.serializer, tt.path, missing, extra)
		}
	}
}
