# bosun: multi-stage build. The runtime image carries Terraform-compatible tooling only if you
# add it (see BOSUN_TERRAFORM_BIN). Terraform runs under bubblewrap (BOSUN_SANDBOX=bwrap), which
# needs user namespaces in the container (e.g. a seccomp profile that allows them); without them
# `bosun serve` refuses to start and says so.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin bosun

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git bubblewrap tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/bosun --uid 10001 bosun
COPY --from=build /src/target/release/bosun /usr/local/bin/bosun
COPY config/bosun.example.toml /etc/bosun/bosun.example.toml
USER bosun
WORKDIR /var/lib/bosun
ENV BOSUN_LISTEN=0.0.0.0:4141 \
    BOSUN_DATA_DIR=/var/lib/bosun/data \
    BOSUN_LOG_FORMAT=json
EXPOSE 4141
VOLUME ["/var/lib/bosun/data"]
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/4141 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '200 OK' <&3"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/bosun"]
CMD ["serve"]
