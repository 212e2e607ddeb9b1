# syntax=docker/dockerfile:1
# Multi-stage build: cgo is needed by go-sqlite3, so build on Debian with
# gcc and run on a small glibc base as a non-root user.
#
# Build it from a clone (the context needs no .git; the version comes in as
# build arguments, which `make image` fills in from git):
#
#   docker build \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg COMMIT="$(git rev-parse --short HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
#     -t deploybot .
#
# Base images are pinned by digest, so a rebuild gets the same bases; the tag
# beside each digest says what it is. To move to newer bases, run
# scripts/pin-images.sh (it asks the registry for the digest each tag points
# at now and rewrites these lines), then rebuild and test.
FROM golang:1.26-bookworm@sha256:b305420a68d0f229d91eb3b3ed9e519fcf2cf5461da4bef997bf927e8c0bfd2b AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=none
# The same script the test suite runs (cmd/deploybot TestBuildScript).
RUN VERSION="$VERSION" COMMIT="$COMMIT" scripts/build.sh /out/deploybot
# The final image has no shell: its /data is made here, empty, and copied
# in owned by the runtime user, so the bot can create its database there
# (a volume mounted on an image directory starts with its owner).
RUN mkdir -p /out/data

FROM gcr.io/distroless/base-debian12:nonroot@sha256:7f0c72cd138b442ae0deeb69c08b1acf5525439ba251a49ad93c320a061567e5
ARG VERSION=dev
ARG COMMIT=none
ARG CREATED=""
LABEL org.opencontainers.image.title="deploybot" \
      org.opencontainers.image.description="Releases software from Slack through Ansible AWX (Slack Socket Mode, SQLite)" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$COMMIT" \
      org.opencontainers.image.created="$CREATED" \
      org.opencontainers.image.base.name="gcr.io/distroless/base-debian12:nonroot"
COPY --from=build /out/deploybot /usr/local/bin/deploybot
COPY deploybot.example.yaml /etc/deploybot/deploybot.example.yaml
# 65532 is the distroless "nonroot" user and group.
COPY --from=build --chown=65532:65532 /out/data /data
ENV DEPLOYBOT_DB=/data/deploybot.db \
    DEPLOYBOT_CONFIG=/etc/deploybot/deploybot.yaml \
    DEPLOYBOT_HTTP_ADDR=:8080
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/deploybot", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/deploybot"]
