// Arrow export: the table's rows through the Arrow C data interface (cairn_table_export_stream /
// cairn_table_export_column; docs/arrow.md) into Apache.Arrow's objects, without going through JSON.
// The stream's batches are imported by Apache.Arrow's C importer: each batch keeps the core's buffers
// (segment memory mapped without a copy where the core could) until it is disposed, and the core's
// release callback runs exactly once per struct, from Apache.Arrow's side. A column export is a view
// over the one array the core made, with spans over its buffers, pinned until the view is disposed.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Apache.Arrow;
using Apache.Arrow.C;
using Apache.Arrow.Ipc;
using Cairn.Native;

namespace Cairn;

/// <summary>The record batches of one export (<see cref="Table.ToArrow(string?)"/>) and their schema.
/// The batches hold the core's memory until disposed: dispose this (it disposes every batch), or take
/// the batches and dispose each. They do not depend on the table: they stay valid after it is closed.</summary>
public sealed class ArrowBatches : IReadOnlyList<RecordBatch>, IDisposable
{
    private readonly List<RecordBatch> _batches;

    internal ArrowBatches(Schema schema, List<RecordBatch> batches)
    {
        Schema = schema;
        _batches = batches;
        long n = 0;
        foreach (RecordBatch b in batches) n += b.Length;
        RowCount = n;
    }

    /// <summary>The stream's schema: <c>_id</c> (UInt64) then every column by default, else the query's
    /// columns (or its result's columns).</summary>
    public Schema Schema { get; }

    /// <summary>Rows in all batches.</summary>
    public long RowCount { get; }

    /// <summary>Number of batches (one per row group with live rows, plus the rows not yet checkpointed).</summary>
    public int Count => _batches.Count;

    /// <summary>Batch <paramref name="index"/>.</summary>
    public RecordBatch this[int index] => _batches[index];

    /// <summary>The batches as an Apache.Arrow table (sharing their memory: dispose this object, not the
    /// table's arrays).</summary>
    public Apache.Arrow.Table ToTable() => Apache.Arrow.Table.TableFromRecordBatches(Schema, _batches);

    /// <inheritdoc />
    public IEnumerator<RecordBatch> GetEnumerator() => _batches.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Disposes every batch (releasing the core's arrays). Calling it again does nothing.</summary>
    public void Dispose()
    {
        foreach (RecordBatch b in _batches) b.Dispose();
        _batches.Clear();
    }
}

/// <summary>
/// One column of every live row as one contiguous Arrow array (<see cref="Table.ExportColumn"/>), read in
/// place: <see cref="Values{T}"/> is a span over the array's value buffer, <see cref="IsValid"/> reads its
/// validity bitmap. The memory belongs to the core (values copied once at export, independent of the table
/// afterwards) and stays valid until <see cref="Dispose"/>, which releases it: a span taken before must not
/// be used after. Not thread-safe against a concurrent Dispose.
/// </summary>
public sealed unsafe class ArrowColumn : IDisposable
{
    private CArrowSchema* _schema;
    private CArrowArray* _array;

    internal ArrowColumn(CArrowSchema* schema, CArrowArray* array)
    {
        _schema = schema;
        _array = array;
        Name = Marshal.PtrToStringUTF8((IntPtr)schema->name) ?? "";
        Format = Marshal.PtrToStringUTF8((IntPtr)schema->format) ?? "";
        Length = checked((int)array->length);
        NullCount = array->null_count;
    }

    /// <summary>Releases the column if it was never disposed.</summary>
    ~ArrowColumn() => Release();

    /// <summary>The column's name.</summary>
    public string Name { get; }

    /// <summary>The Arrow format string of the column ("l" Int64, "g" Double, "U" LargeUtf8, "Z"
    /// LargeBinary, "w:N" FixedSizeBinary, "b" Boolean, "tsu:UTC" Timestamp in microseconds, ...).</summary>
    public string Format { get; }

    /// <summary>Number of values (the table's live rows).</summary>
    public int Length { get; }

    /// <summary>Number of nulls.</summary>
    public long NullCount { get; }

    private CArrowArray* Array => _array != null ? _array : throw new ObjectDisposedException(nameof(ArrowColumn));

    private ReadOnlySpan<byte> Buffer(int i, long bytes)
    {
        CArrowArray* a = Array;
        if (i >= a->n_buffers || a->buffers[i] == null || bytes == 0) return ReadOnlySpan<byte>.Empty;
        return new ReadOnlySpan<byte>(a->buffers[i], checked((int)bytes));
    }

    /// <summary>The values of a fixed-width column as a span of <typeparamref name="T"/>, which must be the
    /// column's own type (sbyte, byte, short, ushort, int, uint, long, ulong, float, double; long for a
    /// timestamp, in microseconds since the Unix epoch). A null's slot holds an unspecified value: check
    /// <see cref="IsValid"/>. InvalidOperationException for another type, a bool, string or bytes column.</summary>
    public ReadOnlySpan<T> Values<T>() where T : unmanaged
    {
        Type want = Format switch
        {
            "c" => typeof(sbyte), "C" => typeof(byte), "s" => typeof(short), "S" => typeof(ushort),
            "i" => typeof(int), "I" => typeof(uint), "l" => typeof(long), "L" => typeof(ulong),
            "f" => typeof(float), "g" => typeof(double),
            _ when Format.StartsWith("ts", StringComparison.Ordinal) => typeof(long),
            _ => throw new InvalidOperationException($"column '{Name}' (Arrow format {Format}) has no fixed-width values: use Data/Offsets or GetBoolean"),
        };
        if (typeof(T) != want)
            throw new InvalidOperationException($"column '{Name}' holds {want.Name} values, not {typeof(T).Name}");
        CArrowArray* a = Array;
        long off = a->offset;
        return MemoryMarshal.Cast<byte, T>(Buffer(1, (off + Length) * sizeof(T))).Slice((int)off, Length);
    }

    /// <summary>The validity bitmap (least significant bit first, bit i for row offset+i); empty when the
    /// column has no null.</summary>
    public ReadOnlySpan<byte> ValidityBitmap => NullCount == 0 ? ReadOnlySpan<byte>.Empty : Buffer(0, (Array->offset + Length + 7) / 8);

    /// <summary>False where row <paramref name="i"/> is null.</summary>
    public bool IsValid(int i)
    {
        if ((uint)i >= (uint)Length) throw new ArgumentOutOfRangeException(nameof(i));
        ReadOnlySpan<byte> bits = ValidityBitmap;
        if (bits.IsEmpty) return true;
        long j = Array->offset + i;
        return (bits[(int)(j >> 3)] >> (int)(j & 7) & 1) != 0;
    }

    /// <summary>Value <paramref name="i"/> of a bool column (bit-packed in Arrow).</summary>
    public bool GetBoolean(int i)
    {
        if (Format != "b") throw new InvalidOperationException($"column '{Name}' (Arrow format {Format}) is not bool");
        if ((uint)i >= (uint)Length) throw new ArgumentOutOfRangeException(nameof(i));
        long j = Array->offset + i;
        return (Buffer(1, (Array->offset + Length + 7) / 8)[(int)(j >> 3)] >> (int)(j & 7) & 1) != 0;
    }

    /// <summary>The Length+1 offsets into <see cref="Data"/> of a string or bytes column ("U" / "Z": 64-bit
    /// offsets); value i is Data[Offsets[i]..Offsets[i+1]].</summary>
    public ReadOnlySpan<long> Offsets
    {
        get
        {
            if (Format is not ("U" or "Z")) throw new InvalidOperationException($"column '{Name}' (Arrow format {Format}) has no offsets");
            long off = Array->offset;
            return MemoryMarshal.Cast<byte, long>(Buffer(1, (off + Length + 1) * 8)).Slice((int)off, Length + 1);
        }
    }

    /// <summary>The bytes of a string or bytes column (what <see cref="Offsets"/> index), or of a
    /// bytes:N column (N bytes per row, from the array's offset on).</summary>
    public ReadOnlySpan<byte> Data
    {
        get
        {
            if (Format is "U" or "Z")
            {
                ReadOnlySpan<long> o = Offsets;
                return Buffer(2, o[o.Length - 1]);
            }
            if (Format.StartsWith("w:", StringComparison.Ordinal))
            {
                int n = int.Parse(Format.AsSpan(2), provider: System.Globalization.CultureInfo.InvariantCulture);
                return Buffer(1, (Array->offset + Length) * n).Slice((int)(Array->offset * n));
            }
            throw new InvalidOperationException($"column '{Name}' (Arrow format {Format}) has no variable-width data");
        }
    }

    /// <summary>Value <paramref name="i"/> of a string column (null for a null).</summary>
    public string? GetString(int i)
    {
        if (Format != "U") throw new InvalidOperationException($"column '{Name}' (Arrow format {Format}) is not a string column");
        if (!IsValid(i)) return null;
        ReadOnlySpan<long> o = Offsets;
        return System.Text.Encoding.UTF8.GetString(Data.Slice((int)o[i], (int)(o[i + 1] - o[i])));
    }

    private void Release()
    {
        if (_array != null)
        {
            CArrowArray.Free(_array); // calls the core's release, then frees the struct
            _array = null;
        }
        if (_schema != null)
        {
            CArrowSchema.Free(_schema);
            _schema = null;
        }
    }

    /// <summary>Releases the column's memory (the core's release callbacks run here, once).</summary>
    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }
}

public sealed unsafe partial class Table
{
    /// <summary>The live rows as Apache.Arrow record batches, read through the Arrow C stream
    /// (cairn_table_export_stream): every row with <c>_id</c> then every column when
    /// <paramref name="query"/> is null, else a query JSON as for queries (<c>"where"</c>, <c>"params"</c>,
    /// <c>"columns"</c> select rows and columns; with order, limit, offset or aggregates the result is one
    /// batch). Plain segments reach the batches without a copy. Dispose the result to release the memory;
    /// it stays valid after the table is closed. Schema / Invalid / Type for a bad query.</summary>
    public ExecResponse<ArrowBatches> ToArrow(string? query = null)
    {
        if (query is not null && ArgProblem(query, "query") is ExecResponse bad) return ExecResponse<ArrowBatches>.From(bad);
        var a = (Query: query, Result: (ArrowBatches?)null, Error: (ExecResponse?)null);
        int rc = Call(ref a, static (h, ref a) =>
        {
            CArrowArrayStream* s = CArrowArrayStream.Create();
            try
            {
                int rc = NativeMethods.cairn_table_export_stream(h, a.Query, s);
                if (rc != 0) return rc;
                var batches = new List<RecordBatch>();
                try
                {
                    using IArrowArrayStream st = CArrowArrayStreamImporter.ImportArrayStream(s);
                    RecordBatch? b;
                    while ((b = st.ReadNextRecordBatchAsync().AsTask().GetAwaiter().GetResult()) != null) batches.Add(b);
                    a.Result = new ArrowBatches(st.Schema, batches);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    foreach (RecordBatch b in batches) b.Dispose();
                    a.Error = ImportFailure(e);
                }
                return 0;
            }
            finally
            {
                CArrowArrayStream.Free(s); // releases the stream if the import did not take it
            }
        });
        if (rc != 0) return Fail<ArrowBatches>(rc);
        if (a.Error is not null) return ExecResponse<ArrowBatches>.From(a.Error);
        return ExecResponse<ArrowBatches>.Ok(a.Result!);
    }

    /// <summary><see cref="ToArrow(string?)"/> with a typed query (its where, params and columns select
    /// rows and columns; order, limit, offset or aggregates make the result one batch).</summary>
    public ExecResponse<ArrowBatches> ToArrow(TableQuery query)
    {
        var (json, error) = query is null ? (null, ExecResponse.Fail(CairnErrorCode.Invalid, "query is null")) : Json(w => query.Write(w, columnar: false));
        return error is not null ? ExecResponse<ArrowBatches>.From(error) : ToArrow(json);
    }

    /// <summary><see cref="ToArrow(string?)"/> with the query as the C API's object: a dictionary of its
    /// keys (as <see cref="Query(IEnumerable{KeyValuePair{string, object}})"/> takes it).</summary>
    public ExecResponse<ArrowBatches> ToArrow(IEnumerable<KeyValuePair<string, object?>> query)
    {
        var (json, error) = query is null ? (null, ExecResponse.Fail(CairnErrorCode.Invalid, "query is null")) : Json(w => QueryJson.WriteNode(w, query, "query"));
        return error is not null ? ExecResponse<ArrowBatches>.From(error) : ToArrow(json);
    }

    /// <summary>The rows as a stream of Apache.Arrow record batches read one at a time (see
    /// <see cref="ToArrow(string?)"/> for <paramref name="query"/>): each batch is built when it is asked for
    /// from a snapshot taken now (later writes do not change it). The stream holds the table open: dispose
    /// it (the table's Dispose closes the table only after that). Each batch is the caller's to
    /// dispose.</summary>
    public ExecResponse<IArrowArrayStream> ExportStream(string? query = null)
    {
        if (query is not null && ArgProblem(query, "query") is ExecResponse bad) return ExecResponse<IArrowArrayStream>.From(bad);
        var a = (Query: query, Stream: (IArrowArrayStream?)null, Error: (ExecResponse?)null);
        int rc = Call(ref a, static (h, ref a) =>
        {
            CArrowArrayStream* s = CArrowArrayStream.Create();
            try
            {
                int rc = NativeMethods.cairn_table_export_stream(h, a.Query, s);
                if (rc != 0) return rc;
                try
                {
                    a.Stream = new TableArrowStream(CArrowArrayStreamImporter.ImportArrayStream(s), h);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    a.Error = ImportFailure(e);
                }
                return 0;
            }
            finally
            {
                CArrowArrayStream.Free(s);
            }
        });
        if (rc != 0) return Fail<IArrowArrayStream>(rc);
        if (a.Error is not null) return ExecResponse<IArrowArrayStream>.From(a.Error);
        return ExecResponse<IArrowArrayStream>.Ok(a.Stream!);
    }

    /// <summary>One column of every live row as one contiguous array (cairn_table_export_column: values
    /// copied once; dictionary columns decoded), read in place through spans until the view is disposed.
    /// Schema for an unknown column.</summary>
    public ExecResponse<ArrowColumn> ExportColumn(string column)
    {
        if (ArgProblem(column, "column") is ExecResponse bad) return ExecResponse<ArrowColumn>.From(bad);
        var a = (Column: column, Result: (ArrowColumn?)null);
        int rc = Call(ref a, static (h, ref a) =>
        {
            CArrowSchema* schema = CArrowSchema.Create();
            CArrowArray* array = CArrowArray.Create();
            int rc = NativeMethods.cairn_table_export_column(h, a.Column, schema, array);
            if (rc != 0)
            {
                CArrowArray.Free(array);
                CArrowSchema.Free(schema);
                return rc;
            }
            a.Result = new ArrowColumn(schema, array);
            return 0;
        });
        return rc == 0 ? ExecResponse<ArrowColumn>.Ok(a.Result!) : Fail<ArrowColumn>(rc);
    }

    /// <summary>A failure while importing (a get_next error of the core, or a type Apache.Arrow cannot
    /// import): the core's code when it set one on this thread, else IO.</summary>
    private static ExecResponse ImportFailure(Exception e)
    {
        int code = NativeMethods.cairn_errcode();
        if (e is NotSupportedException) return ExecResponse.Fail(CairnErrorCode.Unsupported, "Apache.Arrow cannot import this export: " + e.Message);
        return ExecResponse.Fail(code < 0 ? (CairnErrorCode)code : CairnErrorCode.IO, "Arrow export: " + e.Message);
    }

    /// <summary>An imported stream that holds a reference on the table handle, so that the table is not
    /// closed (its memory freed) under a stream still in use.</summary>
    private sealed class TableArrowStream : IArrowArrayStream
    {
        private readonly IArrowArrayStream _inner;
        private SafeHandle? _table;

        public TableArrowStream(IArrowArrayStream inner, SafeHandle table)
        {
            bool added = false;
            table.DangerousAddRef(ref added);
            _inner = inner;
            _table = added ? table : null;
        }

        public Schema Schema => _inner.Schema;

        public ValueTask<RecordBatch> ReadNextRecordBatchAsync(CancellationToken cancellationToken = default)
        {
            if (_table is null) throw new ObjectDisposedException(nameof(IArrowArrayStream));
            return _inner.ReadNextRecordBatchAsync(cancellationToken);
        }

        public void Dispose()
        {
            SafeHandle? t = Interlocked.Exchange(ref _table, null);
            if (t is null) return;
            _inner.Dispose();
            t.DangerousRelease();
        }
    }
}
