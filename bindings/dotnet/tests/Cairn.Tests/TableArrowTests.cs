using Apache.Arrow;
using Apache.Arrow.Arrays;
using Apache.Arrow.Types;
using Xunit;

namespace Cairn.Tests;

/// <summary>Table.ToArrow / ExportStream / ExportColumn: the core's Arrow C stream read by Apache.Arrow's
/// own C importer (an independent reader), every value compared with the rows the table holds.</summary>
public class TableArrowTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private Table Open(TableSchema schema, uint checkpointRows = 0, string name = "t") =>
        Table.Open(new TableOptions { Path = _tmp.Path(name), Schema = schema, CheckpointRows = checkpointRows }).ThrowIfFailed();

    /// <summary>Value i of a column over every batch, in the row wire form's .NET types (null for a null;
    /// a dictionary column read through its indices).</summary>
    private static object? Value(IArrowArray a, int i)
    {
        if (a.IsNull(i)) return null;
        return a switch
        {
            DictionaryArray d => Value(d.Dictionary, (int)Index(d.Indices, i)),
            Int8Array x => (long)x.GetValue(i)!.Value,
            Int16Array x => (long)x.GetValue(i)!.Value,
            Int32Array x => (long)x.GetValue(i)!.Value,
            Int64Array x => x.GetValue(i)!.Value,
            UInt8Array x => (long)x.GetValue(i)!.Value,
            UInt16Array x => (long)x.GetValue(i)!.Value,
            UInt32Array x => (long)x.GetValue(i)!.Value,
            UInt64Array x => x.GetValue(i)!.Value,
            FloatArray x => (double)x.GetValue(i)!.Value,
            DoubleArray x => x.GetValue(i)!.Value,
            BooleanArray x => x.GetValue(i)!.Value,
            TimestampArray x => x.GetValue(i)!.Value, // microseconds
            LargeStringArray x => x.GetString(i),
            LargeBinaryArray x => x.GetBytes(i).ToArray(),
            FixedSizeBinaryArray x => x.GetBytes(i).ToArray(),
            _ => throw new InvalidOperationException("unexpected array " + a.GetType().Name),
        };
    }

    private static long Index(IArrowArray indices, int i) => indices switch
    {
        Int32Array x => x.GetValue(i)!.Value,
        Int8Array x => x.GetValue(i)!.Value,
        Int16Array x => x.GetValue(i)!.Value,
        Int64Array x => x.GetValue(i)!.Value,
        _ => throw new InvalidOperationException("unexpected index array " + indices.GetType().Name),
    };

    private static List<object?> Column(ArrowBatches batches, string name)
    {
        var list = new List<object?>();
        int k = batches.Schema.GetFieldIndex(name);
        Assert.True(k >= 0, "no column " + name);
        foreach (RecordBatch b in batches)
        {
            IArrowArray a = b.Column(k);
            for (int i = 0; i < b.Length; i++) list.Add(Value(a, i));
        }
        return list;
    }

    [Fact]
    public void EveryTypeAndNullsReadBackThroughApacheArrow()
    {
        using var t = Open("a i8, b i16, c i32, d i64, e u8, f u16, g u32, h u64, x f32, y f64, z bool, s string, r bytes, w bytes:2, ts timestamp");
        var ts = DateTime.UnixEpoch.AddTicks(17_000_000_000_000_010); // 1700000000000001 us
        t.Insert(new Row
        {
            ["a"] = (sbyte)-128, ["b"] = (short)-32768, ["c"] = int.MinValue, ["d"] = long.MinValue, ["e"] = (byte)255,
            ["f"] = (ushort)65535, ["g"] = uint.MaxValue, ["h"] = ulong.MaxValue, ["x"] = 1.5f, ["y"] = -2.25, ["z"] = true,
            ["s"] = "h\u00e9llo", ["r"] = new byte[] { 0, 0xff }, ["w"] = new byte[] { 0xab, 0xcd }, ["ts"] = ts,
        }).ThrowIfFailed();
        t.Insert(new Row()).ThrowIfFailed(); // every column null
        t.Insert(new Row { ["s"] = "", ["r"] = System.Array.Empty<byte>(), ["z"] = false, ["d"] = long.MaxValue }).ThrowIfFailed();

        using ArrowBatches got = t.ToArrow().ThrowIfFailed();
        Assert.Equal(3, got.RowCount);
        Assert.Equal(new[] { "_id", "a", "b", "c", "d", "e", "f", "g", "h", "x", "y", "z", "s", "r", "w", "ts" },
            got.Schema.FieldsList.Select(f => f.Name));
        Assert.IsType<UInt64Type>(got.Schema.GetFieldByName("_id").DataType);
        Assert.IsType<LargeStringType>(got.Schema.GetFieldByName("s").DataType);
        Assert.IsType<LargeBinaryType>(got.Schema.GetFieldByName("r").DataType);
        Assert.Equal(TimeUnit.Microsecond, Assert.IsType<TimestampType>(got.Schema.GetFieldByName("ts").DataType).Unit);

        Assert.Equal(new object?[] { 1UL, 2UL, 3UL }, Column(got, "_id"));
        Assert.Equal(new object?[] { -128L, null, null }, Column(got, "a"));
        Assert.Equal(new object?[] { long.MinValue, null, long.MaxValue }, Column(got, "d"));
        Assert.Equal(new object?[] { ulong.MaxValue, null, null }, Column(got, "h"));
        Assert.Equal(new object?[] { 4294967295L, null, null }, Column(got, "g"));
        Assert.Equal(new object?[] { 1.5, null, null }, Column(got, "x"));
        Assert.Equal(new object?[] { -2.25, null, null }, Column(got, "y"));
        Assert.Equal(new object?[] { true, null, false }, Column(got, "z"));
        Assert.Equal(new object?[] { "h\u00e9llo", null, "" }, Column(got, "s"));
        Assert.Equal(new object?[] { new byte[] { 0, 0xff }, null, System.Array.Empty<byte>() }, Column(got, "r"));
        Assert.Equal(new object?[] { new byte[] { 0xab, 0xcd }, null, null }, Column(got, "w"));
        Assert.Equal(new object?[] { 1700000000000001L, null, null }, Column(got, "ts"));
    }

    [Fact]
    public void RowGroupsDeletesUpdatesAndTheTail()
    {
        using var t = Open("k string, n i64 not null", checkpointRows: 100);
        var ids = t.Load(("k", Enumerable.Range(0, 250).Select(i => "k" + (i % 7)).ToArray()), ("n", Enumerable.Range(0, 250).Select(i => (long)i).ToArray()))
            .ThrowIfFailed();
        Assert.Equal(1UL, ids);
        t.Delete(5).ThrowIfFailed();
        t.Delete(150).ThrowIfFailed();
        t.Update(7, new Row { ["n"] = -7L, ["k"] = "new" }).ThrowIfFailed();
        t.Insert(new Row { ["k"] = "tail", ["n"] = 1000L }).ThrowIfFailed();
        var expect = t.Rows().ThrowIfFailed();

        using ArrowBatches got = t.ToArrow().ThrowIfFailed();
        Assert.True(got.Count >= 2, $"{got.Count} batches: row groups and the tail expected");
        Assert.Equal(expect.Select(r => (object?)r.Id), Column(got, "_id"));
        Assert.Equal(expect.Select(r => r.Row["k"]), Column(got, "k"));
        Assert.Equal(expect.Select(r => r.Row["n"]), Column(got, "n"));
        Assert.DoesNotContain((object?)5UL, Column(got, "_id"));
    }

    [Fact]
    public void DictionaryColumnsAreDictionaryArrays()
    {
        using var t = Open("k string not null, n i64", checkpointRows: 64);
        string[] words = { "red", "green", "blue" };
        t.Load(("k", Enumerable.Range(0, 128).Select(i => words[i % 3]).ToArray()), ("n", Enumerable.Range(0, 128).Select(i => (long)(i % 2)).ToArray()))
            .ThrowIfFailed();
        t.Sync().ThrowIfFailed();
        var expect = t.Rows().ThrowIfFailed();

        using ArrowBatches got = t.ToArrow("{\"columns\": [\"k\", \"n\"]}").ThrowIfFailed();
        Assert.Equal(new[] { "k", "n" }, got.Schema.FieldsList.Select(f => f.Name));
        Assert.IsType<DictionaryType>(got.Schema.GetFieldByName("k").DataType);
        Assert.IsType<DictionaryArray>(got[0].Column(0));
        Assert.Equal(expect.Select(r => r.Row["k"]), Column(got, "k"));
        Assert.Equal(expect.Select(r => r.Row["n"]), Column(got, "n"));
    }

    [Fact]
    public void QueriesAndErrors()
    {
        using var t = Open("k string, n i64");
        for (int i = 1; i <= 5; i++) t.Insert(new Row { ["k"] = "k" + i, ["n"] = (long)i }).ThrowIfFailed();

        using (ArrowBatches got = t.ToArrow("{\"where\": \"n >= ?\", \"params\": [4], \"columns\": [\"n\", \"_id\"]}").ThrowIfFailed())
        {
            Assert.Equal(new object?[] { 4L, 5L }, Column(got, "n"));
            Assert.Equal(new object?[] { 4UL, 5UL }, Column(got, "_id"));
        }
        using (ArrowBatches none = t.ToArrow("{\"where\": \"n > 100\"}").ThrowIfFailed())
        {
            Assert.Equal(0, none.RowCount);
            Assert.Equal(new[] { "_id", "k", "n" }, none.Schema.FieldsList.Select(f => f.Name));
        }
        Assert.Equal(CairnErrorCode.Schema, t.ToArrow("{\"where\": \"nope = 1\"}").ErrorCode);
        Assert.Equal(CairnErrorCode.Schema, t.ToArrow("{\"columns\": [\"nope\"]}").ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, t.ToArrow("{\"bogus\": 1}").ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, t.ToArrow("a\0b").ErrorCode);
        t.Dispose();
        Assert.Equal(CairnErrorCode.Closed, t.ToArrow().ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, t.ExportColumn("n").ErrorCode);
    }

    [Fact]
    public void BatchesOutliveTheTable()
    {
        ArrowBatches got;
        using (var t = Open("n f64 not null", checkpointRows: 64))
        {
            t.Load(("n", Enumerable.Range(0, 200).Select(i => i * 0.5).ToArray())).ThrowIfFailed();
            t.Sync().ThrowIfFailed();
            got = t.ToArrow("{\"columns\": [\"n\"]}").ThrowIfFailed();
        }
        using (got)
        {
            Assert.Equal(Enumerable.Range(0, 200).Select(i => (object?)(i * 0.5)), Column(got, "n"));
        }
    }

    [Fact]
    public void StreamReadsASnapshotAndHoldsTheTableOpen()
    {
        var t = Open("n i64");
        for (int i = 0; i < 3; i++) t.Insert(new Row { ["n"] = (long)i }).ThrowIfFailed();
        Apache.Arrow.Ipc.IArrowArrayStream s = t.ExportStream().ThrowIfFailed();
        t.Insert(new Row { ["n"] = 99L }).ThrowIfFailed(); // after the snapshot
        t.Dispose(); // the stream holds the handle: the native close waits for the stream's release
        long rows = 0;
        RecordBatch? b;
        while ((b = s.ReadNextRecordBatchAsync().AsTask().Result) != null)
            using (b) rows += b.Length;
        Assert.Equal(3, rows);
        s.Dispose();
        s.Dispose(); // once
        Assert.Equal(CairnErrorCode.Closed, t.Count().ErrorCode);
        Assert.Throws<ObjectDisposedException>(() => s.ReadNextRecordBatchAsync());
    }

    [Fact]
    public void ExportColumnSpans()
    {
        using var t = Open("n i64, y f64 not null, s string, z bool, w bytes:2");
        t.Insert(new Row { ["n"] = 10L, ["y"] = 0.5, ["s"] = "ab", ["z"] = true, ["w"] = new byte[] { 1, 2 } }).ThrowIfFailed();
        t.Insert(new Row { ["n"] = null, ["y"] = 1.5, ["s"] = null, ["z"] = false, ["w"] = new byte[] { 3, 4 } }).ThrowIfFailed();
        t.Insert(new Row { ["n"] = 30L, ["y"] = 2.5, ["s"] = "c\u00e9", ["z"] = null }).ThrowIfFailed();
        t.Delete(1).ThrowIfFailed();

        using (ArrowColumn n = t.ExportColumn("n").ThrowIfFailed())
        {
            Assert.Equal("n", n.Name);
            Assert.Equal("l", n.Format);
            Assert.Equal(2, n.Length);
            Assert.Equal(1, n.NullCount);
            Assert.False(n.IsValid(0));
            Assert.True(n.IsValid(1));
            Assert.Equal(30L, n.Values<long>()[1]);
            Assert.Throws<InvalidOperationException>(() => n.Values<int>().Length);
        }
        using (ArrowColumn y = t.ExportColumn("y").ThrowIfFailed())
        {
            Assert.Equal(new[] { 1.5, 2.5 }, y.Values<double>().ToArray());
            Assert.True(y.ValidityBitmap.IsEmpty);
        }
        using (ArrowColumn s = t.ExportColumn("s").ThrowIfFailed())
        {
            Assert.Equal("U", s.Format);
            Assert.Null(s.GetString(0));
            Assert.Equal("c\u00e9", s.GetString(1));
            Assert.Equal(3, s.Data.Length);
        }
        using (ArrowColumn z = t.ExportColumn("z").ThrowIfFailed())
        {
            Assert.False(z.GetBoolean(0));
            Assert.False(z.IsValid(1));
        }
        using (ArrowColumn w = t.ExportColumn("w").ThrowIfFailed())
        {
            Assert.Equal("w:2", w.Format);
            Assert.Equal(new byte[] { 3, 4 }, w.Data.Slice(0, 2).ToArray());
        }
        ArrowColumn done = t.ExportColumn("y").ThrowIfFailed();
        done.Dispose();
        done.Dispose(); // released once; a second Dispose does nothing
        Assert.Throws<ObjectDisposedException>(() => done.Values<double>().Length);
        Assert.Equal(CairnErrorCode.Schema, t.ExportColumn("nope").ErrorCode);
    }

    [Fact]
    public void ManyExportsReleaseTheirMemory()
    {
        // Each export's arrays are released exactly once (a second release would crash or corrupt the
        // heap; none would grow the process): 400 exports of a table whose every batch is gathered (a
        // deleted row per row group) and of a column, all disposed, must leave the resident set where a
        // first round of the same left it.
        using var t = Open("n f64 not null, s string", checkpointRows: 4096);
        int rows = 20_000;
        t.Load(("n", Enumerable.Range(0, rows).Select(i => (double)i).ToArray()), ("s", Enumerable.Range(0, rows).Select(i => "v" + i).ToArray()))
            .ThrowIfFailed();
        for (ulong id = 1; id <= (ulong)rows; id += 4096) t.Delete(id).ThrowIfFailed();
        t.Sync().ThrowIfFailed();

        void Round(int times)
        {
            for (int i = 0; i < times; i++)
            {
                using (ArrowBatches b = t.ToArrow().ThrowIfFailed()) Assert.Equal(rows - 5, b.RowCount);
                using (ArrowColumn c = t.ExportColumn("s").ThrowIfFailed()) Assert.Equal(rows - 5, c.Length);
            }
        }
        Round(50);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = Environment.WorkingSet;
        Round(400); // each round exports about 1 MB: a leak would add about 400 MB
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long grown = Environment.WorkingSet - before;
        Assert.True(grown < 100L << 20, $"the resident set grew by {grown >> 20} MB over 400 exports");
    }
}
