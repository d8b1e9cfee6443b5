#!/usr/bin/env bash
# Installs the provenance validators and makes the RO-Crate one work offline:
#   prov==3.2.3           reads PROV-JSON (scripts/validate-prov.py);
#   roc-validator==0.13.0 the `rocrate-validator` CLI (scripts/validate-rocrate.sh);
#   rocrate==0.16.0       RO-Crate library; ships the RO-Crate 1.3 JSON-LD context.
# pip installs only what is missing or at another version.
#
# rocrate-validator resolves a crate's remote @context through its own HTTP cache (a
# requests-cache SQLite file; by default $XDG_CACHE_HOME/rocrate-validator/http_cache.sqlite,
# else ~/.cache/...). With --offline a context missing from that cache makes every check that
# needs the crate's graph be skipped, not failed. This script puts the RO-Crate contexts in
# that cache, each from a registry package that ships it (no other network access):
#   https://w3id.org/ro/crate/1.1/context  PyPI rocrate==0.15.1 (rocrate/data/ro-crate.jsonld)
#   https://w3id.org/ro/crate/1.2/context  npm ro-crate@3.7.2 (lib/context.json)
#   https://w3id.org/ro/crate/1.3/context  the installed rocrate 0.16.0 (rocrate/data/ro-crate.jsonld)
# Each file's own "@id" must equal the URL it is stored under, or the script fails. Contexts
# already in the cache are left alone, so a second run downloads nothing.
#
# Environment: PYTHON (default python3); EXPC_ROCRATE_CACHE, a cache path (without
# ".sqlite") to seed instead of the validator's default one; the same variable tells
# scripts/validate-rocrate.sh where to look.
set -euo pipefail

PYTHON="${PYTHON:-python3}"

# --- 1. pip packages at pinned versions ------------------------------------------------
pins=(prov==3.2.3 roc-validator==0.13.0 rocrate==0.16.0)
# shellcheck disable=SC2207 # a pin has no spaces
missing=($("$PYTHON" - "${pins[@]}" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have != want:
        print(pin)
EOF
))
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-prov-validators: pip install ${missing[*]}" >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "${missing[@]}"
fi

# --- 2. seed the validator's HTTP cache with the RO-Crate JSON-LD contexts --------------
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Which context URLs are not cached yet (one per line)?
todo="$("$PYTHON" - <<'EOF'
import os
from pathlib import Path
from rocrate_validator.utils.http import HttpRequester
from rocrate_validator.utils.paths import get_default_http_cache_path

cache = os.environ.get("EXPC_ROCRATE_CACHE") or str(get_default_http_cache_path())
Path(cache).parent.mkdir(parents=True, exist_ok=True)
HttpRequester.initialize_cache(cache_path=cache, cache_max_age=-1, offline=True)
for v in ("1.1", "1.2", "1.3"):
    url = f"https://w3id.org/ro/crate/{v}/context"
    if not HttpRequester().has_cached(url):
        print(url)
EOF
)"

if [ -z "$todo" ]; then
  exit 0
fi

# Fetch the files that ship each missing context.
sources=()
for url in $todo; do
  case "$url" in
    */1.1/context)
      "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: -d "$work/pypi" rocrate==0.15.1
      mkdir -p "$work/rocrate-0.15.1"
      "$PYTHON" -m zipfile -e "$work"/pypi/rocrate-0.15.1-*.whl "$work/rocrate-0.15.1"
      sources+=("$url=$work/rocrate-0.15.1/rocrate/data/ro-crate.jsonld")
      ;;
    */1.2/context)
      if ! command -v npm >/dev/null 2>&1; then
        echo "install-prov-validators: npm not found: $url stays uncached" >&2
        continue
      fi
      mkdir -p "$work/npm"
      (cd "$work/npm" && npm pack --silent ro-crate@3.7.2 >/dev/null && tar xzf ro-crate-3.7.2.tgz)
      sources+=("$url=$work/npm/package/lib/context.json")
      ;;
    */1.3/context)
      sources+=("$url=$("$PYTHON" -c 'import rocrate, os; print(os.path.join(os.path.dirname(rocrate.__file__), "data", "ro-crate.jsonld"))')")
      ;;
  esac
done

# Store each file as the response to a GET of its URL, through the validator's own
# HttpRequester, so the cache key and the stored settings are the ones it looks up.
"$PYTHON" - "${sources[@]}" <<'EOF'
import io
import json
import os
import sys
from pathlib import Path

import requests
import urllib3
from requests.adapters import BaseAdapter
from rocrate_validator.utils.http import HttpRequester
from rocrate_validator.utils.paths import get_default_http_cache_path

files = dict(arg.split("=", 1) for arg in sys.argv[1:])
for url, path in files.items():
    doc_id = json.loads(Path(path).read_text(encoding="utf-8")).get("@id")
    if doc_id != url:
        sys.exit(f"install-prov-validators: {path} has @id {doc_id!r}, not {url!r}")


class LocalFiles(BaseAdapter):
    """Answers a GET of a known URL with a local file; refuses anything else."""

    def send(self, request, **kwargs):
        if request.url not in files:
            raise requests.ConnectionError(f"no local file for {request.url}")
        body = Path(files[request.url]).read_bytes()
        headers = {"Content-Type": "application/ld+json", "Content-Length": str(len(body))}
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(body),
            headers=headers,
            status=200,
            reason="OK",
            preload_content=False,
            request_url=request.url,
        )
        return self.build_response(request, raw)

    def build_response(self, request, raw):
        resp = requests.Response()
        resp.status_code = raw.status
        resp.reason = raw.reason
        resp.headers = requests.structures.CaseInsensitiveDict(raw.headers)
        resp.raw = raw
        resp.url = request.url
        resp.request = request
        resp.encoding = "utf-8"
        return resp

    def close(self):
        pass


cache = os.environ.get("EXPC_ROCRATE_CACHE") or str(get_default_http_cache_path())
HttpRequester.initialize_cache(cache_path=cache, cache_max_age=-1, offline=False)
req = HttpRequester()
req.session.mount("https://", LocalFiles())
req.session.mount("http://", LocalFiles())
for url in files:
    resp = req.get(url, headers={"Accept": "application/ld+json, application/json, */*;q=0.1"})
    if resp.status_code != 200 or not req.has_cached(url):
        sys.exit(f"install-prov-validators: could not cache {url}")
    print(f"install-prov-validators: cached {url} in {cache}.sqlite", file=sys.stderr)
EOF
