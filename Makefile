# The two commands a user needs are `make run` and `make test`; the rest are
# for developers. Every target installs what it needs when it is missing.
GO       ?= go
FUZZTIME ?= 10s
BIN      := $(CURDIR)/.bin

.PHONY: run test deps lint gen bench bench-compare bench-http fuzz arm64 soak build clean

## run: the main job — echo server and benchmark side by side on 127.0.0.1.
run: build
	@bash .ci/run-main.sh "$(BIN)"

## build: the binaries under cmd/ into .bin/.
build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

## test: everything CI checks (format, vet, generated files, race tests,
## allocation checks without -race, interop against peers, conformance on
## every backend, fuzz smoke, arm64 under qemu, the portable masking code).
test: deps lint
	bash .ci/gencheck.sh
	bash .ci/layers.sh
	$(GO) test -race -count=1 -timeout 15m ./...
	# The allocation checks skip under -race, whose instrumentation allocates.
	$(GO) test -count=1 -run 'Alloc' ./...
	cd bench && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m ./...
	bash .ci/conform.sh
	FUZZTIME=$(FUZZTIME) bash .ci/fuzz.sh
	bash .ci/arm64.sh
	$(GO) test -count=1 -tags purego -run '^(TestMask|FuzzMask)' .

deps:
	@bash .ci/deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^bench/') ); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

gen:
	$(GO) generate ./...

fuzz:
	FUZZTIME=$(FUZZTIME) bash .ci/fuzz.sh

arm64: deps
	bash .ci/arm64.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## bench-compare: every echo server (rawws backends and peers) under the
## same rawws-bench scenarios, interleaved, 3 rounds; writes bench/RESULTS-echo.md
## and bench/echo.svg.
bench-compare: build
	cd bench && $(GO) run ./cmd/compare -bin $(BIN)

## bench-http: wrk against rawws's HTTP server, fasthttp and net/http.
bench-http: deps
	bash bench/http-compare.sh

## soak: the long soak (every backend, both HTTP fronts): messages, bytes and
## duration are printed per run. SOAKFLAGS adds e.g. -soak.conns=64 -soak.seed=N.
soak:
	$(GO) test -run Soak -count=1 -timeout 30m -v ./server/internal/soak -soak.long $(SOAKFLAGS)

clean:
	rm -rf $(BIN)
