// Table indexes: hash and range indexes on one column each (cairn_table_create_index & co.), and the
// lookups that use them (and scan without them, with the same answer). Values cross as the JSON row
// form, converted from .NET values as Insert converts them (Row.cs), so a lookup takes exactly what a
// row does; ids come back ascending.
using System;
using System.Buffers;
using System.Collections.Generic;
using System.Text;
using System.Text.Json;
using Cairn.Native;

namespace Cairn;

/// <summary>The kind of a table index.</summary>
public enum IndexKind
{
    /// <summary>Value -> ids (equality lookups: <see cref="Table.Lookup(string, object?)"/>, <see cref="Table.Find"/>).
    /// A PRIMARY KEY or UNIQUE column has one already (it enforces the constraint).</summary>
    Hash = 1,
    /// <summary>Sorted by value (<see cref="Table.RangeFind(string, object?, object?, bool, bool)"/>, and equality).</summary>
    Range = 2,
}

/// <summary>One index of a table: its column, its kind, and whether it is the implicit hash index of a
/// PRIMARY KEY / UNIQUE column (which cannot be dropped).</summary>
public sealed record IndexInfo(string Column, IndexKind Kind, bool Unique);

public sealed unsafe partial class Table
{
    /// <summary>Creates an index on <paramref name="column"/>; it follows every later write and exists again
    /// after reopen. Exists if that index exists (a PRIMARY KEY / UNIQUE column has its hash index
    /// already), Schema for an unknown column, Invalid for a kind other than Hash or Range, Txn inside a
    /// transaction, ReadOnly.</summary>
    public ExecResponse CreateIndex(string column, IndexKind kind = IndexKind.Hash)
    {
        if (ArgProblem(column, "column") is ExecResponse bad) return bad;
        var a = (Column: column, Kind: (int)kind);
        return Complete(Call(ref a, static (h, ref a) => NativeMethods.cairn_table_create_index(h, a.Column, a.Kind)));
    }

    /// <summary>Drops an index. NotFound if there is no such index, Invalid for the implicit hash index of
    /// a PRIMARY KEY / UNIQUE column.</summary>
    public ExecResponse DropIndex(string column, IndexKind kind = IndexKind.Hash)
    {
        if (ArgProblem(column, "column") is ExecResponse bad) return bad;
        var a = (Column: column, Kind: (int)kind);
        return Complete(Call(ref a, static (h, ref a) => NativeMethods.cairn_table_drop_index(h, a.Column, a.Kind)));
    }

    /// <summary>The table's indexes, in schema order, hash before range.</summary>
    public ExecResponse<IReadOnlyList<IndexInfo>> Indexes()
    {
        var a = (Json: (byte[]?)null, Dummy: 0);
        int rc = Call(ref a, static (h, ref a) =>
        {
            int rc = NativeMethods.cairn_table_indexes(h, out byte* p);
            if (rc == 0) a.Json = TakeOwned(p);
            return rc;
        });
        if (rc != 0) return Fail<IReadOnlyList<IndexInfo>>(rc);
        var list = new List<IndexInfo>();
        try
        {
            using var doc = JsonDocument.Parse(a.Json!);
            foreach (JsonElement e in doc.RootElement.EnumerateArray())
            {
                string kind = e.GetProperty("kind").GetString()!;
                list.Add(new IndexInfo(e.GetProperty("column").GetString()!,
                    kind == "range" ? IndexKind.Range : kind == "hash" ? IndexKind.Hash : throw new FormatException("kind " + kind),
                    e.TryGetProperty("unique", out JsonElement u) && u.ValueKind == JsonValueKind.True));
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            return ExecResponse<IReadOnlyList<IndexInfo>>.Fail(CairnErrorCode.Internal, "the index list does not parse: " + e.Message);
        }
        return ExecResponse<IReadOnlyList<IndexInfo>>.Ok(list);
    }

    /// <summary>The ids (ascending) of the live rows whose <paramref name="column"/> equals
    /// <paramref name="value"/> (a value as a row takes it; null matches nothing), by exact value: 2.0
    /// finds an integer column's 2, 2.5 nothing. Uses a hash index when there is one, else scans.</summary>
    public ExecResponse<IReadOnlyList<ulong>> Lookup(string column, object? value)
    {
        if (ArgProblem(column, "column") is ExecResponse bad) return ExecResponse<IReadOnlyList<ulong>>.From(bad);
        var a = (Column: column, Value: "", Out: (byte[]?)null);
        try { a.Value = ValueJson(value, column); }
        catch (TableValueException e) { return Refused<IReadOnlyList<ulong>>(e); }
        int rc = Call(ref a, static (h, ref a) =>
        {
            int rc = NativeMethods.cairn_table_lookup_json(h, a.Column, a.Value, out byte* p);
            if (rc == 0) a.Out = TakeOwned(p);
            return rc;
        });
        return Ids(rc, a.Out);
    }

    /// <summary>The ids (ascending) of the live rows matching every <c>column = value</c> of
    /// <paramref name="conditions"/> (an empty set: every live row). Uses a hash or range index where there
    /// is one, else scans (the same answer).</summary>
    public ExecResponse<IReadOnlyList<ulong>> Find(IEnumerable<KeyValuePair<string, object?>> conditions)
    {
        var a = (Json: "", Out: (byte[]?)null);
        try { a.Json = TableValues.RowJson(conditions, Lookup); }
        catch (TableValueException e) { return Refused<IReadOnlyList<ulong>>(e); }
        int rc = Call(ref a, static (h, ref a) =>
        {
            int rc = NativeMethods.cairn_table_find_json(h, a.Json, out byte* p);
            if (rc == 0) a.Out = TakeOwned(p);
            return rc;
        });
        return Ids(rc, a.Out);
    }

    /// <summary>The ids (ascending) of the live rows with <paramref name="lo"/> &lt;= column &lt;=
    /// <paramref name="hi"/>; a null bound is no bound, <paramref name="loOpen"/> / <paramref name="hiOpen"/>
    /// make a bound exclusive. Numbers compare by exact value (lo 1.5 on an integer column means &gt;= 2),
    /// strings and bytes bytewise; nulls are never in a range. Uses a range index when there is one, else
    /// scans.</summary>
    public ExecResponse<IReadOnlyList<ulong>> RangeFind(string column, object? lo, object? hi, bool loOpen = false, bool hiOpen = false)
    {
        if (ArgProblem(column, "column") is ExecResponse bad) return ExecResponse<IReadOnlyList<ulong>>.From(bad);
        var a = (Column: column, Lo: (string?)null, Hi: (string?)null, Flags: (loOpen ? 1 : 0) | (hiOpen ? 2 : 0), Out: (byte[]?)null);
        try
        {
            a.Lo = lo is null ? null : ValueJson(lo, column);
            a.Hi = hi is null ? null : ValueJson(hi, column);
        }
        catch (TableValueException e) { return Refused<IReadOnlyList<ulong>>(e); }
        int rc = Call(ref a, static (h, ref a) =>
        {
            int rc = NativeMethods.cairn_table_range_find_json(h, a.Column, a.Lo, a.Hi, a.Flags, out byte* p);
            if (rc == 0) a.Out = TakeOwned(p);
            return rc;
        });
        return Ids(rc, a.Out);
    }

    /// <summary>One value in the JSON row form, typed by its column as Insert types it (a date for a
    /// timestamp column; an unknown column is left to the core, which answers Schema).</summary>
    private string ValueJson(object? value, string column)
    {
        ColumnType? type = Lookup(column)?.Type;
        var buf = new ArrayBufferWriter<byte>(64);
        try
        {
            using (var w = new Utf8JsonWriter(buf, TableValues.WriterOptions)) TableValues.WriteValue(w, value, column, type);
        }
        catch (ArgumentException e)
        {
            throw new TableValueException(CairnErrorCode.Invalid, "not valid UTF-16 text (unpaired surrogate): " + e.Message);
        }
        return Encoding.UTF8.GetString(buf.WrittenSpan);
    }

    /// <summary>A JSON array of ids from the core as a list.</summary>
    private ExecResponse<IReadOnlyList<ulong>> Ids(int rc, byte[]? json)
    {
        if (rc != 0) return Fail<IReadOnlyList<ulong>>(rc);
        var list = new List<ulong>();
        try
        {
            using var doc = JsonDocument.Parse(json!);
            foreach (JsonElement e in doc.RootElement.EnumerateArray()) list.Add(e.GetUInt64());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return ExecResponse<IReadOnlyList<ulong>>.Fail(CairnErrorCode.Internal, "the id list does not parse: " + e.Message);
        }
        return ExecResponse<IReadOnlyList<ulong>>.Ok(list);
    }
}
