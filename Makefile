# Ringtail. A bare `make` lists the targets.
GO        ?= go
BIN       := bin/ringtail
FUZZTIME  ?= 60s
# TEST_FUZZTIME is each fuzz target's share of `make test` (a smoke run; `make fuzz` runs longer;
# 32 targets at 1s: the e2e suite grew with the HTTP services to ~15 min here).
TEST_FUZZTIME ?= 1s
PKGS      := ./...
# TEST_PARALLEL: tests of one package run at once (go test's -parallel; its
# default is GOMAXPROCS). The e2e tests mostly wait on the ringtail processes
# they start, so 4 keep this 2-core machine busy: e2e 390 s, against 600 s at 2.
TEST_PARALLEL ?= 4

# Packages: `make deb rpm` (VERSION from git describe; override with
# `make deb VERSION=1.2.3`). nfpm is pinned and built by `go run`.
VERSION   ?= $(shell packaging/version.sh)
ARCH      ?= $(shell $(GO) env GOARCH)
DIST      := dist
NFPM      ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.44.0

.PHONY: help build run test test-unit lint fuzz fuzz-long torture torture-check simulate powerloss bench bench-smoke bench-conns bench-suite bench-suite-smoke bench-create scale-fd bench-compact bench-txn bench-fetch-sessions bench-tls bench-console clean deb rpm dist-bin

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/ringtail
	$(GO) build -o $(BIN) ./cmd/ringtail

run: build ## build and run a zero-config single node on 127.0.0.1:9092 (data in ./ringtail-data)
	./$(BIN) serve

test: lint ## lint, all tests under -race against the real binary (itself built with -race), and a short fuzz run (TEST_FUZZTIME each)
	$(GO) build -race -o $(BIN)-race ./cmd/ringtail
	RINGTAIL_BIN=$(CURDIR)/$(BIN)-race $(GO) test -race -count=1 -parallel $(TEST_PARALLEL) -timeout 20m $(PKGS)
	cd benchmarks && $(GO) test -count=1 ./...
	$(MAKE) fuzz FUZZTIME=$(TEST_FUZZTIME)

test-unit: ## fast tests only (no end-to-end)
	$(GO) test -race -short -count=1 $(PKGS)

# `make simulate`: SEEDS seeds from SEED (a failing seed prints `make simulate SEED=<n> SEEDS=1`).
SEEDS ?= 10000
SEED  ?= 0
simulate: ## deterministic simulation of the controller quorum and partition replication: SEEDS seeds (default 10,000) from SEED
	$(GO) test -count=1 -timeout 180m -run '^TestSimulate$$' -v ./sim -seeds=$(SEEDS) -seed=$(SEED)

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fuzz: ## run every fuzz target for FUZZTIME each (default 60s; make test runs each for TEST_FUZZTIME)
	@set -e; for spec in $$(grep -rlE '^func Fuzz' --include='*_test.go' . | sort); do \
	  dir=$$(dirname $$spec); \
	  for f in $$(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)' $$spec | cut -d' ' -f2); do \
	    echo "fuzz $$dir $$f ($(FUZZTIME))"; \
	    .ci/fuzz-one $(GO) $$dir $$f $(FUZZTIME); \
	  done; \
	done

# The nemesis suite (issue 17): make torture runs the single-node (100
# SIGKILL rounds) and 3-node (50 mixed rounds) runs against a plain build;
# SEED=n replays a seed; a failed run's history lands in torture/histories/.
torture: build ## nemesis suite: 100 single-node kill rounds and 50 mixed 3-node rounds; one summary line each, appended to torture/results.txt (SEED=n replays, RACE=1 uses a -race node binary)
	@bin=$(CURDIR)/$(BIN); if [ "$(RACE)" = 1 ]; then $(GO) build -race -o $(BIN)-race ./cmd/ringtail && bin=$(CURDIR)/$(BIN)-race; fi; \
	RINGTAIL_BIN=$$bin RINGTAIL_TORTURE=long RINGTAIL_TORTURE_SEED=$(SEED) \
	  RINGTAIL_TORTURE_OUT=$(CURDIR)/torture/histories RINGTAIL_TORTURE_RESULTS=$(CURDIR)/torture/results.txt \
	  $(GO) test -count=1 -timeout 3h -run '^TestTorture(Single|Cluster)$$' -v ./torture > bin/torture.log 2>&1; \
	  rc=$$?; grep -E '^(torture |--- |FAIL|ok)|anomal|round [0-9]+:' bin/torture.log; echo "full log: bin/torture.log"; exit $$rc

torture-check: ## check a saved torture history again (HISTORY=path)
	RINGTAIL_TORTURE_HISTORY=$(HISTORY) $(GO) test -count=1 -run '^TestTortureCheckHistory$$' -v ./torture

fuzz-long: ## every fuzz target for FUZZ_LONG_EXECS executions each (default 10,000,000); counts, wall times and findings in benchmarks/results/<date>-fuzz-long.md
	nice -n 19 .ci/fuzz-long $(GO) $${FUZZ_LONG_EXECS:-10000000} benchmarks/results/$$(date -u +%F)-fuzz-long.md

bench-conns: build ## 10,000 idle connections (CONNS): broker RSS and another client's latency with and without them; 1 GiB (PIPELINED_MIB) of unread pipelined produce; results in benchmarks/results/<date>-conns-<n>.json
	prlimit --nofile=$$(( $${CONNS:-10000} + 1024 )) env RINGTAIL_BIN=$(CURDIR)/$(BIN) RINGTAIL_CONNS=$${CONNS:-10000} RINGTAIL_PIPELINED_MIB=$${PIPELINED_MIB:-1024} \
	  RINGTAIL_CONNS_REPORT=$(CURDIR)/benchmarks/results/$$(date -u +%F)-conns-$${CONNS:-10000}.json \
	  $(GO) test -count=1 -timeout 20m -run '^TestBenchConnections$$' -v ./e2e

bench: ## Go micro-benchmarks (storage, iocore, kafka)
	$(GO) test -run '^$$' -bench . -benchmem ./iocore ./storage ./kafka

bench-smoke: ## a few seconds of `ringtail bench` produce, consume and e2e against a real node (part of make test too)
	$(GO) test -count=1 -run '^TestBenchSmoke$$' -v ./e2e

bench-suite: build ## the benchmark suite (issue 5): fresh nodes, fio/iperf3 limits, workloads a-f side by side; results in benchmarks/results/<date>-<host>/ (SUITE_FLAGS, e.g. --only a,c)
	cd benchmarks && $(GO) run ./cmd/suite $(SUITE_FLAGS)

scale-fd: build ## 10,000 partitions (FD_PARTITIONS) create, take a record each, serve and restart under prlimit --nofile=20000 (FD_LIMIT), non-race binary; RSS and start-up time in benchmarks/results/<date>-scale-fd-<partitions>.json
	RINGTAIL_BIN=$(CURDIR)/$(BIN) RINGTAIL_FD_PARTITIONS=$${FD_PARTITIONS:-10000} RINGTAIL_FD_LIMIT=$${FD_LIMIT:-20000} \
	  RINGTAIL_FD_REPORT=$(CURDIR)/benchmarks/results/$$(date -u +%F)-scale-fd-$${FD_PARTITIONS:-10000}.json \
	  $(GO) test -count=1 -timeout 30m -run '^TestManyPartitionsUnderFileLimit$$' -v ./e2e

bench-create: build ## one CreateTopics of 6,000 partitions on a fresh node: time to answer and until all take a write (3 runs; results in benchmarks/results/<date>-create.json)
	cd benchmarks && $(GO) run ./cmd/createbench --ringtail ../$(BIN) --out results/$$(date -u +%F)-create.json

bench-compact: build ## a producer at full speed into a compacted topic with the log cleaner running and without it (3 runs each; results in benchmarks/results/<date>-compaction.json)
	cd benchmarks && $(GO) run ./cmd/compactbench --ringtail ../$(BIN) --out results/$$(date -u +%F)-compaction.json

bench-txn: build ## transactional produce (100 and 1,000 records per transaction) next to idempotent produce (3 runs each; results in benchmarks/results/<date>-transactions.json)
	cd benchmarks && $(GO) run ./cmd/txnbench --ringtail ../$(BIN) --out results/$$(date -u +%F)-transactions.json

bench-fetch-sessions: build ## one consumer tailing 1,000 partitions with fetch sessions on and off (2 runs x 10 s each; results in benchmarks/results/<date>-fetch-sessions.json)
	cd benchmarks && $(GO) run ./cmd/fetchsessbench --ringtail ../$(BIN) --out results/$$(date -u +%F)-fetch-sessions.json

bench-console: build ## the web console against 10,000 topics of 10 partitions (CONSOLE_TOPICS): page load times, and produce throughput with and without console pages loading (results in benchmarks/results/<date>-console-<topics>.json)
	cd benchmarks && $(GO) run ./cmd/consolebench --ringtail ../$(BIN) --topics $${CONSOLE_TOPICS:-10000} --out results/$$(date -u +%F)-console-$${CONSOLE_TOPICS:-10000}.json

bench-tls: build ## consume a 512 MiB topic over plaintext (sendfile and copy) and over TLS (3 runs each; results in benchmarks/results/<date>-tls-fetch.json)
	cd benchmarks && $(GO) run ./cmd/tlsfetchbench --ringtail ../$(BIN) --out results/$$(date -u +%F)-tls-fetch.json

powerloss: ## 12,000 simulated power losses (POWERLOSS_POINTS, POWERLOSS_RAFT_POINTS) over storage (vfs.Crash) plus the raft log; prints the count and seed (replay: RINGTAIL_POWERLOSS_SEED=<seed>)
	RINGTAIL_POWERLOSS_POINTS=$${POWERLOSS_POINTS:-10000} $(GO) test -count=1 -timeout 30m -run '^TestPowerLoss$$' -v ./storage
	RINGTAIL_POWERLOSS_POINTS=$${POWERLOSS_RAFT_POINTS:-2000} $(GO) test -count=1 -timeout 10m -run '^TestRaftLogPowerLoss$$' -v ./controlplane

bench-suite-smoke: build ## the benchmark suite end to end with seconds of load (results in a temporary folder)
	cd benchmarks && $(GO) run ./cmd/suite --smoke $(SUITE_FLAGS)

dist-bin: ## build the static release binary dist/ringtail (version from git describe)
	@mkdir -p $(DIST)
	CGO_ENABLED=0 GOARCH=$(ARCH) $(GO) build -trimpath -ldflags "-s -w -X github.com/ringtail/ringtail/admin.Version=$(VERSION)" -o $(DIST)/ringtail ./cmd/ringtail
	printf 'ringtail (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- Ringtail maintainers <ringtail@users.noreply.github.com>  %s\n' \
	  '$(VERSION)' '$(VERSION)' "$$(date -R -d @$$(git log -1 --format=%ct))" | gzip -9n > $(DIST)/changelog.gz

deb: dist-bin ## build dist/ringtail_<version>_<arch>.deb (see packaging/README.md)
	VERSION='$(VERSION)' ARCH=$(ARCH) $(NFPM) package --config packaging/nfpm.yaml --packager deb --target $(DIST)/

rpm: dist-bin ## build dist/ringtail-<version>.<arch>.rpm
	VERSION='$(VERSION)' ARCH=$(ARCH) $(NFPM) package --config packaging/nfpm.yaml --packager rpm --target $(DIST)/

clean: ## remove build outputs (not ./ringtail-data)
	rm -rf bin dist
