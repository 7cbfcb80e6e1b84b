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
# No shell or curl in the image: orchestrators probe gRPC health
# (grpc.health.v1) on port 50051, e.g. Kubernetes `grpc:` probes.
ENTRYPOINT ["/usr/local/bin/oauth-apps"]
CMD ["serve"]
