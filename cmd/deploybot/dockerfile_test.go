package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
}

// parseDockerfile returns the stages of a Dockerfile, each a list of
// instructions starting with its FROM.
func parseDockerfile(text string) [][]instruction {
	var stages [][]instruction
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" || len(stages) == 0 {
			stages = append(stages, nil)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

// TestDockerfileFinalStage checks the image statically (no container
// engine runs here): a non-root user that owns /data, where the database
// lives; the volume declared after /data exists with that owner; a health
// check; the version stamped from build arguments into the binary and the
// OCI labels.
func TestDockerfileFinalStage(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages := parseDockerfile(string(data))
	if len(stages) < 2 {
		t.Fatalf("want a build stage and a final stage, got %d stages", len(stages))
	}
	build, final := stages[len(stages)-2], stages[len(stages)-1]
	pinned := regexp.MustCompile(`^\S+@sha256:[0-9a-f]{64}(\s|$)`)
	for _, st := range stages {
		if ref := st[0].args; !pinned.MatchString(ref) {
			t.Errorf("FROM %s: base images are pinned by digest (image:tag@sha256: and 64 hex digits; scripts/pin-images.sh writes them), so a rebuild cannot pick up a different base", ref)
		}
	}

	find := func(st []instruction, cmd string) (int, []instruction) {
		first, all := -1, []instruction(nil)
		for i, in := range st {
			if in.cmd == cmd {
				if first < 0 {
					first = i
				}
				all = append(all, in)
			}
		}
		return first, all
	}

	// The runtime user: not root.
	_, users := find(final, "USER")
	if len(users) == 0 {
		t.Fatal("the final stage has no USER: the bot would run as root")
	}
	user := users[len(users)-1].args
	if name, _, _ := strings.Cut(user, ":"); name == "root" || name == "0" || name == "" {
		t.Errorf("USER %s: the bot must not run as root", user)
	}

	// /data exists in the image, owned by that user, before VOLUME.
	volAt, vols := find(final, "VOLUME")
	if len(vols) != 1 || !strings.Contains(vols[0].args, `"/data"`) {
		t.Errorf("want VOLUME [\"/data\"], got %v", vols)
	}
	dataAt := -1
	for i, in := range final {
		f := strings.Fields(in.args)
		if in.cmd == "COPY" && len(f) > 0 && strings.TrimSuffix(f[len(f)-1], "/") == "/data" &&
			slices.Contains(f, "--chown="+user) {
			dataAt = i
		}
	}
	if dataAt < 0 {
		t.Errorf("the final stage does not create /data owned by %s (COPY --chown=%s … /data): a volume on a missing directory is created owned by root and the bot cannot create its database", user, user)
	} else if volAt >= 0 && dataAt > volAt {
		t.Errorf("/data is created after VOLUME /data: changes after VOLUME are discarded")
	}
	_, envs := find(final, "ENV")
	if !slices.ContainsFunc(envs, func(in instruction) bool { return strings.Contains(in.args, "DEPLOYBOT_DB=/data/") }) {
		t.Errorf("DEPLOYBOT_DB does not point into /data: %v", envs)
	}

	// A health check through the binary (the image has no curl).
	_, hcs := find(final, "HEALTHCHECK")
	if len(hcs) != 1 || !strings.Contains(hcs[0].args, `CMD ["/usr/local/bin/deploybot", "healthcheck"]`) {
		t.Errorf("want HEALTHCHECK … CMD [\"/usr/local/bin/deploybot\", \"healthcheck\"], got %v", hcs)
	}

	// The version: a build argument of both stages, stamped into the
	// binary and into the labels.
	for _, st := range [][]instruction{build, final} {
		_, args := find(st, "ARG")
		if !slices.ContainsFunc(args, func(in instruction) bool { return strings.HasPrefix(in.args, "VERSION") }) {
			t.Errorf("stage %q lacks ARG VERSION", st[0].args)
		}
	}
	_, runs := find(build, "RUN")
	if !slices.ContainsFunc(runs, func(in instruction) bool {
		return strings.Contains(in.args, `VERSION="$VERSION"`) && strings.Contains(in.args, "scripts/build.sh")
	}) {
		t.Errorf("the build stage does not pass $VERSION to scripts/build.sh")
	}
	_, labels := find(final, "LABEL")
	all := ""
	for _, l := range labels {
		all += " " + l.args
	}
	for _, want := range []string{
		`org.opencontainers.image.title=`, `org.opencontainers.image.version="$VERSION"`,
		`org.opencontainers.image.revision="$COMMIT"`, `org.opencontainers.image.created=`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the final stage's labels lack %s", want)
		}
	}
}
