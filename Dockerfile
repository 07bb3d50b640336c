# One image for the whole project: `spansink manager` (the operator) and
# `spansink collector` (what the operator deploys), so the operator can
# default the collector image to its own.

FROM golang:1.26.8 AS build
WORKDIR /src
# Dependencies first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY main.go ./
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY sink/ sink/
# IMAGE is the image being built; the manager deploys collectors from it.
ARG IMAGE=ghcr.io/spansink/spansink:v0.1.0
ARG TARGETOS=linux
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath \
      -ldflags "-s -w -X github.com/spansink/spansink/controllers/manager.DefaultImage=${IMAGE}" \
      -o /out/spansink . && \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath \
      -ldflags "-s -w" -o /out/spansink-collector ./cmd/spansink-collector

# Static binary on distroless: no shell, no package manager, non-root
# (uid/gid 65532, the same ids the collector pod runs with). The binary sits
# in /usr/local/bin, which is on the image's PATH, so that
# `kubectl exec deploy/<name>-collector -- spansink spans list` finds it.
# Pods set only args (`collector --config ...`, `manager ...`) and so run
# this entrypoint; for `collector` it execs spansink-collector beside it,
# the collector without the operator's code (half the memory).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/spansink-collector /usr/local/bin/spansink-collector
COPY --from=build /out/spansink /usr/local/bin/spansink
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/spansink"]
