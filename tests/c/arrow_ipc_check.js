// arrow_ipc_check.js - read Cairn's Arrow IPC export with apache-arrow (an independent reader) and
// compare every value with the rows the table's iterator gave.
//   node arrow_ipc_check.js <dir with node_modules/apache-arrow> <t.arrow> <t.json> [columns]
// `columns` (comma-separated): the export is a projection of the rows in that order.
'use strict';
const fs = require('fs');
const path = require('path');
const assert = require('assert');

const [modDir, ipcFile, jsonFile, projection] = process.argv.slice(2);
const arrow = require(path.join(path.resolve(modDir), 'node_modules', 'apache-arrow'));

const table = arrow.tableFromIPC(fs.readFileSync(ipcFile));
const rows = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
const hex = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('hex');

assert.strictEqual(table.numRows, rows.length, 'row count');
const names = table.schema.fields.map((f) => f.name);
assert.ok(rows.length > 0, 'no rows to compare');
assert.deepStrictEqual(names, projection ? projection.split(',') : ['_id', ...Object.keys(rows[0].row)], 'column names');
const typeOf = Object.fromEntries(table.schema.fields.map((f) => [f.name, String(f.type)]));
const wantType = { _id: 'Uint64', s: 'LargeUtf8', r: 'LargeBinary', w: 'FixedSizeBinary[3]', h: 'Uint64', z: 'Bool' };
for (const n of names) if (wantType[n]) assert.strictEqual(typeOf[n], wantType[n], `type of ${n}`);
if (typeOf.ts) assert.match(typeOf.ts, /^Timestamp/);

// raw values of fixed-width columns (exact 64-bit integers, timestamps as microseconds)
function raw(vec, i) {
  let k = i;
  for (const d of vec.data) {
    if (k < d.length) {
      if (!d.getValid(k)) return null;
      const t = d.type;
      if (t.typeId === arrow.Type.Timestamp || (t.typeId === arrow.Type.Int && t.bitWidth === 64)) {
        const v = d.values;
        if (v instanceof BigInt64Array || v instanceof BigUint64Array) return v[d.offset + k];
        const lo = BigInt(v[2 * (d.offset + k)] >>> 0), hi = BigInt(v[2 * (d.offset + k) + 1]);
        return t.isSigned === false ? (hi << 32n) | lo : BigInt.asIntN(64, (hi << 32n) | lo);
      }
      return vec.get(i);
    }
    k -= d.length;
  }
  throw new Error('row out of range');
}

let checked = 0;
for (const name of names) {
  const vec = table.getChild(name);
  for (let i = 0; i < rows.length; i++) {
    const want = name === '_id' ? rows[i]._id : rows[i].row[name];
    const got = raw(vec, i);
    const where = `row ${rows[i]._id} column ${name}`;
    if (want === null) {
      assert.strictEqual(got, null, where);
    } else if (typeof want === 'object' && '$bytes' in want) {
      assert.strictEqual(hex(got), want.$bytes, where);
    } else if (typeof got === 'bigint') {
      assert.strictEqual(got, BigInt(want), where);
    } else {
      assert.strictEqual(got, want, where);
    }
    checked++;
  }
}
console.log(`apache-arrow ${require(path.join(path.resolve(modDir), 'node_modules', 'apache-arrow', 'package.json')).version}: ${table.numRows} rows, ${table.batches.length} batches, ${checked} values match`);
