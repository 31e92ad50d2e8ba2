'use strict';
// The idiomatic Node.js API of Cairn (const cairn = require('cairn')).
//
// Two layers: the addon (src/addon.cc) is thin and close to the C API; this file adds value
// kinds, options, error classes, transactions and the blob store's EventEmitter. Every engine
// class (KV, BlobStore) extends one base (storeClass) and adds only its own methods.
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

// ------------------------------------------------------------------------------------------
// The base of every engine's class: open (sync and on the thread pool), check, exists / has,
// count / size, transactions, sync / compact, stats, close. An engine class declares
// static [ENGINE] and its own methods, which use this[H] (the addon handle), nothing else.
// Base is Object, or EventEmitter for an engine with events (it then overrides [AFTER] to
// deliver them once the C call has returned).
// ------------------------------------------------------------------------------------------
function storeClass(Base) {
  return class Store extends Base {
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

    stats() {
      return this[H].stats();
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
    if (kind === 'json') {
      h.put(key, typeof value === 'string' ? JSON.stringify(value) : jsonOf(value), native.KIND_JSON, exp, ttl);
    } else if (kind === 'text') {
      if (typeof value !== 'string') throw typeError("a value of kind 'text' must be a string");
      h.put(key, value, native.KIND_TEXT, exp, ttl);
    } else if (kind === 'bytes') {
      if (typeof value !== 'string' && !isBytes(value)) throw typeError("a value of kind 'bytes' must be bytes or a string");
      h.put(key, value, native.KIND_BYTES, exp, ttl);
    } else if (typeof value === 'string') {
      h.put(key, value, native.KIND_TEXT, exp, ttl);
    } else if (isBytes(value)) {
      h.put(key, value, native.KIND_BYTES, exp, ttl);
    } else {
      h.put(key, jsonOf(value), native.KIND_JSON, exp, ttl);
    }
    return this;
  }

  set(key, value, options) {
    return this.put(key, value, options);
  }

  /** The value, or undefined when the key is absent (or expired). */
  get(key) {
    const r = this[H].get(key);
    if (typeof r === 'string') return meta[0] === native.KIND_JSON ? parseJson(r) : r;
    return bytesOut(r);
  }

  /** { value, kind: 'bytes' | 'text' | 'json' | 'native' }, or undefined when absent. */
  getTyped(key) {
    const r = this[H].get(key);
    if (r === undefined) return undefined;
    const kind = meta[0];
    if (typeof r === 'string') return { value: kind === native.KIND_JSON ? parseJson(r) : r, kind: KIND_NAMES[kind] };
    return { value: bytesOut(r), kind: KIND_NAMES[kind] || 'bytes' };
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

if (typeof Symbol.dispose === 'symbol') {
  for (const C of [KV, BlobStore]) {
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
  /** Open a KV store on the thread pool: Promise<KV>. */
  open: (path, options) => KV.open(path, options),
  /** Open a blob store on the thread pool: Promise<BlobStore>. */
  openBlobStore: (path, options) => BlobStore.open(path, options),
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
