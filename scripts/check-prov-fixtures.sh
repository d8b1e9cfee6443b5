#!/usr/bin/env bash
# Runs both provenance validators on tests/prov-fixtures/ and checks that each valid fixture
# passes and each broken one is rejected. Needs scripts/install-prov-validators.sh first.
# Prints one line per fixture and "N passed, N failed"; exits 1 when any check failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
fx=tests/prov-fixtures
passed=0
failed=0

expect() { # expect WANT_STATUS NAME PATTERN COMMAND... (PATTERN: grep -E on the output, or "")
  local want="$1" name="$2" pattern="$3"
  shift 3
  local out status
  out="$("$@" 2>&1)"
  status=$?
  if [ "$status" -eq "$want" ] && { [ -z "$pattern" ] || grep -Eq "$pattern" <<<"$out"; }; then
    passed=$((passed + 1))
    echo "ok   $name (exit $status)"
  else
    failed=$((failed + 1))
    echo "FAIL $name: exit $status, wanted $want${pattern:+ and output matching '$pattern'}"
    printf '%s\n' "$out" | sed 's/^/     /'
  fi
}

expect 0 "valid.prov.json" "" "$PYTHON" scripts/validate-prov.py "$fx/valid.prov.json"
expect 1 "broken-end-before-start.prov.json" "task-summarise: endTime .* is before startTime" "$PYTHON" scripts/validate-prov.py "$fx/broken-end-before-start.prov.json"
expect 1 "broken-undeclared-prefix.prov.json" "prefix 'slurm' is not declared" "$PYTHON" scripts/validate-prov.py "$fx/broken-undeclared-prefix.prov.json"
expect 0 "crate/" "" scripts/validate-rocrate.sh "$fx/crate"
expect 0 "crate-tasks/ (workflow-run-crate)" "" scripts/validate-rocrate.sh "$fx/crate-tasks"
expect 0 "crate-tasks/ (provenance-run-crate)" "" env ROCRATE_PROFILE=provenance-run-crate-0.5 scripts/validate-rocrate.sh "$fx/crate-tasks"
expect 1 "broken-crate/ (no instrument)" "REQUIRED process-run-crate-0.5_1.1 \\(Action instrument\\)" scripts/validate-rocrate.sh "$fx/broken-crate"
expect 1 "broken-crate/ (no license)" "REQUIRED workflow-ro-crate-1.0_5.1 \\(Crate license\\)" scripts/validate-rocrate.sh "$fx/broken-crate"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
