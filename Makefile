# deploybot: three targets do all the set-up on a fresh machine.
#   make sandbox  build the bot and run it against a fake Slack and a fake AWX (no accounts needed)
#                 (make sandbox-replicas: two bots on a PostgreSQL database, after make deps)
#   make test     install what the tests need when missing, then run the whole suite
#   make run      build and run the bot against a real workspace (settings from the environment)

GO ?= go

.PHONY: run test deps build lint image helm

# helm, for the chart's tests (helm lint and helm template), built from its
# Go module at a pinned version, like staticcheck.
HELM_VERSION = v4.3.2

run: build
	./bin/deploybot

build:
	scripts/build.sh bin/deploybot

# The real bot against the fake Slack and fake AWX, with a prompt to type
# /deploy commands as the example config's users (see the README).
# ARGS passes flags: make sandbox ARGS='--replicas 3'.
.PHONY: sandbox sandbox-replicas
sandbox: build
	$(GO) run ./cmd/sandbox --bot bin/deploybot $(ARGS)

# Two bots sharing one PostgreSQL database (a throwaway server the sandbox
# starts: Debian's postgresql, which make deps installs), as replicas.
sandbox-replicas: build
	$(GO) run ./cmd/sandbox --bot bin/deploybot --replicas 2 $(ARGS)

# The container image, its version stamped from git through build
# arguments (the build context needs no .git).
image:
	docker build \
	  --build-arg VERSION="$$(git describe --tags --always --dirty 2>/dev/null || echo dev)" \
	  --build-arg COMMIT="$$(git rev-parse --short HEAD 2>/dev/null || echo none)" \
	  --build-arg CREATED="$$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	  -t deploybot:latest .

deps:
	scripts/install-test-deps.sh

helm:
	GOBIN=$(CURDIR)/bin $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

# The playbook tests and the whole-chain test (Slack → bot → AWX → Ansible →
# nginx behind HAProxy) measure downtime under load, so they run on their
# own, after the rest, not beside other packages competing for two cores.
#
# The binary is built once, before any test's clock starts (a cold cgo
# build takes minutes on a busy machine), and the tests that run it as a
# process (cmd/sandbox, cmd/deploybot TestBuildScript) get it through
# DEPLOYBOT_BIN; run alone, they build it themselves before their clocks.
# helm (for the chart tests, HELM_BIN) is built here too, never in a test.
test: export DEPLOYBOT_BIN = $(CURDIR)/bin/deploybot
test: export HELM_BIN = $(CURDIR)/bin/helm
test: deps build helm
	$(GO) test -race -count=1 -timeout 12m -skip '^TestChain' $$($(GO) list ./... | grep -v /playbooks)
	$(GO) test -race -count=1 -timeout 10m -run '^TestChain' ./cmd/deploybot/
	$(GO) test -race -count=1 -timeout 10m ./playbooks/...

# gofmt, vet and staticcheck for the Go code; yamllint and ansible-lint for
# the YAML (their settings: .yamllint and .ansible-lint at the root).
lint: deps
	yamllint --strict .
	ANSIBLE_LOCAL_TEMP="$$(mktemp -d)" ansible-lint --nocolor
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
