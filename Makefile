# edgetail: `make check` is the whole test suite (what CI runs); it installs
# what it needs when missing.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null | sed 's/^v//' || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
TAGS    := nomsgpack
LDFLAGS := -s -w -X edgetail/agent.Version=$(VERSION) -X edgetail/agent.Commit=$(COMMIT)

.PHONY: all build run check deps lint test bench fuzz package clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o edgetail .

run:
	$(GO) run -tags $(TAGS) .

# The whole suite: static checks, then every test with the race detector
# (fuzz seed corpora run as ordinary tests).
check: deps lint test

deps:
	bash scripts/deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet -tags $(TAGS) ./...

test:
	$(GO) test -race -tags $(TAGS) -timeout 30m ./...

# Microbenchmarks of the hot path.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./stream/ ./tailer/

# FUZZTIME per target, e.g. make fuzz FUZZTIME=10m
FUZZTIME ?= 30s
fuzz:
	for t in FuzzAppendSafe FuzzDetectLevel FuzzParseRequest; do \
	  $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./stream/ || exit 1; done

clean:
	rm -rf edgetail dist
