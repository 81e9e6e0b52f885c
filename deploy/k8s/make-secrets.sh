#!/usr/bin/env bash
# Generate the CA, node certificates, node configs and client profiles for the StatefulSet, and
# write secret.yaml (Secret icroot-nodes) from them.
#
#   deploy/k8s/make-secrets.sh [REPLICAS]        default 3; NAMESPACE (default icroot)
#
# Pod icroot-<n> gets node id n+1 and the domain icroot-<n>.icroot.<ns>.svc.cluster.local.
# Files go to deploy/k8s/generated/ (keep ca.key safe: it signs every identity of the cluster).
# Client profiles reach node 1 at 127.0.0.1:15269: `kubectl -n icroot port-forward pod/icroot-0
# 15269:5269`. Needs an icroot binary: $ICROOT_CLI, or target/{release,debug}/icroot.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
replicas=${1:-3}
ns=${NAMESPACE:-icroot}
gen=$here/generated
target=${CARGO_TARGET_DIR:-$repo/target}
icroot=${ICROOT_CLI:-}
for c in "$target/release/icroot" "$target/debug/icroot"; do
  [ -n "$icroot" ] || { [ -x "$c" ] && icroot=$c; } || true
done
[ -n "$icroot" ] || { echo "make-secrets: no icroot binary (cargo build --release, or set ICROOT_CLI)" >&2; exit 1; }
fqdn="icroot-{ord}.icroot.$ns.svc.cluster.local"
"$icroot" init --dir "$gen" --nodes "$replicas" --node-domain "$fqdn" --node-host "$fqdn" \
  --discovery srv --cluster-name icroot --config-dir "/etc/icroot/nodes/icroot-{ord}" \
  --data-dir /var/lib/icroot --admin-http 0.0.0.0:9269 --root-address 127.0.0.1:15269
{
  echo "# Secret icroot-nodes, written by make-secrets.sh: node configs, certificates and keys."
  echo "apiVersion: v1"
  echo "kind: Secret"
  echo "metadata:"
  echo "  name: icroot-nodes"
  echo "  namespace: $ns"
  echo "type: Opaque"
  echo "data:"
  for id in $(seq 1 "$replicas"); do
    pod=icroot-$((id - 1))
    for f in node.toml cert.pem key.pem ca.pem; do
      echo "  $pod.$f: $(base64 -w0 < "$gen/nodes/$id/$f")"
    done
  done
} > "$here/secret.yaml"
chmod 600 "$here/secret.yaml"
echo "make-secrets: wrote $here/secret.yaml for $replicas pods; profiles in $gen/profiles"
if [ "$replicas" != 3 ]; then
  echo "make-secrets: set replicas: $replicas and list icroot-0..icroot-$((replicas - 1)) in the" \
       "Secret volume's items in statefulset.yaml" >&2
fi
