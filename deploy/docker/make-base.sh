#!/usr/bin/env bash
# Build a Debian bookworm base image locally, for machines that cannot pull from an image
# registry: debootstrap a minimal root filesystem from the Debian mirror apt already uses,
# with the runtime libraries icroot needs, and `docker import` it.
#
#   deploy/docker/make-base.sh [TAG]        default TAG: icroot-base:bookworm
#
# The result stands in for `debian:bookworm-slim` in deploy/Dockerfile (`--build-arg BASE=TAG`).
# It already contains librocksdb7.8, so the Dockerfile's package step needs no network.
# Needs root (debootstrap) and the `debootstrap` package (installed here when missing).
set -euo pipefail
tag=${1:-icroot-base:bookworm}
suite=bookworm
# The first deb.debian.org-style URI of apt's configured sources, else the default mirror.
mirror=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* \
  2>/dev/null | awk 'NR == 1 {print $2}' || true)
mirror=${mirror:-http://deb.debian.org/debian}
# Runtime libraries of the icroot binary (librocksdb is linked dynamically; no init process is
# needed, icroot handles SIGTERM itself).
packages=librocksdb7.8,ca-certificates

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "make-base: $tag exists"; exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "make-base: debootstrap needs root; run this as root (or pull debian:bookworm-slim instead)" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null; then
  apt-get install -y --no-install-recommends debootstrap >/dev/null
fi
rootfs=$(mktemp -d /tmp/icroot-base.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "make-base: debootstrap $suite from $mirror (a minute or two)"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
  tail -20 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"
# Trim what a runtime image does not need (docs, man pages, package lists, caches).
rm -rf "$rootfs"/usr/share/{doc,man,info,locale}/* "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*
tar -C "$rootfs" --numeric-owner -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'CMD ["/bin/bash"]' -m "debootstrap $suite minbase + $packages" - "$tag" >/dev/null
echo "make-base: $tag: $(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
