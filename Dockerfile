# Two images from one build:
#   docker build -t formula-api .                                   the service (`api` only)
#   docker build --target kv-emulator -t formula-kv-emulator .      the local Cloudflare KV stand-in
# Run: see docker-compose.yml and .env.example. `scripts/image-check` builds, runs and stops both.
#
# The builder is pinned to the Rust release the project is tested with, at or above the workspace's
# `rust-version` (a test checks both against Cargo.lock). Dependencies are compiled in their own
# layer (cargo-chef): a source change rebuilds only the workspace crates of the image it touches,
# and a change to the api crate only that crate.

ARG RUST_VERSION=1.95.0

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config make \
    && rm -rf /var/lib/apt/lists/* \
    && cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

# The dependency graph of the workspace, without its code: changes only when dependencies change.
FROM chef AS planner
COPY Cargo.toml Cargo.lock ./
COPY crates crates
RUN cargo chef prepare --recipe-path recipe.json

# Each binary is built in its own stage, so that a change to the service does not rebuild the
# emulator (and the reverse). Cook and build select the same package, so that the cooked
# dependencies (same features) are reused. The emulator's stage copies only its own crate over the
# workspace skeleton, so its layers stay cached while the service changes.
FROM chef AS build-emulator
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json -p kv-emulator
COPY Cargo.toml Cargo.lock ./
COPY crates/kv-emulator crates/kv-emulator
RUN cargo build --release --locked -p kv-emulator

# The service's own libraries (cache, db) get a layer of their own, built over the skeleton of the
# api crate with the same package selection as the final build (so the same features): a change to
# the api crate alone then rebuilds only that crate. Its sources are touched before the final build,
# so cargo never takes the skeleton built in the layer before for them.
FROM chef AS build-api
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json -p formula-api
COPY Cargo.toml Cargo.lock ./
COPY migrations migrations
COPY crates/cache crates/cache
COPY crates/db crates/db
RUN cargo build --release --locked -p formula-api --lib
COPY crates/api crates/api
RUN find crates/api -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p formula-api

# What both images share: Debian slim, CA certificates, one non-root user with a pinned uid and gid.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 formula \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --create-home formula
USER 10001:10001
WORKDIR /app

# The emulator, a test tool: no healthcheck (the service's would fail here), stops on SIGTERM.
FROM runtime AS kv-emulator
COPY --from=build-emulator /src/target/release/kv-emulator /usr/local/bin/kv-emulator
ENV KV_EMULATOR_LISTEN=0.0.0.0:8787
EXPOSE 8787
ENTRYPOINT ["kv-emulator"]

# The production image (the default target): the service alone.
FROM runtime AS api
COPY --from=build-api /src/target/release/api /usr/local/bin/api
ENV BIND_ADDR=0.0.0.0:3002 \
    LOG_FORMAT=json
EXPOSE 3002
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s CMD ["api", "healthcheck"]
ENTRYPOINT ["api"]
CMD ["serve"]
