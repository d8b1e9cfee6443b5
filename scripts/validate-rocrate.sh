#!/usr/bin/env bash
# Validates a Workflow Run RO-Crate directory offline:
#   scripts/validate-rocrate.sh DIR
# runs `rocrate-validator validate` for the workflow-run-crate 0.5 profile (with the profiles
# it inherits: process-run-crate 0.5, workflow-ro-crate 1.0, ro-crate 1.1) at REQUIRED
# severity, non-interactive, with --offline, so nothing is fetched: the JSON-LD contexts come
# from the validator's HTTP cache, which scripts/install-prov-validators.sh seeds.
#
# Exit status: 0 when the crate is valid AND every check ran; 1 when the validator reports an
# issue or skipped a check (an offline cache miss skips checks instead of failing them); 2 on
# a usage error or when the validator itself failed. Findings go to standard output, one a line.
#
# Environment: PYTHON (default python3); EXPC_ROCRATE_CACHE, the HTTP cache path (without
# ".sqlite") when not the validator's default; ROCRATE_SEVERITY (required, recommended or
# optional; default required); ROCRATE_PROFILE (default workflow-run-crate-0.5; e.g.
# provenance-run-crate-0.5 for a crate with per-task actions).
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 CRATE_DIR" >&2
  exit 2
fi
crate="$1"
PYTHON="${PYTHON:-python3}"
severity="${ROCRATE_SEVERITY:-required}"
profile="${ROCRATE_PROFILE:-workflow-run-crate-0.5}"

# The CLI is run through $PYTHON rather than as `rocrate-validator` on PATH, so it is the
# one installed for that interpreter (a fresh pip install may not have its shim on PATH yet).
if ! "$PYTHON" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("rocrate_validator") is None)' 2>/dev/null; then
  echo "validate-rocrate: roc-validator is not installed for $PYTHON; run scripts/install-prov-validators.sh" >&2
  exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

args=(--no-interactive --disable-color validate
  --offline
  --profile-identifier "$profile"
  --requirement-severity "$severity"
  --no-paging
  --output-format json
  --output-file "$work/report.json")
if [ -n "${EXPC_ROCRATE_CACHE:-}" ]; then
  args+=(--cache-path "$EXPC_ROCRATE_CACHE")
fi

status=0
COLUMNS=200 ROCRATE_VALIDATOR_AUTO_WARM=0 \
  "$PYTHON" -c 'import sys; sys.argv[0] = "rocrate-validator"; from rocrate_validator.cli import cli; cli()' \
  "${args[@]}" "$crate" >"$work/log.txt" 2>&1 </dev/null || status=$?

if [ ! -s "$work/report.json" ] || [ "$status" -gt 1 ]; then
  echo "validate-rocrate: rocrate-validator failed (exit status $status):" >&2
  cat "$work/log.txt" >&2
  exit 2
fi

"$PYTHON" - "$work/report.json" "$work/log.txt" "$crate" "$status" <<'EOF'
import json
import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def one_line(text):
    return " ".join(ANSI.sub("", str(text)).split())


report_path, log_path, crate, status = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(report_path, encoding="utf-8") as f:
    report = json.load(f)
with open(log_path, encoding="utf-8", errors="replace") as f:
    log = f.read()

problems = []
for issue in report.get("issues", []):
    check = issue.get("check") or {}
    where = issue.get("violatingEntity") or ""
    prop = issue.get("violatingProperty")
    if prop:
        where += f" {prop}"
    value = issue.get("violatingPropertyValue")
    if value is not None:
        where += f" = {value}"
    problems.append(
        f"{issue.get('severity', '?')} {check.get('identifier', '?')} ({check.get('name', '')}): "
        f"{one_line(issue.get('message', ''))}" + (f" [{one_line(where)}]" if where.strip() else "")
    )
for skipped in report.get("skipped_check_details", []):
    problems.append(
        f"SKIPPED {skipped.get('identifier', '?')} ({skipped.get('name', '')}): "
        f"{one_line(skipped.get('message', ''))} [{skipped.get('category', '')}]"
    )
if report.get("skipped_checks", 0) and not report.get("skipped_check_details"):
    problems.append(f"SKIPPED {report['skipped_checks']} check(s)")
if "offline cache miss" in log or "not available in the HTTP cache" in log:
    for line in log.splitlines():
        if "not available in the HTTP cache" in line or "offline cache miss" in line:
            problems.append("CACHE " + one_line(line))
    problems.append("CACHE a resource was missing from the HTTP cache: run scripts/install-prov-validators.sh")

stats = report.get("statistics", {})
if report.get("passed") is True and status == 0 and not problems:
    print(
        f"{crate}: valid ({', '.join(stats.get('profiles', []))}): "
        f"{stats.get('total_passed_checks', '?')}/{stats.get('total_checks', '?')} checks passed, "
        f"{stats.get('total_skipped_checks', 0)} skipped"
    )
    sys.exit(0)

print(
    f"{crate}: NOT valid: {stats.get('total_failed_checks', '?')} failed and "
    f"{stats.get('total_skipped_checks', '?')} skipped of {stats.get('total_checks', '?')} checks"
)
for p in problems or ["the validator reported the crate as not valid"]:
    print(p)
sys.exit(1)
EOF
