// Table.Load's fast path: when every column of a batch is a .NET array of exactly its column's type
// (long[] for i64, double[] for f64, bool[] for bool, string[] for string, byte[][] for bytes and
// bytes:N, DateTime[] for timestamp, ...), the arrays go to cairn_table_load_columns in the core's
// column layout (numbers pinned in place; strings and bytes concatenated with Arrow-style offsets;
// nulls of reference arrays as validity bitmaps) instead of being written as JSON and parsed again.
// Anything else (lists, object[], nullable arrays, a type that does not match the column) takes the
// JSON path, which gives the same answers.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using Cairn.Native;

namespace Cairn;

public sealed unsafe partial class Table
{
    /// <summary>One column prepared for load_columns: the array to pin, its validity bitmap and offsets.</summary>
    private readonly record struct Prepared(int Index, Array Data, byte[]? Validity, ulong[]? Offsets);

    private ExecResponse<ulong>? TryLoadColumns(List<KeyValuePair<string, IEnumerable>> columns)
    {
        if (columns.Count == 0) return null;
        int ncols;
        lock (_schemaLock) ncols = _columns.Count;
        var prepared = new List<Prepared>(columns.Count);
        var used = new HashSet<int>();
        long n = -1;
        try
        {
            foreach (var (name, values) in columns)
            {
                if (name is null || values is null) return null;
                ColumnInfo info;
                lock (_schemaLock)
                {
                    if (!_columns.TryGetValue(name, out info)) return null;
                }
                if (info.Index < 0 || info.Index >= ncols || !used.Add(info.Index)) return null;
                Prepared? p = Prepare(info, values, out long len);
                if (p is null) return null;
                if (n >= 0 && len != n) return null;
                n = len;
                prepared.Add(p.Value);
            }
        }
        catch (TableValueException e)
        {
            return Refused<ulong>(e);
        }
        if (n <= 0) return null;

        var pins = new List<GCHandle>(prepared.Count * 3);
        nint* block = (nint*)NativeMemory.AllocZeroed((nuint)(3 * ncols), (nuint)sizeof(nint));
        try
        {
            nint* data = block, validity = block + ncols, offsets = block + 2 * ncols;
            foreach (Prepared p in prepared)
            {
                data[p.Index] = Pin(p.Data, pins);
                if (p.Validity is not null) validity[p.Index] = Pin(p.Validity, pins);
                if (p.Offsets is not null) offsets[p.Index] = Pin(p.Offsets, pins);
            }
            var a = (N: (nuint)n, Block: (nint)block, Cols: ncols, Id: 0UL);
            ExecResponse r = Complete(Call(ref a, static (h, ref a) =>
            {
                nint* b = (nint*)a.Block;
                return NativeMethods.cairn_table_load_columns(h, a.N, (byte**)b, (byte**)(b + a.Cols), (byte**)(b + 2 * a.Cols), out a.Id);
            }));
            return r.Success ? ExecResponse<ulong>.Ok(a.Id) : ExecResponse<ulong>.From(r);
        }
        finally
        {
            foreach (GCHandle g in pins) g.Free();
            NativeMemory.Free(block);
        }
    }

    private static nint Pin(Array a, List<GCHandle> pins)
    {
        GCHandle g = GCHandle.Alloc(a, GCHandleType.Pinned);
        pins.Add(g);
        // An empty array still needs a valid address (n > 0 rows of zero bytes each: all empty strings).
        return a.Length == 0 ? (nint)NonEmpty : g.AddrOfPinnedObject();
    }

    private static readonly byte* NonEmpty = (byte*)NativeMemory.AllocZeroed(8);

    /// <summary>The column's values in the core's layout, or null when they are not an array of exactly
    /// the column's .NET type (the JSON path then answers).</summary>
    private static Prepared? Prepare(ColumnInfo c, IEnumerable values, out long n)
    {
        n = values is Array arr ? arr.Length : -1;
        switch (c.Type, values)
        {
            case (ColumnType.I8, sbyte[] v): return new Prepared(c.Index, v, null, null);
            case (ColumnType.I16, short[] v): return new Prepared(c.Index, v, null, null);
            case (ColumnType.I32, int[] v): return new Prepared(c.Index, v, null, null);
            case (ColumnType.I64, long[] v): return new Prepared(c.Index, v, null, null);
            case (ColumnType.U8, byte[] v): return new Prepared(c.Index, v, null, null);
            case (ColumnType.U16, ushort[] v): return new Prepared(c.Index, v, null, null);
            case (ColumnType.U32, uint[] v): return new Prepared(c.Index, v, null, null);
            case (ColumnType.U64, ulong[] v): return new Prepared(c.Index, v, null, null);
            case (ColumnType.F32, float[] v): return new Prepared(c.Index, v, null, null);
            case (ColumnType.F64, double[] v): return new Prepared(c.Index, v, null, null);
            case (ColumnType.Bool, bool[] v):
            {
                var b = new byte[v.Length];
                for (int i = 0; i < v.Length; i++) b[i] = v[i] ? (byte)1 : (byte)0;
                return new Prepared(c.Index, b, null, null);
            }
            case (ColumnType.Timestamp, DateTime[] v):
            {
                var us = new long[v.Length];
                for (int i = 0; i < v.Length; i++) us[i] = TableValues.Micros(v[i]);
                return new Prepared(c.Index, us, null, null);
            }
            case (ColumnType.Timestamp, DateTimeOffset[] v):
            {
                var us = new long[v.Length];
                for (int i = 0; i < v.Length; i++) us[i] = TableValues.Micros(v[i].UtcDateTime);
                return new Prepared(c.Index, us, null, null);
            }
            case (ColumnType.String, string?[] v):
            {
                var parts = new byte[v.Length][];
                for (int i = 0; i < v.Length; i++)
                {
                    if (v[i] is null) continue;
                    try
                    {
                        parts[i] = Interop.StrictUtf8.GetBytes(v[i]!);
                    }
                    catch (EncoderFallbackException)
                    {
                        throw new TableValueException(CairnErrorCode.Invalid, $"column '{c.Name}': not valid UTF-16 text (unpaired surrogate)");
                    }
                }
                return Variable(c.Index, parts);
            }
            case (ColumnType.Bytes, byte[]?[] v): return Variable(c.Index, v);
            case (ColumnType.Fixed, byte[]?[] v):
            {
                var data = new byte[(long)v.Length * c.Length];
                for (int i = 0; i < v.Length; i++)
                {
                    if (v[i] is null) continue;
                    if (v[i]!.Length != c.Length) return null; // the core's Range, through the JSON path
                    v[i]!.CopyTo(data, (long)i * c.Length);
                }
                return new Prepared(c.Index, data, Validity(v), null);
            }
            default:
                return null;
        }
    }

    /// <summary>Concatenated values with n+1 offsets (Arrow's layout); nulls as empty values, not valid.</summary>
    private static Prepared Variable(int index, byte[]?[] v)
    {
        var offsets = new ulong[v.Length + 1];
        long total = 0;
        for (int i = 0; i < v.Length; i++)
        {
            total += v[i]?.Length ?? 0;
            offsets[i + 1] = (ulong)total;
        }
        if (total > Array.MaxLength) throw new TableValueException(CairnErrorCode.TooBig, "the batch is larger than a .NET array");
        var data = new byte[total];
        for (int i = 0; i < v.Length; i++) v[i]?.CopyTo(data, (long)offsets[i]);
        return new Prepared(index, data, Validity(v), offsets);
    }

    /// <summary>A bitmap with bit i (least significant first) set when v[i] is not null; null when none is null.</summary>
    private static byte[]? Validity(object?[] v)
    {
        if (Array.IndexOf(v, null) < 0) return null;
        var bits = new byte[(v.Length + 7) / 8];
        for (int i = 0; i < v.Length; i++)
            if (v[i] is not null) bits[i >> 3] |= (byte)(1 << (i & 7));
        return bits;
    }
}
