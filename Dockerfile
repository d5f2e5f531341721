# Builds the exactsync, exactsim and exactsync-bench commands into a small image.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t exactsync .
#   docker run --rm -e DATABASE_URL=postgres://… exactsync migrate
#
# VERSION is what `exactsync version` says; the build context holds no .git to tell it.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=${VERSION}" -o /out/exactsync ./cmd/exactsync && \
    CGO_ENABLED=0 go build -trimpath -o /out/exactsim ./cmd/exactsim && \
    CGO_ENABLED=0 go build -trimpath -o /out/exactsync-bench ./cmd/exactsync-bench

FROM debian:bookworm-slim
# wget answers the compose file's healthchecks (exactsync run's /healthz, the
# simulator's /_sim/stats).
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates wget && \
    rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 exactsync && \
    install -d -o exactsync -g exactsync -m 0700 /var/lib/exactsync /var/lib/exactsim
COPY --from=build /out/exactsync /out/exactsim /out/exactsync-bench /usr/local/bin/
# Local state (recovery files of refreshed token pairs): mount a volume here.
ENV EXACTSYNC_STATE_DIR=/var/lib/exactsync
# The webhook callback of `run` (EXACTSYNC_WEBHOOK_LISTEN, default :8090): the one port to
# put behind the https reverse proxy. --listen's /metrics, /healthz and /readyz stay private.
EXPOSE 8090
USER exactsync
ENTRYPOINT ["/usr/local/bin/exactsync"]
CMD ["run"]
