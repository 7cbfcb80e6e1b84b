# syntax=docker/dockerfile:1
# Build: no system protoc needed (protox compiles the protos in build.rs).
# Cargo reads every target Cargo.toml declares, the `load` bench included,
# so benches/ is copied too. CI (.ci/run) builds from exactly the files the
# COPY lines of this stage name.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY migrations ./migrations
COPY benches ./benches
COPY src ./src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin oauth-apps \
    && cp target/release/oauth-apps /oauth-apps

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home oauthapps
COPY --from=build /oauth-apps /usr/local/bin/oauth-apps
USER 10001
ENV OAUTH_APPS_LISTEN=0.0.0.0:50051 \
    OAUTH_APPS_LOG_FORMAT=json
EXPOSE 50051
# The image has a shell (debian-slim) but no grpcurl: the binary checks its
# own gRPC health (grpc.health.v1.Health/Check at OAUTH_APPS_LISTEN, asked on
# 127.0.0.1), exiting 0 only while the service is SERVING, which it is only
# while the database answers. Orchestrators can probe gRPC health on port
# 50051 directly too (Kubernetes `grpc:` probes). A server with TLS needs
# `oauth-apps health --ca ...` here instead.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/oauth-apps", "health", "--timeout", "3s"]
ENTRYPOINT ["/usr/local/bin/oauth-apps"]
CMD ["serve"]
