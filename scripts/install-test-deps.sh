#!/usr/bin/env bash
# Installs the system packages expc's tests use, when they are missing:
#   graphviz — `dot` checks that every graph `expc graph` writes is valid DOT;
#   python3  — the task programs of the examples and of the run tests;
#   chromium — headless, renders the pages `expc report` writes (the `report` suite);
#   npm      — installs and runs the kubernetes-models validators (the `k8s` suite);
#   java     — runs spark-submit (the `spark` and `engines` suites);
#   neovim   — headless, its built-in LSP client drives `expc lsp` (the `neovim` suite);
#   postgresql — a throwaway cluster on a loopback port for the shared store's tests
#              (the `shared_store` suite starts and stops it; nothing is left running);
# then the S3 server of the remote-input tests (moto; scripts/install-s3.sh),
# the provenance validators (prov, rocrate-validator; scripts/install-prov-validators.sh),
# the Kubernetes manifest validators (scripts/install-k8s-validators.sh), MLflow (PyPI
# mlflow in its own venv; scripts/install-mlflow.sh) and Spark (PyPI pyspark's
# spark-submit; scripts/install-spark.sh).
# Needs Debian or Ubuntu (apt-get), as root or with sudo. Does nothing when all is there.
set -euo pipefail

missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v nvim >/dev/null 2>&1 || missing+=(neovim)
{ ls /usr/lib/postgresql/*/bin/initdb && command -v psql; } >/dev/null 2>&1 || missing+=(postgresql)

here="$(cd "$(dirname "$0")" && pwd)"
if [ ${#missing[@]} -eq 0 ]; then
  "$here/install-s3.sh"
  "$here/install-prov-validators.sh"
  "$here/install-k8s-validators.sh"
  "$here/install-mlflow.sh"
  exec "$here/install-spark.sh"
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: please install: ${missing[*]} (no apt-get here)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "install-test-deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
"$here/install-s3.sh"
"$here/install-prov-validators.sh"
"$here/install-k8s-validators.sh"
"$here/install-mlflow.sh"
"$here/install-spark.sh"
