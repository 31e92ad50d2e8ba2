'use strict';
// The idiomatic Node.js API of Cairn (const cairn = require('cairn')).
//
// Two layers: the addon (src/addon.cc) is thin and close to the C API; this file adds value
// kinds, options, error classes, transactions and the blob store's EventEmitter. Every engine
// class (KV, BlobStore, Table, Repo) extends one base (handleClass / storeClass) and adds only its own methods.
//
// Values: Buffer / any TypedArray / DataView / ArrayBuffer -> BYTES (read back as Buffer),
// string -> TEXT (read back as string), plain object / array / number / boolean / null -> JSON
// (read back as the same JS value). Keys: string (its UTF-8 bytes) or bytes; keys come back as
// strings when they are valid UTF-8, else as Buffers.

const fs = require('fs');
const path = require('path');
const { EventEmitter } = require('events');

// ------------------------------------------------------------------------------------------
// The addon: $CAIRN_NODE_ADDON (a build tree), else build/Release/cairn.node of this package.
// ------------------------------------------------------------------------------------------
function loadNative() {
  const fromEnv = process.env.CAIRN_NODE_ADDON;
  if (fromEnv) return require(path.resolve(fromEnv));
  const local = path.join(__dirname, '..', 'build', 'Release', 'cairn.node');
  if (fs.existsSync(local)) return require(local);
  throw new Error(
    'cairn: native addon not found (' + local + '); build it with `npm install` in the package ' +
      'directory, or point CAIRN_NODE_ADDON at a cairn.node built by CMake');
}
const native = loadNative();

// Out-parameters of native get()/read() (see AddonData in src/addon.cc): small byte values
// arrive in `scratch`, and meta[0] holds the kind of the value get() returned.
const scratch = Buffer.alloc(64 * 1024);
const meta = new Int32Array(1);
native.setScratch(scratch, meta);

function bytesOut(r) {
  // r: a length in scratch, or a Buffer the addon made for a large value.
  if (typeof r !== 'number') return r;
  const b = Buffer.allocUnsafe(r); // pooled for small sizes
  scratch.copy(b, 0, 0, r);
  return b;
}

// ------------------------------------------------------------------------------------------
// Errors: one class per entry of the core's error table (core/include/cairn_errors.def).
// Every error has .code ('CAIRN_NOTFOUND') and .errno (-2). CAIRN_TYPE errors are TypeErrors.
// ------------------------------------------------------------------------------------------
const CLASS_NAMES = {
  ERROR: 'Unspecified', NOTFOUND: 'NotFound', TOOBIG: 'TooBig', IO: 'IO', NOSPC: 'NoSpace',
  NOMEM: 'NoMemory', READONLY: 'ReadOnly', ITEROVER: 'IterOver',
};

class CairnError extends Error {
  constructor(message, errno) {
    super(message);
    const info = errnoInfo(errno === undefined ? new.target.errno : errno);
    Object.defineProperty(this, 'name', { value: new.target.name, configurable: true, writable: true });
    this.code = info.code;
    this.errno = info.errno;
  }

  // CAIRN_TYPE errors extend TypeError (so they are real TypeErrors) and are still CairnErrors.
  static [Symbol.hasInstance](obj) {
    if (this === CairnError && obj instanceof errors.Type) return true;
    return Function.prototype[Symbol.hasInstance].call(this, obj);
  }
}
CairnError.errno = -1;

const errors = {};
const byErrno = new Map();
const byCode = new Map();

function errnoInfo(errno) {
  return byErrno.get(errno) || { errno, code: 'CAIRN_UNKNOWN', text: 'unknown error' };
}

for (const [errno, code, text] of native.errorTable()) {
  if (errno === 0) continue;
  const short = code.replace(/^CAIRN_/, '');
  const cls = CLASS_NAMES[short] || short.charAt(0) + short.slice(1).toLowerCase();
  const Base = short === 'TYPE' ? TypeError : CairnError;
  const name = 'Cairn' + cls + 'Error';
  let C;
  if (Base === TypeError) {
    C = class extends TypeError {
      constructor(message) {
        super(message);
        Object.defineProperty(this, 'name', { value: name, configurable: true, writable: true });
        this.code = code;
        this.errno = errno;
      }
    };
  } else {
    C = class extends CairnError {
      constructor(message) {
        super(message, errno);
      }
    };
  }
  Object.defineProperty(C, 'name', { value: name });
  C.errno = errno;
  C.code = code;
  const info = { errno, code, text, cls: C };
  byErrno.set(errno, info);
  byCode.set(code, info);
  errors[cls] = C;
}

function makeError(errno, message) {
  const info = byErrno.get(errno);
  if (!info) return new CairnError(message, errno);
  return new info.cls(message);
}
native.setErrorFactory(makeError);

const typeError = (msg) => new errors.Type(msg);
const invalid = (msg) => new errors.Invalid(msg);

// ------------------------------------------------------------------------------------------
// Options: the ones every engine shares, plus each engine's own (Engine[ENGINE].options).
// ------------------------------------------------------------------------------------------
const SYNC = { none: native.SYNC_NONE, commit: native.SYNC_COMMIT, group: native.SYNC_GROUP };
const COMMON_OPTIONS = { create: 'boolean', readOnly: 'boolean', sync: 'sync', lockTimeoutMs: 'uint' };

// Checks the types and names of open options and returns them normalised for the addon
// ({ create, readOnly, sync: number, lockTimeoutMs, ...}); ranges are checked by the addon and
// the core.
function readOptions(opts, spec) {
  const out = {};
  if (opts === undefined || opts === null) return out;
  if (typeof opts !== 'object' || Array.isArray(opts)) throw typeError('options must be an object');
  for (const k of Object.keys(opts)) {
    const kind = Object.prototype.hasOwnProperty.call(spec, k) ? spec[k] : undefined;
    const v = opts[k];
    if (!kind) throw invalid(`unknown option '${k}' (known: ${Object.keys(spec).join(', ')})`);
    if (v === undefined) continue;
    if (kind === 'boolean') {
      if (typeof v !== 'boolean') throw typeError(`option '${k}' must be a boolean`);
    } else if (kind === 'uint') {
      if (typeof v !== 'number') throw typeError(`option '${k}' must be a number`);
      if (!Number.isSafeInteger(v) || v < 0) throw invalid(`option '${k}' must be a non-negative integer`);
    } else if (kind === 'schema') {
      out[k] = schemaText(v);
      continue;
    } else if (kind === 'sync') {
      if (typeof v !== 'string') throw typeError(`option '${k}' must be 'none', 'commit' or 'group'`);
      if (!Object.prototype.hasOwnProperty.call(SYNC, v)) {
        throw invalid(`option '${k}' must be 'none', 'commit' or 'group', not '${v}'`);
      }
    }
    out[k] = kind === 'sync' ? SYNC[v] : v;
  }
  return out;
}

function checkPath(p) {
  if (typeof p !== 'string') {
    if (p instanceof URL || Buffer.isBuffer(p)) return checkPath(p instanceof URL ? require('url').fileURLToPath(p) : p.toString());
    throw typeError('path must be a string');
  }
  return p;
}

// ------------------------------------------------------------------------------------------
// Values
// ------------------------------------------------------------------------------------------
function isPlainObject(v) {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

// JSON text of a JSON-kind value, or a CAIRN_TYPE error.
function jsonOf(v) {
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) throw typeError('a number value must be finite (JSON has no NaN or Infinity)');
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      if (v === null) return 'null';
      if (Array.isArray(v) || isPlainObject(v)) {
        try {
          return JSON.stringify(v);
        } catch (e) {
          throw typeError('value is not JSON-serializable: ' + e.message);
        }
      }
      throw typeError(
        `a value must be a string, bytes (Buffer, TypedArray, ArrayBuffer) or a JSON value ` +
          `(plain object, array, number, boolean, null), not ${describe(v)}`);
    default:
      throw typeError(`a value must be a string, bytes or a JSON value, not ${describe(v)}`);
  }
}

function describe(v) {
  if (v === null) return 'null';
  if (typeof v === 'object') {
    const c = Object.getPrototypeOf(v) && Object.getPrototypeOf(v).constructor;
    return c && c.name ? `a ${c.name}` : 'an object';
  }
  return `a ${typeof v}`;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new errors.Corrupt('stored JSON value does not parse: ' + e.message);
  }
}

function isBytes(v) {
  return ArrayBuffer.isView(v) || v instanceof ArrayBuffer;
}

const KIND_NAMES = ['bytes', 'text', 'json', 'native'];

// Put options { expireAt, ttl, kind } -> { exp: absolute Unix ms or undefined, ttl: ms or
// undefined (the addon adds it to its clock, the test clock when one is set), kind }.
function putOptions(opts) {
  if (opts === null || typeof opts !== 'object') throw typeError('put options must be an object');
  for (const k of Object.keys(opts)) {
    if (k !== 'expireAt' && k !== 'ttl' && k !== 'kind') {
      throw invalid(`unknown put option '${k}' (known: expireAt, ttl, kind)`);
    }
  }
  const { expireAt, kind } = opts;
  let { ttl } = opts;
  let exp;
  if (expireAt !== undefined && ttl !== undefined) throw invalid('give expireAt or ttl, not both');
  if (expireAt !== undefined) {
    const ms = expireAt instanceof Date ? expireAt.getTime() : expireAt;
    if (typeof ms !== 'number') throw typeError('expireAt must be a Date or Unix milliseconds');
    if (!Number.isSafeInteger(ms) || ms < 0) throw invalid('expireAt must be a non-negative integer of Unix ms');
    exp = ms === 0 ? undefined : ms;
  } else if (ttl !== undefined) {
    if (typeof ttl !== 'number') throw typeError('ttl must be a number of milliseconds');
    if (!Number.isFinite(ttl) || ttl < 0) throw invalid('ttl must be a non-negative number of milliseconds');
    ttl = Math.ceil(ttl); // ttl 0 means "expires now" (stores nothing readable), not "never"
  }
  if (kind !== undefined) {
    if (typeof kind !== 'string') throw typeError("kind must be 'bytes', 'text' or 'json'");
    if (kind !== 'bytes' && kind !== 'text' && kind !== 'json') {
      throw invalid(`kind must be 'bytes', 'text' or 'json', not '${kind}'`);
    }
  }
  return { exp, ttl, kind };
}

// A value and the kind it is stored as ('bytes' | 'text' | 'json' | undefined: by its JS type)
// -> [what the addon takes, the kind's code]. The same for every engine with typed values.
function valueIn(value, kind) {
  if (kind === 'json') return [typeof value === 'string' ? JSON.stringify(value) : jsonOf(value), native.KIND_JSON];
  if (kind === 'text') {
    if (typeof value !== 'string') throw typeError("a value of kind 'text' must be a string");
    return [value, native.KIND_TEXT];
  }
  if (kind === 'bytes') {
    if (typeof value !== 'string' && !isBytes(value)) throw typeError("a value of kind 'bytes' must be bytes or a string");
    return [value, native.KIND_BYTES];
  }
  if (typeof value === 'string') return [value, native.KIND_TEXT];
  if (isBytes(value)) return [value, native.KIND_BYTES];
  return [jsonOf(value), native.KIND_JSON];
}

// Value options { kind } (save, put and putMany of the versioned store) -> the kind.
function kindOption(opts) {
  if (opts === undefined) return undefined;
  if (opts === null || typeof opts !== 'object') throw typeError('options must be an object');
  for (const k of Object.keys(opts)) if (k !== 'kind') throw invalid(`unknown option '${k}' (known: kind)`);
  return putOptions(opts).kind;
}

// What the addon's get() / load() returned -> the value (undefined when absent): a string of
// kind TEXT, the parsed JSON of kind JSON (meta[0] says which), else a Buffer.
function valueOut(r) {
  if (typeof r === 'string') return meta[0] === native.KIND_JSON ? parseJson(r) : r;
  return bytesOut(r);
}

function typedValueOut(r) {
  if (r === undefined) return undefined;
  const kind = meta[0];
  if (typeof r === 'string') return { value: kind === native.KIND_JSON ? parseJson(r) : r, kind: KIND_NAMES[kind] };
  return { value: bytesOut(r), kind: KIND_NAMES[kind] || 'bytes' };
}

// Runs fn inside begin/commit; rolls back if it throws or its promise rejects.
function runTransaction(store, fn) {
  if (typeof fn !== 'function') throw typeError('transaction() needs a function');
  store.begin();
  const abort = (e) => {
    if (!store.closed) {
      try {
        store.rollback();
      } catch (_) {
        // The transaction is gone already (e.g. fn committed or closed it): keep fn's error.
      }
    }
    throw e;
  };
  const finish = (v) => {
    try {
      store.commit();
    } catch (e) {
      abort(e);
    }
    return v;
  };
  let r;
  try {
    r = fn(store);
  } catch (e) {
    abort(e);
  }
  if (r !== null && typeof r === 'object' && typeof r.then === 'function') {
    return Promise.resolve(r).then(finish, abort);
  }
  return finish(r);
}

const fromHandle = Symbol('cairn.fromHandle');
const H = Symbol('cairn.handle'); // the addon's handle object
const ENGINE = Symbol('cairn.engine'); // static: { native: addon class, options: its own open options, tag }
const AFTER = Symbol('cairn.after'); // called with the result of every call that may change data

function promise(fn) {
  try {
    return fn();
  } catch (e) {
    return Promise.reject(e);
  }
}

// The addon's method `name` of handle h, or CAIRN_UNSUPPORTED when this engine has none.
function nativeMethod(h, name, what) {
  const fn = h[name];
  if (typeof fn !== 'function') throw new errors.Unsupported(`${what}: not supported by this engine`);
  return fn;
}

// A snapshot as the core lists it ({name, time: Unix ms, bytes}) with time as a Date.
const snapshotOut = (s) => ({ name: s.name, time: new Date(s.time), bytes: s.bytes });

// ------------------------------------------------------------------------------------------
// The base of every engine's class, in two layers:
//  - handleClass: what every handle has: open (sync and on the thread pool), check, stats,
//    close, closed (the versioned store is this and its own methods);
//  - storeClass: the key-value engines' part on top of it: exists / has, count / size,
//    transactions, sync / compact, snapshots and backups.
// An engine class declares static [ENGINE] and its own methods, which use this[H] (the addon
// handle), nothing else. Base is Object, or EventEmitter for an engine with events (it then
// overrides [AFTER] to deliver them once the C call has returned).
// ------------------------------------------------------------------------------------------
function handleClass(Base) {
  return class Handle extends Base {
    constructor(path, options) {
      super();
      const h = path === fromHandle ? options : openWith(new.target, 'open', path, options);
      Object.defineProperty(this, H, { value: h });
    }

    /** Open on the libuv thread pool: a Promise of the store. */
    static open(path, options) {
      return promise(() => openWith(this, 'openAsync', path, options)).then((h) => new this(fromHandle, h));
    }

    /** Verify the files of the store at `path` without opening it for writing. */
    static check(path) {
      this[ENGINE].native.check(checkPath(path));
    }

    static checkAsync(path) {
      return promise(() => this[ENGINE].native.checkAsync(checkPath(path)));
    }

    stats() {
      return this[H].stats();
    }

    /**
     * The Prometheus text exposition (format 0.0.4) of the engine's statistics
     * (cairn_<engine>_metrics): HELP and TYPE lines, then one sample per statistic labelled
     * {store="<path>"}. Serve it as text/plain; version=0.0.4.
     */
    metrics() {
      return nativeMethod(this[H], 'metrics', 'metrics').call(this[H]);
    }

    /** Close (idempotent). An open transaction is rolled back. */
    close() {
      this[H].close();
    }

    get closed() {
      return this[H].closed;
    }

    get [Symbol.toStringTag]() {
      return this.constructor[ENGINE].tag;
    }

    [AFTER](result) {
      return result;
    }
  };
}

function storeClass(Base) {
  return class Store extends handleClass(Base) {
    exists(key) {
      return this[H].exists(key);
    }

    /** The same as exists(key) (the Map idiom). */
    has(key) {
      return this[H].exists(key);
    }

    count() {
      return this[H].count();
    }

    get size() {
      return this[H].count();
    }

    [Symbol.iterator]() {
      return this.entries();
    }

    begin() {
      this[H].begin();
    }

    commit() {
      this[AFTER](this[H].commit());
    }

    rollback() {
      this[AFTER](this[H].rollback());
    }

    /** True inside begin() ... commit()/rollback(): the core's flag (cairn_<engine>_in_txn). */
    inTxn() {
      return nativeMethod(this[H], 'inTxn', 'inTxn').call(this[H]);
    }

    /**
     * Run fn(store) in a transaction: committed when fn returns (or its promise resolves), rolled
     * back when it throws (or rejects). Returns fn's result (a Promise if fn returned one).
     */
    transaction(fn) {
      return runTransaction(this, fn);
    }

    sync() {
      this[AFTER](this[H].sync());
    }

    syncAsync() {
      return promise(() => this[H].syncAsync()).then((v) => this[AFTER](v));
    }

    compact() {
      this[AFTER](this[H].compact());
    }

    compactAsync() {
      return promise(() => this[H].compactAsync()).then((v) => this[AFTER](v));
    }

    /**
     * Take a named, read-only, point-in-time snapshot of the store (kept inside it; costs
     * milliseconds: the data files are shared). Without a name a unique one is picked. Returns
     * the name. Not inside a transaction (CAIRN_TXN), not on a read-only handle.
     */
    snapshot(name) {
      return nativeMethod(this[H], 'snapshot', 'snapshot').call(this[H], name);
    }

    /** The snapshots, oldest first: [{ name, time: Date, bytes }]. */
    snapshots() {
      return JSON.parse(nativeMethod(this[H], 'snapshots', 'snapshots').call(this[H])).map(snapshotOut);
    }

    /** Open snapshot `name` as a new read-only store of this class (close it on its own). */
    openSnapshot(name) {
      const h = nativeMethod(this[H], 'openSnapshot', 'openSnapshot').call(this[H], name);
      return new this.constructor(fromHandle, h);
    }

    /** Delete snapshot `name` (CAIRN_NOTFOUND when there is none). */
    dropSnapshot(name) {
      nativeMethod(this[H], 'dropSnapshot', 'dropSnapshot').call(this[H], name);
    }

    /**
     * Copy the store, consistently, into `dest` (missing or an empty directory) while writes go
     * on; the copy shares nothing with the store and opens as a normal store.
     */
    backup(dest) {
      nativeMethod(this[H], 'backup', 'backup').call(this[H], checkPath(dest));
    }

    /** backup(dest) on the libuv thread pool: a Promise. */
    backupAsync(dest) {
      return promise(() => nativeMethod(this[H], 'backupAsync', 'backup').call(this[H], checkPath(dest)));
    }
  };
}

function openWith(Engine, how, p, options) {
  const { native: handle, options: own } = Engine[ENGINE];
  return handle[how](checkPath(p), readOptions(options, own ? { ...COMMON_OPTIONS, ...own } : COMMON_OPTIONS));
}

// ------------------------------------------------------------------------------------------
// KV: the Bitcask log store
// ------------------------------------------------------------------------------------------
class KV extends storeClass(Object) {
  static [ENGINE] = { native: native.KVHandle, options: { maxFileSize: 'uint' }, tag: 'cairn.KV' };

  /**
   * Store value under key. options: { expireAt: Date | Unix ms, ttl: ms, kind: 'bytes' | 'text' |
   * 'json' } (kind forces the stored kind, e.g. a string stored as a JSON document).
   */
  put(key, value, options) {
    const h = this[H];
    if (options === undefined) {
      if (typeof value === 'string' || isBytes(value)) h.put(key, value);
      else h.put(key, jsonOf(value), native.KIND_JSON);
      return this;
    }
    const { exp, ttl, kind } = putOptions(options);
    const [v, k] = valueIn(value, kind);
    h.put(key, v, k, exp, ttl);
    return this;
  }

  set(key, value, options) {
    return this.put(key, value, options);
  }

  /** The value, or undefined when the key is absent (or expired). */
  get(key) {
    return valueOut(this[H].get(key));
  }

  /** { value, kind: 'bytes' | 'text' | 'json' | 'native' }, or undefined when absent. */
  getTyped(key) {
    return typedValueOut(this[H].get(key));
  }

  /** Delete a key; throws errors.NotFound (code 'CAIRN_NOTFOUND') when it is absent. */
  delete(key) {
    this[H].delete(key);
  }

  /**
   * Merge the top-level fields of `changes` into the JSON-object value of `key` (a nested object
   * replaces the old one), keeping its expiry; done by the core in one step.
   */
  update(key, changes) {
    if (!isPlainObject(changes)) throw typeError('changes must be a plain object');
    this[H].update(key, jsonOf(changes));
    return this;
  }

  /** The absolute expiry as a Date; null for a key that never expires; undefined when absent. */
  expiry(key) {
    const ms = this[H].expiry(key);
    if (ms === undefined) return undefined;
    return ms === 0 ? null : new Date(ms);
  }

  /** Array of the keys (optionally those starting with `prefix`), ascending bytewise. */
  keys(prefix) {
    return this[H].keys(prefix);
  }

  *values(prefix) {
    for (const [, v] of this.entries(prefix)) yield v;
  }

  /** [key, value] pairs over a snapshot of the keys; keys deleted meanwhile are skipped. */
  *entries(prefix) {
    for (const k of this[H].keys(prefix)) {
      const v = this.get(k);
      if (v !== undefined) yield [k, v];
    }
  }
}

// ------------------------------------------------------------------------------------------
// BlobStore: uint32 keys -> bytes in one file; an EventEmitter of 'created' (key, size),
// 'updated' (key, oldSize, newSize) and 'deleted' (key, oldSize).
// ------------------------------------------------------------------------------------------
const EVENT_NAMES = [undefined, 'created', 'updated', 'deleted'];
const EVENT_SET = new Set(EVENT_NAMES.slice(1));

class BlobStore extends storeClass(EventEmitter) {
  static [ENGINE] = { native: native.BlobHandle, tag: 'cairn.BlobStore' };

  constructor(path, options) {
    super(path, options);
    // Events are queued by the core on commit; [AFTER] delivers them after each call.
    this[H].subscribe();
    // Subscribing to a closed store is a mistake the caller should hear about (CAIRN_CLOSED).
    this.on('newListener', (name) => {
      if (EVENT_SET.has(name) && this[H].closed) throw new errors.Closed('blob store handle is closed');
    });
  }

  // Events are delivered after the C call that caused them has returned (a transaction's at its
  // commit), in order, on the calling thread. A throwing listener does not undo the change and
  // does not stop the other events: the first error is rethrown once every listener ran.
  [AFTER](result) {
    const evs = this[H].takeEvents();
    if (evs === undefined) return result;
    let failure;
    for (let i = 0; i < evs.length; i += 4) {
      const name = EVENT_NAMES[evs[i]];
      const key = evs[i + 1];
      try {
        if (name === 'created') this.emit(name, key, evs[i + 3]);
        else if (name === 'updated') this.emit(name, key, evs[i + 2], evs[i + 3]);
        else if (name === 'deleted') this.emit(name, key, evs[i + 2]);
      } catch (e) {
        if (failure === undefined) failure = e;
      }
    }
    if (failure !== undefined) throw failure;
    return result;
  }

  /** Store `data` under a new key and return the key. */
  create(data) {
    return this[AFTER](this[H].create(data));
  }

  /** Store under an explicit key (throws errors.Exists if taken). */
  createWithKey(key, data) {
    this[AFTER](this[H].createWithKey(key, data));
  }

  /** Hand out the next key without storing anything; it is never handed out again. */
  reserveNextKey() {
    return this[H].reserveNextKey();
  }

  /** The blob as a Buffer; throws errors.NotFound when absent. */
  read(key) {
    return bytesOut(this[H].read(key));
  }

  update(key, data) {
    this[AFTER](this[H].update(key, data));
  }

  delete(key) {
    this[AFTER](this[H].delete(key));
  }

  /** Array of the keys, ascending. */
  keys() {
    return this[H].keys();
  }

  *entries() {
    const h = this[H];
    for (const k of h.keys()) {
      let v;
      try {
        v = bytesOut(h.read(k));
      } catch (e) {
        if (e.code === 'CAIRN_NOTFOUND') continue;
        throw e;
      }
      yield [k, v];
    }
  }
}

// ------------------------------------------------------------------------------------------
// Table: typed columns, rows with ids. Rows cross to the core as its JSON rows (cairn/table.h)
// and come back converted by column type:
//   i8..u64      number when Number.isSafeInteger, else BigInt (BigInt accepted on input)
//   f32, f64     number (NaN and the infinities included)
//   bool         boolean;   string: string;   bytes, bytes:N: Buffer (any byte source on input)
//   timestamp    Date (see timestamp() / microseconds() for the exact microseconds)
//   null         null (an undefined member of a row is left out: the column takes its default)
// Integers stay exact: the row text is parsed by JSON.parse when it holds no run of 16 or more
// digits (every integer in it is then a safe integer), else by parseExact below, which keeps
// integer tokens beyond 2^53 as BigInt.
// ------------------------------------------------------------------------------------------
const CT = native.COLUMN_TYPES;
const INT_TYPES = new Set([CT.i8, CT.i16, CT.i32, CT.i64, CT.u8, CT.u16, CT.u32, CT.u64]);
const TABLE_EVENT_NAMES = [undefined, 'inserted', 'updated', 'deleted'];
const TABLE_EVENTS = new Set(['inserted', 'updated', 'deleted', 'change']);
const COLS = Symbol('cairn.columns'); // Map: column name -> cairn_type code
const SUBS = Symbol('cairn.subscriptions'); // { last, fns: Map subscribe() id -> listener }
const HOOKS = Symbol('cairn.hooks'); // (re)installs the listeners that (un)subscribe natively

const LONG_DIGITS = /\d{16}/;
const NUMBER_TOKEN = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

// JSON text -> JS value, integers beyond 2^53 as BigInt.
function parseExact(text) {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const fail = () => {
    throw new errors.Internal(`the core returned JSON that does not parse at offset ${i}`);
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      const o = {};
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return o;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const k = string();
        ws();
        if (text[i++] !== ':') fail();
        o[k] = value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return o;
        } else fail();
      }
    }
    if (c === '[') {
      const a = [];
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return a;
      }
      for (;;) {
        a.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return a;
        } else fail();
      }
    }
    if (c === '"') return string();
    for (const [lit, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return v;
      }
    }
    NUMBER_TOKEN.lastIndex = i;
    const m = NUMBER_TOKEN.exec(text);
    if (!m) fail();
    i += m[0].length;
    const n = Number(m[0]);
    if (m[1] !== undefined || m[2] !== undefined || Number.isSafeInteger(n)) return n;
    return BigInt(m[0]);
  };
  const string = () => {
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail();
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const v = value();
  ws();
  if (i !== text.length) fail();
  return v;
}

// ---- timestamps: Date <-> microseconds ----
// A Date holds milliseconds; Cairn stores microseconds. A Date made by timestamp(us) or read from
// a table remembers its exact microseconds here (while its time is unchanged), so writing it back
// loses nothing; microseconds(date) gives them.
const exactMicros = new WeakMap(); // Date -> { ms, us: bigint }
const MIN_DATE_MS = -8.64e15;
const MAX_DATE_MS = 8.64e15;

function microsToDate(us) {
  if (typeof us === 'number') {
    // A safe integer: exact in doubles (the remainder first, then an exact division).
    const r = us % 1000;
    const d = new Date((us - r) / 1000 - (r < 0 ? 1 : 0));
    if (r !== 0) exactMicros.set(d, { ms: d.getTime(), us: BigInt(us) });
    return d;
  }
  const big = us;
  let ms = big / 1000n;
  if (big % 1000n < 0n) ms -= 1n; // floor
  const d = new Date(ms >= BigInt(MIN_DATE_MS) && ms <= BigInt(MAX_DATE_MS) ? Number(ms) : NaN);
  if (ms * 1000n !== big || Number.isNaN(d.getTime())) exactMicros.set(d, { ms: d.getTime(), us: big });
  return d;
}

function dateMicros(d) {
  const e = exactMicros.get(d);
  const ms = d.getTime();
  if (e !== undefined && Object.is(e.ms, ms)) return e.us;
  if (Number.isNaN(ms)) throw invalid('an Invalid Date is no timestamp');
  return BigInt(ms) * 1000n;
}

/** A Date for `us` microseconds since the Unix epoch that keeps them exactly when written to a table. */
function timestamp(us) {
  if (typeof us === 'number') {
    if (!Number.isSafeInteger(us)) throw invalid('microseconds must be an integer (a BigInt above 2^53)');
  } else if (typeof us !== 'bigint') {
    throw typeError('microseconds must be a number or a BigInt');
  }
  if (BigInt(us) < -(2n ** 63n) || BigInt(us) >= 2n ** 63n) throw new errors.Range('microseconds out of the i64 range');
  return microsToDate(us);
}

/** The exact microseconds since the Unix epoch of a Date (number when safe, else BigInt). */
function microseconds(d) {
  if (!(d instanceof Date)) throw typeError('microseconds() needs a Date');
  const us = dateMicros(d);
  const n = Number(us);
  return Number.isSafeInteger(n) ? n : us;
}

// ---- values in ----
// The JSON text of one value for a column of type `type` (undefined: a column the table does not
// have; the core then answers CAIRN_SCHEMA). Wrong host types are CAIRN_TYPE here or in the core.
function cellJson(v, type, name) {
  switch (typeof v) {
    case 'number':
      if (type === CT.timestamp) throw typeError(`column '${name}' is a timestamp: give a Date, not a number`);
      if (Number.isNaN(v)) return '{"$f64":"nan"}';
      if (v === Infinity) return '{"$f64":"inf"}';
      if (v === -Infinity) return '{"$f64":"-inf"}';
      // Integers as integer digits (exact for every double), so that 2**60 is not 1.152921504606847e+18.
      if (Number.isInteger(v) && INT_TYPES.has(type)) return BigInt(v).toString();
      return JSON.stringify(v);
    case 'bigint':
      if (type === CT.timestamp) throw typeError(`column '${name}' is a timestamp: give a Date, not a BigInt`);
      return v.toString();
    case 'boolean':
      return v ? 'true' : 'false';
    case 'string':
      return JSON.stringify(v);
    case 'object':
      if (v === null) return 'null';
      if (v instanceof Date) {
        if (type !== CT.timestamp && type !== undefined) throw typeError(`column '${name}' is not a timestamp: a Date does not fit`);
        return dateMicros(v).toString();
      }
      if (isBytes(v)) {
        const b = ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.from(v);
        return `{"$bytes":"${b.toString('hex')}"}`;
      }
      throw typeError(`column '${name}': ${describe(v)} is no column value`);
    default:
      throw typeError(`column '${name}': ${describe(v)} is no column value`);
  }
}

function rowJson(table, row, what = 'row') {
  if (row instanceof Map) row = Object.fromEntries(row);
  if (row === null || typeof row !== 'object' || Array.isArray(row) || isBytes(row) || row instanceof Date) {
    throw typeError(`a ${what} must be an object of column values, not ${describe(row)}`);
  }
  const cols = table[COLS];
  const parts = [];
  for (const k of Object.keys(row)) {
    const v = row[k];
    if (v === undefined) continue;
    parts.push(JSON.stringify(k) + ':' + cellJson(v, cols.get(k), k));
  }
  return '{' + parts.join(',') + '}';
}

// ---- values out ----
function cellOut(v, type) {
  if (v === null) return null;
  switch (type) {
    case CT.f32:
    case CT.f64:
      if (typeof v === 'object') {
        const f = v.$f64;
        return f === 'nan' ? NaN : f === 'inf' ? Infinity : f === '-inf' ? -Infinity : NaN;
      }
      return Number(v);
    case CT['bytes:N']:
    case CT.bytes:
      return Buffer.from(v.$bytes, 'hex');
    case CT.timestamp:
      return microsToDate(v);
    default:
      return v; // integers (number or BigInt), booleans, strings
  }
}

function rowOut(table, text) {
  const o = parseExact(text);
  let cols = table[COLS];
  for (const k of Object.keys(o)) {
    if (!cols.has(k)) cols = loadColumns(table); // a column added by another handle
    o[k] = cellOut(o[k], cols.get(k));
  }
  return o;
}

function idsOut(text) {
  return parseExact(text);
}

function loadColumns(table) {
  const m = new Map();
  for (const [name, type] of table[H].columns()) m.set(name, type);
  table[COLS] = m;
  return m;
}

// 'i64', 'bytes:16', ... -> cairn_type code (undefined if unknown: the core judges the schema).
function typeCode(name) {
  if (typeof name !== 'string') return undefined;
  if (/^bytes:\d+$/i.test(name)) return CT['bytes:N'];
  return Object.prototype.hasOwnProperty.call(CT, name.toLowerCase()) ? CT[name.toLowerCase()] : undefined;
}

// ---- schema in ----
const COLUMN_FIELDS = new Set(['name', 'type', 'nullable', 'primaryKey', 'unique', 'default']);

function columnObjectJson(c) {
  if (!isPlainObject(c)) throw typeError(`a column must be an object { name, type, ... }, not ${describe(c)}`);
  for (const k of Object.keys(c)) {
    if (!COLUMN_FIELDS.has(k)) throw invalid(`unknown column field '${k}' (known: ${[...COLUMN_FIELDS].join(', ')})`);
  }
  const parts = [];
  for (const [k, key] of [['name', 'name'], ['type', 'type'], ['nullable', 'nullable'], ['primaryKey', 'primary_key'], ['unique', 'unique']]) {
    const v = c[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' && typeof v !== 'boolean') throw typeError(`column field '${k}' must be a ${k === 'name' || k === 'type' ? 'string' : 'boolean'}`);
    parts.push(`"${key}":${JSON.stringify(v)}`);
  }
  if (c.default !== undefined) parts.push(`"default":${cellJson(c.default, typeCode(c.type), c.name)}`);
  return '{' + parts.join(',') + '}';
}

// The schema option: the text form as it is, or an array of column objects as the core's JSON form.
function schemaText(s) {
  if (typeof s === 'string') return s;
  if (Array.isArray(s)) return '[' + s.map(columnObjectJson).join(',') + ']';
  throw typeError('schema must be a string or an array of column objects');
}

// One column object -> one column of the text form (for addColumn).
function literal(v) {
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) throw invalid('a default must be a finite number');
      return Number.isInteger(v) ? BigInt(v).toString() : String(v);
    case 'bigint':
      return v.toString();
    case 'boolean':
      return String(v);
    case 'string':
      return `'${v.replace(/'/g, "''")}'`;
    case 'object':
      if (v === null) return 'null';
      if (v instanceof Date) return dateMicros(v).toString();
      if (isBytes(v)) return `x'${(ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.from(v)).toString('hex')}'`;
    // fall through
    default:
      throw typeError(`a default must be a column value, not ${describe(v)}`);
  }
}

function columnSpecText(c) {
  if (typeof c === 'string') return c;
  if (!isPlainObject(c)) throw typeError(`a column must be a string or an object { name, type, ... }, not ${describe(c)}`);
  for (const k of Object.keys(c)) {
    if (!COLUMN_FIELDS.has(k)) throw invalid(`unknown column field '${k}' (known: ${[...COLUMN_FIELDS].join(', ')})`);
  }
  if (typeof c.name !== 'string' || typeof c.type !== 'string') throw typeError('a column needs a string name and type');
  let t = `${c.name} ${c.type}`;
  for (const k of ['primaryKey', 'unique', 'nullable']) {
    if (c[k] !== undefined && typeof c[k] !== 'boolean') throw typeError(`column field '${k}' must be a boolean`);
  }
  if (c.primaryKey) t += ' primary key';
  if (c.unique) t += ' unique';
  if (c.nullable === false && !c.primaryKey) t += ' not null';
  if (c.default !== undefined) t += ' default ' + literal(c.default);
  return t;
}

// ---- columns in (load) ----
function columnListJson(values, type, name) {
  const parts = new Array(values.length);
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
    for (let i = 0; i < values.length; i++) parts[i] = values[i].toString();
  } else {
    for (let i = 0; i < values.length; i++) parts[i] = values[i] === undefined ? 'null' : cellJson(values[i], type, name);
  }
  return '[' + parts.join(',') + ']';
}

// The TypedArray a column's values are in C (cairn_table_load_columns reads it in place).
const TYPED_ARRAYS = new Map([
  [CT.i8, Int8Array], [CT.i16, Int16Array], [CT.i32, Int32Array], [CT.i64, BigInt64Array],
  [CT.u8, Uint8Array], [CT.u16, Uint16Array], [CT.u32, Uint32Array], [CT.u64, BigUint64Array],
  [CT.f32, Float32Array], [CT.f64, Float64Array],
]);

// For load(): the columns in schema order when every one given is the TypedArray of its
// column's type, all of one length (the zero-copy path), else undefined.
function typedColumns(table, columns) {
  const cols = table[COLS];
  const names = Object.keys(columns).filter((k) => columns[k] !== undefined);
  if (names.length === 0) return undefined;
  let n;
  for (const k of names) {
    const v = columns[k];
    const T = TYPED_ARRAYS.get(cols.get(k));
    if (T === undefined || !(v instanceof T)) return undefined;
    if (n === undefined) n = v.length;
    else if (v.length !== n) return undefined; // the core says why
  }
  return { n, list: [...cols.keys()].map((k) => columns[k]) };
}

// ---- queries (cairn/table.h "queries"): the spec goes to the core as JSON, unchanged ----
const INDEX_KINDS = { hash: 1, range: 2 };
const INDEX_NAMES = { 1: 'hash', 2: 'range' };
const RANGE_LO_OPEN = 1;
const RANGE_HI_OPEN = 2;
// camelCase spellings of the spec's keys (the snake_case ones are accepted as they are)
const SPEC_KEYS = { groupBy: 'group_by', rightWhere: 'right_where', rightParams: 'right_params' };

// A JS value of a query spec -> JSON text: plain objects (and Maps) and arrays member by member,
// column values as rows take them (Date -> microseconds, bytes -> {"$bytes"}, BigInt and integers
// past 2^53 exact, NaN and the infinities as {"$f64"}); undefined members are left out.
function specValueJson(v, top = false) {
  switch (typeof v) {
    case 'number':
      if (Number.isNaN(v)) return '{"$f64":"nan"}';
      if (v === Infinity) return '{"$f64":"inf"}';
      if (v === -Infinity) return '{"$f64":"-inf"}';
      return Number.isInteger(v) && !Number.isSafeInteger(v) ? BigInt(v).toString() : JSON.stringify(v);
    case 'bigint':
      return v.toString();
    case 'boolean':
      return v ? 'true' : 'false';
    case 'string':
      return JSON.stringify(v);
    case 'object': {
      if (v === null) return 'null';
      if (v instanceof Date) return dateMicros(v).toString();
      if (isBytes(v)) return cellJson(v, CT.bytes, 'value');
      if (Array.isArray(v)) return '[' + v.map((x) => (x === undefined ? 'null' : specValueJson(x))).join(',') + ']';
      if (v instanceof Map) v = Object.fromEntries(v);
      if (!isPlainObject(v)) throw typeError(`a query cannot hold ${describe(v)}`);
      const parts = [];
      for (const k of Object.keys(v)) {
        if (v[k] === undefined) continue;
        const key = top && Object.prototype.hasOwnProperty.call(SPEC_KEYS, k) ? SPEC_KEYS[k] : k;
        parts.push(JSON.stringify(key) + ':' + specValueJson(v[k]));
      }
      return '{' + parts.join(',') + '}';
    }
    default:
      throw typeError(`a query cannot hold ${describe(v)}`);
  }
}

function specJson(spec, what = 'query') {
  if (spec instanceof Map) spec = Object.fromEntries(spec);
  if (!isPlainObject(spec)) throw typeError(`a ${what} must be an object, not ${describe(spec)}`);
  return specValueJson(spec, true);
}

// The core's result JSON -> { columns: [{ name, type }], rows: [...] } or { columns, data, count },
// values converted by the result column's type as rows are.
function resultOut(text) {
  const r = parseExact(text);
  const types = new Map(r.columns.map((c) => [c.name, typeCode(c.type)]));
  if (Array.isArray(r.rows)) {
    for (const row of r.rows) for (const k of Object.keys(row)) row[k] = cellOut(row[k], types.get(k));
  }
  if (r.data !== undefined) {
    for (const k of Object.keys(r.data)) r.data[k] = r.data[k].map((v) => cellOut(v, types.get(k)));
  }
  return r;
}

function kindCode(kind) {
  if (kind === undefined) return INDEX_KINDS.hash;
  const k = INDEX_KINDS[kind];
  if (k === undefined) throw invalid(`unknown index kind ${describe(kind)} (known: hash, range)`);
  return k;
}

// aggregates as { alias: [fn, column], ... } or [{ fn, column, as }, ...] -> the spec's list
function aggregatesList(aggs) {
  if (Array.isArray(aggs)) return aggs;
  if (aggs instanceof Map) aggs = Object.fromEntries(aggs);
  if (!isPlainObject(aggs)) throw typeError('aggregates must be { alias: [fn, column] } or a list of { fn, column, as }');
  return Object.keys(aggs).map((as) => {
    const a = aggs[as];
    if (typeof a === 'string') return { fn: a, as };
    if (!Array.isArray(a)) throw typeError(`aggregate '${as}' must be [fn, column] or 'count'`);
    return a[1] === undefined ? { fn: a[0], as } : { fn: a[0], column: a[1], as };
  });
}

/**
 * A query of one table, built step by step; every step returns a new Query (the old one is
 * unchanged). Run it with all() / first() / count() / toArrowIPC(), or iterate it.
 *   t.query().where('score > ?', 90).filter({ cat: 3 }).order('-score').slice(0, 10).all()
 */
class Query {
  constructor(table, spec = {}, texts = [], conds = []) {
    Object.defineProperty(this, 'table', { value: table });
    this._spec = spec;
    this._texts = texts; // [[text, params]]
    this._conds = conds; // triples and WHERE objects
  }

  _with(patch, texts = this._texts, conds = this._conds) {
    return new Query(this.table, Object.assign({}, this._spec, patch), texts, conds);
  }

  /** AND a condition: a text with ? params, a triple (column, op, value), or a WHERE object. */
  where(cond, ...params) {
    if (typeof cond === 'string' && params.length > 0 && typeof params[0] === 'string' && params.length <= 2 &&
        !cond.includes('?') && /^[A-Za-z_]\w*$/.test(cond)) {
      return this._with({}, this._texts, [...this._conds, [cond, ...params]]); // where('score', '>', 90)
    }
    if (typeof cond === 'string') return this._with({}, [...this._texts, [cond, params]], this._conds);
    if (cond === undefined || cond === null) return this;
    return this._with({}, this._texts, [...this._conds, cond]);
  }

  /** The same as where() (SnapDB's name). */
  filter(cond, ...params) {
    return this.where(cond, ...params);
  }

  /** Project these columns ('_id' is the row id). */
  select(...columns) {
    return this._with({ columns: columns.flat() });
  }

  /** Order by these columns ('-name' descending, or [name, 'asc'|'desc']). */
  order(...keys) {
    return this._with({ order: keys.flat().length && Array.isArray(keys[0]) && keys.length === 1 ? keys[0] : keys });
  }

  limit(n) {
    return this._with({ limit: n });
  }

  offset(n) {
    return this._with({ offset: n });
  }

  /** Rows [start, end) of the result (as Array.prototype.slice, non-negative). */
  slice(start = 0, end) {
    const patch = { offset: start };
    if (end !== undefined) patch.limit = Math.max(0, end - start);
    return this._with(patch);
  }

  groupBy(...columns) {
    return this._with({ group_by: columns.flat() });
  }

  /** Aggregates: { alias: [fn, column] } or [{ fn, column, as }]. */
  aggregate(aggs) {
    return this._with({ aggregates: aggregatesList(aggs) });
  }

  /** The query spec this builder stands for (what query(spec) takes). */
  spec() {
    const spec = Object.assign({}, this._spec);
    const parts = [];
    const params = [];
    for (const [text, ps] of this._texts) {
      parts.push(this._texts.length > 1 || this._conds.length > 0 ? `(${text})` : text);
      params.push(...ps);
    }
    if (parts.length > 0 && this._conds.length === 0) {
      spec.where = parts.join(' AND ');
      if (params.length > 0) spec.params = params;
    } else if (parts.length === 0 && this._conds.length > 0) {
      spec.where = this._conds.length === 1 ? this._conds[0] : { $and: this._conds };
    } else if (parts.length > 0) {
      spec.where = { $and: [parts.join(' AND '), ...this._conds] };
      if (params.length > 0) spec.params = params;
    }
    return spec;
  }

  /** The result rows. */
  all() {
    return this.table.query(this.spec()).rows;
  }

  /** The same as all(). */
  execute() {
    return this.all();
  }

  /** The first row, or undefined. */
  first() {
    const rows = this.table.query(Object.assign(this.spec(), { limit: 1 })).rows;
    return rows.length > 0 ? rows[0] : undefined;
  }

  /** The number of matching rows (limit and offset apply). */
  count() {
    const spec = this.spec();
    if (spec.limit === undefined && spec.offset === undefined && spec.aggregates === undefined) {
      return this.table.countWhere(spec.where, spec.params);
    }
    return this.table.query(spec).rows.length;
  }

  /** The result as Arrow IPC stream bytes (apache-arrow's tableFromIPC reads them). */
  toArrowIPC() {
    return this.table.toArrowIPC(this.spec());
  }

  [Symbol.iterator]() {
    return this.all()[Symbol.iterator]();
  }
}

const COLUMN_ARRAYS = new Map([
  ['c', Int8Array], ['C', Uint8Array], ['s', Int16Array], ['S', Uint16Array], ['i', Int32Array],
  ['I', Uint32Array], ['l', BigInt64Array], ['L', BigUint64Array], ['f', Float32Array], ['g', Float64Array],
]);

class Table extends storeClass(EventEmitter) {
  static [ENGINE] = { native: native.TableHandle, options: { schema: 'schema', checkpointRows: 'uint' }, tag: 'cairn.Table' };

  // Verify the closed table at `path` as check() does, then rebuild what is derived from its data
  // (the manifest's copies of each segment's encoding and zone map): the number of segment
  // references rebuilt (0: nothing was wrong). Damaged data throws CORRUPT and nothing is written.
  static repair(path) {
    return native.tableRepair(checkPath(path));
  }

  constructor(path, options) {
    super(path, options);
    loadColumns(this);
    Object.defineProperty(this, SUBS, { value: { last: 0, fns: new Map() } });
    // The core copies rows for events only while there is a listener.
    const onNew = (name) => {
      if (!TABLE_EVENTS.has(name)) return;
      if (this[H].closed) throw new errors.Closed('table handle is closed');
      this[H].subscribe();
    };
    const onRemove = (name) => {
      if (!TABLE_EVENTS.has(name)) return;
      for (const n of TABLE_EVENTS) if (this.listenerCount(n) > 0) return;
      this[H].unsubscribe();
    };
    Object.defineProperty(this, HOOKS, {
      value: () => {
        if (!this.listeners('newListener').includes(onNew)) this.on('newListener', onNew);
        if (!this.listeners('removeListener').includes(onRemove)) this.on('removeListener', onRemove);
      },
    });
    this[HOOKS]();
  }

  /** As on any EventEmitter (the table keeps its own bookkeeping listeners). */
  removeAllListeners(name) {
    if (name === undefined) super.removeAllListeners();
    else super.removeAllListeners(name);
    this[HOOKS]();
    if (name === undefined) this[SUBS].fns.clear();
    else if (name === 'change') this[SUBS].fns.clear();
    return this;
  }

  // As BlobStore's: events after the C call returned (a transaction's after its commit), in
  // order. A throwing listener does not stop the other listeners (of this event or the next);
  // the first error is rethrown once every one ran.
  [AFTER](result) {
    const evs = this[H].takeEvents();
    if (evs === undefined) return result;
    let failure;
    const call = (name, args) => {
      for (const fn of this.rawListeners(name)) {
        try {
          fn.apply(this, args);
        } catch (e) {
          if (failure === undefined) failure = e;
        }
      }
    };
    for (let i = 0; i < evs.length; i += 4) {
      const name = TABLE_EVENT_NAMES[evs[i]];
      const id = evs[i + 1];
      let row, old;
      try {
        row = evs[i + 2] === null ? null : rowOut(this, evs[i + 2]);
        old = evs[i + 3] === null ? null : rowOut(this, evs[i + 3]);
      } catch (e) {
        if (failure === undefined) failure = e;
        continue;
      }
      if (name === 'inserted') call(name, [id, row]);
      else if (name === 'updated') call(name, [id, row, old]);
      else if (name === 'deleted') call(name, [id, old]);
      call('change', [name, id, row, old]);
    }
    if (failure !== undefined) throw failure;
    return result;
  }

  /** Insert one row (an object of column values) and return its id. */
  insert(row) {
    return this[AFTER](this[H].insert(rowJson(this, row)));
  }

  /** Insert every row (all or nothing) and return their ids. */
  insertMany(rows) {
    if (rows === null || typeof rows !== 'object' || typeof rows[Symbol.iterator] !== 'function' || isBytes(rows)) {
      throw typeError('insertMany() needs an array (or iterable) of rows');
    }
    const parts = [];
    for (const r of rows) parts.push(rowJson(this, r));
    return idsOut(this[AFTER](this[H].insertMany('[' + parts.join(',') + ']')));
  }

  /** Update the row with this row's primary key, or insert it; returns the row's id. */
  upsert(row) {
    return this[AFTER](this[H].upsert(rowJson(this, row)));
  }

  /** The row as an object (every column), or undefined when there is no row `id`. */
  get(id) {
    const text = this[H].get(id);
    return text === undefined ? undefined : rowOut(this, text);
  }

  /** Set the columns named in `changes`; throws errors.NotFound when there is no row `id`. */
  update(id, changes) {
    this[AFTER](this[H].update(id, rowJson(this, changes, 'changes object')));
    return this;
  }

  /** Delete row `id`; throws errors.NotFound when there is none. */
  delete(id) {
    this[AFTER](this[H].delete(id));
  }

  /**
   * Load column batches, all or nothing: { column: array or TypedArray, ... }, every one the same
   * length (left-out columns take their defaults). Returns the first new id; the rows get
   * consecutive ids. When every column given is the TypedArray of its type (Int32Array for i32,
   * BigInt64Array for i64, Float64Array for f64, ...), the core reads them in place.
   */
  load(columns) {
    if (columns instanceof Map) columns = Object.fromEntries(columns);
    if (!isPlainObject(columns)) throw typeError('load() needs an object of column -> array');
    const cols = this[COLS];
    for (const k of Object.keys(columns)) {
      const v = columns[k];
      if (v !== undefined && !Array.isArray(v) && !(ArrayBuffer.isView(v) && !(v instanceof DataView))) {
        throw typeError(`column '${k}' must be an array or a TypedArray`);
      }
    }
    const typed = typedColumns(this, columns);
    if (typed !== undefined) return this[AFTER](this[H].loadTyped(typed.n, typed.list));
    const parts = [];
    for (const k of Object.keys(columns)) {
      const v = columns[k];
      if (v === undefined) continue;
      parts.push(JSON.stringify(k) + ':' + columnListJson(v, cols.get(k), k));
    }
    return this[AFTER](this[H].load('{' + parts.join(',') + '}'));
  }

  /** The columns: [{ name, type, nullable, primaryKey, unique, default }, ...]. */
  schema() {
    return parseExact(this[H].schema(true)).map((c) => ({
      name: c.name,
      type: c.type,
      nullable: c.nullable,
      primaryKey: c.primary_key,
      unique: c.unique,
      default: c.default === null || c.default === undefined ? null : cellOut(c.default, typeCode(c.type)),
    }));
  }

  /** Add a column ('name type [constraints]' or { name, type, nullable, unique, default }). */
  addColumn(spec) {
    this[H].addColumn(columnSpecText(spec));
    loadColumns(this);
  }

  /**
   * Call fn(event, id, row, oldRow) for every change ('inserted' | 'updated' | 'deleted'; row and
   * oldRow null where they do not apply) until unsubscribe(id); returns that id. The same as
   * on('change', fn).
   */
  subscribe(fn) {
    if (typeof fn !== 'function') throw typeError('subscribe() needs a function');
    this.on('change', fn);
    const subs = this[SUBS];
    subs.fns.set(++subs.last, fn);
    return subs.last;
  }

  /** Remove a listener added by subscribe(); throws errors.NotFound for an unknown id. */
  unsubscribe(id) {
    if (this[H].closed) throw new errors.Closed('table handle is closed');
    const fns = this[SUBS].fns;
    const fn = fns.get(id);
    if (fn === undefined) throw new errors.NotFound(`no subscription ${String(id)}`);
    fns.delete(id);
    this.off('change', fn);
  }

  // ---- queries, indexes, export ----

  /**
   * Run a query spec ({ where, params, columns, order, limit, offset, aggregates, groupBy, format });
   * returns { columns, rows } (or { columns, data, count } with format 'columns'). With no
   * argument, a Query builder.
   */
  query(spec) {
    if (spec === undefined) return new Query(this);
    return resultOut(this[H].query(specJson(spec)));
  }

  /** The rows matching a spec without aggregates ({ where, params, columns, order, limit, offset }). */
  select(spec = {}) {
    return this.query(spec).rows;
  }

  /** The number of live rows matching `where` (text with ? params, triples, or a WHERE object). */
  countWhere(where, params) {
    const spec = {};
    if (where !== undefined && where !== null) spec.where = where;
    if (params !== undefined) spec.params = params;
    return this[H].countWhere(specJson(spec));
  }

  /** One aggregate (count, count_distinct, sum, min, max, avg) of a column, over { where, params }. */
  aggregate(fn, column, options = {}) {
    const a = column === undefined || column === null ? { fn, as: 'value' } : { fn, column, as: 'value' };
    const spec = Object.assign({}, options, { aggregates: [a] });
    return this.query(spec).rows[0].value;
  }

  /** Rows of the group columns and the aggregates ({ alias: [fn, column] } or a list of { fn, column, as }). */
  groupBy(columns, aggregates, options = {}) {
    const spec = Object.assign({}, options, {
      group_by: Array.isArray(columns) ? columns : [columns],
      aggregates: aggregatesList(aggregates),
    });
    return this.query(spec).rows;
  }

  /**
   * Join with another table on equal columns: { on: [[leftCol, rightCol], ...], type: 'inner' | 'left',
   * where, params, rightWhere, rightParams, columns, order, limit, offset, format }. Returns
   * { columns, rows } with columns named 'left.x' / 'right.y'.
   */
  join(other, spec) {
    if (!(other instanceof Table)) throw typeError('join() needs another Table');
    return resultOut(this[H].join(other[H], specJson(spec, 'join spec')));
  }

  /** Create an index on a column: kind 'hash' (default) or 'range'. */
  createIndex(column, kind = 'hash') {
    this[H].createIndex(column, kindCode(kind));
  }

  /** Drop an index; throws errors.NotFound when there is none. */
  dropIndex(column, kind = 'hash') {
    this[H].dropIndex(column, kindCode(kind));
  }

  /** The indexes: [{ column, kind: 'hash' | 'range' }]. */
  indexes() {
    return JSON.parse(this[H].indexes()).map((i) => {
      const o = { column: i.column, kind: typeof i.kind === 'number' ? INDEX_NAMES[i.kind] : i.kind };
      if (i.unique) o.unique = true;
      return o;
    });
  }

  /** Ids (ascending) of the rows whose `column` equals `value`. */
  lookup(column, value) {
    if (typeof column !== 'string') throw typeError('a column name must be a string');
    return idsOut(this[H].lookup(column, cellJson(value, this[COLS].get(column), column)));
  }

  /** Ids (ascending) of the rows matching every { column: value }. */
  find(conditions) {
    return idsOut(this[H].find(rowJson(this, conditions, 'conditions object')));
  }

  /**
   * Ids (ascending) of the rows with lo <= column <= hi (undefined or null: no bound); options
   * { loOpen, hiOpen } make a bound exclusive.
   */
  rangeFind(column, lo, hi, options = {}) {
    if (typeof column !== 'string') throw typeError('a column name must be a string');
    const type = this[COLS].get(column);
    const bound = (v) => (v === undefined || v === null ? null : cellJson(v, type, column));
    const flags = (options.loOpen ? RANGE_LO_OPEN : 0) | (options.hiOpen ? RANGE_HI_OPEN : 0);
    return idsOut(this[H].rangeFind(column, bound(lo), bound(hi), flags));
  }

  /** The rows of a query spec (default: every row and column) as Arrow IPC stream bytes. */
  toArrowIPC(spec) {
    return this[H].exportIpc(spec === undefined || spec === null ? null : specJson(spec));
  }

  /**
   * A fixed-width column (integers, floats, timestamps as microseconds) of every live row as a
   * TypedArray over the exported Arrow buffer (no copy where the runtime allows external memory).
   * A column holding nulls throws errors.Type: use columnView() for the validity bitmap.
   */
  column(name) {
    const v = this.columnView(name);
    if (v.validity !== null) throw typeError(`column '${name}' holds nulls: use columnView() for values and validity`);
    return v.values;
  }

  /** { values: TypedArray, validity: Uint8Array (bit i set: value i is not null) or null, length }. */
  columnView(name) {
    if (typeof name !== 'string') throw typeError('a column name must be a string');
    const [buf, validity, n, format] = this[H].exportColumn(name);
    const T = COLUMN_ARRAYS.get(format.startsWith('ts') ? 'l' : format);
    if (T === undefined) throw typeError(`column '${name}' is not a fixed-width numeric column`);
    return { values: new T(buf, 0, n), validity: validity === null ? null : new Uint8Array(validity), length: n };
  }

  /** [id, row] pairs in id order, from a snapshot taken when the iteration starts. */
  *entries() {
    const h = this[H];
    const it = h.iterOpen();
    const batch = 256;
    try {
      for (;;) {
        const a = h.iterNext(it, batch);
        for (let i = 0; i < a.length; i += 2) {
          if (i > 0 && h.closed) throw new errors.Closed('table handle is closed');
          yield [a[i], rowOut(this, a[i + 1])];
        }
        if (a.length < 2 * batch) return;
      }
    } finally {
      if (!h.closed) h.iterClose(it);
    }
  }

  /** The same as entries(). */
  rows() {
    return this.entries();
  }

  /** The ids in order. */
  *keys() {
    for (const [id] of this.entries()) yield id;
  }

  /** The rows in id order. */
  *values() {
    for (const [, row] of this.entries()) yield row;
  }
}

// ------------------------------------------------------------------------------------------
// Repo: the versioned store. Tenants hold entries; an entry's versions are immutable and named
// by their SHA-256 digest (64 lowercase hex characters). A version is a whole value (save /
// load) or a collection of records (put / putMany / get / delete / keys / records). Values are
// typed as in the KV (Buffer / string / JSON value); record keys are strings or bytes and come
// back as strings when they are valid UTF-8, else as Buffers.
// ------------------------------------------------------------------------------------------
const DIFF_LISTS = ['added', 'removed', 'changed'];

// A key of the core's JSON (a string, or {"$bytes": hex}) -> the key as keys() gives it.
const jsonKeyOut = (k) => (typeof k === 'string' ? k : Buffer.from(k.$bytes, 'hex'));

// Records given as a Map, an iterable of [key, value] pairs or a plain object -> [key, value][].
function recordPairs(records) {
  if (records instanceof Map) return [...records];
  if (isPlainObject(records)) return Object.entries(records);
  if (records !== null && typeof records === 'object' && typeof records[Symbol.iterator] === 'function' &&
      !isBytes(records)) {
    const out = [];
    for (const r of records) {
      if (!Array.isArray(r) || r.length !== 2) throw typeError(`record ${out.length}: expected a [key, value] pair`);
      out.push(r);
    }
    return out;
  }
  throw typeError('records must be a Map, an array of [key, value] pairs or a plain object');
}

class Repo extends handleClass(Object) {
  static [ENGINE] = { native: native.RepoHandle, options: { cacheBytes: 'uint' }, tag: 'cairn.Repo' };

  /**
   * Re-hash every object of the repository at `path` and check every ref names a complete
   * version. Throws errors.Corrupt (damage), errors.Path (missing, not a directory).
   */
  static verify(path) {
    this.check(path);
  }

  static verifyAsync(path) {
    return this.checkAsync(path);
  }

  /** Create a tenant (an existing one is fine). Returns the repo. */
  init(tenant) {
    this[H].init(tenant);
    return this;
  }

  /** The tenants' names, sorted. */
  tenants() {
    return JSON.parse(this[H].tenants());
  }

  /** The tenant's entry names (values and collections), sorted; errors.NotFound for an unknown tenant. */
  entries(tenant) {
    return JSON.parse(this[H].entries(tenant));
  }

  /**
   * Save `value` as the new version of `entry` and return its digest. options: { kind: 'bytes' |
   * 'text' | 'json' } as KV.put's.
   */
  save(tenant, user, entry, value, options) {
    const [v, k] = valueIn(value, kindOption(options));
    return this[H].save(tenant, user, entry, v, k);
  }

  /** The value of the head of `entry` (or of version `digest`), or undefined when absent. */
  load(tenant, entry, digest) {
    return valueOut(this[H].load(tenant, entry, digest));
  }

  /** { value, kind: 'bytes' | 'text' | 'json' | 'native' } of load(), or undefined. */
  loadTyped(tenant, entry, digest) {
    return typedValueOut(this[H].load(tenant, entry, digest));
  }

  exists(tenant, entry) {
    return this[H].exists(tenant, entry);
  }

  /** The head digest of `entry`, or undefined when it does not exist. */
  digest(tenant, entry) {
    return this[H].digest(tenant, entry);
  }

  /** Put one record into the collection `entry` (made by its first put): the new digest. */
  put(tenant, user, entry, key, value, options) {
    const [v, k] = valueIn(value, kindOption(options));
    return this[H].put(tenant, user, entry, key, v, k);
  }

  /**
   * Put many records in one new version: `records` is a Map, an array of [key, value] pairs or a
   * plain object. A key given twice keeps its last value; all or nothing. Returns the digest.
   */
  putMany(tenant, user, entry, records, options) {
    const kind = kindOption(options);
    const pairs = recordPairs(records);
    const keys = new Array(pairs.length);
    const values = new Array(pairs.length);
    const kinds = new Array(pairs.length);
    for (let i = 0; i < pairs.length; i++) {
      keys[i] = pairs[i][0];
      [values[i], kinds[i]] = valueIn(pairs[i][1], kind);
    }
    return this[H].putMany(tenant, user, entry, keys, values, kinds);
  }

  /** The value of record `key` in the head (or version `digest`), or undefined when absent. */
  get(tenant, entry, key, digest) {
    return valueOut(this[H].get(tenant, entry, key, digest));
  }

  getTyped(tenant, entry, key, digest) {
    return typedValueOut(this[H].get(tenant, entry, key, digest));
  }

  /** Delete record `key` (errors.NotFound when absent): the new digest. */
  delete(tenant, user, entry, key) {
    return this[H].delete(tenant, user, entry, key);
  }

  /** The number of records of the head (or version `digest`). */
  count(tenant, entry, digest) {
    return this[H].count(tenant, entry, digest);
  }

  /** The keys of the head (or version `digest`), ascending bytewise. */
  keys(tenant, entry, digest) {
    return this[H].keys(tenant, entry, digest);
  }

  /** [key, value] of every record of the head (or version `digest`), in key order. */
  *records(tenant, entry, digest) {
    for (const { key, value } of this.recordsTyped(tenant, entry, digest)) yield [key, value];
  }

  /** { key, value, kind } of every record, in key order. */
  *recordsTyped(tenant, entry, digest) {
    const h = this[H];
    const it = h.iterOpen(tenant, entry, digest);
    try {
      for (;;) {
        const batch = h.iterNext(it, 256);
        for (let i = 0; i < batch.length; i += 3) {
          if (i > 0 && h.closed) throw new errors.Closed('repo handle is closed'); // closed while iterating
          const kind = batch[i + 2];
          const raw = batch[i + 1];
          yield { key: batch[i], value: kind === native.KIND_JSON ? parseJson(raw) : raw, kind: KIND_NAMES[kind] || 'bytes' };
        }
        if (batch.length < 256 * 3) return;
      }
    } finally {
      if (!h.closed) h.iterClose(it);
    }
  }

  /**
   * The records added, removed and changed from version d1 to d2 (of collections; null or
   * undefined: the empty collection): { added: [keys], removed: [keys], changed: [keys] }.
   */
  diff(tenant, d1, d2) {
    const d = JSON.parse(this[H].diff(tenant, d1 === undefined ? null : d1, d2 === undefined ? null : d2));
    const out = {};
    for (const k of DIFF_LISTS) out[k] = (d[k] || []).map(jsonKeyOut);
    return out;
  }

  /** The versions of `entry`, newest first (at most max): [{ digest, parents, user, time: Date, collection }]. */
  history(tenant, entry, max) {
    return JSON.parse(this[H].history(tenant, entry, max)).map((v) => ({
      digest: v.digest, parents: v.parents, user: v.user, time: new Date(v.time), collection: v.collection,
    }));
  }

  /** Name version `digest` (errors.NotFound when it names no version of the tenant). */
  tag(tenant, name, digest) {
    this[H].tag(tenant, name, digest);
    return this;
  }

  /** The digest a tag names, or undefined. */
  tagGet(tenant, name) {
    return this[H].tagGet(tenant, name);
  }

  /** Remove objects no head or tag reaches that are older than graceMs (0: any): how many. */
  gc(graceMs) {
    return this[H].gc(graceMs);
  }

  gcAsync(graceMs) {
    return promise(() => this[H].gcAsync(graceMs));
  }
}

if (typeof Symbol.dispose === 'symbol') {
  for (const C of [KV, BlobStore, Table, Repo]) {
    C.prototype[Symbol.dispose] = function dispose() {
      this.close();
    };
  }
}

// FOR TESTS ONLY: a process-wide fake wall clock for expiry (the core's test clock), as a Date
// or Unix ms; null or 0 returns to the real clock. ttl counts from it too.
function setClock(at) {
  const ms = at instanceof Date ? at.getTime() : at === null || at === undefined ? 0 : at;
  if (typeof ms !== 'number') throw typeError('setClock needs a Date, Unix milliseconds or null');
  if (!Number.isSafeInteger(ms) || ms < 0) throw invalid('setClock needs a non-negative integer of Unix ms');
  native.testingSetClock(ms);
}

module.exports = {
  KV,
  BlobStore,
  Table,
  Query,
  Repo,
  /** A Date for microseconds since the Unix epoch that keeps them exactly in a table. */
  timestamp,
  /** The exact microseconds of a Date (read from a table, or made by timestamp()). */
  microseconds,
  /** Open a KV store on the thread pool: Promise<KV>. */
  open: (path, options) => KV.open(path, options),
  /** Open a blob store on the thread pool: Promise<BlobStore>. */
  openBlobStore: (path, options) => BlobStore.open(path, options),
  /** Open a table on the thread pool: Promise<Table>. */
  openTable: (path, options) => Table.open(path, options),
  /** Open a versioned store on the thread pool: Promise<Repo>. */
  openRepo: (path, options) => Repo.open(path, options),
  CairnError,
  errors,
  /** Error info by code name ('CAIRN_NOTFOUND') or errno (-2): { errno, code, text }. */
  errorInfo: (x) => {
    const i = typeof x === 'number' ? byErrno.get(x) : byCode.get(x);
    return i ? { errno: i.errno, code: i.code, text: i.text } : undefined;
  },
  version: native.version(),
  /** For tests only: never call these in production code. */
  testing: Object.freeze({ setClock }),
  /** The raw addon (1:1 with the C API); for tools and tests. */
  native,
};
