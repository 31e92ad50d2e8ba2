// Table: the columnar table engine (a directory). Rows cross to the core in its JSON row form (Row.cs
// converts .NET values); every call returns an ExecResponse, as for KvStore and BlobStore, on the same
// engine-neutral base (NativeStore: lifetime, Begin/Commit/Rollback/BeginTransaction, Sync, Compact,
// Count, events after the call).
using System;
using System.Collections;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cairn.Native;

namespace Cairn;

/// <summary>Options of <see cref="Table.Open(TableOptions)"/> (Create, ReadOnly, Sync and LockTimeout
/// are those of every store).</summary>
public sealed class TableOptions : StoreOptions
{
    /// <summary>The table's directory. Required.</summary>
    public string? Path { get; set; }

    /// <summary>The schema of a new table: text (<c>"id i64 primary key, name string"</c>) or a list of
    /// <see cref="Column"/>s. For an existing table null, or the same schema (else Schema).</summary>
    public TableSchema? Schema { get; set; }

    /// <summary>Checkpoint the in-memory tail into column segments when it holds this many rows (0: the
    /// core's default, 122880).</summary>
    public uint CheckpointRows { get; set; }
}

/// <summary>Counters of a table (cairn_table_stats).</summary>
public sealed record TableStats(
    long Rows, long DeletedRows, ulong NextId, long RowGroups, long Segments, long TailRows,
    long DiskBytes, long WalBytes, long Checkpoints, int Columns, bool InTransaction);

/// <summary>What happened to a row.</summary>
public enum TableChange
{
    /// <summary>A row was inserted.</summary>
    Inserted = 1,
    /// <summary>A row was updated.</summary>
    Updated = 2,
    /// <summary>A row was deleted.</summary>
    Deleted = 3,
}

/// <summary>One change to a table, given to the callbacks of <see cref="Table.Subscribe"/>.</summary>
public sealed class TableEvent
{
    internal TableEvent(TableChange change, ulong id, Row? newRow, Row? oldRow)
    {
        Change = change;
        Id = id;
        NewRow = newRow;
        OldRow = oldRow;
    }

    /// <summary>Inserted, Updated or Deleted.</summary>
    public TableChange Change { get; }
    /// <summary>The row's id.</summary>
    public ulong Id { get; }
    /// <summary>The row after the change (Inserted, Updated), else null.</summary>
    public Row? NewRow { get; }
    /// <summary>The row before the change (Updated, Deleted), else null.</summary>
    public Row? OldRow { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Change} {Id}";
}

/// <summary>
/// A columnar table in one directory: typed columns, rows with ids (u64, from 1, never reused),
/// PRIMARY KEY / UNIQUE / NOT NULL constraints, a write-ahead log and immutable column segments.
/// Thread-safe; dispose to close. <c>foreach (var (id, row) in table)</c> walks the live rows in id
/// order (a snapshot; a failure throws <see cref="CairnException"/>), <see cref="Rows"/> returns them
/// as an ExecResponse.
/// </summary>
public sealed unsafe partial class Table : NativeStore, IEnumerable<(ulong Id, Row Row)>
{
    private readonly object _schemaLock = new();
    private Dictionary<string, ColumnInfo> _columns = new(StringComparer.Ordinal);
    private readonly Dictionary<ulong, long> _subscriptions = new(); // native id -> sink

    private Table(TableHandle h, string path) : base(h, path, "table") { }

    private int Call<TArgs>(scoped ref TArgs args, NativeCall<TableHandle, TArgs> call) where TArgs : allows ref struct =>
        Invoke(ref args, call);

    // ---- open / check --------------------------------------------------------------------------------

    /// <summary>Opens the existing table in directory <paramref name="path"/>, or creates it with
    /// <paramref name="schema"/>.</summary>
    public static ExecResponse<Table> Open(string path, TableSchema? schema = null) =>
        Open(new TableOptions { Path = path, Schema = schema });

    /// <summary>Opens (or creates, with <see cref="TableOptions.Schema"/>) the table described by
    /// <paramref name="options"/>.</summary>
    public static ExecResponse<Table> Open(TableOptions options)
    {
        if (options is null) return ExecResponse<Table>.Fail(CairnErrorCode.Invalid, "options is null");
        string? schema;
        try
        {
            schema = options.Schema?.ToNative();
        }
        catch (TableValueException e)
        {
            return ExecResponse<Table>.Fail(e.Code, e.Message);
        }
        if (schema is not null && schema.IndexOf('\0') >= 0)
            return ExecResponse<Table>.Fail(CairnErrorCode.Invalid, "schema contains a NUL character");
        var native = options.ToNative<CairnTableOptions>();
        native.CheckpointRows = options.CheckpointRows;
        ExecResponse<Table> r = OpenStore(options.Path, options, p =>
        {
            var n = native;
            nint s = schema is null ? 0 : Marshal.StringToCoTaskMemUTF8(schema);
            try
            {
                n.Schema = s;
                return (NativeMethods.cairn_table_open(out TableHandle h, p, &n), h);
            }
            finally
            {
                if (s != 0) Marshal.FreeCoTaskMem(s);
            }
        }, static (h, p) => new Table(h, p));
        if (!r.Success) return r;
        int rc = r.Result!.LoadColumns();
        if (rc == 0) return r;
        ExecResponse<Table> fail = r.Result!.Fail<Table>(rc);
        r.Result!.Dispose();
        return fail;
    }

    /// <summary>Verifies a table directory read-only (every CRC, the manifest, the WAL, and every
    /// constraint over the live rows): Success if sound, Corrupt with the detail in the message, Path
    /// if missing.</summary>
    public static ExecResponse Check(string path) => CheckPath(path, static p => NativeMethods.cairn_table_check(p));

    /// <summary>Repairs a closed table directory: verifies it as <see cref="Check"/> does, then rebuilds
    /// what is derived from its data (the manifest's copies of every segment's encoding and zone map).
    /// The result is the number of segment references rebuilt (0: nothing was wrong). Corrupt (file and
    /// offset in the message, nothing written) when the data is damaged, Locked beside a writer, Path
    /// if missing.</summary>
    public static ExecResponse<ulong> Repair(string path)
    {
        ulong rebuilt = 0;
        ExecResponse r = CheckPath(path, p => NativeMethods.cairn_table_repair(p, out rebuilt));
        return r.Success ? ExecResponse<ulong>.Ok(rebuilt) : ExecResponse<ulong>.From(r);
    }

    /// <summary>Opens the snapshot <paramref name="name"/> (taken with <see cref="NativeStore.Snapshot"/>)
    /// as a read-only table: reads see the rows as they were then, writes fail with ReadOnly. NotFound when
    /// there is no such snapshot. Dispose it like any table; it does not depend on this handle.</summary>
    public ExecResponse<Table> OpenSnapshot(string name) =>
        OpenSnapshotCore(name, static (h, p) => new Table((TableHandle)h, p));

    // ---- the columns the binding reads rows with ------------------------------------------------------

    private int LoadColumns()
    {
        var cols = new Dictionary<string, ColumnInfo>(StringComparer.Ordinal);
        int rc = Call(ref cols, static (h, ref cols) =>
        {
            int rc = NativeMethods.cairn_table_ncols(h, out nuint n);
            for (nuint i = 0; rc == 0 && i < n; i++)
            {
                rc = NativeMethods.cairn_table_column(h, i, out byte* name, out int type, out uint len, out int _);
                if (rc != 0) break;
                string s = Interop.Utf8(name);
                cols[s] = new ColumnInfo(s, (ColumnType)type, (int)len, (int)i);
            }
            return rc;
        });
        if (rc == 0)
        {
            lock (_schemaLock) _columns = cols;
        }
        return rc;
    }

    private ColumnInfo? Lookup(string name)
    {
        lock (_schemaLock)
        {
            if (_columns.TryGetValue(name, out ColumnInfo c)) return c;
        }
        // A column this handle has not seen (added through another handle): read the schema again.
        if (LoadColumns() == 0)
        {
            lock (_schemaLock)
            {
                if (_columns.TryGetValue(name, out ColumnInfo c)) return c;
            }
        }
        return null;
    }

    private Row ReadRow(ReadOnlySpan<byte> json) => TableValues.ReadRow(json, Lookup);

    /// <summary>The bytes of a NUL-terminated string the core allocated for the caller; freed here.</summary>
    private static byte[] TakeOwned(byte* p)
    {
        if (p == null) return Array.Empty<byte>();
        return Interop.TakeOwned(p, (nuint)MemoryMarshal.CreateReadOnlySpanFromNullTerminated(p).Length);
    }

    private static ExecResponse<T> Refused<T>(TableValueException e) => ExecResponse<T>.Fail(e.Code, e.Message);

    // ---- rows --------------------------------------------------------------------------------------------

    /// <summary>Inserts a row (column name -> value; columns left out take their default) and returns its
    /// id. Type/Range/Schema for a bad value or an unknown column, Constraint for a NOT NULL, UNIQUE or
    /// PRIMARY KEY violation (nothing changes then).</summary>
    public ExecResponse<ulong> Insert(IEnumerable<KeyValuePair<string, object?>> row)
    {
        var a = (Json: "", Id: 0UL);
        try { a.Json = TableValues.RowJson(row, Lookup); }
        catch (TableValueException e) { return Refused<ulong>(e); }
        ExecResponse r = Complete(Call(ref a, static (h, ref a) => NativeMethods.cairn_table_insert_json(h, a.Json, out a.Id)));
        return r.Success ? ExecResponse<ulong>.Ok(a.Id) : ExecResponse<ulong>.From(r);
    }

    /// <summary>Inserts rows, all or nothing (constraints are checked across the batch and against the
    /// table), and returns their ids in order.</summary>
    public ExecResponse<IReadOnlyList<ulong>> InsertMany(IEnumerable<IEnumerable<KeyValuePair<string, object?>>> rows)
    {
        var a = (Json: "", Ids: (byte[]?)null);
        try { a.Json = TableValues.RowsJson(rows, Lookup); }
        catch (TableValueException e) { return Refused<IReadOnlyList<ulong>>(e); }
        ExecResponse r = Complete(Call(ref a, static (h, ref a) =>
        {
            int rc = NativeMethods.cairn_table_insert_many_json(h, a.Json, out byte* ids);
            if (rc == 0) a.Ids = TakeOwned(ids);
            return rc;
        }));
        if (!r.Success) return ExecResponse<IReadOnlyList<ulong>>.From(r);
        var list = new List<ulong>();
        foreach (JsonElement e in JsonDocument.Parse(a.Ids!).RootElement.EnumerateArray()) list.Add(e.GetUInt64());
        return ExecResponse<IReadOnlyList<ulong>>.Ok(list);
    }

    /// <summary>Inserts the row, or updates the live row with the same primary key with the given
    /// columns; returns the row's id. Invalid if the table has no primary key or the row lacks it.</summary>
    public ExecResponse<ulong> Upsert(IEnumerable<KeyValuePair<string, object?>> row)
    {
        var a = (Json: "", Id: 0UL);
        try { a.Json = TableValues.RowJson(row, Lookup); }
        catch (TableValueException e) { return Refused<ulong>(e); }
        ExecResponse r = Complete(Call(ref a, static (h, ref a) => NativeMethods.cairn_table_upsert_json(h, a.Json, out a.Id)));
        return r.Success ? ExecResponse<ulong>.Ok(a.Id) : ExecResponse<ulong>.From(r);
    }

    /// <summary>The row with this id (every column); a missing or deleted row is Success=false,
    /// ErrorCode=NotFound.</summary>
    public ExecResponse<Row> Get(ulong id)
    {
        var a = (Id: id, Json: (byte[]?)null);
        int rc = Call(ref a, static (h, ref a) =>
        {
            int rc = NativeMethods.cairn_table_get_json(h, a.Id, out byte* row);
            if (rc == 0) a.Json = TakeOwned(row);
            return rc;
        });
        if (rc != 0) return Fail<Row>(rc);
        try { return ExecResponse<Row>.Ok(ReadRow(a.Json)); }
        catch (TableValueException e) { return Refused<Row>(e); }
    }

    /// <summary>Sets the given columns of row <paramref name="id"/> (the others keep their values);
    /// NotFound if the row is absent.</summary>
    public ExecResponse Update(ulong id, IEnumerable<KeyValuePair<string, object?>> changes)
    {
        var a = (Id: id, Json: "");
        try { a.Json = TableValues.RowJson(changes, Lookup); }
        catch (TableValueException e) { return ExecResponse.Fail(e.Code, e.Message); }
        return Complete(Call(ref a, static (h, ref a) => NativeMethods.cairn_table_update_json(h, a.Id, a.Json)));
    }

    /// <summary>Deletes row <paramref name="id"/>; NotFound if absent or already deleted.</summary>
    public ExecResponse Delete(ulong id) =>
        Complete(Call(ref id, static (h, ref id) => NativeMethods.cairn_table_delete(h, id)));

    /// <summary>Appends column batches, all or nothing: column name -> its values (arrays or lists of the
    /// column's .NET type, all of the same length; columns left out take their default). Returns the
    /// first new id; the rows get consecutive ids.</summary>
    public ExecResponse<ulong> Load(IReadOnlyDictionary<string, IEnumerable> columns) =>
        LoadAny(columns is null ? null : new List<KeyValuePair<string, IEnumerable>>(columns));

    /// <summary>Appends column batches given as (column, values) pairs: <c>table.Load(("id", new long[]
    /// { 1, 2 }), ("name", new[] { "a", "b" }))</c>. Returns the first new id.</summary>
    public ExecResponse<ulong> Load(params (string Column, IEnumerable Values)[] columns)
    {
        if (columns is null) return LoadAny(null);
        var pairs = new List<KeyValuePair<string, IEnumerable>>(columns.Length);
        foreach (var (c, v) in columns) pairs.Add(new KeyValuePair<string, IEnumerable>(c, v));
        return LoadAny(pairs);
    }

    /// <summary>Typed arrays straight to cairn_table_load_columns when every column is one (see
    /// TableLoad.cs), anything else through the JSON form.</summary>
    private ExecResponse<ulong> LoadAny(List<KeyValuePair<string, IEnumerable>>? columns) =>
        (columns is null ? null : TryLoadColumns(columns)) ?? LoadJson(columns);

    private ExecResponse<ulong> LoadJson(IEnumerable<KeyValuePair<string, IEnumerable>>? columns)
    {
        var a = (Json: "", Id: 0UL);
        try { a.Json = TableValues.ColumnsJson(columns!, Lookup); }
        catch (TableValueException e) { return Refused<ulong>(e); }
        ExecResponse r = Complete(Call(ref a, static (h, ref a) => NativeMethods.cairn_table_load_json(h, a.Json, out a.Id)));
        return r.Success ? ExecResponse<ulong>.Ok(a.Id) : ExecResponse<ulong>.From(r);
    }

    // ---- iteration ---------------------------------------------------------------------------------------

    /// <summary>The live rows in id order (a snapshot taken when the call starts).</summary>
    public ExecResponse<IReadOnlyList<(ulong Id, Row Row)>> Rows()
    {
        var list = new List<(ulong, Row)>();
        ExecResponse r = ForEach((id, row) => list.Add((id, row)));
        return r.Success ? ExecResponse<IReadOnlyList<(ulong Id, Row Row)>>.Ok(list) : ExecResponse<IReadOnlyList<(ulong Id, Row Row)>>.From(r);
    }

    /// <summary>Calls <paramref name="visit"/> for each live row in id order (a snapshot taken when the
    /// call starts); the visitor may call the table.</summary>
    public ExecResponse ForEach(Action<ulong, Row> visit)
    {
        ArgumentNullException.ThrowIfNull(visit);
        TableIterHandle? it = null;
        int rc = Call(ref it, static (h, ref it) => NativeMethods.cairn_table_iter_open(out it, h));
        ExecResponse? refused = null;
        ExecResponse r = Drain(rc, it!, it =>
        {
            int rc = NativeMethods.cairn_table_iter_next_json(it, out ulong id, out byte* row);
            if (rc != 0) return rc;
            Row decoded;
            try
            {
                decoded = ReadRow(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(row));
            }
            catch (TableValueException e)
            {
                refused = ExecResponse.Fail(e.Code, e.Message);
                return (int)CairnErrorCode.IterOver;
            }
            visit(id, decoded);
            return 0;
        });
        return refused ?? r;
    }

    /// <summary>Walks the live rows in id order (a snapshot taken at the first MoveNext); a failure
    /// throws <see cref="CairnException"/>.</summary>
    public IEnumerator<(ulong Id, Row Row)> GetEnumerator()
    {
        TableIterHandle? it = null;
        int rc = Call(ref it, static (h, ref it) => NativeMethods.cairn_table_iter_open(out it, h));
        if (rc != 0)
        {
            it?.Dispose();
            Status(rc).ThrowIfFailed();
        }
        using (it)
        {
            it!.Attach(Handle);
            while (NextRow(it, out ulong id, out Row? row)) yield return (id, row!);
        }
    }

    /// <summary>One step of the enumerator: false at the end, CairnException on a failure.</summary>
    private bool NextRow(TableIterHandle it, out ulong id, out Row? row)
    {
        row = null;
        int rc = NativeMethods.cairn_table_iter_next_json(it, out id, out byte* json);
        if (rc == (int)CairnErrorCode.IterOver) return false;
        if (rc != 0) Status(rc).ThrowIfFailed();
        try
        {
            row = ReadRow(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(json));
        }
        catch (TableValueException e)
        {
            throw new CairnException(e.Code, e.Message);
        }
        return true;
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    // ---- schema ------------------------------------------------------------------------------------------

    /// <summary>The columns, in order.</summary>
    public ExecResponse<IReadOnlyList<Column>> Schema()
    {
        ExecResponse<string> json = SchemaText(json: true);
        if (!json.Success) return ExecResponse<IReadOnlyList<Column>>.From(json);
        var list = new List<Column>();
        foreach (JsonNode? c in JsonNode.Parse(json.Result!)!.AsArray()) list.Add(Column.FromJson(c!.AsObject()));
        return ExecResponse<IReadOnlyList<Column>>.Ok(list);
    }

    /// <summary>The schema in its canonical text form ("id i64 primary key not null, ...").</summary>
    public ExecResponse<string> SchemaText() => SchemaText(json: false);

    private ExecResponse<string> SchemaText(bool json)
    {
        var a = (Json: json ? 1 : 0, Text: "");
        int rc = Call(ref a, static (h, ref a) =>
        {
            int rc = NativeMethods.cairn_table_schema(h, a.Json, out byte* p);
            if (rc == 0) a.Text = System.Text.Encoding.UTF8.GetString(TakeOwned(p));
            return rc;
        });
        return Result(rc, a.Text);
    }

    /// <summary>Adds a column given in the schema text form of one column (<c>"score f64 default 0"</c>);
    /// existing rows get its default. Exists if the name is taken, Txn inside a transaction.</summary>
    public ExecResponse AddColumn(string spec)
    {
        if (spec is null) return ExecResponse.Fail(CairnErrorCode.Invalid, "spec is null");
        if (spec.IndexOf('\0') >= 0) return ExecResponse.Fail(CairnErrorCode.Invalid, "spec contains a NUL character");
        ExecResponse r = Status(Call(ref spec, static (h, ref s) => NativeMethods.cairn_table_add_column(h, s)));
        if (r.Success) LoadColumns();
        return r;
    }

    /// <summary>Adds a column (see <see cref="AddColumn(string)"/>).</summary>
    public ExecResponse AddColumn(Column column)
    {
        if (column is null) return ExecResponse.Fail(CairnErrorCode.Invalid, "column is null");
        string spec;
        try { spec = column.ToString(); }
        catch (TableValueException e) { return ExecResponse.Fail(e.Code, e.Message); }
        return AddColumn(spec);
    }

    // ---- transactions, stats -------------------------------------------------------------------------

    // InTransaction() is NativeStore's (cairn_table_in_txn through the handle's shared verbs).

    /// <summary>Counters of the table.</summary>
    public ExecResponse<TableStats> Stats()
    {
        var s = CairnTableStats.Init();
        int rc = Call(ref s, static (h, ref s) => NativeMethods.cairn_table_stats(h, ref s));
        return Result(rc, new TableStats((long)s.Rows, (long)s.DeletedRows, s.NextId, (long)s.RowGroups,
            (long)s.Segments, (long)s.TailRows, (long)s.DiskBytes, (long)s.WalBytes, (long)s.Checkpoints,
            (int)s.Columns, s.InTxn != 0));
    }

    // ---- events ------------------------------------------------------------------------------------------

    private sealed class RawEvent
    {
        public int Event;
        public ulong Id;
        public byte[]? NewRow, OldRow;
    }

    [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
    private static void OnNativeEvent(byte* ctx, int ev, ulong id, byte* newRow, byte* oldRow)
    {
        // Never let anything escape into native code: copy the borrowed rows and record (the base
        // delivers after the call that made the change returned).
        try
        {
            Record(ctx, new RawEvent
            {
                Event = ev,
                Id = id,
                NewRow = newRow == null ? null : MemoryMarshal.CreateReadOnlySpanFromNullTerminated(newRow).ToArray(),
                OldRow = oldRow == null ? null : MemoryMarshal.CreateReadOnlySpanFromNullTerminated(oldRow).ToArray(),
            });
        }
        catch
        {
        }
    }

    /// <summary>Calls <paramref name="handler"/> once per changed row after the call that changed it
    /// returned (inside a transaction: after Commit, in order; never for a failed or rolled-back change),
    /// on the thread that made the change; the handler may call the table. Returns the subscription's id
    /// for <see cref="Unsubscribe"/>. An exception a handler throws is rethrown from the call that made
    /// the change (the change stays made).</summary>
    public ExecResponse<ulong> Subscribe(Action<TableEvent> handler)
    {
        if (handler is null) return ExecResponse<ulong>.Fail(CairnErrorCode.Invalid, "handler is null");
        long sink = AddSink(p =>
        {
            var e = (RawEvent)p;
            Row? newRow, oldRow;
            try
            {
                newRow = e.NewRow is null ? null : ReadRow(e.NewRow);
                oldRow = e.OldRow is null ? null : ReadRow(e.OldRow);
            }
            catch (TableValueException x)
            {
                throw new CairnException(x.Code, x.Message);
            }
            handler(new TableEvent((TableChange)e.Event, e.Id, newRow, oldRow));
        });
        var a = (Ctx: sink, Id: 0UL);
        int rc = Call(ref a, static (h, ref a) => NativeMethods.cairn_table_subscribe(h, &OnNativeEvent, (byte*)a.Ctx, out a.Id));
        if (rc != 0)
        {
            RemoveSink(sink);
            return Fail<ulong>(rc);
        }
        lock (_subscriptions) _subscriptions[a.Id] = sink;
        return ExecResponse<ulong>.Ok(a.Id);
    }

    /// <summary>Ends the subscription <paramref name="id"/> (its handler gets no more events); NotFound
    /// for an unknown id.</summary>
    public ExecResponse Unsubscribe(ulong id)
    {
        ExecResponse r = Status(Call(ref id, static (h, ref id) => NativeMethods.cairn_table_unsubscribe(h, id)));
        if (r.Success)
        {
            lock (_subscriptions)
            {
                if (_subscriptions.Remove(id, out long sink)) RemoveSink(sink);
            }
        }
        return r;
    }
}
