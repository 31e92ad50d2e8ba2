#!/usr/bin/env node
'use strict';
// The Node.js testee of the conformance suite (tests/conformance/PROTOCOL.md).
//
// Reads one JSON request per line on stdin and answers one JSON line on stdout, through the
// idiomatic API of the `cairn` package (cairn.KV, cairn.BlobStore, cairn.Table, cairn.Repo), mapping its errors back to
// the neutral error name (their .code). It never dies on bad input.
//
// `$native` arguments become a JS value of the named type; where that type is *valid* for the
// slot in Node (a number blob key, a number option, a number / boolean / null / array as a KV
// value: Node stores those as JSON), a value Node cannot accept there (a Symbol) is used instead,
// since the protocol's meaning is "a host value of the wrong type".
//
// The package is found at $CAIRN_NODE_PACKAGE, else at bindings/node of this source tree.

const path = require('path');
const readline = require('readline');

const cairn = require(process.env.CAIRN_NODE_PACKAGE ||
  path.resolve(__dirname, '..', '..', '..', '..', 'bindings', 'node'));

const NATIVE = {
  int: () => 42,
  float: () => 1.5,
  bool: () => true,
  null: () => null,
  list: () => [1, 2],
  object: () => function notSerializable() {},
};
const WRONG = Symbol('wrong type'); // no Cairn slot accepts a Symbol

class Fail extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const isTagged = (v, tag) =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && tag in v;

function native(v, valid = []) {
  const kind = v.$native;
  if (typeof kind !== 'string' || !Object.prototype.hasOwnProperty.call(NATIVE, kind)) {
    throw new Fail('CAIRN_INVALID', `unknown $native kind ${JSON.stringify(kind)}`);
  }
  return valid.includes(kind) ? WRONG : NATIVE[kind]();
}

function hexBytes(h, what) {
  if (typeof h !== 'string' || h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) {
    throw new Fail('CAIRN_INVALID', `${what}: $bytes must be a hex string`);
  }
  return Buffer.from(h, 'hex');
}

// A key / blob data argument: string (UTF-8), $bytes, $repeat or $native.
function asBytes(v, what, nativeValid = []) {
  if (typeof v === 'string') return v;
  if (isTagged(v, '$bytes')) return hexBytes(v.$bytes, what);
  if (isTagged(v, '$repeat')) {
    const r = v.$repeat;
    if (r === null || typeof r !== 'object' || !Number.isInteger(r.count) || r.count < 0) {
      throw new Fail('CAIRN_INVALID', `${what}: $repeat needs hex and a count >= 0`);
    }
    const unit = hexBytes(r.hex, what);
    // Zero bytes need no fill: Buffer.alloc's memory is zeroed (and a huge one stays untouched).
    if (unit.every((b) => b === 0)) return Buffer.alloc(unit.length * r.count);
    return Buffer.alloc(unit.length * r.count, unit.length === 1 ? unit[0] : unit);
  }
  if (isTagged(v, '$native')) return native(v, nativeValid);
  return v; // any other JSON value goes to the binding as the host value it is: the binding judges
}

// A KV value argument -> [value, put options].
function valueArg(v) {
  if (isTagged(v, '$json')) return [v.$json, { kind: 'json' }];
  if (isTagged(v, '$native')) return [native(v, ['int', 'float', 'bool', 'null', 'list']), undefined];
  return [asBytes(v, 'value'), undefined];
}

// A ttl / expire_at argument: a number of ms (Node takes any number there), or $native.
const expiryArg = (v) => (isTagged(v, '$native') ? native(v, ['int', 'float']) : v);

const hexOut = (b) => ({ $bytes: Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex') });
const keyOut = (k) => (typeof k === 'string' ? k : hexOut(k));

function valueOut(r) {
  switch (r.kind) {
    case 'text': return r.value;
    case 'json': return { $json: r.value };
    case 'native': throw new Fail('CAIRN_UNSUPPORTED', 'a language-native (pickled) value');
    default: return hexOut(r.value);
  }
}

const OPTION_NAMES = {
  create: 'create', read_only: 'readOnly', sync: 'sync', max_file_size: 'maxFileSize',
  lock_timeout_ms: 'lockTimeoutMs', checkpoint_rows: 'checkpointRows', cache_bytes: 'cacheBytes',
};
const NUMBER_OPTIONS = new Set(['max_file_size', 'lock_timeout_ms', 'checkpoint_rows', 'cache_bytes']);

// ---- table rows: wire <-> the binding's values ----
// Requests of table ops are parsed so that integers beyond 2^53 stay exact (BigInt), and results
// are written with BigInts as bare JSON integers (see toJson).
const LONG_DIGITS = /\d{16}/;
const NUMBER_TOKEN = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

function parseExact(text) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const fail = () => { throw new SyntaxError(`bad JSON at offset ${i}`); };
  const str = () => {
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail();
    return JSON.parse(text.slice(start, ++i));
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      const obj = c === '{';
      const out = obj ? {} : [];
      i++;
      ws();
      if (text[i] === (obj ? '}' : ']')) { i++; return out; }
      for (;;) {
        ws();
        if (obj) {
          if (text[i] !== '"') fail();
          const k = str();
          ws();
          if (text[i++] !== ':') fail();
          out[k] = value();
        } else {
          out.push(value());
        }
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === (obj ? '}' : ']')) { i++; return out; }
        else fail();
      }
    }
    if (c === '"') return str();
    for (const [lit, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(lit, i)) { i += lit.length; return v; }
    }
    NUMBER_TOKEN.lastIndex = i;
    const m = NUMBER_TOKEN.exec(text);
    if (!m) fail();
    i += m[0].length;
    const n = Number(m[0]);
    return m[1] !== undefined || m[2] !== undefined || Number.isSafeInteger(n) ? n : BigInt(m[0]);
  };
  const v = value();
  ws();
  if (i !== text.length) fail();
  return v;
}

function toJson(v) {
  return JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? `\u0000BIG${x}\u0000` : x))
    .replace(/"\\u0000BIG(-?\d+)\\u0000"/g, '$1');
}

// One wire value -> the binding's value ($bytes: Buffer, $ts: Date, $f64: number, $native: a host
// value of that type; anything else as it is: the binding judges it).
function cellIn(v) {
  if (isTagged(v, '$bytes')) return hexBytes(v.$bytes, 'row value');
  if (isTagged(v, '$ts')) return cairn.timestamp(v.$ts);
  if (isTagged(v, '$f64')) {
    const f = { nan: NaN, inf: Infinity, '-inf': -Infinity }[v.$f64];
    if (f === undefined) throw new Fail('CAIRN_INVALID', `bad $f64 ${JSON.stringify(v.$f64)}`);
    return f;
  }
  if (isTagged(v, '$native')) return native(v);
  return v;
}

function rowIn(row) {
  if (isTagged(row, '$native')) return native(row);
  if (row === null || typeof row !== 'object' || Array.isArray(row)) return row; // the binding rejects it
  const out = {};
  for (const [k, v] of Object.entries(row)) out[k] = cellIn(v);
  return out;
}

function cellOut(v) {
  if (Buffer.isBuffer(v)) return hexOut(v);
  if (v instanceof Date) return { $ts: cairn.microseconds(v) };
  if (typeof v === 'number' && !Number.isFinite(v)) return { $f64: Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf' };
  return v;
}

function rowOut(row) {
  if (row === null || row === undefined) return null;
  const out = {};
  for (const [k, v] of Object.entries(row)) out[k] = cellOut(v);
  return out;
}

// A query result -> the wire: { columns, rows } or { columns, data, count } with values as rows
// carry them.
function resultWire(r) {
  const out = { columns: r.columns };
  if (r.rows !== undefined) out.rows = r.rows.map(rowOut);
  if (r.data !== undefined) {
    out.data = {};
    for (const [k, v] of Object.entries(r.data)) out.data[k] = v.map(cellOut);
    out.count = r.count;
  }
  return out;
}

// apache-arrow, a devDependency of the binding's package (installed there by the build's npm install),
// loaded on first use: only table.export needs it.
let arrowModule = null;
function arrowLib() {
  if (arrowModule !== null) return arrowModule;
  const from = [process.env.CAIRN_NODE_PACKAGE, path.resolve(__dirname, '..', '..', '..', '..', 'bindings', 'node'), __dirname];
  try {
    arrowModule = require(require.resolve('apache-arrow', { paths: from.filter(Boolean) }));
  } catch (e) {
    throw new Fail('CAIRN_UNSUPPORTED', `apache-arrow is not installed (npm install in bindings/node): ${e.message}`);
  }
  return arrowModule;
}

// Value i of an apache-arrow Data in the row wire form: 64-bit integers and timestamps read from the
// value buffer as exact BigInts (timestamps in microseconds), f32 to 9 significant digits as the C
// testee prints them, bytes as hex.
function arrowWire(data, i) {
  if (!data.getValid(i)) return null;
  const arrow = arrowLib();
  const t = data.type;
  const j = data.offset + i;
  if (t.typeId === arrow.Type.Dictionary) return arrowWire(data.dictionary.data[0], Number(data.values[j]));
  if (t.typeId === arrow.Type.Timestamp || (t.typeId === arrow.Type.Int && t.bitWidth === 64)) {
    const v = data.values;
    let x;
    if (v instanceof BigInt64Array || v instanceof BigUint64Array) x = BigInt(v[j]);
    else {
      const lo = BigInt(v[2 * j] >>> 0), hi = BigInt(v[2 * j + 1] >>> 0);
      x = (hi << 32n) | lo;
    }
    x = t.typeId === arrow.Type.Int && !t.isSigned ? BigInt.asUintN(64, x) : BigInt.asIntN(64, x);
    if (t.typeId === arrow.Type.Timestamp) return { $ts: x };
    return x;
  }
  const vec = arrow.makeVector(data);
  const x = vec.get(i);
  if (t.typeId === arrow.Type.Float) {
    if (!Number.isFinite(x)) return cellOut(x);
    return t.precision === arrow.Precision.SINGLE ? Number(x.toPrecision(9)) : x;
  }
  if (x instanceof Uint8Array) return hexOut(x);
  return x;
}

const COLUMN_FIELDS = { name: 'name', type: 'type', nullable: 'nullable', primary_key: 'primaryKey', unique: 'unique', default: 'default' };

function schemaIn(s) {
  if (isTagged(s, '$native')) return native(s);
  if (!Array.isArray(s)) return s;
  return s.map((c) => {
    if (c === null || typeof c !== 'object' || Array.isArray(c)) return c;
    const out = {};
    for (const [k, v] of Object.entries(c)) out[COLUMN_FIELDS[k] || k] = k === 'default' ? cellIn(v) : v;
    return out;
  });
}

function options(args) {
  let o = args.options;
  if (o === undefined || o === null) return undefined;
  if (isTagged(o, '$native')) o = native(o, ['null']);
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return o; // the binding rejects it
  const out = {};
  for (const [k, v0] of Object.entries(o)) {
    let v = v0;
    if (isTagged(v, '$native')) v = native(v, NUMBER_OPTIONS.has(k) ? ['int'] : k === 'sync' ? [] : ['bool']);
    out[OPTION_NAMES[k] || k] = v;
  }
  return out;
}

class Testee {
  constructor() {
    this.handles = new Map(); // name -> { engine, h }
    this.events = new Map(); // name -> { rec: recorded events, sets: id -> listeners, last: id }
  }

  reset() {
    for (const { h } of this.handles.values()) {
      try {
        h.close();
      } catch (_) {
        // closing is best effort here
      }
    }
    this.handles.clear();
    this.events.clear();
  }

  name(a) {
    if (!('handle' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'handle'");
    if (typeof a.handle !== 'string') throw new Fail('CAIRN_TYPE', 'handle: expected a string');
    return a.handle;
  }

  get(a, engine) {
    const name = this.name(a);
    const e = this.handles.get(name);
    if (!e) throw new Fail('CAIRN_INVALID', `no handle named ${JSON.stringify(name)}`);
    if (e.engine !== engine) throw new Fail('CAIRN_TYPE', `handle ${JSON.stringify(name)} is of another engine`);
    return e.h; // a closed handle throws CAIRN_CLOSED itself
  }

  path(a) {
    if (!('path' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'path'");
    return isTagged(a.path, '$native') ? native(a.path) : a.path;
  }

  open(a, engine, Cls) {
    const name = this.name(a);
    const old = this.handles.get(name);
    if (old && !old.h.closed) throw new Fail('CAIRN_INVALID', `handle ${JSON.stringify(name)} is already open`);
    const p = this.path(a);
    const h = new Cls(p, options(a));
    this.handles.set(name, { engine, h });
    this.events.delete(name);
    return null;
  }

  close(a) {
    const name = this.name(a);
    const e = this.handles.get(name);
    if (!e) throw new Fail('CAIRN_INVALID', `no handle named ${JSON.stringify(name)}`);
    e.h.close();
    return null;
  }

  key(a, field = 'key') {
    if (!(field in a)) throw new Fail('CAIRN_INVALID', `missing argument '${field}'`);
    return asBytes(a[field], field);
  }

  // -- KV ---------------------------------------------------------------------------------------
  'kv.open'(a) { return this.open(a, 'kv', cairn.KV); }
  'kv.close'(a) { return this.close(a); }

  // ttl / expire_at go to the binding as they are (ttl / expireAt): it judges both given, a
  // negative ttl, a wrong type.
  'kv.put'(a) {
    const db = this.get(a, 'kv');
    const opts = {};
    if ('ttl' in a) opts.ttl = expiryArg(a.ttl);
    if ('expire_at' in a) opts.expireAt = expiryArg(a.expire_at);
    const key = this.key(a);
    if (!('value' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'value'");
    const [value, vopts] = valueArg(a.value);
    const all = Object.assign(opts, vopts);
    db.put(key, value, Object.keys(all).length ? all : undefined);
    return null;
  }

  'kv.get'(a) {
    const db = this.get(a, 'kv');
    const r = db.getTyped(this.key(a));
    return r === undefined ? null : valueOut(r);
  }

  'kv.delete'(a) {
    this.get(a, 'kv').delete(this.key(a));
    return null;
  }

  'kv.exists'(a) { return this.get(a, 'kv').exists(this.key(a)); }

  'kv.keys'(a) {
    const db = this.get(a, 'kv');
    const prefix = a.prefix !== undefined && a.prefix !== null ? this.key(a, 'prefix') : undefined;
    return db.keys(prefix).map(keyOut);
  }

  'kv.update'(a) {
    const db = this.get(a, 'kv');
    if (!('changes' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'changes'");
    let ch = a.changes;
    if (isTagged(ch, '$json')) ch = ch.$json;
    else if (isTagged(ch, '$native')) ch = native(ch);
    db.update(this.key(a), ch);
    return null;
  }


  // null: never expires; an integer: Unix ms; a missing key: CAIRN_NOTFOUND.
  'kv.expiry'(a) {
    const at = this.get(a, 'kv').expiry(this.key(a));
    if (at === undefined) throw new Fail('CAIRN_NOTFOUND', 'key not found');
    return at === null ? null : at.getTime();
  }


  'kv.stats'(a) {
    const s = this.get(a, 'kv').stats();
    return {
      keys: s.keys, data_files: s.dataFiles, disk_bytes: s.diskBytes, live_bytes: s.liveBytes,
      dead_bytes: s.deadBytes, in_txn: s.inTxn,
    };
  }

  // -- versioned store ----------------------------------------------------------------------------
  'repo.open'(a) { return this.open(a, 'repo', cairn.Repo); }
  'repo.close'(a) { return this.close(a); }

  // A tenant / user / entry / tag name: a string goes as it is, $native as the host value (the
  // binding judges it).
  repoName(a, field) {
    if (!(field in a)) throw new Fail('CAIRN_INVALID', `missing argument '${field}'`);
    return isTagged(a[field], '$native') ? native(a[field]) : a[field];
  }

  // An optional digest: absent or null is the head (or the empty collection for diff).
  repoDigest(a, field = 'digest') {
    const v = a[field];
    if (v === undefined || v === null) return undefined;
    return isTagged(v, '$native') ? native(v) : v;
  }

  repoValue(a) {
    if (!('value' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'value'");
    return valueArg(a.value);
  }

  'repo.init'(a) {
    this.get(a, 'repo').init(this.repoName(a, 'tenant'));
    return null;
  }

  'repo.tenants'(a) { return this.get(a, 'repo').tenants(); }
  'repo.entries'(a) { return this.get(a, 'repo').entries(this.repoName(a, 'tenant')); }

  'repo.save'(a) {
    const r = this.get(a, 'repo');
    const [tenant, user, entry] = ['tenant', 'user', 'entry'].map((f) => this.repoName(a, f));
    const [value, opts] = this.repoValue(a);
    return r.save(tenant, user, entry, value, opts);
  }

  'repo.load'(a) {
    const r = this.get(a, 'repo');
    const v = r.loadTyped(this.repoName(a, 'tenant'), this.repoName(a, 'entry'), this.repoDigest(a));
    return v === undefined ? null : valueOut(v);
  }

  'repo.exists'(a) { return this.get(a, 'repo').exists(this.repoName(a, 'tenant'), this.repoName(a, 'entry')); }

  'repo.digest'(a) {
    const d = this.get(a, 'repo').digest(this.repoName(a, 'tenant'), this.repoName(a, 'entry'));
    return d === undefined ? null : d;
  }

  'repo.put'(a) {
    const r = this.get(a, 'repo');
    const [tenant, user, entry] = ['tenant', 'user', 'entry'].map((f) => this.repoName(a, f));
    const key = this.key(a);
    const [value, opts] = this.repoValue(a);
    return r.put(tenant, user, entry, key, value, opts);
  }

  // records: [[key, value], ...] as an array of pairs (putMany also takes a Map or an object).
  // Values are typed by their JS type; when every value is a $json document, kind 'json' keeps
  // JSON strings JSON.
  'repo.put_many'(a) {
    const r = this.get(a, 'repo');
    const [tenant, user, entry] = ['tenant', 'user', 'entry'].map((f) => this.repoName(a, f));
    if (!('records' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'records'");
    let recs = a.records;
    let opts;
    if (isTagged(recs, '$native')) {
      recs = native(recs);
    } else if (Array.isArray(recs)) {
      const allJson = recs.length > 0 && recs.every((p) => Array.isArray(p) && p.length === 2 && isTagged(p[1], '$json'));
      if (allJson) opts = { kind: 'json' };
      recs = recs.map((p) => {
        if (!Array.isArray(p) || p.length !== 2) return p; // the binding refuses it
        return [asBytes(p[0], 'key'), valueArg(p[1])[0]];
      });
    }
    return r.putMany(tenant, user, entry, recs, opts);
  }

  'repo.get'(a) {
    const r = this.get(a, 'repo');
    const v = r.getTyped(this.repoName(a, 'tenant'), this.repoName(a, 'entry'), this.key(a), this.repoDigest(a));
    return v === undefined ? null : valueOut(v);
  }

  'repo.delete'(a) {
    const r = this.get(a, 'repo');
    const [tenant, user, entry] = ['tenant', 'user', 'entry'].map((f) => this.repoName(a, f));
    return r.delete(tenant, user, entry, this.key(a));
  }

  'repo.count'(a) {
    return this.get(a, 'repo').count(this.repoName(a, 'tenant'), this.repoName(a, 'entry'), this.repoDigest(a));
  }

  // Through the record iterator (the idiomatic way to walk a collection), keys only.
  'repo.keys'(a) {
    const r = this.get(a, 'repo');
    const out = [];
    for (const [k] of r.records(this.repoName(a, 'tenant'), this.repoName(a, 'entry'), this.repoDigest(a))) out.push(keyOut(k));
    return out;
  }

  'repo.diff'(a) {
    const r = this.get(a, 'repo');
    if (!('from' in a) || !('to' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'from' or 'to'");
    const d = r.diff(this.repoName(a, 'tenant'), this.repoDigest(a, 'from') || null, this.repoDigest(a, 'to') || null);
    return { added: d.added.map(keyOut), removed: d.removed.map(keyOut), changed: d.changed.map(keyOut) };
  }

  'repo.history'(a) {
    const r = this.get(a, 'repo');
    const max = isTagged(a.max, '$native') ? native(a.max, ['int']) : a.max === null ? undefined : a.max;
    return r.history(this.repoName(a, 'tenant'), this.repoName(a, 'entry'), max).map((v) => ({
      digest: v.digest, parents: v.parents, user: v.user, time: v.time.getTime(), collection: v.collection,
    }));
  }

  'repo.tag'(a) {
    const r = this.get(a, 'repo');
    if (!('digest' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'digest'");
    r.tag(this.repoName(a, 'tenant'), this.repoName(a, 'name'), isTagged(a.digest, '$native') ? native(a.digest) : a.digest);
    return null;
  }

  'repo.tag_get'(a) {
    const d = this.get(a, 'repo').tagGet(this.repoName(a, 'tenant'), this.repoName(a, 'name'));
    return d === undefined ? null : d;
  }

  'repo.gc'(a) {
    const r = this.get(a, 'repo');
    const g = a.grace_ms;
    return r.gc(isTagged(g, '$native') ? native(g, ['int']) : g === null ? undefined : g);
  }

  'repo.stats'(a) {
    const s = this.get(a, 'repo').stats();
    return { tenants: s.tenants, objects: s.objects, disk_bytes: s.diskBytes };
  }

  'repo.verify'(a) {
    cairn.Repo.verify(this.path(a));
    return null;
  }

  // -- blob -------------------------------------------------------------------------------------
  'blob.open'(a) { return this.open(a, 'blob', cairn.BlobStore); }
  'blob.close'(a) { return this.close(a); }

  data(a) {
    if (!('data' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'data'");
    return asBytes(a.data, 'data');
  }

  blobKey(a) {
    if (!('key' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'key'");
    return isTagged(a.key, '$native') ? native(a.key, ['int']) : a.key;
  }

  'blob.create'(a) {
    const st = this.get(a, 'blob');
    return st.create(this.data(a));
  }

  'blob.reserve_next_key'(a) { return this.get(a, 'blob').reserveNextKey(); }

  'blob.create_with_key'(a) {
    const st = this.get(a, 'blob');
    st.createWithKey(this.blobKey(a), this.data(a));
    return null;
  }

  'blob.read'(a) {
    const st = this.get(a, 'blob');
    return hexOut(st.read(this.blobKey(a)));
  }

  'blob.update'(a) {
    const st = this.get(a, 'blob');
    st.update(this.blobKey(a), this.data(a));
    return null;
  }

  'blob.delete'(a) {
    const st = this.get(a, 'blob');
    st.delete(this.blobKey(a));
    return null;
  }

  'blob.exists'(a) {
    const st = this.get(a, 'blob');
    return st.exists(this.blobKey(a));
  }

  'blob.keys'(a) { return this.get(a, 'blob').keys(); }

  'blob.stats'(a) {
    const s = this.get(a, 'blob').stats();
    return {
      entries: s.entries, live_bytes: s.liveBytes, free_bytes: s.freeBytes, free_entries: s.freeEntries,
      file_size: s.fileSize, next_key: s.nextKey, in_txn: s.inTxn,
    };
  }

  // Each subscribe adds one set of listeners ('created', 'updated', 'deleted') and returns its id;
  // every set of a handle records into the same list. With `probe` (a blob key) a listener also
  // reads that blob through the store: listeners run after the call returned, so it can.
  'blob.subscribe'(a) {
    const st = this.get(a, 'blob');
    const probe = a.probe;
    if (probe !== undefined && probe !== null && !Number.isInteger(probe)) {
      throw new Fail('CAIRN_INVALID', 'probe: expected an int key');
    }
    const name = this.name(a);
    let sub = this.events.get(name);
    if (!sub) {
      sub = { rec: [], sets: new Map(), last: 0 };
      this.events.set(name, sub);
    }
    const record = (ev, key, oldSize, newSize) => {
      const entry = [ev, key, oldSize, newSize];
      if (probe !== undefined && probe !== null) {
        let size = null;
        try {
          size = st.read(probe).length;
        } catch (e) {
          if (e.code !== 'CAIRN_NOTFOUND') throw e;
        }
        entry.push(size);
      }
      sub.rec.push(entry);
    };
    const listeners = {
      created: (key, size) => record('created', key, 0, size),
      updated: (key, oldSize, newSize) => record('updated', key, oldSize, newSize),
      deleted: (key, oldSize) => record('deleted', key, oldSize, 0),
    };
    for (const [ev, fn] of Object.entries(listeners)) st.on(ev, fn);
    const id = ++sub.last;
    sub.sets.set(id, listeners);
    return id;
  }

  // Node's unsubscribe is removing the listeners (EventEmitter.off); later changes record nothing.
  'blob.unsubscribe'(a) {
    const st = this.get(a, 'blob');
    if (st.closed) throw new cairn.errors.Closed('blob store handle is closed');
    const sub = this.events.get(this.name(a));
    const listeners = sub && sub.sets.get(a.id);
    if (!listeners) throw new Fail('CAIRN_NOTFOUND', `no subscription ${JSON.stringify(a.id)}`);
    for (const [ev, fn] of Object.entries(listeners)) st.off(ev, fn);
    sub.sets.delete(a.id);
    return null;
  }

  'blob.events'(a) {
    // A recorder of this testee, not a binding call: a closed store has no events to give.
    if (this.get(a, 'blob').closed) throw new cairn.errors.Closed('blob store handle is closed');
    const sub = this.events.get(this.name(a));
    return sub ? sub.rec.splice(0, sub.rec.length) : [];
  }

  // -- table ------------------------------------------------------------------------------------
  'table.open'(a) {
    const name = this.name(a);
    const old = this.handles.get(name);
    if (old && !old.h.closed) throw new Fail('CAIRN_INVALID', `handle ${JSON.stringify(name)} is already open`);
    const p = this.path(a);
    let o = options(a);
    if (a.schema !== undefined && a.schema !== null) {
      if (o !== undefined && (o === null || typeof o !== 'object')) throw new Fail('CAIRN_TYPE', 'options: expected an object');
      o = Object.assign({}, o, { schema: schemaIn(a.schema) });
    }
    const h = new cairn.Table(p, o);
    this.handles.set(name, { engine: 'table', h });
    this.events.delete(name);
    return null;
  }

  'table.close'(a) { return this.close(a); }

  'table.schema'(a) {
    return this.get(a, 'table').schema().map((c) => ({
      name: c.name, type: c.type, nullable: c.nullable, primary_key: c.primaryKey, unique: c.unique,
      default: cellOut(c.default),
    }));
  }

  'table.add_column'(a) {
    const t = this.get(a, 'table');
    if (!('spec' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'spec'");
    t.addColumn(isTagged(a.spec, '$native') ? native(a.spec) : a.spec);
    return null;
  }

  row(a, field = 'row') {
    if (!(field in a)) throw new Fail('CAIRN_INVALID', `missing argument '${field}'`);
    return rowIn(a[field]);
  }

  id(a) {
    if (!('id' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'id'");
    return isTagged(a.id, '$native') ? native(a.id, ['int']) : a.id;
  }

  'table.insert'(a) {
    const t = this.get(a, 'table');
    return t.insert(this.row(a));
  }

  'table.insert_many'(a) {
    const t = this.get(a, 'table');
    if (!('rows' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'rows'");
    const rows = isTagged(a.rows, '$native') ? native(a.rows, ['list']) : Array.isArray(a.rows) ? a.rows.map(rowIn) : a.rows;
    return t.insertMany(rows);
  }

  'table.upsert'(a) {
    const t = this.get(a, 'table');
    return t.upsert(this.row(a));
  }

  'table.load'(a) {
    const t = this.get(a, 'table');
    if (!('columns' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'columns'");
    let cols = a.columns;
    if (isTagged(cols, '$native')) cols = native(cols);
    else if (cols !== null && typeof cols === 'object' && !Array.isArray(cols)) {
      const out = {};
      for (const [k, v] of Object.entries(cols)) out[k] = Array.isArray(v) ? v.map(cellIn) : cellIn(v);
      cols = out;
    }
    return t.load(cols);
  }

  'table.get'(a) {
    const t = this.get(a, 'table');
    return rowOut(t.get(this.id(a)));
  }

  'table.update'(a) {
    const t = this.get(a, 'table');
    const id = this.id(a);
    t.update(id, this.row(a, 'changes'));
    return null;
  }

  'table.delete'(a) {
    const t = this.get(a, 'table');
    t.delete(this.id(a));
    return null;
  }

  'table.rows'(a) {
    const out = [];
    for (const [id, row] of this.get(a, 'table')) out.push([id, rowOut(row)]);
    return out;
  }


  'table.stats'(a) {
    const s = this.get(a, 'table').stats();
    return {
      rows: s.rows, deleted_rows: s.deletedRows, next_id: s.nextId, row_groups: s.rowGroups, segments: s.segments,
      tail_rows: s.tailRows, disk_bytes: s.diskBytes, wal_bytes: s.walBytes, columns: s.columns, in_txn: s.inTxn,
    };
  }

  // subscribe(fn) -> an id; every listener of a handle records into one list.
  'table.subscribe'(a) {
    const t = this.get(a, 'table');
    const name = this.name(a);
    let sub = this.events.get(name);
    if (!sub) {
      sub = { rec: [] };
      this.events.set(name, sub);
    }
    return t.subscribe((ev, id, row, old) => sub.rec.push([ev, id, rowOut(row), rowOut(old)]));
  }

  'table.unsubscribe'(a) {
    this.get(a, 'table').unsubscribe(a.id);
    return null;
  }

  'table.events'(a) {
    if (this.get(a, 'table').closed) throw new cairn.errors.Closed('table handle is closed');
    const sub = this.events.get(this.name(a));
    return sub ? sub.rec.splice(0, sub.rec.length) : [];
  }

  // -- table queries, indexes, export -------------------------------------------------------------
  // A query spec from the wire: tagged values ($bytes, $ts, $f64, $native) become the binding's
  // values wherever they are (params, triples, shorthand objects); the rest as it is.
  spec(a, field = 'query') {
    if (!(field in a)) throw new Fail('CAIRN_INVALID', `missing argument '${field}'`);
    const walk = (v) => {
      if (v === null || typeof v !== 'object') return v;
      if (['$bytes', '$ts', '$f64', '$native'].some((t) => isTagged(v, t))) return cellIn(v);
      if (Array.isArray(v)) return v.map(walk);
      const out = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x);
      return out;
    };
    return walk(a[field]);
  }

  'table.query'(a) {
    const r = this.get(a, 'table').query(this.spec(a));
    return resultWire(r);
  }

  'table.count_where'(a) {
    const q = this.spec(a);
    if (q === null || typeof q !== 'object' || Array.isArray(q)) throw new Fail('CAIRN_TYPE', 'query: expected an object');
    return this.get(a, 'table').countWhere(q.where, q.params);
  }

  'table.join'(a) {
    const l = this.get({ handle: a.left }, 'table');
    const r = this.get({ handle: a.right }, 'table');
    return resultWire(l.join(r, this.spec(a)));
  }

  'table.create_index'(a) {
    this.get(a, 'table').createIndex(a.column, a.kind);
    return null;
  }

  'table.drop_index'(a) {
    this.get(a, 'table').dropIndex(a.column, a.kind);
    return null;
  }

  'table.indexes'(a) {
    return this.get(a, 'table').indexes();
  }

  'table.lookup'(a) {
    return this.get(a, 'table').lookup(a.column, cellIn(a.value));
  }

  'table.find'(a) {
    return this.get(a, 'table').find(rowIn(a.conditions));
  }

  'table.range_find'(a) {
    const lo = a.lo === undefined || a.lo === null ? undefined : cellIn(a.lo);
    const hi = a.hi === undefined || a.hi === null ? undefined : cellIn(a.hi);
    return this.get(a, 'table').rangeFind(a.column, lo, hi, { loOpen: !!a.lo_open, hiOpen: !!a.hi_open });
  }

  // The binding's Arrow export is IPC stream bytes (toArrowIPC); apache-arrow's tableFromIPC reads
  // them back (an independent reader) and each value goes out in the row wire form.
  'table.export'(a) {
    const t = this.get(a, 'table');
    const q = a.query === undefined || a.query === null ? null : this.spec(a);
    if (q !== null && (typeof q !== 'object' || Array.isArray(q))) throw new Fail('CAIRN_TYPE', 'a query must be an object');
    const table = arrowLib().tableFromIPC(q === null ? t.toArrowIPC() : t.toArrowIPC(q));
    const out = {};
    table.schema.fields.forEach((f, k) => {
      const vals = [];
      for (const batch of table.batches) {
        const data = batch.getChildAt(k).data[0];
        for (let i = 0; i < batch.numRows; i++) vals.push(arrowWire(data, i));
      }
      out[f.name] = vals;
    });
    return out;
  }

  // -- common -----------------------------------------------------------------------------------
  reset_() { this.reset(); cairn.testing.setClock(null); return null; }

  // The core's test clock (Unix ms; 0: the real clock again).
  'clock.set'(a) {
    if (!('ms' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'ms'");
    if (!Number.isInteger(a.ms)) throw new Fail('CAIRN_TYPE', 'ms: expected an integer');
    cairn.testing.setClock(a.ms);
    return null;
  }

  sleep_(a) {
    const ms = a.ms === undefined ? 0 : a.ms;
    if (typeof ms !== 'number' || !(ms >= 0)) throw new Fail('CAIRN_INVALID', 'sleep: ms must be a number >= 0');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    return null;
  }

  // Node.js has no fork(): a process cannot be copied with its open handles (child_process,
  // cluster and worker_threads start fresh and open their own). The fork cases are in xfail/node.txt.
  'proc.fork'() {
    throw new Fail('CAIRN_UNSUPPORTED', 'proc.fork: Node.js cannot fork a running process with its handles');
  }

  handle(line) {
    let req;
    try {
      req = JSON.parse(line);
      // Table rows may hold integers beyond 2^53: parse those requests again, exactly.
      if (req && typeof req.op === 'string' && req.op.startsWith('table.') && LONG_DIGITS.test(line)) req = parseExact(line);
    } catch (e) {
      return { error: 'CAIRN_INVALID', message: `request is not JSON: ${e.message}` };
    }
    if (req === null || typeof req !== 'object' || typeof req.op !== 'string') {
      return { error: 'CAIRN_INVALID', message: 'request needs an op' };
    }
    let args = req.args === undefined || req.args === null ? {} : req.args;
    if (typeof args !== 'object' || Array.isArray(args)) return { error: 'CAIRN_INVALID', message: 'args must be an object' };
    const op = req.op === 'reset' || req.op === 'sleep' ? req.op + '_' : req.op;
    const fn = op.includes('.') || op.endsWith('_') ? Testee.prototype[op] : undefined;
    if (typeof fn !== 'function') return { error: 'CAIRN_UNSUPPORTED', message: `unknown op ${JSON.stringify(req.op)}` };
    try {
      const r = fn.call(this, args);
      return { ok: r === undefined ? null : r };
    } catch (e) {
      if (e && typeof e.code === 'string' && e.code.startsWith('CAIRN_')) {
        return { error: e.code, message: String(e.message) };
      }
      // A binding bug: visible in the report, never a crash.
      const name = e && e.constructor ? e.constructor.name : typeof e;
      return { error: 'NODE_' + name, message: e && e.stack ? e.stack.split('\n').slice(0, 4).join(' | ') : String(e) };
    }
  }
}

// The ops every engine has, under the same verb in the protocol and in the binding.
for (const [engine, Cls] of [['kv', cairn.KV], ['blob', cairn.BlobStore], ['table', cairn.Table]]) {
  for (const verb of ['begin', 'commit', 'rollback', 'sync', 'compact']) {
    Testee.prototype[`${engine}.${verb}`] = function op(a) {
      this.get(a, engine)[verb]();
      return null;
    };
  }
  Testee.prototype[`${engine}.count`] = function count(a) { return this.get(a, engine).count(); };
  Testee.prototype[`${engine}.in_txn`] = function inTxn(a) { return this.get(a, engine).inTxn(); };
  Testee.prototype[`${engine}.check`] = function check(a) { Cls.check(this.path(a)); return null; };
  if (engine === 'table') Testee.prototype['table.repair'] = function repair(a) { return Cls.repair(this.path(a)); };
}

// Every engine's Prometheus text (metrics() of the shared base).
for (const engine of ['kv', 'blob', 'table', 'repo']) {
  Testee.prototype[`${engine}.metrics`] = function metrics(a) { return this.get(a, engine).metrics(); };
}

// Snapshots and backups: the same five ops for every store. The snapshot opened by
// open_snapshot becomes the handle named by `as` (a read-only store of the same class).
for (const engine of ['kv', 'blob', 'table']) {
  Testee.prototype[`${engine}.snapshot`] = function snapshot(a) {
    const db = this.get(a, engine);
    const name = isTagged(a.name, '$native') ? native(a.name) : a.name;
    return db.snapshot(name === null ? undefined : name);
  };
  Testee.prototype[`${engine}.snapshots`] = function snapshots(a) {
    return this.get(a, engine).snapshots().map((s) => ({ name: s.name, time: s.time.getTime(), bytes: s.bytes }));
  };
  Testee.prototype[`${engine}.open_snapshot`] = function openSnapshot(a) {
    const db = this.get(a, engine);
    if (typeof a.as !== 'string') throw new Fail('CAIRN_INVALID', "missing argument 'as'");
    const old = this.handles.get(a.as);
    if (old && !old.h.closed) throw new Fail('CAIRN_INVALID', `handle ${JSON.stringify(a.as)} is already open`);
    const name = isTagged(a.name, '$native') ? native(a.name) : a.name;
    this.handles.set(a.as, { engine, h: db.openSnapshot(name) });
    this.events.delete(a.as);
    return null;
  };
  Testee.prototype[`${engine}.drop_snapshot`] = function dropSnapshot(a) {
    this.get(a, engine).dropSnapshot(isTagged(a.name, '$native') ? native(a.name) : a.name);
    return null;
  };
  Testee.prototype[`${engine}.backup`] = function backup(a) {
    const db = this.get(a, engine);
    if (!('dest' in a)) throw new Fail('CAIRN_INVALID', "missing argument 'dest'");
    db.backup(isTagged(a.dest, '$native') ? native(a.dest) : a.dest);
    return null;
  };
}

async function main() {
  const t = new Testee();
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  for await (const raw of rl) {
    const line = raw.trim();
    if (!line) continue;
    const resp = t.handle(line);
    let s;
    try {
      s = toJson(resp);
    } catch (e) {
      s = JSON.stringify({ error: 'CAIRN_INTERNAL', message: `unserialisable result: ${e.message}` });
    }
    process.stdout.write(s + '\n');
  }
  t.reset();
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`testee: ${e && e.stack}\n`);
    process.exit(1);
  });
