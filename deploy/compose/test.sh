#!/usr/bin/env bash
# CI test of the container deployment (issue 7): build the image offline, bring the 3-node compose
# cluster up, register and look up an Exchange through it with the host CLI, then take one node
# away twice — `docker stop` (SIGTERM) of the leader and `docker kill` (SIGKILL) of a node — and
# show each time that the cluster still answers writes and linearizable reads, that the node
# comes back healthy and that it has caught up (it serves, from its own state machine, the record
# written while it was down). Tears everything down on any exit; bounded to $ICROOT_TEST_BUDGET s
# (default 380) plus at most 90 s of teardown.
#
#   deploy/compose/test.sh [3|5]       default 3 (static routes); 5 uses SRV from the dns container
#
# Uses the binary CI's test build already made (target/debug/icroot) unless ICROOT_BIN is set.
set -euo pipefail
budget=${ICROOT_TEST_BUDGET:-380}
if [ -z "${ICROOT_DEPLOY_TEST_BOUNDED:-}" ]; then
  # Bound the whole run: at $budget s, timeout TERMs this script's process group (cargo, docker
  # clients included); the TERM trap below tears down, and KILL follows 90 s later at the latest.
  export ICROOT_DEPLOY_TEST_BOUNDED=1
  exec timeout --kill-after=90 "$budget" "$0" "$@"
fi
N=${1:-3}
export ICROOT_RESTART=no        # docker must not restart what the test stops
export ICROOT_IMAGE=${ICROOT_IMAGE:-icroot:test}
# shellcheck source=deploy/compose/lib.sh
source "$(dirname "$0")/lib.sh"
t0=$(date +%s)
log() { echo "[deploy-test t+$(( $(date +%s) - t0 ))s] $*"; }
fail() { log "FAIL: $*"; exit 1; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$rc" != 0 ]; then
    log "collecting logs before teardown"
    for s in $(nodes); do compose logs --tail 15 "$s" 2>&1 | sed "s/^/  /" || true; done
  fi
  log "teardown"
  timeout 60 "$here/down.sh" "$N" >/dev/null 2>&1 || log "teardown reported an error"
  docker image rm "$ICROOT_IMAGE" >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'log "time budget of ${budget}s exceeded"; exit 124' TERM

if ! { command -v docker >/dev/null && docker info >/dev/null 2>&1; }; then
  fail "docker is not usable here (this test needs Docker and docker-compose or docker compose)"
fi

# A leftover of an earlier, interrupted run would hold the network and ports.
"$here/down.sh" "$N" >/dev/null 2>&1 || true

log "build the binary and the image (offline)"
if [ -z "${ICROOT_BIN:-}" ]; then
  # The same build as the test suite's (scripts/test.sh): after it this is a no-op, whereas a
  # plain `cargo build -p root-node` resolves other features and would rebuild half the tree.
  (cd "$repo" && cargo test -q --workspace --all-features --no-run)
  export ICROOT_BIN=$target/debug/icroot
fi
# The host CLI is the binary under test too (up.sh reads it from the environment).
export ICROOT_CLI=$ICROOT_BIN
"$repo/deploy/docker/build-image.sh" "$ICROOT_IMAGE"

log "compose up, wait for health, register the demo Exchange"
"$here/up.sh" "$N"

# --json field of a CLI answer.
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d'+sys.argv[1]))" "$1"; }
leader() { cli --json status | field '["leader"]["id"]'; }
# Node $1's registry revision from its /metrics (admin HTTP published on 127.0.0.1:1926<id>).
revision() {
  python3 - "$1" <<'PY'
import sys, urllib.request
body = urllib.request.urlopen(f"http://127.0.0.1:1926{sys.argv[1]}/metrics", timeout=3).read().decode()
print(next(int(float(l.split()[-1])) for l in body.splitlines() if l.startswith("icroot_registry_revision")))
PY
}

org=$(cli --json lookup exchange ix1.demo.lan | field '["organisation"]')
[ "$org" = "Demo Exchange One" ] || fail "lookup of ix1.demo.lan gave: $org"
log "lookup through the cluster: ix1.demo.lan organisation = $org"

# Take node $2 away with `docker $1`, write $3 through another node, bring it back, check it caught up.
outage() {
  local how=$1 victim=$2 domain=$3 other
  other=$(( victim % N + 1 ))
  log "docker $how n$victim (leader was $(ROOT=$other leader))"
  local t
  t=$(date +%s%N)
  docker "$how" "$(cid "n$victim")" >/dev/null
  local until=$(( $(date +%s) + 15 ))
  until [ "$(health "n$victim")" = down ]; do
    [ "$(date +%s)" -lt "$until" ] || fail "n$victim still running 15 s after docker $how"
    sleep 0.2
  done
  # The survivors elect a leader if needed and commit; the CLI retries while there is none.
  ROOT=$other cli exchange register --domain "$domain" --organisation "written during $how" >/dev/null \
    || fail "write through n$other with n$victim down"
  local ms=$(( ($(date +%s%N) - t) / 1000000 ))
  local got
  got=$(ROOT=$other cli --json lookup exchange "$domain" | field '["organisation"]')
  [ "$got" = "written during $how" ] || fail "linearizable read through n$other gave: $got"
  log "cluster answered with n$victim down: write + read of $domain through n$other ${ms} ms after the $how; leader now $(ROOT=$other leader)"
  local want; want=$(revision "$other")
  t=$(date +%s)
  docker start "$(cid "n$victim")" >/dev/null
  wait_healthy 90 "n$victim" || fail "n$victim not healthy after restart"
  # Caught up: its own state machine (a stale read is served locally) has the record written while
  # it was down, and its registry revision reached the survivors' one.
  local deadline=$(( $(date +%s) + 30 ))
  until ROOT=$victim cli --json lookup exchange "$domain" --stale 2>/dev/null | grep -q "written during $how"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "n$victim never served $domain after restart"
    sleep 0.5
  done
  until [ "$(revision "$victim")" -ge "$want" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "n$victim revision $(revision "$victim") < $want"
    sleep 0.5
  done
  log "n$victim back: healthy and caught up (revision $(revision "$victim") >= $want) $(( $(date +%s) - t )) s after docker start"
}

outage stop "$(leader)" ix7.demo.lan
# Kill a node that is not the leader this time, so both a leader and a follower loss are shown.
l=$(leader); victim=$(( l % N + 1 ))
outage kill "$victim" ix8.demo.lan

count=$(cli --json search --kind exchange | python3 -c "import json,sys; print(len(json.load(sys.stdin)['hits']))")
[ "$count" = 3 ] || fail "expected 3 exchanges after both outages, found $count"
for s in $(nodes); do [ "$(health "$s")" = healthy ] || fail "$s is $(health "$s") at the end"; done
log "PASS: 3 exchanges registered, all $N nodes healthy"
