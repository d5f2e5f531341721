# Builds the exactsync, exactsim and exactsync-bench commands into a small image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/exactsync ./cmd/exactsync && \
    CGO_ENABLED=0 go build -trimpath -o /out/exactsim ./cmd/exactsim && \
    CGO_ENABLED=0 go build -trimpath -o /out/exactsync-bench ./cmd/exactsync-bench

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && \
    rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 exactsync
COPY --from=build /out/exactsync /out/exactsim /out/exactsync-bench /usr/local/bin/
USER exactsync
ENTRYPOINT ["/usr/local/bin/exactsync"]
CMD ["run"]
