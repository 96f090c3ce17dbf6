# Ringtail. A bare `make` lists the targets.
GO        ?= go
BIN       := bin/ringtail
FUZZTIME  ?= 10s
PKGS      := ./...

.PHONY: help build run test test-unit lint fuzz bench clean

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/ringtail
	$(GO) build -o $(BIN) ./cmd/ringtail

run: build ## build and run a zero-config single node on 127.0.0.1:9092 (data in ./ringtail-data)
	./$(BIN) serve

test: lint ## lint, all tests under -race against the real binary (itself built with -race), and a short fuzz run
	$(GO) build -race -o $(BIN)-race ./cmd/ringtail
	RINGTAIL_BIN=$(CURDIR)/$(BIN)-race $(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)

test-unit: ## fast tests only (no end-to-end)
	$(GO) test -race -short -count=1 $(PKGS)

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fuzz: ## run every fuzz target for FUZZTIME each (default 10s)
	@set -e; for spec in $$(grep -rlE '^func Fuzz' --include='*_test.go' . | sort); do \
	  dir=$$(dirname $$spec); \
	  for f in $$(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)' $$spec | cut -d' ' -f2); do \
	    echo "fuzz $$dir $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$dir; \
	  done; \
	done

bench: ## Go micro-benchmarks (storage, iocore, kafka)
	$(GO) test -run '^$$' -bench . -benchmem ./iocore ./storage ./kafka

clean: ## remove build outputs (not ./ringtail-data)
	rm -rf bin dist
