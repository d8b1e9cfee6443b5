// The highlighting snapshots are taken on copies of the examples (test/snapshots/*.exp).
// This checks that the copies are the examples as they are now, so that a changed example
// fails the snapshot test until its snapshot is updated (`npm run snapshots:update`).
'use strict';
const fs = require('fs');
const path = require('path');

const examples = path.join(__dirname, '../../../examples');
const snapshots = path.join(__dirname, 'snapshots');
const update = process.argv.includes('--update');

let stale = 0;
let count = 0;
for (const dir of fs.readdirSync(examples).sort()) {
  const source = path.join(examples, dir, `${dir}.exp`);
  if (!fs.existsSync(source)) continue;
  count += 1;
  const copy = path.join(snapshots, `${dir}.exp`);
  const text = fs.readFileSync(source, 'utf8');
  if (fs.existsSync(copy) && fs.readFileSync(copy, 'utf8') === text) continue;
  if (update) {
    fs.writeFileSync(copy, text);
  } else {
    console.error(`${path.relative(process.cwd(), copy)} is not examples/${dir}/${dir}.exp: run \`npm run snapshots:update\` and review the snapshot`);
    stale += 1;
  }
}
if (count === 0) {
  console.error('no examples found');
  process.exit(1);
}
process.exit(stale === 0 ? 0 : 1);
