# castware-operator image: a static binary on distroless, running as nonroot.
# The same binary carries the subcommands the Helm chart's hook Jobs run.
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV GOTOOLCHAIN=local CGO_ENABLED=0
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=v0.1.0-dev
ARG COMMIT=unknown
RUN go build -trimpath \
      -ldflags "-s -w -X github.com/castware-operator/castware-operator/internal/version.Version=${VERSION} -X github.com/castware-operator/castware-operator/internal/version.Commit=${COMMIT}" \
      -o /out/castware-operator .

# `make image` builds the same image without Docker (internal/release; test/packaging compares the two):
# the same binary path, user, entrypoint and labels; its CA bundle comes from a Go module, not Debian.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=v0.1.0-dev
ARG REVISION=unknown
LABEL org.opencontainers.image.source=https://github.com/castware-operator/castware-operator \
      org.opencontainers.image.revision=${REVISION} \
      org.opencontainers.image.version=${VERSION}
COPY --from=build /out/castware-operator /castware-operator
USER 65532:65532
ENTRYPOINT ["/castware-operator"]
