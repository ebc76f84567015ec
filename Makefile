# The test command of the README, and of CI (.ci/run).
#   make test   installs the real components the integration tests use
#               (Debian/Ubuntu, as root or with sudo), then runs every test,
#               a few seconds of each fuzz target, and every benchmark of
#               bench/ small and once (bench/run --smoke, about a minute
#               once the peers are built), so none of them rots.
#   make demo   the seed scenario on the embedded registry.
GO ?= go

.PHONY: test deps unit demo build vet tidy

test: deps tidy
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -timeout 30m ./...
	FUZZTIME=5s ./.ci/fuzz-smoke
	./bench/run --smoke

deps:
	./.ci/install-deps

# go.mod and go.sum must be exactly what `go mod tidy` makes of them, for the
# root module and for the tools modules that .ci/build-* build from.
tidy:
	$(GO) mod tidy -diff
	cd tools && $(GO) mod tidy -diff
	cd tools/triggers && $(GO) mod tidy -diff

unit:
	$(GO) test -race -shuffle=on ./...

demo:
	$(GO) run ./cmd/cascade demo

build:
	$(GO) build -o bin/cascade ./cmd/cascade

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }

# The end-to-end suite: the seed scenario and the multi-arch rebase chain on
# real components (`make deps` installs them; CI=true fails on a missing one).
.PHONY: e2e
e2e:
	$(GO) test ./test/e2e/ -v -count=1
