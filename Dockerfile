# mcpgate container image.
#
#   docker build -t mcpgate .
#   docker run -p 8080:8080 -v mcpgate-data:/data \
#     -e MCPGATE_PUBLIC_URL=https://mcp.example.com mcpgate
#
# The data volume holds the SQLite store and the generated keys; see
# docs/deployment.md for secrets, health checks and many replicas.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin mcpgate \
    && strip target/release/mcpgate

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin mcpgate \
    && mkdir -p /data /etc/mcpgate \
    && chown mcpgate:mcpgate /data
COPY --from=build /src/target/release/mcpgate /usr/local/bin/mcpgate
COPY config/ /etc/mcpgate/
USER mcpgate
ENV MCPGATE_CONFIG=/etc/mcpgate/mcpgate.toml \
    MCPGATE_LISTEN=0.0.0.0:8080 \
    MCPGATE_DATA_DIR=/data \
    MCPGATE_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -sf http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["mcpgate"]
CMD ["serve"]
