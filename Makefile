# The test command of the README, and of CI (.ci/run).
#   make test   installs the real components the integration tests use
#               (Debian/Ubuntu, as root or with sudo), then runs every test.
#   make demo   the seed scenario on the embedded registry.
GO ?= go

.PHONY: test deps unit demo build vet

test: deps
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -timeout 30m ./...

deps:
	./.ci/install-deps

unit:
	$(GO) test -race -shuffle=on ./...

demo:
	$(GO) run ./cmd/cascade demo

build:
	$(GO) build -o bin/cascade ./cmd/cascade

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
