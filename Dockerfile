# Builds the exactsync and exactsim commands into a small image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/exactsync ./cmd/exactsync && \
    CGO_ENABLED=0 go build -trimpath -o /out/exactsim ./cmd/exactsim

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/exactsync /out/exactsim /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/exactsync"]
CMD ["run"]
