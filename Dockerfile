# Build a static binary, then run it from a minimal non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/banli/banli/cmd/banli/build.version=${VERSION}" -o /out/banli ./cmd/banli \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/banli /banli
COPY --from=build --chown=65532:65532 /out/data /data
# Inside a container the service must listen beyond loopback for the
# published ports to reach it, and beyond loopback it serves TLS only:
# make the certificates into the volume first (banli certs init, see the
# README's Docker section).
ENV BANLI_DATA=/data/banli.db \
    BANLI_GRPC_ADDR=0.0.0.0:50051 \
    BANLI_HTTP_ADDR=0.0.0.0:8080 \
    BANLI_TLS_CERT=/data/tls/server.crt \
    BANLI_TLS_KEY=/data/tls/server.key \
    BANLI_CA=/data/tls/ca.crt
VOLUME ["/data"]
EXPOSE 50051 8080
USER 65532:65532
# distroless has no curl: the binary asks its own gRPC health over TLS.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD ["/banli", "health", "-addr", "127.0.0.1:50051"]
ENTRYPOINT ["/banli"]
CMD ["serve"]
