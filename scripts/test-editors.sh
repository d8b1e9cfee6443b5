#!/usr/bin/env bash
# Tests of the editor support in editors/:
#   - the VS Code extension: its TextMate grammar is current with grammar/exp.ebnf, scope
#     assertions (vscode-tmgrammar-test), highlighting snapshots of every example
#     (vscode-tmgrammar-snap), and `vsce package` accepting it;
#   - the tree-sitter grammar: the committed parser is what `tree-sitter generate` makes,
#     `tree-sitter test` passes (corpus and highlight tests), and every example and
#     standard module parses without an ERROR or MISSING node.
# Installs what it needs when missing: the extension's npm packages (`npm ci`, kept in
# editors/vscode/node_modules) and the tree-sitter CLI from crates.io (`cargo install`, kept
# in ~/.cargo/bin; its npm package downloads a binary from elsewhere at install time).
# Needs node, npm, cargo and a C compiler. Under CI=true a missing one is a failure;
# elsewhere the suite is skipped with a note.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

TREE_SITTER_VERSION=0.27.1

missing=()
for tool in node npm cargo cc python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "test-editors: missing ${missing[*]}: the editor tests cannot run" >&2
    exit 1
  fi
  echo "test-editors: skipped, missing ${missing[*]} (under CI=true this fails)" >&2
  exit 0
fi

started=$SECONDS

echo "== editors: VS Code extension"
cd "$root/editors/vscode"
# npm ci writes node_modules/.package-lock.json: reinstall when the lock file is newer.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm test --silent
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npx --no-install vsce package --out "$out/expc.vsix" </dev/null >"$out/vsce.log" 2>&1 || {
  cat "$out/vsce.log" >&2
  echo "test-editors: vsce package failed" >&2
  exit 1
}
python3 - "$out/expc.vsix" <<'PY'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = ["extension/package.json", "extension/extension.js", "extension/language-configuration.json",
        "extension/syntaxes/exp.tmLanguage.json", "extension/node_modules/vscode-languageclient/package.json"]
missing = [n for n in need if n not in names]
if missing:
    sys.exit(f"test-editors: the package lacks {missing}")
print(f"vsce package: {len(names)} files, with the grammar, the configuration and the client")
PY

echo "== editors: tree-sitter grammar"
if ! command -v tree-sitter >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/tree-sitter" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! tree-sitter --version 2>/dev/null | grep -q " $TREE_SITTER_VERSION\b"; then
  echo "installing tree-sitter-cli $TREE_SITTER_VERSION from crates.io (several minutes on 2 cores)"
  cargo install tree-sitter-cli --version "$TREE_SITTER_VERSION" --locked --quiet
  export PATH="$HOME/.cargo/bin:$PATH"
fi
cd "$root/editors/tree-sitter-exp"
quiet() { grep -v -e "not configured any parser directories" -e "tree-sitter init-config" -e "configuration file to indicate" -e "language grammars\.$" -e '^$' || true; }
tree-sitter generate 2>&1 | quiet
if [ -d "$root/.git" ] && ! git -C "$root" diff --quiet -- editors/tree-sitter-exp/src; then
  git -C "$root" diff --stat -- editors/tree-sitter-exp/src >&2
  echo "test-editors: editors/tree-sitter-exp/src is not what grammar.js generates: run \`tree-sitter generate\` there and commit it" >&2
  exit 1
fi
tree-sitter test 2>&1 | quiet
broken=0
count=0
for f in "$root"/examples/*/*.exp "$root"/examples/*/lib/*.exp "$root"/stdlib/std/*.exp; do
  [ -f "$f" ] || continue
  count=$((count + 1))
  if tree-sitter parse "$f" 2>/dev/null | grep -q -e "(ERROR" -e "(MISSING"; then
    echo "test-editors: ${f#"$root"/} does not parse cleanly:" >&2
    tree-sitter parse "$f" 2>/dev/null | grep -e "(ERROR" -e "(MISSING" | head -5 >&2
    broken=$((broken + 1))
  fi
done
echo "tree-sitter parse: $count files, $broken with ERROR or MISSING nodes"
[ "$broken" -eq 0 ]
echo "editor tests passed in $((SECONDS - started)) s"
