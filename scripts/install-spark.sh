#!/usr/bin/env bash
# Installs Spark for the Spark tests (tests/backend/spark.rs, engines.rs): PyPI pyspark==4.3.0, which ships `spark-submit`
# (in the package's bin/) and runs it on the machine's Java (17 or later; not installed
# here). pip runs only when pyspark is missing or at another version, so a second run
# takes well under a second.
#
# Environment: PYTHON (default python3). The tests find spark-submit on PATH or in the
# pyspark package's bin/ (tests/support.rs, `spark_submit`).
set -euo pipefail

PYTHON="${PYTHON:-python3}"
pin="pyspark==4.3.0"

have="$("$PYTHON" - <<'EOF'
from importlib.metadata import PackageNotFoundError, version

try:
    print(version("pyspark"))
except PackageNotFoundError:
    print("")
EOF
)"
if [ "$have" != "${pin#*==}" ]; then
  echo "install-spark: pip install $pin (about 500 MB; pyspark ${have:-not installed})" >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "$pin"
fi
# Under pyenv, new console scripts (spark-submit) reach PATH through a shim made by rehash.
if command -v pyenv >/dev/null 2>&1; then
  pyenv rehash || true
fi

if ! command -v java >/dev/null 2>&1 && [ -z "${JAVA_HOME:-}" ]; then
  echo "install-spark: spark-submit needs Java 17 or later (apt-get install openjdk-17-jre-headless)" >&2
  exit 1
fi
