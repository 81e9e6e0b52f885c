#!/usr/bin/env bash
# Stop the compose cluster and delete its data volumes and generated certificates/configs.
#   deploy/compose/down.sh [3|5] [--keep]    --keep: keep the generated files (and the CA)
set -euo pipefail
N=${1:-3}
# shellcheck source=deploy/compose/lib.sh
source "$(dirname "$0")/lib.sh"
compose down -v --remove-orphans --timeout 10
if [ "${2:-}" != --keep ] && [ -d "$GEN" ]; then
  # Node files belong to uid 10001; remove them as root inside a container when we are not root.
  if [ "$(id -u)" = 0 ]; then
    rm -rf "$GEN"
  else
    docker run --rm --network none --user 0:0 -v "$GEN:/gen" --entrypoint /bin/rm "$ICROOT_IMAGE" -rf /gen/nodes
    rm -rf "$GEN"
  fi
fi
