# shellcheck shell=bash
# Shared by up.sh, down.sh and test.sh (sourced, not run). Sets, for the N-node cluster:
#   N, PROJECT, FILE, GEN (generated certs/configs/profiles), ICROOT_CLI (host binary),
# and exports what the compose files read (ICROOT_GEN, ICROOT_IMAGE, HOST_UID, HOST_GID).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
N=${N:-3}
case "$N" in 3|5) ;; *) echo "cluster size must be 3 or 5, not $N" >&2; exit 2 ;; esac
PROJECT=icroot$N
FILE=$here/cluster-$N.yml
GEN=${ICROOT_GEN:-$here/generated-$N}
export ICROOT_GEN=$GEN ICROOT_IMAGE=${ICROOT_IMAGE:-icroot:local}
export HOST_UID=${HOST_UID:-$(id -u)} HOST_GID=${HOST_GID:-$(id -g)}
target=${CARGO_TARGET_DIR:-$repo/target}
ICROOT_CLI=${ICROOT_CLI:-}
if [ -z "$ICROOT_CLI" ]; then
  for c in "$target/release/icroot" "$target/debug/icroot"; do
    if [ -x "$c" ]; then ICROOT_CLI=$c; break; fi
  done
fi

compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose -p "$PROJECT" -f "$FILE" "$@"
  else
    docker-compose -p "$PROJECT" -f "$FILE" "$@"
  fi
}

# The container of service $1.
cid() { compose ps -q "$1"; }

# Health of service $1: healthy, unhealthy, starting, or down.
health() {
  local c; c=$(cid "$1")
  [ -n "$c" ] || { echo down; return; }
  docker inspect -f '{{if .State.Running}}{{if .State.Health}}{{.State.Health.Status}}{{else}}running{{end}}{{else}}down{{end}}' "$c"
}

# Wait until every service named in $2.. is healthy, at most $1 seconds.
wait_healthy() {
  local deadline=$(( $(date +%s) + $1 )); shift
  local s
  for s in "$@"; do
    until [ "$(health "$s")" = healthy ]; do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "$s is $(health "$s") after the deadline; its last log lines:" >&2
        compose logs --tail 30 "$s" >&2 || true
        return 1
      fi
      sleep 1
    done
  done
}

nodes() { seq 1 "$N" | sed 's/^/n/'; }

# The host CLI as the admin (or the profile given with -p NAME), talking to node $ROOT (default 1).
cli() {
  local name=admin
  if [ "${1:-}" = -p ]; then name=$2; shift 2; fi
  local root=${ROOT:-1} p="$GEN/profiles/$name.toml"
  if [ "$root" != 1 ]; then
    # The same profile aimed at another root node (its domain and published port).
    local alt="$GEN/profiles/.$name-n$root.toml"
    sed -e "s/^root_domain = .*/root_domain = \"n$root.icroot.lan\"/" \
        -e "s/^root_address = .*/root_address = \"127.0.0.1:1526$root\"/" "$p" > "$alt"
    p=$alt
  fi
  "$ICROOT_CLI" --profile "$p" "$@"
}
