# edgetail: `make check` is the whole test suite (what CI runs); it installs
# what it needs when missing.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null | sed 's/^v//' || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
TAGS    := nomsgpack
LDFLAGS := -s -w -X main.Version=$(VERSION) -X main.Commit=$(COMMIT)

.PHONY: all build run check deps lint test test-package bench bench-fleet fuzz package clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o edgetail ./cmd/edgetail

run:
	$(GO) run -tags $(TAGS) ./cmd/edgetail

# The whole suite: static checks, then every test with the race detector
# (fuzz seed corpora run as ordinary tests).
check: deps lint test test-package

deps:
	bash scripts/deps.sh lintian:lintian rpm:rpm systemd-analyze:systemd journalctl:systemd /lib/systemd/systemd-journald:systemd man:man-db chromium:chromium

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet -tags $(TAGS) ./...

test:
	$(GO) test -race -tags $(TAGS) -timeout 30m ./...

# Microbenchmarks of the hot path, then the load benchmark (bench/: edgetail
# beside websocketd + tail -F, about 5 minutes), which writes BENCHMARKS.md.
# BENCHFLAGS=-quick for a short smoke run; BENCHFLAGS='-profile DIR' keeps
# edgetail's CPU and heap profiles of each scenario.
BENCHFLAGS ?=
bench: build
	bash scripts/deps.sh websocketd:websocketd
	$(GO) test -run '^$$' -bench . -benchmem ./stream/ ./tailer/
	$(GO) run ./bench -edgetail ./edgetail -out BENCHMARKS.md $(BENCHFLAGS)

# The fleet benchmark: 4, 16 and 64 simulated agents x 100 lines/s into one
# JetStream server (in process) and one hub process with 10 viewers, then one
# agent at 1,000 lines/s with and without publishing (about 2 minutes).
bench-fleet: build
	$(GO) run -tags $(TAGS) ./bench/fleet -edgetail ./edgetail

# FUZZTIME per target, e.g. make fuzz FUZZTIME=10m
FUZZTIME ?= 30s
FUZZ_TARGETS := sse:FuzzAppendSafe event:FuzzDetectLevel query:FuzzParseRequest agent:FuzzParseConfig \
	follow:FuzzReader journal:FuzzParseEntry fleet:FuzzParseID fleet:FuzzDecodeLines \
	hostmetrics:FuzzParseProcStat hostmetrics:FuzzParseNetDev hostmetrics:FuzzParseMeminfo \
	history:FuzzParseTime history:FuzzFinder
fuzz:
	for t in $(FUZZ_TARGETS); do \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*}/ || exit 1; done

# Packages: a static binary, the man page and the units, as a .deb and an
# .rpm in $(DIST)/, built with nfpm (run with go run: it stays out of go.mod).
# The version comes from git tags (packaging/version.sh); override it with
# make package PKG_VERSION=1.2.3.
DIST        ?= dist
PKG_VERSION ?= $(shell sh packaging/version.sh)
PKG_ARCH    ?= $(shell $(GO) env GOARCH)
NFPM        ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
PKG_LDFLAGS  = $(subst main.Version=$(VERSION),main.Version=$(PKG_VERSION),$(LDFLAGS))

package:
	rm -rf $(DIST)/build $(DIST)/edgetail_*.deb $(DIST)/edgetail-*.rpm
	mkdir -p $(DIST)/build
	CGO_ENABLED=0 GOARCH=$(PKG_ARCH) $(GO) build -trimpath -tags $(TAGS) -ldflags '$(PKG_LDFLAGS)' -o $(DIST)/build/edgetail ./cmd/edgetail
	gzip -9n < packaging/edgetail.1 > $(DIST)/build/edgetail.1.gz
	sh packaging/changelog.sh '$(PKG_VERSION)' '$(COMMIT)' | gzip -9n > $(DIST)/build/changelog.gz
	for p in deb rpm; do \
	  EDGETAIL_VERSION='$(PKG_VERSION)' EDGETAIL_ARCH='$(PKG_ARCH)' EDGETAIL_BUILD='$(DIST)/build' \
	    $(NFPM) package --config packaging/nfpm.yaml --packager $$p --target '$(DIST)/' || exit 1; \
	done

# Builds the packages, lints, installs, upgrades and purges the .deb, and
# checks the unit's hardening (needs root and dpkg; skipped otherwise).
test-package:
	bash packaging/test.sh

clean:
	rm -rf edgetail dist
