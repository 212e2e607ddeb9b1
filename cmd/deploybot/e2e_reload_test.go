package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestStoryConfigReload: an operator adds an environment to deploybot.yaml
// and sends SIGHUP. A broken file, then one naming a job template AWX does
// not have, change nothing and say so in the log; the fixed file applies at
// once, without a restart: the AWX
// inventory of the new environment is created with its host, and a
// release to it runs there.
func TestStoryConfigReload(t *testing.T) {
	s := newStack(t)
	hup := make(chan os.Signal, 1)
	s.tun.Reload = hup
	s.start()
	const qa = "qa-web-01.example.com"

	s.slash(alice, "shop-web qa 1.4.2")
	s.reply(alice, "no environment")

	path := s.env["DEPLOYBOT_CONFIG"]
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	withQA := strings.Replace(string(orig), "      production:\n        hosts: [web-01.example.com",
		"      qa:\n        hosts: ["+qa+"]\n        deployers: [U01ALICE00]\n        approval: {required: false}\n"+
			"      production:\n        hosts: [web-01.example.com", 1)
	if withQA == string(orig) {
		t.Fatal("the stories' config changed: update this test")
	}

	// A mistake in the file: nothing changes, the log says what to do.
	write(strings.Replace(withQA, "deployers: [U01ALICE00]\n        approval: {required: false}", "deployers: [U01ALICE00]\n        aproval: {required: false}", 1))
	hup <- syscall.SIGHUP
	s.await("the refused reload in the log", func() bool {
		return strings.Contains(s.logs.String(), "configuration not reloaded")
	})
	if !strings.Contains(s.logs.String(), "aproval") {
		t.Errorf("the log does not name the unknown key:\n%s", s.logs.String())
	}
	s.slash(alice, "shop-web qa 1.4.2")
	s.await("a second refusal", func() bool { return strings.Count(allEphemerals(s, alice), "no environment") >= 2 })

	// A job template AWX does not have: refused as at start, nothing changes.
	missingTemplate := strings.Replace(withQA, "web: deploybot-web-deploy", "web: deploybot-web-deploy-v2", 1)
	if missingTemplate == withQA {
		t.Fatal("the stories' config changed: update this test")
	}
	write(missingTemplate)
	hup <- syscall.SIGHUP
	s.await("the reload refused for its template", func() bool {
		return strings.Count(s.logs.String(), "configuration not reloaded") >= 2
	})
	if !strings.Contains(s.logs.String(), "deploybot-web-deploy-v2") {
		t.Errorf("the refusal does not name the missing template:\n%s", s.logs.String())
	}
	s.slash(alice, "shop-web qa 1.4.2")
	s.await("a third refusal", func() bool { return strings.Count(allEphemerals(s, alice), "no environment") >= 3 })

	write(withQA)
	hup <- syscall.SIGHUP
	s.await("the reload in the log", func() bool {
		return strings.Contains(s.logs.String(), "configuration reloaded") &&
			strings.Contains(s.logs.String(), "AWX prepared for the reloaded configuration")
	})
	s.slash(alice, "shop-web qa 1.4.2")
	id, _ := s.newCard(0)
	s.card(id, "Succeeded")
	ls := s.launchesOf("web")
	if len(ls) != 1 {
		t.Fatalf("web launches = %d, want 1", len(ls))
	}
	if ls[0].Body["limit"] != qa {
		t.Errorf("the release ran on %v, want %s", ls[0].Body["limit"], qa)
	}
	if ls[0].Body["inventory"] == nil {
		t.Errorf("launch without an inventory: %v", ls[0].Body)
	}
}

// allEphemerals joins what user was told, for counting answers.
func allEphemerals(s *stack, user string) string {
	var b strings.Builder
	for _, e := range s.slack.Ephemerals(user) {
		b.WriteString(e.Text + "\n" + unescapeJSON(e.Blocks) + "\n")
	}
	return b.String()
}
