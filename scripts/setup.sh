#!/usr/bin/env bash
# Install what building and testing icroot needs on a fresh Debian machine with Rust. Idempotent:
# installs only what is missing. Called by scripts/test.sh and .ci/run.
set -euo pipefail

# System packages. Each entry: the package, and a file that shows it is installed.
need=()
check() { [ -e "$2" ] || need+=("$1"); }
check pkg-config /usr/bin/pkg-config
# librocksdb-sys runs bindgen, which needs libclang.
check libclang-dev /usr/lib/llvm-14/lib/libclang.so
# store links Debian's RocksDB 7.8.3 dynamically (docs/storage.md).
check librocksdb-dev /usr/lib/x86_64-linux-gnu/librocksdb.so
# The Prosody interop test (raft-xmpp-transport/tests/prosody.rs). lua-unbound is only a
# Recommends of prosody, but the test needs it: it is the resolver that can be pointed at the
# test's DNS server. The test runs its own Prosody on free loopback ports; a system Prosody
# service the package may start (ports 5222/5269) is not used.
check prosody /usr/bin/prosody
check lua-unbound /usr/share/doc/lua-unbound/copyright
# The slixmpp interop test (root-node/tests/interop.rs) runs a Python client from a venv.
check python3-venv /usr/share/doc/python3-venv/copyright
# jepsen/ (the partition tests): network namespaces, nftables, a TTF font for the plots.
check iproute2 /usr/sbin/ip
check nftables /usr/sbin/nft
check fonts-dejavu-core /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
# bench/compare-etcd: the etcd it compares against, and protoc for etcd-client's build script.
check etcd-server /usr/bin/etcd
check protobuf-compiler /usr/bin/protoc
if [ "${#need[@]}" -gt 0 ]; then
  echo "==> installing system packages: ${need[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# slixmpp (PyPI) for root-node/tests/interop.rs, in a venv outside the checkout so a warm machine
# keeps it; the test looks in ICROOT_VENV (default below).
venv=${ICROOT_VENV:-/var/cache/icroot/venv}
slixmpp_version=1.10.0
if ! "$venv/bin/python3" -c "import slixmpp, sys; sys.exit(slixmpp.__version__ != '$slixmpp_version')" 2>/dev/null; then
  echo "==> installing slixmpp $slixmpp_version in $venv"
  mkdir -p "$(dirname "$venv")"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "slixmpp==$slixmpp_version"
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "==> installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
