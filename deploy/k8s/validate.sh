#!/usr/bin/env bash
# Schema-check the manifests (and a generated secret.yaml) with kubernetes-validate (PyPI),
# installed into a private virtualenv on first use. Strict: unknown fields are errors.
#   deploy/k8s/validate.sh [KUBERNETES_VERSION]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${KV_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/icroot-kubernetes-validate}
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q kubernetes-validate
fi
files=(namespace.yaml service.yaml statefulset.yaml pdb.yaml networkpolicy.yaml)
[ -f "$here/secret.yaml" ] && files+=(secret.yaml)
cd "$here"
args=(--strict)
[ -n "${1:-}" ] && args+=(-k "$1")
"$venv/bin/kubernetes-validate" "${args[@]}" "${files[@]}"
