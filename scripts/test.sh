#!/usr/bin/env bash
# Pass the tests on a fresh Debian machine with Rust: installs what is missing, then runs every
# test suite of the workspace once. Usage: ./scripts/test.sh   (from anywhere in the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

echo "==> tests (all crates, all features)"
cargo nextest run --workspace --all-features --no-fail-fast
echo "==> doc tests"
cargo test --workspace --all-features --doc
