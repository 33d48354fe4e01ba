# bosun: multi-stage build. The runtime image carries bosun, a pinned Terraform and a pinned
# OpenTofu (each downloaded at build time and checked against its SHA-256 sum), git, and
# bubblewrap: Terraform runs under bwrap (BOSUN_SANDBOX=bwrap), which needs user namespaces
# in the container; deploy/kubernetes/bosun.yaml says what that takes. Without them
# `bosun serve` refuses to start and says so.
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg OPENTOFU_SHA256_AMD64=<sha256 of tofu_1.11.5_linux_amd64.zip> \
#     --build-arg OPENTOFU_SHA256_ARM64=<sha256 of tofu_1.11.5_linux_arm64.zip> -t bosun .
#
# Terraform's sums below are HashiCorp's published ones for 1.15.5 (the entries of
# terraform_1.15.5_SHA256SUMS for linux_amd64 and linux_arm64, as HashiCorp's own Homebrew tap
# pins them). OpenTofu's are not pinned here: they could not be checked against the release
# when this was written, so they must be given (from the release's tofu_<version>_SHA256SUMS,
# whose signature you have checked); the build fails without them rather than trust an
# unchecked download. Another version of either needs its version and both of its sums.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .sqlx ./.sqlx
COPY src ./src
COPY benches ./benches
# The store's checked SQL is built from the committed offline data, never a database.
ENV SQLX_OFFLINE=true
RUN cargo build --release --locked --bin bosun

FROM debian:bookworm-slim AS tools
# Set by BuildKit to the platform being built: amd64 or arm64.
ARG TARGETARCH
ARG TERRAFORM_VERSION=1.15.5
ARG TERRAFORM_SHA256_AMD64=702b2136af6728c8ff037f843dd2dbce2b7ad88786b7381d1d72aefa250f601c
ARG TERRAFORM_SHA256_ARM64=06e7b48de826146c6d9331ba35b13da12332d8392be30d1dd6b789ba4713fff0
ARG OPENTOFU_VERSION=1.11.5
ARG OPENTOFU_SHA256_AMD64
ARG OPENTOFU_SHA256_ARM64
# Debian's packages are not pinned to versions (DL3008): bookworm's security updates replace
# them; pin the base images by digest to fix them too.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl unzip \
 && rm -rf /var/lib/apt/lists/*
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
# fetch NAME URL SHA256: downloads URL, refuses it unless its SHA-256 is SHA256 (64 hex
# digits, required), and unpacks the executable NAME from the zip into /out. Statements are
# separated by `;`, not `&&`: bash ignores `set -e` inside a function called from an && list.
RUN mkdir /out; \
    fetch() { \
      local name=$1 url=$2 sum=$3; \
      if [[ ! $sum =~ ^[0-9a-f]{64}$ ]]; then \
        echo "no SHA-256 for $name on $TARGETARCH: pass it as a build argument (see the Dockerfile's header)" >&2; \
        exit 1; \
      fi; \
      curl --proto '=https' --tlsv1.2 -fsSL -o "/tmp/$name.zip" "$url"; \
      if ! echo "$sum  /tmp/$name.zip" | sha256sum --check --strict -; then \
        echo "$url does not have the SHA-256 $sum: refused" >&2; \
        exit 1; \
      fi; \
      unzip -j -o "/tmp/$name.zip" "$name" -d /out; \
      chmod 0755 "/out/$name"; \
      rm "/tmp/$name.zip"; \
    }; \
    case "$TARGETARCH" in \
      amd64) tf_sum=$TERRAFORM_SHA256_AMD64; tofu_sum=${OPENTOFU_SHA256_AMD64:-} ;; \
      arm64) tf_sum=$TERRAFORM_SHA256_ARM64; tofu_sum=${OPENTOFU_SHA256_ARM64:-} ;; \
      *) echo "unsupported TARGETARCH '${TARGETARCH}': amd64 or arm64" >&2; exit 1 ;; \
    esac; \
    fetch terraform \
      "https://releases.hashicorp.com/terraform/${TERRAFORM_VERSION}/terraform_${TERRAFORM_VERSION}_linux_${TARGETARCH}.zip" \
      "$tf_sum"; \
    fetch tofu \
      "https://github.com/opentofu/opentofu/releases/download/v${OPENTOFU_VERSION}/tofu_${OPENTOFU_VERSION}_linux_${TARGETARCH}.zip" \
      "$tofu_sum"; \
    /out/terraform version; \
    /out/tofu version

FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git bubblewrap tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/bosun --uid 10001 --user-group bosun
COPY --from=build /src/target/release/bosun /usr/local/bin/bosun
COPY --from=tools /out/terraform /out/tofu /usr/local/bin/
COPY config/bosun.example.toml /etc/bosun/bosun.example.toml
USER 10001:10001
WORKDIR /var/lib/bosun
# Terraform by default; BOSUN_TERRAFORM_BIN=/usr/local/bin/tofu runs OpenTofu instead.
ENV BOSUN_LISTEN=0.0.0.0:4141 \
    BOSUN_DATA_DIR=/var/lib/bosun/data \
    BOSUN_TERRAFORM_BIN=/usr/local/bin/terraform \
    BOSUN_LOG_FORMAT=json
EXPOSE 4141
VOLUME ["/var/lib/bosun/data"]
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/4141 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '200 OK' <&3"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/bosun"]
CMD ["serve"]
