// The words of the language, read from the normative grammar (grammar/exp.ebnf) and the
// checker's built-in names (crates/expc-check/src/defs.rs), so that the TextMate and
// tree-sitter grammars are generated from, and checked against, the same lists.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');

function ebnfRule(text, name) {
  const m = text.match(new RegExp('^' + name + '\\s*=([^;]*);', 'm'));
  if (!m) throw new Error(`grammar/exp.ebnf has no rule \`${name}\``);
  // Drop comments, keep the quoted alternatives.
  const body = m[1].replace(/\(\*[\s\S]*?\*\)/g, '');
  return [...body.matchAll(/"([^"]+)"/g)].map((x) => x[1]);
}

function rustList(text, name) {
  // rustfmt may break the line after `=`.
  const m = text.match(new RegExp('pub const ' + name + ': &\\[&str\\] =\\s*&\\[([^\\]]*)\\]'));
  if (!m) throw new Error(`defs.rs has no list \`${name}\``);
  return [...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]);
}

function words() {
  const ebnf = fs.readFileSync(path.join(root, 'grammar/exp.ebnf'), 'utf8');
  const defs = fs.readFileSync(path.join(root, 'crates/expc-check/src/defs.rs'), 'utf8');
  return {
    reserved: ebnfRule(ebnf, 'reserved'),
    items: ebnfRule(ebnf, 'item_keyword'),
    sections: ebnfRule(ebnf, 'section_keyword'),
    memoryUnits: ebnfRule(ebnf, 'memory_unit'),
    durationUnits: ebnfRule(ebnf, 'duration_unit'),
    builtinTypes: rustList(defs, 'BUILTIN_TYPES'),
    builtinFunctions: rustList(defs, 'BUILTIN_FUNCTIONS'),
  };
}

module.exports = { words };

if (require.main === module) {
  console.log(JSON.stringify(words(), null, 2));
}
