package awxrunner_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/awxclient/awxtest"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/deploy/awxrunner"
)

// TestInventorySpecs: every app environment gets its inventory with exactly
// its hosts, and per-host settings become the host_ variables the
// playbooks read.
func TestInventorySpecs(t *testing.T) {
	cfg, err := config.Load("../../deploybot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	specs := map[string]map[string]map[string]any{}
	for _, s := range awxrunner.InventorySpecs(cfg.Catalog()) {
		specs[s.Name] = s.Hosts
	}
	want := map[string]map[string]map[string]any{
		"deploybot-shop-web-staging": {"stg-web-01.example.com": {}, "stg-web-02.example.com": {}},
		"deploybot-shop-web-production": {
			"web-01.example.com": {}, "web-02.example.com": {},
			"web-03.example.com": {"host_web_port": 8080},
		},
		"deploybot-batch-api-production":    {"api-01.example.com": {}},
		"deploybot-cache-warmer-production": {"cache-01.example.com": {}, "cache-02.example.com": {}},
	}
	if !reflect.DeepEqual(specs, want) {
		t.Errorf("inventories = %v\nwant %v", specs, want)
	}
}

// TestStartupCheckCredential: the configured machine credential is
// resolved at start: the preloaded org-less "Demo Credential" is found; a
// missing or ambiguous name stops the bot with a message saying which.
func TestStartupCheckCredential(t *testing.T) {
	tests := []struct {
		name, credential string
		setup            func(*awxtest.Server)
		want             string
	}{
		{"org-less preload credential", "Demo Credential", func(*awxtest.Server) {}, ""},
		{"missing", "deploy-ssh", func(*awxtest.Server) {}, `awx.credential: awx ssh credential "deploy-ssh" not found`},
		{"ambiguous", "deploy-ssh", func(s *awxtest.Server) {
			s.AddCredential("deploy-ssh", 1, "ssh")
			s.AddCredential("deploy-ssh", 1, "ssh")
		}, "ambiguous"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			awx := awxtest.NewServer(t)
			for _, name := range []string{"deploybot-web-deploy", "deploybot-custom-deploy", "deploybot-rollback"} {
				awx.AddJobTemplate(awxtest.JobTemplate{Name: name, Playbook: "x.yml", AskInventory: true, AskVariables: true, AskLimit: true})
			}
			tt.setup(awx)
			cfg, err := config.Load("../../deploybot.example.yaml")
			if err != nil {
				t.Fatal(err)
			}
			c, err := awxclient.NewClient(awx.URL, awxclient.WithToken(awx.Token))
			if err != nil {
				t.Fatal(err)
			}
			err = awxrunner.Prepare(t.Context(), c, cfg.Catalog(), awxrunner.Settings{Organization: cfg.AWX.Organization, Credential: tt.credential}, zerolog.Nop())
			var fatal *awxrunner.SetupError
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("start-up check: %v", err)
			case tt.want != "" && (!errors.As(err, &fatal) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want a fatal error saying %q", err, tt.want)
			}
		})
	}
}
