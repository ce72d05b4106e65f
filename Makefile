# nfvkit — make deps | test | demo | bench | fuzz
#
# Every target that needs packages calls `deps` first; `deps` is idempotent:
# it installs only what is missing, and only as root.

GO       ?= go
GOFLAGS  ?=
BIN      := bin
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo devel)
# Debian packages the tests and the demo use.
DEB_PKGS := iproute2 iputils-ping tcpdump qemu-system-x86 iperf3 tshark wireguard-tools linux-source-6.1 build-essential bc bison flex libelf-dev xz-utils zstd strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins nftables
# Fuzz targets run by `make fuzz`, FUZZTIME each.
FUZZTIME ?= 30s

.PHONY: all build deps test test-short vet fmt-check demo bench fuzz schema clean

all: build

build:
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN)/ ./cmd/...

deps:
	@./scripts/deps.sh $(DEB_PKGS)
	@$(GO) mod download

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# The whole suite: unit, golden, fuzz seeds, host and image integration.
# NFV_REQUIRE_ALL=1 turns every "needs root/QEMU/…" skip into a failure, so
# nothing is skipped silently where the machine should be able to run it.
test: deps fmt-check vet
	NFV_REQUIRE_ALL=$${NFV_REQUIRE_ALL:-$$( [ "$$(id -u)" = 0 ] && echo 1 || echo 0 )} \
		$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -race -timeout 10m ./pkg/dataplane/...

test-short:
	$(GO) test -short ./...

# The demo builds the example router's image, boots it under QEMU between
# two network namespaces and passes ping and TCP through it (as root).
demo: deps build
	@./scripts/demo.sh

# Micro-benchmarks, then the end-to-end harness (bench/e2e, root): appliances
# on veth between namespaces against Linux forwarding in the same run. Both
# run even if the other fails; the status says whether either did.
# BENCH_DURATION, BENCH_REPS and BENCH_ARGS (e.g. -cases kernel) tune it.
bench: deps
	@rc=0; \
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/... ./appliances/... ./bench/... || rc=1; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "bench: the end-to-end benchmark needs root (namespaces, veth): sudo make bench" >&2; exit 1; \
	fi; \
	$(GO) run ./bench/cmd/e2e -duration $${BENCH_DURATION:-5s} -reps $${BENCH_REPS:-5} \
		-json out/bench-e2e.json $(BENCH_ARGS) || rc=1; \
	exit $$rc

fuzz:
	@./scripts/fuzz.sh $(FUZZTIME)

schema:
	$(GO) run ./pkg/config/cmd/genschema -o docs/policy.schema.json

clean:
	rm -rf $(BIN) out
