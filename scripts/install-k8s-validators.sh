#!/usr/bin/env bash
# Installs the validators the Kubernetes build tests (tests/backend/k8s.rs) run on every
# manifest expc writes; no API server can run offline, so the manifests are checked against
# the official schemas instead:
#   kubernetes-validate==1.37.0  (PyPI) `kubernetes-validate --strict`: types, required and
#                                unknown fields, for Kubernetes 1.25 to 1.37;
#   kubernetes-models@5.1.0      (npm, pinned by tests/k8s/validate/package-lock.json) its
#                                ajv validators: enum values and formats
#                                (tests/k8s/validate/validate.mjs).
# Does nothing when both are there at those versions.
#
# Environment: PYTHON (default python3).
set -euo pipefail

PYTHON="${PYTHON:-python3}"
here="$(cd "$(dirname "$0")" && pwd)"
validate_dir="$here/../tests/k8s/validate"

pin=kubernetes-validate==1.37.0
have="$("$PYTHON" -c 'from importlib.metadata import version
try:
    print(version("kubernetes-validate"))
except Exception:
    print("")' 2>/dev/null || true)"
if [ "$have" != "${pin#*==}" ] || ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "install-k8s-validators: pip install $pin" >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "$pin"
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "install-k8s-validators: npm is not on PATH; install Node.js and npm (apt-get install nodejs npm)" >&2
  exit 1
fi
installed="$validate_dir/node_modules/kubernetes-models/package.json"
if [ ! -f "$installed" ] \
  || ! grep -q '"version": "5.1.0"' "$installed" \
  || [ "$validate_dir/package-lock.json" -nt "$validate_dir/node_modules/.package-lock.json" ]; then
  echo "install-k8s-validators: npm ci in tests/k8s/validate" >&2
  (cd "$validate_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
