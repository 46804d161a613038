# syntax=docker/dockerfile:1
# Build: docker build -t tiktok-gateway .
# Run:   docker run -p 8080:8080 -e ZERNIO_API_KEY=... -v $PWD/gateway.toml:/app/gateway.toml:ro tiktok-gateway

FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them. The manifest names a lib, a
# bin and a bench, and cargo refuses a manifest whose targets are missing: each gets a stub.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && echo 'fn main() {}' > benches/normalize.rs \
    && cargo build --release --locked && rm -rf src benches
# Exactly what the release build reads, so that nothing else in the context (tests, docs, deploy/)
# invalidates this layer: sqlx::migrate! embeds migrations/ at compile time.
COPY src ./src
COPY benches ./benches
COPY migrations ./migrations
RUN touch src/main.rs src/lib.rs && cargo build --release --locked \
    && mkdir -p out/data && cp target/release/tiktok-gateway out/

# distroless/cc: glibc and CA certificates, no shell, runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
WORKDIR /app
COPY --from=build /src/out/tiktok-gateway /usr/local/bin/tiktok-gateway
COPY --from=build --chown=65532:65532 /src/out/data /app/data
ENV GATEWAY_LISTEN=0.0.0.0:8080 \
    GATEWAY_LOG_FORMAT=json \
    GATEWAY_STORE=sqlite:///app/data/gateway.db
USER nonroot
# 8080: the API; 9090: /metrics and the probes when admin_listen is set (deploy/ sets it).
EXPOSE 8080 9090
VOLUME ["/app/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/tiktok-gateway", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/tiktok-gateway"]
CMD ["serve"]
