// TypeScript types of the Cairn Node.js binding (lib/index.js).
/// <reference types="node" />
import { EventEmitter } from 'events';

/** Bytes accepted wherever Cairn takes bytes. */
export type BytesLike = Buffer | Uint8Array | ArrayBufferView | ArrayBuffer;
/** A key: a string (its UTF-8 bytes) or bytes, 1..65535 bytes long. */
export type Key = string | BytesLike;
/** A JSON document value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/** What a KV value can be: bytes (kind BYTES), a string (TEXT), or a JSON document (JSON). */
export type Value = BytesLike | string | JsonValue;
/** What get() returns: Buffer for BYTES, string for TEXT, the parsed document for JSON. */
export type StoredValue = Buffer | string | JsonValue;
export type ValueKind = 'bytes' | 'text' | 'json' | 'native';
export type SyncMode = 'none' | 'commit' | 'group';

/** The open options every engine takes. */
export interface StoreOptions {
  /** Create the store if missing (default true). */
  create?: boolean;
  /** Open without the writer lock; writes throw CAIRN_READONLY. */
  readOnly?: boolean;
  /** 'none', 'commit' (default: fsync before every commit returns) or 'group'. */
  sync?: SyncMode;
  /**
   * 0..4294967295 ms (else CAIRN_INVALID). 0: a second writer fails CAIRN_LOCKED at once; > 0: it
   * waits this long, then CAIRN_BUSY.
   */
  lockTimeoutMs?: number;
}

export interface KVOptions extends StoreOptions {
  /** Rotate the active data file past this many bytes (0: 64 MiB); above what the format can address: CAIRN_INVALID. */
  maxFileSize?: number;
}

export interface BlobStoreOptions extends StoreOptions {}

export interface PutOptions {
  /** Absolute expiry: a Date or Unix milliseconds. Not together with ttl (CAIRN_INVALID). */
  expireAt?: Date | number;
  /** Expiry relative to now, in milliseconds (0: expires at once; negative: CAIRN_INVALID). */
  ttl?: number;
  /** Force the stored kind (e.g. 'json' for a string that is a JSON document). */
  kind?: 'bytes' | 'text' | 'json';
}

export interface KVStats {
  keys: number;
  dataFiles: number;
  diskBytes: number;
  liveBytes: number;
  deadBytes: number;
  keydirBytes: number;
  seq: number;
  compactions: number;
  inTxn: boolean;
}

/**
 * What every engine's class has (KV, BlobStore, Table): K is its key type, E its [key, value] entry,
 * S its stats. Not exported at run time: use the engine classes.
 */
declare abstract class Store<K, E, S> implements Iterable<E> {
  /** Verify the files of the store at `path` without opening it for writing; CAIRN_CORRUPT names file and offset. */
  static check(path: string): void;
  static checkAsync(path: string): Promise<void>;

  exists(key: K): boolean;
  /** The same as exists(key), as on a Map. */
  has(key: K): boolean;
  count(): number;
  readonly size: number;
  entries(): IterableIterator<E>;
  [Symbol.iterator](): IterableIterator<E>;

  begin(): void;
  commit(): void;
  rollback(): void;
  /**
   * True inside begin() ... commit() / rollback() (the core's flag, cairn_<engine>_in_txn); an
   * engine whose C API has no such call throws CAIRN_UNSUPPORTED.
   */
  inTxn(): boolean;
  /** Run fn in a transaction: commit on return (or resolve), roll back on throw (or reject). */
  transaction<T>(fn: (store: this) => T): T;

  /** Make everything written so far durable. */
  sync(): void;
  syncAsync(): Promise<void>;
  /** Rewrite the files without dead space (CAIRN_TXN inside a transaction). */
  compact(): void;
  compactAsync(): Promise<void>;
  stats(): S;
  /**
   * The Prometheus text exposition (format 0.0.4) of the engine's statistics (cairn_<engine>_metrics):
   * per statistic `# HELP` and `# TYPE` lines, then `cairn_<engine>_<stat>{store="<path>"} <value>`.
   */
  metrics(): string;
  /** Close (idempotent); an open transaction is rolled back. */
  close(): void;
  readonly closed: boolean;

  /**
   * Take a named, read-only, point-in-time snapshot (kept inside the store; the data files are
   * shared, so it costs milliseconds) and return its name; without a name a unique one is picked.
   * CAIRN_EXISTS when taken, CAIRN_INVALID for a name outside [A-Za-z0-9._-]{1,128}, CAIRN_TXN in
   * a transaction, CAIRN_READONLY on a read-only handle. Engines without snapshots (for now the
   * blob store and the table) throw CAIRN_UNSUPPORTED from these five calls.
   */
  snapshot(name?: string): string;
  /** The snapshots, oldest first. */
  snapshots(): SnapshotInfo[];
  /** Open a snapshot as a new read-only store of this class (close it on its own); CAIRN_NOTFOUND when absent. */
  openSnapshot(name: string): this;
  /** Delete a snapshot; CAIRN_NOTFOUND when absent. */
  dropSnapshot(name: string): void;
  /**
   * Copy the store consistently into `dest` (missing or an empty directory, else CAIRN_EXISTS)
   * while writes go on; the copy shares nothing with the store and opens as a normal store.
   */
  backup(dest: string): void;
  backupAsync(dest: string): Promise<void>;
}

export interface SnapshotInfo {
  name: string;
  time: Date;
  /** Bytes of the snapshot's files. */
  bytes: number;
}

export class KV extends Store<Key, [string | Buffer, StoredValue], KVStats> {
  /** Open (or create) the store in directory `path`, synchronously. */
  constructor(path: string, options?: KVOptions);
  /** Open on the libuv thread pool. */
  static open(path: string, options?: KVOptions): Promise<KV>;

  put(key: Key, value: Value, options?: PutOptions): this;
  set(key: Key, value: Value, options?: PutOptions): this;
  /** The value, or undefined when absent or expired. */
  get(key: Key): StoredValue | undefined;
  getTyped(key: Key): { value: StoredValue; kind: ValueKind } | undefined;
  /** Throws errors.NotFound (code 'CAIRN_NOTFOUND') when absent. */
  delete(key: Key): void;
  /**
   * Merge the top-level fields of `changes` into the JSON-object value of `key` (a nested object
   * replaces the old one; the expiry is kept). errors.NotFound when absent; errors.Type when the
   * value is not a JSON object.
   */
  update(key: Key, changes: { [key: string]: JsonValue }): this;
  /** The absolute expiry; null when the key never expires; undefined when it is absent (or expired). */
  expiry(key: Key): Date | null | undefined;
  /** Keys ascending bytewise; a key is a string when valid UTF-8, else a Buffer. */
  keys(prefix?: Key): Array<string | Buffer>;
  values(prefix?: Key): IterableIterator<StoredValue>;
  entries(prefix?: Key): IterableIterator<[string | Buffer, StoredValue]>;
}

export interface BlobStoreStats {
  entries: number;
  liveBytes: number;
  freeBytes: number;
  freeEntries: number;
  fileSize: number;
  walBytes: number;
  nextKey: number;
  inTxn: boolean;
}

export interface BlobStoreEvents {
  created: (key: number, size: number) => void;
  updated: (key: number, oldSize: number, newSize: number) => void;
  deleted: (key: number, oldSize: number) => void;
}

/**
 * uint32 keys -> bytes in one file. An EventEmitter: 'created', 'updated' and 'deleted' fire once
 * per successful durable operation, after the call that made it has returned from the core (in a
 * transaction: after commit, in order; never on rollback or failure). A listener that throws does
 * not undo the change: the call rethrows the first listener error once every listener ran.
 */
export class BlobStore extends Store<number, [number, Buffer], BlobStoreStats> {
  constructor(path: string, options?: BlobStoreOptions);
  static open(path: string, options?: BlobStoreOptions): Promise<BlobStore>;

  on<E extends keyof BlobStoreEvents>(event: E, listener: BlobStoreEvents[E]): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once<E extends keyof BlobStoreEvents>(event: E, listener: BlobStoreEvents[E]): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
  off<E extends keyof BlobStoreEvents>(event: E, listener: BlobStoreEvents[E]): this;
  off(event: string | symbol, listener: (...args: any[]) => void): this;

  /** Store data under a new key and return it. A string is stored as its UTF-8 bytes. */
  create(data: BytesLike | string): number;
  /** Throws errors.Exists when the key is taken. */
  createWithKey(key: number, data: BytesLike | string): void;
  reserveNextKey(): number;
  /** Throws errors.NotFound when absent. */
  read(key: number): Buffer;
  update(key: number, data: BytesLike | string): void;
  delete(key: number): void;
  keys(): number[];
}
/** BlobStore is also an EventEmitter (every other EventEmitter method). */
export interface BlobStore extends EventEmitter {}

/** A row id: a number, or a BigInt above Number.MAX_SAFE_INTEGER. */
export type RowId = number | bigint;

/**
 * A column value by column type: number or bigint (integers; read back as number when
 * Number.isSafeInteger, else bigint), number (f32, f64; NaN and the infinities too), boolean,
 * string, bytes (read back as Buffer), Date (timestamp), null.
 */
export type ColumnValue = number | bigint | boolean | string | BytesLike | Date | null;
/** What a row read back holds. */
export type StoredColumnValue = number | bigint | boolean | string | Buffer | Date | null;
/** A row to write: column name -> value (a column left out, or undefined, takes its default). */
export type RowInput = { [column: string]: ColumnValue | undefined };
/** A row read back: every column. */
export type Row = { [column: string]: StoredColumnValue };

export type ColumnType =
  | 'i8' | 'i16' | 'i32' | 'i64' | 'u8' | 'u16' | 'u32' | 'u64' | 'f32' | 'f64' | 'bool' | 'string'
  | 'bytes' | 'timestamp' | `bytes:${number}`;

/** One column of a schema. */
export interface ColumnSpec {
  name: string;
  type: ColumnType | string;
  /** Default true (false for a primary key). */
  nullable?: boolean;
  primaryKey?: boolean;
  unique?: boolean;
  /** The value a row that leaves the column out gets. */
  default?: ColumnValue;
}

/** A column as schema() describes it. */
export interface Column {
  name: string;
  type: string;
  nullable: boolean;
  primaryKey: boolean;
  unique: boolean;
  default: StoredColumnValue;
}

export interface TableOptions extends StoreOptions {
  /**
   * The schema of a new table: the text form ('id i64 primary key, name string not null') or a
   * list of columns. For an existing table: omitted, or the same schema (else CAIRN_SCHEMA).
   */
  schema?: string | ColumnSpec[];
  /** Checkpoint the in-memory tail into column segments every this many rows (0: 122880). */
  checkpointRows?: number;
}

export interface TableStats {
  rows: number;
  deletedRows: number;
  nextId: number;
  rowGroups: number;
  segments: number;
  tailRows: number;
  diskBytes: number;
  walBytes: number;
  checkpoints: number;
  columns: number;
  inTxn: boolean;
}

export type TableEvent = 'inserted' | 'updated' | 'deleted';

export interface TableEvents {
  inserted: (id: RowId, row: Row) => void;
  updated: (id: RowId, row: Row, oldRow: Row) => void;
  deleted: (id: RowId, oldRow: Row) => void;
  /** Every change: row is null for 'deleted', oldRow null for 'inserted'. */
  change: (event: TableEvent, id: RowId, row: Row | null, oldRow: Row | null) => void;
}

/**
 * A WHERE: a text with ? placeholders ('score > ? AND cat IN (1, 2)'), a triple
 * [column, op, value], a list of triples and WHERE objects (all must hold), { $and: [...] },
 * { $or: [...] }, { $not: WHERE }, or the shorthand { column: value, column: { gte: 1, lt: 9 } }.
 */
export type Where = string | [string, string, ...unknown[]] | unknown[] | { [key: string]: unknown };

export interface Aggregate {
  fn: 'count' | 'count_distinct' | 'sum' | 'min' | 'max' | 'avg';
  /** Left out for count(*). */
  column?: string;
  as?: string;
}

/** A query (docs/queries.md): every key optional. */
export interface QuerySpec {
  where?: Where;
  params?: ColumnValue[];
  /** Projection; '_id' is the row id. */
  columns?: string[];
  /** 'name', '-name' (descending), or [name, 'asc' | 'desc']. */
  order?: (string | [string, 'asc' | 'desc'])[];
  limit?: number;
  offset?: number;
  aggregates?: Aggregate[];
  groupBy?: string[];
  group_by?: string[];
  format?: 'rows' | 'columns';
}

export interface JoinSpec extends QuerySpec {
  /** Pairs of equal columns: [[leftColumn, rightColumn], ...]. */
  on: [string, string][];
  type?: 'inner' | 'left';
  rightWhere?: Where;
  rightParams?: ColumnValue[];
}

export interface QueryResult {
  /** The result's columns and their types ('u64' for _id and counts, the schema's types, ...). */
  columns: { name: string; type: string }[];
  /** format 'rows' (the default). */
  rows?: Row[];
  /** format 'columns': column name -> values. */
  data?: { [column: string]: StoredColumnValue[] };
  count?: number;
}

export type IndexKind = 'hash' | 'range';

export type NumericArray =
  | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array | Float32Array | Float64Array;

/** A query of one table, built step by step (each step returns a new Query). */
export class Query implements Iterable<Row> {
  readonly table: Table;
  /** AND a condition: text with ? params, (column, op, value), or a WHERE object. */
  where(cond: Where, ...params: ColumnValue[]): Query;
  /** The same as where(). */
  filter(cond: Where, ...params: ColumnValue[]): Query;
  select(...columns: (string | string[])[]): Query;
  order(...keys: (string | [string, 'asc' | 'desc'])[]): Query;
  limit(n: number): Query;
  offset(n: number): Query;
  /** Rows [start, end) of the result. */
  slice(start?: number, end?: number): Query;
  groupBy(...columns: (string | string[])[]): Query;
  aggregate(aggs: { [alias: string]: [Aggregate['fn'], string?] | 'count' } | Aggregate[]): Query;
  /** The spec this builder stands for. */
  spec(): QuerySpec;
  all(): Row[];
  execute(): Row[];
  first(): Row | undefined;
  count(): number;
  toArrowIPC(): Buffer;
  [Symbol.iterator](): Iterator<Row>;
}

/**
 * A columnar table: typed columns, rows under ids (1, 2, ...; never reused). Iterating gives
 * [id, row] in id order. An EventEmitter of 'inserted', 'updated', 'deleted' and 'change',
 * delivered as BlobStore's events are (after the call returned; a transaction's after commit).
 */
export class Table extends Store<RowId, [RowId, Row], TableStats> {
  /** Verify the closed table as check() does, then rebuild what is derived (zone maps); the number of segment references rebuilt. */
  static repair(path: string): number;
  /** Open (or create, with options.schema) the table in directory `path`. */
  constructor(path: string, options?: TableOptions);
  static open(path: string, options?: TableOptions): Promise<Table>;

  on<E extends keyof TableEvents>(event: E, listener: TableEvents[E]): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once<E extends keyof TableEvents>(event: E, listener: TableEvents[E]): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
  off<E extends keyof TableEvents>(event: E, listener: TableEvents[E]): this;
  off(event: string | symbol, listener: (...args: any[]) => void): this;
  removeAllListeners(event?: keyof TableEvents | string | symbol): this;

  /** Insert a row; returns its id. CAIRN_CONSTRAINT, CAIRN_TYPE, CAIRN_RANGE, CAIRN_SCHEMA. */
  insert(row: RowInput): RowId;
  /** Insert every row, all or nothing; returns their ids. */
  insertMany(rows: Iterable<RowInput>): RowId[];
  /** Update the row holding this row's primary key, or insert it; returns the row's id. */
  upsert(row: RowInput): RowId;
  /** The row (every column), or undefined when there is no row `id`. */
  get(id: RowId): Row | undefined;
  /** Set the columns named in `changes`; errors.NotFound when there is no row `id`. */
  update(id: RowId, changes: RowInput): this;
  /** errors.NotFound when there is no row `id`. */
  delete(id: RowId): void;
  /**
   * Load columns of equal length, all or nothing ({ name: [...], score: Float64Array }); returns
   * the first new id (the rows get consecutive ids).
   */
  load(columns: { [column: string]: ArrayLike<ColumnValue> | ArrayBufferView }): RowId;
  /** The columns, in order. */
  schema(): Column[];
  /** Add a column ('name type [constraints]', or a ColumnSpec); existing rows get its default. */
  addColumn(spec: string | ColumnSpec): void;
  /** Call fn for every change until unsubscribe(id) (the same as on('change', fn)); returns id. */
  subscribe(fn: TableEvents['change']): number;
  /** errors.NotFound for an unknown id. */
  unsubscribe(id: number): void;
  /** Run a query; with no argument, a Query builder. */
  query(): Query;
  query(spec: QuerySpec): QueryResult;
  /** The rows of a query without aggregates. */
  select(spec?: QuerySpec): Row[];
  /** The number of live rows matching `where`. */
  countWhere(where?: Where, params?: ColumnValue[]): number;
  /** One aggregate of a column (null over no values, except counts). */
  aggregate(fn: Aggregate['fn'], column?: string | null, options?: QuerySpec): StoredColumnValue;
  /** One row per group: the group columns, then the aggregates. */
  groupBy(columns: string | string[], aggregates: { [alias: string]: [Aggregate['fn'], string?] | 'count' } | Aggregate[], options?: QuerySpec): Row[];
  /** Join with another table on equal columns; columns named 'left.x' / 'right.y'. */
  join(other: Table, spec: JoinSpec): QueryResult;
  /** Create an index (kind 'hash', the default, or 'range'); errors.Exists if there is one. */
  createIndex(column: string, kind?: IndexKind): void;
  /** errors.NotFound when there is no such index. */
  dropIndex(column: string, kind?: IndexKind): void;
  indexes(): { column: string; kind: IndexKind }[];
  /** Ids (ascending) of the rows whose column equals value. */
  lookup(column: string, value: ColumnValue): RowId[];
  /** Ids (ascending) of the rows matching every { column: value }. */
  find(conditions: RowInput): RowId[];
  /** Ids (ascending) of the rows with lo <= column <= hi (null: no bound). */
  rangeFind(column: string, lo: ColumnValue | undefined, hi: ColumnValue | undefined, options?: { loOpen?: boolean; hiOpen?: boolean }): RowId[];
  /** Rows of a query (default: all) as Arrow IPC stream bytes, for apache-arrow's tableFromIPC. */
  toArrowIPC(spec?: QuerySpec | null): Buffer;
  /** A fixed-width column without nulls as a TypedArray over the exported buffer. */
  column(name: string): NumericArray;
  /** A fixed-width column's values and validity bitmap (bit i set: value i is not null). */
  columnView(name: string): { values: NumericArray; validity: Uint8Array | null; length: number };
  /** [id, row] in id order, from a snapshot taken when the iteration starts. */
  rows(): IterableIterator<[RowId, Row]>;
  keys(): IterableIterator<RowId>;
  values(): IterableIterator<Row>;
}
/** Table is also an EventEmitter (every other EventEmitter method). */
export interface Table extends EventEmitter {}

/**
 * A Date for `us` microseconds since the Unix epoch. A Date holds milliseconds; this one also
 * remembers the exact microseconds (while its time is not changed), which a table stores.
 */
export function timestamp(us: number | bigint): Date;
/**
 * The exact microseconds since the Unix epoch of a Date: a Date read from a table (or made by
 * timestamp()) keeps the microseconds below the millisecond; any other Date is getTime() * 1000.
 */
export function microseconds(date: Date): number | bigint;

// ------------------------------------------------------------------------------------------
// Repo: the versioned store
// ------------------------------------------------------------------------------------------
/** A version's digest: 64 lowercase hex characters (SHA-256). */
export type Digest = string;

export interface RepoOptions extends StoreOptions {
  /**
   * Tree nodes kept in memory once checked against their digest, up to this many bytes: a diff or
   * a put reads them again without reading or hashing them again. 0 (default): 64 MiB; 1: none.
   * A non-negative safe integer (else CAIRN_INVALID; not a number: CAIRN_TYPE).
   */
  cacheBytes?: number;
}

export interface RepoValueOptions {
  /** Force the stored kind (e.g. 'json' for a string that is a JSON document). */
  kind?: 'bytes' | 'text' | 'json';
}

export interface RepoStats {
  tenants: number;
  /** Object files: one per distinct content of a tenant (value, version, tree node). */
  objects: number;
  diskBytes: number;
}

export interface RepoVersion {
  digest: Digest;
  parents: Digest[];
  user: string;
  time: Date;
  /** A collection of records (true) or a whole value (false). */
  collection: boolean;
}

export interface RepoDiff {
  added: Array<string | Buffer>;
  removed: Array<string | Buffer>;
  changed: Array<string | Buffer>;
}

/** Records for putMany: a Map, an array of [key, value] pairs or a plain object. */
export type RepoRecords = Map<Key, Value> | Iterable<[Key, Value]> | { [key: string]: Value };

/**
 * The versioned store: tenants hold entries; every save, put or delete makes a new immutable
 * version named by its digest. Names (tenant, entry, user, tag) are 1..255 bytes of UTF-8 without
 * control characters (the user may be empty), else CAIRN_INVALID. A malformed digest is
 * CAIRN_INVALID; writes to an unknown tenant CAIRN_NOTFOUND; reads of anything absent undefined.
 */
export class Repo {
  /** Open (or create) the repository in directory `path`, synchronously. */
  constructor(path: string, options?: RepoOptions);
  /** Open on the libuv thread pool. */
  static open(path: string, options?: RepoOptions): Promise<Repo>;
  /** Re-hash every object and check every ref: CAIRN_CORRUPT (damage), CAIRN_PATH (missing). */
  static verify(path: string): void;
  static verifyAsync(path: string): Promise<void>;

  /** Create a tenant (an existing one is fine). */
  init(tenant: string): this;
  tenants(): string[];
  /** The tenant's entries (values and collections), sorted; CAIRN_NOTFOUND for an unknown tenant. */
  entries(tenant: string): string[];

  /** Save a whole value as the new version of `entry`; CAIRN_TYPE when the entry is a collection. */
  save(tenant: string, user: string, entry: string, value: Value, options?: RepoValueOptions): Digest;
  /** The head (or version `digest`), or undefined; CAIRN_TYPE for a collection. */
  load(tenant: string, entry: string, digest?: Digest | null): StoredValue | undefined;
  loadTyped(tenant: string, entry: string, digest?: Digest | null): { value: StoredValue; kind: ValueKind } | undefined;
  exists(tenant: string, entry: string): boolean;
  /** The head digest, or undefined. */
  digest(tenant: string, entry: string): Digest | undefined;

  /** Put one record into the collection `entry`; CAIRN_TYPE when the entry holds a whole value. */
  put(tenant: string, user: string, entry: string, key: Key, value: Value, options?: RepoValueOptions): Digest;
  /** Put many records in one version (a key given twice keeps its last value; all or nothing). */
  putMany(tenant: string, user: string, entry: string, records: RepoRecords, options?: RepoValueOptions): Digest;
  get(tenant: string, entry: string, key: Key, digest?: Digest | null): StoredValue | undefined;
  getTyped(tenant: string, entry: string, key: Key, digest?: Digest | null): { value: StoredValue; kind: ValueKind } | undefined;
  /** Delete a record: the new digest; CAIRN_NOTFOUND when the key is absent. */
  delete(tenant: string, user: string, entry: string, key: Key): Digest;
  count(tenant: string, entry: string, digest?: Digest | null): number;
  /** Keys ascending bytewise; a key is a string when valid UTF-8, else a Buffer. */
  keys(tenant: string, entry: string, digest?: Digest | null): Array<string | Buffer>;
  /** [key, value] of every record, in key order (fetched in batches). */
  records(tenant: string, entry: string, digest?: Digest | null): IterableIterator<[string | Buffer, StoredValue]>;
  recordsTyped(tenant: string, entry: string, digest?: Digest | null):
    IterableIterator<{ key: string | Buffer; value: StoredValue; kind: ValueKind }>;

  /** From d1 to d2 (null or undefined: the empty collection); CAIRN_NOTFOUND for an unknown digest. */
  diff(tenant: string, d1: Digest | null | undefined, d2: Digest | null | undefined): RepoDiff;
  /** Newest first, at most `max` (0 or undefined: all); [] for an entry never saved. */
  history(tenant: string, entry: string, max?: number): RepoVersion[];
  /** Name a version; CAIRN_NOTFOUND when the digest names no version of the tenant. */
  tag(tenant: string, name: string, digest: Digest): this;
  tagGet(tenant: string, name: string): Digest | undefined;

  /** Remove unreachable objects older than graceMs (default 0: any age): how many. */
  gc(graceMs?: number): number;
  gcAsync(graceMs?: number): Promise<number>;
  stats(): RepoStats;
  /**
   * The Prometheus text exposition (format 0.0.4) of the engine's statistics (cairn_<engine>_metrics):
   * per statistic `# HELP` and `# TYPE` lines, then `cairn_<engine>_<stat>{store="<path>"} <value>`.
   */
  metrics(): string;
  close(): void;
  readonly closed: boolean;
}

/** Open a versioned store on the thread pool. */
export function openRepo(path: string, options?: RepoOptions): Promise<Repo>;

/** Open a table on the libuv thread pool. */
export function openTable(path: string, options?: TableOptions): Promise<Table>;

/** Open a KV store on the libuv thread pool. */
export function open(path: string, options?: KVOptions): Promise<KV>;
/** Open a blob store on the libuv thread pool. */
export function openBlobStore(path: string, options?: BlobStoreOptions): Promise<BlobStore>;

/** Every Cairn error: .code is the stable name ('CAIRN_NOTFOUND'), .errno the C code (-2). */
export class CairnError extends Error {
  constructor(message?: string, errno?: number);
  code: string;
  errno: number;
}

type ErrorClass = { new (message?: string): CairnError; readonly code: string; readonly errno: number };
type TypeErrorClass = {
  new (message?: string): TypeError & { code: 'CAIRN_TYPE'; errno: number };
  readonly code: 'CAIRN_TYPE';
  readonly errno: number;
};

/** One class per entry of the core's error table. */
export const errors: {
  Unspecified: ErrorClass;
  NotFound: ErrorClass;
  Exists: ErrorClass;
  Invalid: ErrorClass;
  /** Wrong argument type: a TypeError, and also instanceof CairnError. */
  Type: TypeErrorClass;
  TooBig: ErrorClass;
  IO: ErrorClass;
  NoSpace: ErrorClass;
  Corrupt: ErrorClass;
  Locked: ErrorClass;
  Busy: ErrorClass;
  Closed: ErrorClass;
  NoMemory: ErrorClass;
  Txn: ErrorClass;
  ReadOnly: ErrorClass;
  Failed: ErrorClass;
  Version: ErrorClass;
  Perm: ErrorClass;
  Path: ErrorClass;
  IterOver: ErrorClass;
  Range: ErrorClass;
  Unsupported: ErrorClass;
  Internal: ErrorClass;
  Forked: ErrorClass;
  /** A PRIMARY KEY, UNIQUE or NOT NULL constraint of a table would be violated. */
  Constraint: ErrorClass;
  /** A schema differs from the stored one, or a column is unknown. */
  Schema: ErrorClass;
  [name: string]: ErrorClass | TypeErrorClass;
};

export function errorInfo(codeOrErrno: string | number): { errno: number; code: string; text: string } | undefined;

/** The library version ("0.1.0"). */
export const version: string;
/** The raw addon, 1:1 with the C API (for tools and tests). */
export const native: any;

/** FOR TESTS ONLY: never call these in production code. */
export const testing: {
  /**
   * A process-wide fake wall clock that expiry (and ttl) uses instead of the real one, as a Date
   * or Unix ms; null or 0 returns to the real clock.
   */
  setClock(at: Date | number | null): void;
};

export {};
