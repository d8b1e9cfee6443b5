#!/usr/bin/env bash
# Installs MLflow for the MLflow interchange tests (tests/backend/mlflow.rs): PyPI
# mlflow==3.18.0 in a virtual environment of its own (default /opt/expc-mlflow; its many
# dependencies stay out of the system's Python), with the `mlflow` command the tests start
# as a tracking server on a loopback port, and the Python client they read back with.
# pip runs only when the environment is missing or holds another version, so a second run
# takes well under a second.
#
# Environment: PYTHON (default python3), EXPC_MLFLOW_VENV (default /opt/expc-mlflow). The
# tests find `mlflow` in EXPC_MLFLOW_VENV/bin, else on PATH.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
venv="${EXPC_MLFLOW_VENV:-/opt/expc-mlflow}"
pin="mlflow==3.18.0"

have=""
if [ -x "$venv/bin/python" ]; then
  have="$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("mlflow"))' 2>/dev/null || true)"
fi
if [ "$have" != "${pin#*==}" ]; then
  echo "install-mlflow: pip install $pin into $venv (mlflow ${have:-not installed})" >&2
  if [ ! -x "$venv/bin/python" ]; then
    if ! "$PYTHON" -m venv "$venv" 2>/dev/null; then
      # Debian's Python needs its venv package for ensurepip.
      if command -v apt-get >/dev/null 2>&1; then
        sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        minor="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "python$minor-venv" >/dev/null
      fi
      rm -rf "$venv"
      "$PYTHON" -m venv "$venv"
    fi
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$pin"
fi
