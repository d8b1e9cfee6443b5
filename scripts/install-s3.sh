#!/usr/bin/env bash
# Installs the S3 server the remote-input tests fetch from: PyPI's moto in server mode
# (`python3 -m moto.server`, started by tests/support/remote.rs on 127.0.0.1 and a free
# port, stopped after each test), with boto3, the client the tests fill buckets with.
# pip installs only what is missing or at another version.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
pin="moto==5.2.1"
if "$PYTHON" - <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    ok = version("moto") == "5.2.1"
    import boto3, flask, flask_cors  # noqa: F401  (moto's server needs them)
except (PackageNotFoundError, ImportError):
    ok = False
sys.exit(0 if ok else 1)
PY
then
  exit 0
fi
echo "install-s3: pip install moto[server]==5.2.1" >&2
"$PYTHON" -m pip install --quiet --disable-pip-version-check "moto[server]==${pin#moto==}"
