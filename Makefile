# cdp: `make run` starts the service, `make test` runs every test.
# Both work on a fresh machine with Go and PostgreSQL 15+ binaries installed.

GO        ?= go
BIN       := bin/cdp
FUZZTIME  ?= 30s
BENCH_DIR := .cdp/bench
KRATOS    := bin/kratos

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

.PHONY: build
build: ## build bin/cdp
	$(GO) build -o $(BIN) ./cmd/cdp

.PHONY: run
run: build kratos ## serve on 127.0.0.1:8080 with a private PostgreSQL, development keys and demo data under .cdp/
	$(BIN) serve --dev

.PHONY: kratos
kratos: $(KRATOS) ## build bin/kratos, the Ory Kratos server of the tests and local development (tools/kratos)

$(KRATOS): tools/kratos/go.mod tools/kratos/go.sum tools/kratos/main.go
	cd tools/kratos && CGO_ENABLED=1 $(GO) build -tags sqlite \
		-ldflags '-X github.com/ory/kratos/driver/config.Version=v1.3.1' -o ../../$(KRATOS) .

.PHONY: test
test: kratos ## unit and integration tests, against a real PostgreSQL (a private cluster under .cdp/test) and a real Ory Kratos
	$(GO) test -race -count=1 -timeout 25m ./...

.PHONY: bench
bench: build ## benchmarks: normalising, sealing, policy; 1,000,000 demo records imported, resolved in memory and in the database; 10,000,000 interactions imported, traits and a segment computed; audited profile and timeline reads under 64 clients; erasure and access export
	$(GO) test -run '^$$' -bench . -benchmem ./identity/ ./vault/ ./ingest/ ./policy/
	CDP_TEST_DATABASE_URL=$$($(BIN) db url --owner --data-dir $(BENCH_DIR)) \
		$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./demo/ ./cmd/cdp/ ./httpapi/

.PHONY: bench-10m
bench-10m: build ## ten million demo records generated, imported and resolved through the database, each stage's time, throughput and peak memory (about twenty minutes on two cores)
	CDP_BENCH_10M=1 CDP_TEST_DATABASE_URL=$$($(BIN) db url --owner --data-dir $(BENCH_DIR)) \
		$(GO) test -run '^$$' -bench '^BenchmarkTenMillion$$' -benchtime 1x -timeout 150m ./cmd/cdp/

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 30s)
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "$$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

.PHONY: lint
lint: ## gofmt and go vet
	@test -z "$$(gofmt -l .)" || (gofmt -l .; echo 'run gofmt -w'; exit 1)
	$(GO) vet ./...

.PHONY: db-stop
db-stop: build ## stop the private PostgreSQL clusters (development, tests, benchmarks)
	$(BIN) db stop
	$(BIN) db stop --data-dir .cdp/test
	$(BIN) db stop --data-dir $(BENCH_DIR)

.PHONY: clean
clean: db-stop ## stop the clusters and remove bin/ and .cdp/ (keys and data included)
	rm -rf bin .cdp
