# syntax=docker/dockerfile:1.7
# One image for every face of gpt-deploy: `serve` (the Deployment), `cleanup` (the
# CronJob), `migrate`, and `render`/`deploy` in CI.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
# cmake and a C toolchain build aws-lc-rs, which svix's default TLS features pull in.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake g++ make pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# The build context has no .git: the commit shown by `gpt-deploy version` comes from here
# (docker build --build-arg GIT_COMMIT=$(git rev-parse --short=12 HEAD)); else "unknown".
ARG GIT_COMMIT=unknown
ENV GPT_DEPLOY_GIT_COMMIT=${GIT_COMMIT}

# Sources plus everything compiled into the binary (templates, config, migrations).
COPY Cargo.toml Cargo.lock build.rs deploy.toml ./
COPY src ./src
COPY benches ./benches
COPY templates ./templates
COPY environments ./environments
COPY migrations ./migrations
COPY link ./link

# Cache mounts keep the registry and compiled dependencies between builds, so a
# source-only change recompiles just this crate.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin gpt-deploy \
 && install -D -m 0555 target/release/gpt-deploy /out/gpt-deploy \
 && /out/gpt-deploy --version

# distroless/cc: glibc, libgcc, CA certificates and nothing else.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/gpt-deploy /usr/local/bin/gpt-deploy
# The uid the rendered pods run as (securityContext.runAsUser), so `docker run` behaves the same.
USER 10001:10001
EXPOSE 8080
# The runtime face logs JSON; the rendered manifests set it explicitly as well.
ENV LOG_FORMAT=json
ENTRYPOINT ["/usr/local/bin/gpt-deploy"]
CMD ["serve"]
