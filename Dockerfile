# The api binary (and kv-emulator, for local stacks) in a small runtime image, as a non-root user.
# Build: docker build -t formula-api .      Run: see docker-compose.yml and .env.example.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config make \
    && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY migrations migrations
RUN cargo build --release --locked -p formula-api -p kv-emulator

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /app --create-home formula
COPY --from=build /src/target/release/api /usr/local/bin/api
COPY --from=build /src/target/release/kv-emulator /usr/local/bin/kv-emulator
USER formula
WORKDIR /app
ENV BIND_ADDR=0.0.0.0:3002 \
    LOG_FORMAT=json
EXPOSE 3002
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s CMD ["api", "healthcheck"]
ENTRYPOINT ["api"]
CMD ["serve"]
