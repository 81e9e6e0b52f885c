#!/usr/bin/env bash
# Build the icroot image without an image registry: the binary is built on this (bookworm) host,
# the base image is made locally by make-base.sh, and `docker build` runs with no network.
#
#   deploy/docker/build-image.sh [TAG]                      default TAG: icroot:local
#
# Environment: ICROOT_BIN=path  use this binary instead of building one;
#              ICROOT_CARGO_PROFILE=release|dev  what to build (default release);
#              ICROOT_BASE=image  the base (default icroot-base:bookworm, made when missing).
# With registry access, build from source instead: docker build -f deploy/Dockerfile .
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-icroot:local}
base=${ICROOT_BASE:-icroot-base:bookworm}
bin=${ICROOT_BIN:-}
if [ -z "$bin" ]; then
  profile=${ICROOT_CARGO_PROFILE:-release}
  cargo build --profile "$profile" -p root-node --bin icroot
  out=$profile; [ "$profile" = dev ] && out=debug
  bin=${CARGO_TARGET_DIR:-target}/$out/icroot
fi
[ -x "$bin" ] || { echo "build-image: no binary at $bin" >&2; exit 1; }
if [ "$base" = icroot-base:bookworm ]; then
  deploy/docker/make-base.sh "$base"
fi
ctx=$(mktemp -d /tmp/icroot-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
cp "$bin" "$ctx/icroot"
# Drop DWARF (a debug build is ~200 MB with it); symbols stay for backtraces.
strip --strip-debug "$ctx/icroot" 2>/dev/null || true
docker build -q --network none -f deploy/Dockerfile \
  --build-arg BIN_FROM=prebuilt --build-arg BASE="$base" --build-arg BUILDER="$base" \
  -t "$tag" "$ctx" >/dev/null
# The image runs: the dynamic libraries (librocksdb) resolve and the binary starts.
docker run --rm --network none "$tag" --version
echo "build-image: $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
