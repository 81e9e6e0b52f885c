#!/usr/bin/env bash
# Run the main job on a fresh Debian machine with Rust: install what is missing, build icroot in
# release mode, and start a local root cluster in the foreground (`icroot dev`; arguments are
# passed through, e.g. --nodes 5 --dir /tmp/icd). Ctrl-C stops it; running it again resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --bin icroot
bin="${CARGO_TARGET_DIR:-target}/release/icroot"
exec "$bin" dev "$@"
