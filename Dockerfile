# ghcr.io/imagecascade/cascade: the cascade binary alone, static, on scratch
# (plus CA certificates), running as uid 65532. About 7 MB compressed
# (bench/run-b6 measures it).
#
# Two ways to build it; the last stage is the default.
#
# 1. Release / CI (needs the golang image and the module proxy):
#      buildah build --target release --build-arg VERSION=v1.2.3 -t ghcr.io/imagecascade/cascade:v1.2.3 .
#
# 2. Offline, from a binary built on this machine (no base image to pull):
#      CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/cascade ./cmd/cascade
#      cp /etc/ssl/certs/ca-certificates.crt bin/
#      buildah build -t cascade:local .
#    (--build-arg BINARY=… and CA_CERTS=… name other files in the context.)
#
# Run: podman run --rm ghcr.io/imagecascade/cascade:v1 plan --image …
# The entrypoint is the binary, so the GitHub Action's container form is
# `uses: docker://ghcr.io/imagecascade/cascade:v1` with `args: action`.

ARG GO_VERSION=1.26

FROM docker.io/library/golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/imagecascade/cascade/internal/cli.Version=${VERSION}" \
      -o /out/cascade ./cmd/cascade \
 && mkdir -p /out/tmp && chmod 1777 /out/tmp

FROM scratch AS release
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/tmp /tmp
COPY --from=build /out/cascade /cascade
USER 65532:65532
ENTRYPOINT ["/cascade"]

FROM scratch AS local
ARG BINARY=bin/cascade
ARG CA_CERTS=bin/ca-certificates.crt
COPY ${CA_CERTS} /etc/ssl/certs/ca-certificates.crt
COPY ${BINARY} /cascade
USER 65532:65532
ENTRYPOINT ["/cascade"]
