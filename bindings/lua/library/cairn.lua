---@meta cairn
-- Type declarations of the idiomatic module for the Lua language server (LuaLS / sumneko): add this
-- directory to `workspace.library`. Declarations only; the module is bindings/lua/cairn.lua.
-- tests/test.lua checks that every method declared here exists and every public method is here.
--
-- Conventions: a runtime failure returns `nil, message, name` (the `...?` results below), misuse
-- raises an error whose message starts with the error name.

---@class cairn
---@field version string
---@field raw table                          the SWIG module cairn_swig (1:1 with the C API)
---@field codes table<string, integer>       "CAIRN_NOTFOUND" -> -2
---@field names table<integer, string>       -2 -> "CAIRN_NOTFOUND"
---@field null cairn.Null                    JSON / table null (nil means missing)
---@field array_mt table                     the metatable of JSON arrays
---@field BYTES integer
---@field TEXT integer
---@field JSON integer
---@field NATIVE integer
---@field kind_names table<integer, string>
---@field kv cairn.kv_module
---@field blob cairn.blob_module
---@field table cairn.table_module
---@field repo cairn.repo_module
---@field testing { set_clock: fun(unix_ms: integer) }
local cairn = {}

---@class cairn.Null

---@param e string|integer
---@return string|nil name
function cairn.errname(e) end
---@generic T: table
---@param t? T
---@return T
function cairn.array(t) end
---@param v any
---@return string
function cairn.json_encode(v) end
---@param s string
---@return any value, string? message, string? name
function cairn.json_decode(s) end
---@param s string
---@return table wrapped  stored as BYTES (or written as bytes to any table column)
function cairn.bytes(s) end
---@param s string
---@return table wrapped  stored as TEXT (or written as text to any table column)
function cairn.text(s) end
---@param v any
---@return table wrapped  stored as a JSON document
function cairn.json(v) end
---@return integer unix_ms
function cairn.now_ms() end

---@class cairn.kv_module
---@field open fun(path: string, opts?: cairn.KvOptions): cairn.KV|nil, string?, string?
---@field check fun(path: string): true|nil, string?, string?

---@class cairn.blob_module
---@field open fun(path: string, opts?: cairn.StoreOptions): cairn.Blob|nil, string?, string?
---@field check fun(path: string): true|nil, string?, string?

---@class cairn.table_module
---@field open fun(path: string, opts?: cairn.TableOptions): cairn.Table|nil, string?, string?
---@field check fun(path: string): true|nil, string?, string?
---@field repair fun(path: string): integer|nil, string?, string?

---@class cairn.repo_module
---@field open fun(path: string, opts?: cairn.RepoOptions): cairn.Repo|nil, string?, string?
---@field verify fun(path: string): true|nil, string?, string?

---@class cairn.RepoOptions
---@field create? boolean
---@field read_only? boolean
---@field sync? "none"|"commit"
---@field lock_timeout_ms? integer

---@class cairn.StoreOptions
---@field create? boolean
---@field read_only? boolean
---@field sync? "none"|"commit"|"group"
---@field lock_timeout_ms? integer

---@class cairn.KvOptions: cairn.StoreOptions
---@field max_file_size? integer

---@class cairn.TableOptions: cairn.StoreOptions
---@field schema? string|cairn.Column[]     text ("id i64 primary key, ...") or column tables
---@field checkpoint_rows? integer

---@class cairn.Column
---@field name string
---@field type string                        i8..i64 u8..u64 f32 f64 bool string bytes bytes:N timestamp
---@field nullable? boolean
---@field primary_key? boolean
---@field unique? boolean
---@field default? any                       a value of the column (cairn.null: none)

--- A row: column name -> value (integer, float, boolean, string, cairn.null; a u64 beyond
--- 2^63-1 as its decimal string; a timestamp as integer microseconds).
---@alias cairn.Row table<string, any>

-- ---- what every store has ----------------------------------------------------------------

---@class cairn.Store
---@field path string
local Store = {}
---@return true|nil, string?, string?
function Store:close() end
---@return boolean
function Store:is_open() end
---@return true|nil, string?, string?
function Store:begin() end
---@return true|nil, string?, string?
function Store:commit() end
---@return true|nil, string?, string?
function Store:rollback() end
--- Runs fn(store, ...) in a transaction: commits when it returns (its results are returned),
--- rolls back and re-raises when it raises.
---@param fn fun(store: cairn.Store, ...): ...
---@return ...
function Store:transaction(fn, ...) end
---@return true|nil, string?, string?
function Store:sync() end
---@return true|nil, string?, string?
function Store:compact() end
---@return integer|nil count, string?, string?
function Store:count() end
---@return table<string, integer|boolean>|nil stats, string?, string?
function Store:stats() end
---Statistics in the Prometheus text exposition format 0.0.4 (`cairn_<engine>_<stat>{store="<path>"}`).
---@return string|nil text, string?, string?
function Store:metrics() end
---@return fun(): any, any
function Store:pairs() end

-- ---- KV ------------------------------------------------------------------------------------

---@class cairn.KV: cairn.Store
local KV = {}
---@param key string|table
---@return any value, string? message, string? name
function KV:get(key) end
---@param key string|table
---@return any value, string? kind, string? name
function KV:get_typed(key) end
---@param key string|table
---@param value any
---@param opts? { ttl?: integer, expire_at?: integer }
---@return true|nil, string?, string?
function KV:put(key, value, opts) end
---@param key string|table
---@param value any
---@param opts? { ttl?: integer, expire_at?: integer }
---@return true|nil, string?, string?
function KV:set(key, value, opts) end
---@param key string|table
---@param changes table
---@return true|nil, string?, string?
function KV:update(key, changes) end
---@param key string|table
---@return true|nil, string?, string?
function KV:delete(key) end
---@param key string|table
---@return boolean|nil, string?, string?
function KV:exists(key) end
--- true inside begin() ... commit()/rollback() (cairn_kv_in_txn)
---@return boolean|nil, string?, string?
function KV:in_txn() end
---@param prefix? string|table
---@return string[]|nil keys, string?, string?
function KV:keys(prefix) end
---@param key string|table
---@return integer|false|nil expiry, string?, string?
function KV:expiry(key) end
---@param prefix? string|table
---@return fun(): string?
function KV:each(prefix) end
--- A named, read-only, point-in-time copy of the store (a unique name when none is given).
---@param name? string
---@return string|nil name, string?, string?
function KV:snapshot(name) end
---@return { name: string, time: integer, bytes: integer }[]|nil snapshots, string?, string?
function KV:snapshots() end
--- A read-only KV on the snapshot, independent of this handle.
---@param name string
---@return cairn.KV|nil snapshot, string?, string?
function KV:open_snapshot(name) end
---@param name string
---@return true|nil, string?, string?
function KV:drop_snapshot(name) end
--- A consistent copy of the store into dest (missing or empty) that opens as a normal store.
---@param dest string
---@return true|nil, string?, string?
function KV:backup(dest) end

-- ---- blob store ----------------------------------------------------------------------------

---@class cairn.Blob: cairn.Store
local Blob = {}
--- A named, read-only, point-in-time copy of the blob store (a unique name when none is given).
---@param name? string
---@return string|nil name, string?, string?
function Blob:snapshot(name) end
---@return { name: string, time: integer, bytes: integer }[]|nil snapshots, string?, string?
function Blob:snapshots() end
--- A read-only handle on the snapshot, independent of this one.
---@param name string
---@return cairn.Blob|nil snapshot, string?, string?
function Blob:open_snapshot(name) end
---@param name string
---@return true|nil, string?, string?
function Blob:drop_snapshot(name) end
--- A consistent copy into the file dest (which must not exist; with dest-wal) that opens as a normal blob store.
---@param dest string
---@return true|nil, string?, string?
function Blob:backup(dest) end
---@param data string|table
---@return integer|nil key, string?, string?
function Blob:create(data) end
---@return integer|nil key, string?, string?
function Blob:reserve_next_key() end
---@param key integer
---@param data string|table
---@return true|nil, string?, string?
function Blob:create_with_key(key, data) end
---@param key integer
---@return string|nil data, string?, string?
function Blob:read(key) end
---@param key integer
---@param data string|table
---@return true|nil, string?, string?
function Blob:update(key, data) end
---@param key integer
---@return true|nil, string?, string?
function Blob:delete(key) end
---@param key integer
---@return boolean|nil, string?, string?
function Blob:exists(key) end
--- true inside begin() ... commit()/rollback() (cairn_blob_in_txn)
---@return boolean|nil, string?, string?
function Blob:in_txn() end
---@return integer[]|nil keys, string?, string?
function Blob:keys() end
---@param event "created"|"updated"|"deleted"|"*"
---@param fn fun(event: string, key: integer, old_size: integer, new_size: integer)
---@return integer|nil id, string?, string?
function Blob:on(event, fn) end
---@param fn fun(event: string, key: integer, old_size: integer, new_size: integer)
---@return integer|nil id, string?, string?
function Blob:subscribe(fn) end
---@param id integer
---@return true|nil, string?, string?
function Blob:off(id) end
---@param id integer
---@return true|nil, string?, string?
function Blob:unsubscribe(id) end

-- ---- table ---------------------------------------------------------------------------------

---@class cairn.Table: cairn.Store
local Table = {}
--- A named, read-only, point-in-time copy of the table (a unique name when none is given).
---@param name? string
---@return string|nil name, string?, string?
function Table:snapshot(name) end
---@return { name: string, time: integer, bytes: integer }[]|nil snapshots, string?, string?
function Table:snapshots() end
--- A read-only handle on the snapshot, independent of this one.
---@param name string
---@return cairn.Table|nil snapshot, string?, string?
function Table:open_snapshot(name) end
---@param name string
---@return true|nil, string?, string?
function Table:drop_snapshot(name) end
--- A consistent copy into dest (missing or empty) that opens as a normal table.
---@param dest string
---@return true|nil, string?, string?
function Table:backup(dest) end
---@param row cairn.Row
---@return integer|nil id, string?, string?
function Table:insert(row) end
---@param rows cairn.Row[]
---@return integer[]|nil ids, string?, string?
function Table:insert_many(rows) end
---@param row cairn.Row
---@return integer|nil id, string?, string?
function Table:upsert(row) end
--- The row (every column, nulls as cairn.null), or nil when absent.
---@param id integer
---@return cairn.Row|nil row, string?, string?
function Table:get(id) end
---@param id integer
---@param changes cairn.Row
---@return true|nil, string?, string?
function Table:update(id, changes) end
---@param id integer
---@return true|nil, string?, string?
function Table:delete(id) end
---@param columns table<string, any[]>
---@return integer|nil first_id, string?, string?
function Table:load(columns) end
---@return boolean|nil, string?, string?
function Table:in_txn() end
---@param form? "text"
---@return cairn.Column[]|string|nil schema, string?, string?
function Table:schema(form) end
---@param spec string|cairn.Column
---@return true|nil, string?, string?
function Table:add_column(spec) end
--- for id, row in t:rows() do ... end (id order, a snapshot)
---@return fun(): integer?, cairn.Row?
function Table:rows() end
---@param event "inserted"|"updated"|"deleted"|"*"
---@param fn fun(event: string, id: integer, new_row: cairn.Row?, old_row: cairn.Row?)
---@return integer|nil id, string?, string?
function Table:on(event, fn) end
---@param fn fun(event: string, id: integer, new_row: cairn.Row?, old_row: cairn.Row?)
---@return integer|nil id, string?, string?
function Table:subscribe(fn) end
---@param id integer
---@return true|nil, string?, string?
function Table:off(id) end
---@param id integer
---@return true|nil, string?, string?
function Table:unsubscribe(id) end

-- queries (docs/queries.md): a WHERE is text with `?` params, a triple {col, op, value}, a list of
-- them, {["$and"|"$or"] = {...}}, {["$not"] = w}, or the shorthand {col = value | {op = value}}.
---@alias cairn.Where string|table
---@class cairn.QuerySpec
---@field where? cairn.Where
---@field params? any[]
---@field columns? string[]
---@field order? (string|string[])[]
---@field limit? integer
---@field offset? integer
---@field aggregates? { fn: string, column?: string, as?: string }[]
---@field group_by? string[]
---@field format? "rows"|"columns"

--- Rows (as get() gives them) or, with format "columns", {column = list of values}; then the
--- result's columns ({name, type} list) and its number of rows.
---@param spec? cairn.QuerySpec
---@return cairn.Row[]|table<string, any[]>|nil result, { name: string, type: string }[]|string columns, integer|string? count
function Table:query(spec) end
---@param where? cairn.Where
---@param params? any[]
---@param columns? string[]
---@param order? string[]
---@param limit? integer
---@param offset? integer
---@return cairn.Row[]|nil rows, string?, string?
function Table:select(where, params, columns, order, limit, offset) end
---@param where? cairn.Where
---@param params? any[]
---@return integer|nil count, string?, string?
function Table:count_where(where, params) end
--- One aggregate (count, count_distinct, sum, min, max, avg); cairn.null for none.
---@param fn string
---@param column? string
---@param where? cairn.Where
---@param params? any[]
---@return any|nil value, string?, string?
function Table:aggregate(fn, column, where, params) end
---@param by string|string[]
---@param aggregates (table|string)[]
---@param opts? { where?: cairn.Where, params?: any[], order?: string[], limit?: integer, offset?: integer }
---@return cairn.Row[]|nil rows, string?, string?
function Table:group_by(by, aggregates, opts) end
--- Rows with columns "left.x" / "right.y".
---@param other cairn.Table
---@param on string|string[]|string[][]|table<string, string>
---@param opts? table  type ("inner"|"left"), where, params, right_where, right_params, columns, order, limit, offset, format; with `on` nil, opts.on as the C API takes it
---@return cairn.Row[]|table<string, any[]>|nil rows, string?, string?
function Table:join(other, on, opts) end
--- cairn.query(t):filter(w, ...)
---@param where? cairn.Where
---@return cairn.Query
function Table:where(where, ...) end
---@param column string
---@param kind? "hash"|"range"
---@return true|nil, string?, string?
function Table:create_index(column, kind) end
---@param column string
---@param kind? "hash"|"range"
---@return true|nil, string?, string?
function Table:drop_index(column, kind) end
---@return { column: string, kind: string }[]|nil indexes, string?, string?
function Table:indexes() end
---@param column string
---@param value any
---@return integer[]|nil ids, string?, string?
function Table:lookup(column, value) end
---@param conditions table<string, any>
---@return integer[]|nil ids, string?, string?
function Table:find(conditions) end
--- lo <= column <= hi; nil is no bound; a false flag makes that bound exclusive.
---@param column string
---@param lo any
---@param hi any
---@param lo_inclusive? boolean
---@param hi_inclusive? boolean
---@return integer[]|nil ids, string?, string?
function Table:range_find(column, lo, hi, lo_inclusive, hi_inclusive) end
--- The rows of a query column by column; a null is cairn.null (no holes).
---@param query? cairn.QuerySpec
---@return table<string, any[]>|nil columns, string?, string?
function Table:columns(query) end
--- Arrow IPC stream bytes of a query's rows (nil: every row).
---@param query? cairn.QuerySpec
---@return string|nil bytes, string?, string?
function Table:export_ipc(query) end

--- A query built by chaining (every method returns a new query).
---@class cairn.Query
local Query = {}
---@param where? cairn.Where
---@return cairn.Query
function Query:filter(where, ...) end
---@param where? cairn.Where
---@return cairn.Query
function Query:where(where, ...) end
---@return cairn.Query
function Query:select(...) end
---@return cairn.Query
function Query:order(...) end
---@param n integer
---@return cairn.Query
function Query:limit(n) end
---@param n integer
---@return cairn.Query
function Query:offset(n) end
--- Result rows i..j (1-based, inclusive; j nil: to the end).
---@param i integer
---@param j? integer
---@return cairn.Query
function Query:slice(i, j) end
---@return cairn.Query
function Query:group_by(...) end
---@return cairn.Query
function Query:aggregate(...) end
---@return cairn.QuerySpec
function Query:spec() end
---@return cairn.Row[]|nil rows, string?, string?
function Query:execute() end
---@return cairn.Row[]|nil rows, string?, string?
function Query:all() end
---@return cairn.Row|nil row, string?, string?
function Query:first() end
---@return integer|nil count, string?, string?
function Query:count() end
---@return integer[]|nil ids, string?, string?
function Query:ids() end
---@return table<string, any[]>|nil columns, string?, string?
function Query:columns() end

---@param t cairn.Table
---@return cairn.Query
function cairn.query(t) end

-- ---- versioned store -----------------------------------------------------------------------

--- A value: as a KV value (string: TEXT when valid UTF-8 else BYTES; table: JSON; or
--- cairn.bytes/text/json(...)). A digest: 64 lowercase hex characters.
---@class cairn.Repo
---@field path string
local Repo = {}
---@return true|nil, string?, string?
function Repo:close() end
---@return boolean
function Repo:is_open() end
---@return { tenants: integer, objects: integer, disk_bytes: integer }|nil stats, string?, string?
function Repo:stats() end
---Statistics in the Prometheus text exposition format 0.0.4 (`cairn_<engine>_<stat>{store="<path>"}`).
---@return string|nil text, string?, string?
function Repo:metrics() end
---@param tenant string
---@return true|nil, string?, string?
function Repo:init(tenant) end
---@return string[]|nil tenants, string?, string?
function Repo:tenants() end
---@param tenant string
---@return string[]|nil entries, string?, string?
function Repo:entries(tenant) end
---@param tenant string
---@param user string
---@param entry string
---@param value any
---@return string|nil digest, string?, string?
function Repo:save(tenant, user, entry, value) end
--- The head's value (or that version's), nil when absent.
---@param tenant string
---@param entry string
---@param digest? string
---@return any value, string? message, string? name
function Repo:load(tenant, entry, digest) end
---@param tenant string
---@param entry string
---@param digest? string
---@return any value, string? kind, string? name
function Repo:load_typed(tenant, entry, digest) end
---@param tenant string
---@param entry string
---@return boolean|nil, string?, string?
function Repo:exists(tenant, entry) end
--- The head digest, nil when absent.
---@param tenant string
---@param entry string
---@return string|nil digest, string?, string?
function Repo:digest(tenant, entry) end
---@param tenant string
---@param user string
---@param entry string
---@param key string|table
---@param value any
---@return string|nil digest, string?, string?
function Repo:put(tenant, user, entry, key, value) end
--- records: a list of {key, value} (a key given twice keeps its last value) or key = value.
---@param tenant string
---@param user string
---@param entry string
---@param records table
---@return string|nil digest, string?, string?
function Repo:put_many(tenant, user, entry, records) end
---@param tenant string
---@param entry string
---@param key string|table
---@param digest? string
---@return any value, string? message, string? name
function Repo:get(tenant, entry, key, digest) end
---@param tenant string
---@param entry string
---@param key string|table
---@param digest? string
---@return any value, string? kind, string? name
function Repo:get_typed(tenant, entry, key, digest) end
---@param tenant string
---@param user string
---@param entry string
---@param key string|table
---@return string|nil digest, string?, string?
function Repo:delete(tenant, user, entry, key) end
---@param tenant string
---@param entry string
---@param digest? string
---@return integer|nil count, string?, string?
function Repo:count(tenant, entry, digest) end
---@param tenant string
---@param entry string
---@param digest? string
---@return string[]|nil keys, string?, string?
function Repo:keys(tenant, entry, digest) end
--- for key, value in r:records(tenant, entry) do ... end (key order)
---@param tenant string
---@param entry string
---@param digest? string
---@return fun(): string?, any
function Repo:records(tenant, entry, digest) end
---@param tenant string
---@param from? string   nil: the empty collection
---@param to? string
---@return { added: string[], removed: string[], changed: string[] }|nil diff, string?, string?
function Repo:diff(tenant, from, to) end
---@param tenant string
---@param entry string
---@param max? integer
---@return { digest: string, parents: string[], user: string, time: integer, collection: boolean }[]|nil history, string?, string?
function Repo:history(tenant, entry, max) end
---@param tenant string
---@param name string
---@param digest string
---@return true|nil, string?, string?
function Repo:tag(tenant, name, digest) end
---@param tenant string
---@param name string
---@return string|nil digest, string?, string?
function Repo:tag_get(tenant, name) end
---@param grace_ms? integer
---@return integer|nil removed, string?, string?
function Repo:gc(grace_ms) end

return cairn
