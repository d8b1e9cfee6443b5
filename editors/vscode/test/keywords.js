// The TextMate grammar is generated from grammar/exp.ebnf: check that the committed one is
// current, and that every word of the language is highlighted as what it is.
'use strict';
const fs = require('fs');
const path = require('path');
const assert = require('assert');
const { render } = require('../syntaxes/generate.js');
const { words } = require('../../words.js');

const file = path.join(__dirname, '../syntaxes/exp.tmLanguage.json');
const committed = fs.readFileSync(file, 'utf8');
assert.strictEqual(committed, render(), 'syntaxes/exp.tmLanguage.json is out of date: run `node syntaxes/generate.js`');

const w = words();
for (const list of ['reserved', 'items', 'sections', 'memoryUnits', 'durationUnits', 'builtinTypes', 'builtinFunctions']) {
  assert.ok(w[list].length > 0, `no ${list} found in the grammar`);
  for (const word of w[list]) {
    assert.ok(committed.includes(word), `\`${word}\` (${list}) is not in the TextMate grammar`);
  }
}
console.log(`keywords: ${Object.values(w).flat().length} words checked`);
