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

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/castware-operator /castware-operator
USER 65532:65532
ENTRYPOINT ["/castware-operator"]
