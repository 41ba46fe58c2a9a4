# Conveyor — see README.md. `make run` starts a server with the example pipeline; `make test` runs
# the whole suite (what CI runs through .ci/run).

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
DATA    ?= ./data
LISTEN  ?= 127.0.0.1:8080

.PHONY: all build run test test-short vet fmt-check bench fuzz clean images

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/conveyor ./cmd/conveyor

run: build images
	./bin/conveyor server --data $(DATA) --listen $(LISTEN) --example

# Local Docker images the builds and tests use (no registry needed): conveyor/busybox,
# conveyor/build-debian (Debian + Go) and conveyor/agent-host (a deploy host for the agent tests and
# docker-compose). Skips images that exist; FORCE=1 rebuilds. See images/README.md.
FORCE ?= 0
images:
	FORCE=$(FORCE) ./images/build.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# The whole suite: vet, formatting, every package's tests with the race detector (packages run in
# parallel, two at a time on this 2-core machine), and a short fuzz pass over the file parsers.
test: vet fmt-check build images
	CONVEYOR_BIN=$(CURDIR)/bin/conveyor $(GO) test -race -p 2 -count=1 -timeout 20m ./...
	$(MAKE) fuzz FUZZTIME=8s

test-short:
	$(GO) test -short -count=1 ./...

# Benchmarks: figures and how to read them are in docs/benchmarks.md.
bench: build images
	CONVEYOR_BIN=$(CURDIR)/bin/conveyor $(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m \
		./pipeline ./cmd/conveyor ./executor/build/... ./store/logs ./server/live

FUZZTIME ?= 60s
fuzz:
	$(GO) test ./pipeline -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pipeline -run '^$$' -fuzz '^FuzzVariableRefs$$' -fuzztime $(FUZZTIME)
	$(GO) test ./executor/build/buildspec -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./server/webhook -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./executor/source/filter -run '^$$' -fuzz '^FuzzMatch$$' -fuzztime $(FUZZTIME)
	$(GO) test ./cmd/conveyor -run '^$$' -fuzz '^FuzzDeploySections$$' -fuzztime $(FUZZTIME)
	$(GO) test ./cmd/conveyor -run '^$$' -fuzz '^FuzzNotificationsSection$$' -fuzztime $(FUZZTIME)
	$(GO) test ./agent/appspec -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/yamldoc -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/cron -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./executor/build/reports -run '^$$' -fuzz '^FuzzParseJUnit$$' -fuzztime $(FUZZTIME)
	$(GO) test ./executor/build/reports -run '^$$' -fuzz '^FuzzParseCucumber$$' -fuzztime $(FUZZTIME)
	$(GO) test ./archive -run '^$$' -fuzz '^FuzzExtractZip$$' -fuzztime $(FUZZTIME)
	$(GO) test ./archive -run '^$$' -fuzz '^FuzzExtractTar$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf bin
