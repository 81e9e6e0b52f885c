#!/usr/bin/env bash
# Bring up the 3- or 5-node compose cluster, wait until every node is healthy (/readyz), register
# a demo Exchange through it with the host CLI, and print the cluster status.
#
#   deploy/compose/up.sh [3|5]
#
# Builds the image (deploy/docker/build-image.sh) when $ICROOT_IMAGE (default icroot:local) is
# missing. The host CLI is $ICROOT_CLI, else target/{release,debug}/icroot. Stop with down.sh.
set -euo pipefail
N=${1:-3}
# shellcheck source=deploy/compose/lib.sh
source "$(dirname "$0")/lib.sh"
[ -n "$ICROOT_CLI" ] || { echo "up.sh: no icroot binary; run cargo build --release or set ICROOT_CLI" >&2; exit 1; }
if ! docker image inspect "$ICROOT_IMAGE" >/dev/null 2>&1; then
  "$repo/deploy/docker/build-image.sh" "$ICROOT_IMAGE"
fi
mkdir -p "$GEN"
echo "up: $PROJECT ($FILE), generated files in $GEN"
compose up -d
# shellcheck disable=SC2046  # one word per node
wait_healthy "${ICROOT_UP_TIMEOUT:-120}" $(nodes)
echo "up: all $N nodes healthy"
# The demo Exchange registers itself; on a second run it is there already.
if out=$(cli -p ix1.demo.lan exchange register --organisation "Demo Exchange One" \
      --region eu-west --capability storage --endpoint xmpp:ix1.demo.lan 2>&1); then
  echo "$out"
elif grep -q "is already registered" <<<"$out"; then
  echo "up: ix1.demo.lan is registered already (an earlier run)"
else
  echo "$out" >&2; exit 1
fi
cli status
echo "up: try  $ICROOT_CLI --profile $GEN/profiles/admin.toml lookup exchange ix1.demo.lan"
