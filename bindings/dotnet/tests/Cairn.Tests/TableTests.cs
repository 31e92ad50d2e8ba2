using System.Collections;
using System.Numerics;
using Xunit;

namespace Cairn.Tests;

public class TableTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private const string People = "id i64 primary key, name string not null, score f64 null, tag bytes:2 unique, at timestamp";

    private Table Open(TableSchema? schema = null, string name = "t") =>
        Table.Open(new TableOptions { Path = _tmp.Path(name), Schema = schema }).ThrowIfFailed();

    [Fact]
    public void InsertGetUpdateDelete()
    {
        using var t = Open(People);
        var at = new DateTime(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc).AddTicks(1234560); // 123456 us
        ulong id = t.Insert(new Row { ["id"] = 7L, ["name"] = "ada", ["score"] = 2.5, ["tag"] = new byte[] { 0xbe, 0xef }, ["at"] = at })
            .ThrowIfFailed();
        Assert.Equal(1UL, id);

        Row row = t.Get(id).ThrowIfFailed();
        Assert.Equal(new[] { "id", "name", "score", "tag", "at" }, row.Keys);
        Assert.Equal(7L, row["id"]);
        Assert.Equal("ada", row.GetString("name"));
        Assert.Equal(2.5, row["score"]);
        Assert.Equal(new byte[] { 0xbe, 0xef }, row.GetBytes("tag"));
        Assert.Equal(at, row.GetDateTime("at"));
        Assert.Equal(DateTimeKind.Utc, row.GetDateTime("at").Kind);

        Assert.True(t.Update(id, new Row { ["score"] = null, ["name"] = "Ada" }).Success);
        row = t.Get(id).ThrowIfFailed();
        Assert.True(row.IsNull("score"));
        Assert.Equal("Ada", row["name"]);
        Assert.Equal(7L, row.GetInt64("id"));

        Assert.True(t.Delete(id).Success);
        var missing = t.Get(id);
        Assert.False(missing.Success);
        Assert.Equal(CairnErrorCode.NotFound, missing.ErrorCode);
        Assert.Null(missing.Result);
        Assert.Equal(CairnErrorCode.NotFound, t.Delete(id).ErrorCode);
        Assert.Equal(CairnErrorCode.NotFound, t.Update(id, new Row { ["name"] = "x" }).ErrorCode);
        Assert.Equal(0, t.Count().Result);
    }

    [Fact]
    public void EveryTypeRoundTripsAsItsDotNetType()
    {
        using var t = Open("a i8, b i16, c i32, d i64, e u8, f u16, g u32, h u64, i f32, j f64, k bool, l string, m bytes, n bytes:3, o timestamp");
        var when = DateTime.UnixEpoch.AddTicks(-10); // one microsecond before the epoch
        var input = new Row
        {
            ["a"] = (sbyte)-128, ["b"] = (short)-32768, ["c"] = int.MinValue, ["d"] = long.MinValue,
            ["e"] = (byte)255, ["f"] = (ushort)65535, ["g"] = uint.MaxValue, ["h"] = ulong.MaxValue,
            ["i"] = 0.1f, ["j"] = double.NaN, ["k"] = true, ["l"] = "ü \"q\" \u0001 😀", ["m"] = Array.Empty<byte>(),
            ["n"] = new byte[] { 1, 2, 3 }, ["o"] = when,
        };
        ulong id = t.Insert(input).ThrowIfFailed();
        foreach (Row row in new[] { t.Get(id).ThrowIfFailed(), Reopened() })
        {
            Assert.Equal((sbyte)-128, row["a"]);
            Assert.Equal((short)-32768, row["b"]);
            Assert.Equal(int.MinValue, row["c"]);
            Assert.Equal(long.MinValue, row["d"]);
            Assert.Equal((byte)255, row["e"]);
            Assert.Equal((ushort)65535, row["f"]);
            Assert.Equal(uint.MaxValue, row["g"]);
            Assert.Equal(ulong.MaxValue, row["h"]);
            Assert.Equal(0.1f, row["i"]);
            Assert.True(double.IsNaN((double)row["j"]!));
            Assert.Equal(true, row["k"]);
            Assert.Equal(input["l"], row["l"]);
            Assert.Equal(Array.Empty<byte>(), row["m"]);
            Assert.Equal(new byte[] { 1, 2, 3 }, row["n"]);
            Assert.Equal(when, row["o"]);
        }

        Row Reopened()
        {
            Assert.True(t.Sync().Success);
            return t.Get(id).ThrowIfFailed();
        }
    }

    [Fact]
    public void TypedGettersConvertWhereTheValueFits()
    {
        var row = new Row { ["small"] = (byte)7, ["big"] = ulong.MaxValue, ["when"] = DateTime.UnixEpoch, ["none"] = null };
        Assert.Equal(7L, row.GetInt64("small"));
        Assert.Equal(7, row.GetInt32("small"));
        Assert.Equal(7.0, row.GetDouble("small"));
        Assert.Throws<OverflowException>(() => row.GetInt64("big"));
        Assert.Equal(DateTimeOffset.UnixEpoch, row.Get<DateTimeOffset>("when"));
        Assert.Null(row.Get<long?>("none"));
        Assert.Null(row.GetString("none"));
        Assert.Throws<InvalidCastException>(() => row.GetInt64("none"));
        Assert.Throws<InvalidCastException>(() => row.GetString("small"));
        Assert.Throws<KeyNotFoundException>(() => row.GetInt64("nope"));
    }

    [Fact]
    public void WrongHostTypesAreTypeErrorsAndStoreNothing()
    {
        using var t = Open("n i64, at timestamp, s string");
        Assert.Equal(CairnErrorCode.Type, t.Insert(new Row { ["n"] = new object() }).ErrorCode);
        Assert.Equal(CairnErrorCode.Type, t.Insert(new Row { ["n"] = Guid.NewGuid() }).ErrorCode);
        Assert.Equal(CairnErrorCode.Type, t.Insert(new Row { ["n"] = 1.0 }).ErrorCode);       // a double is never an integer
        Assert.Equal(CairnErrorCode.Type, t.Insert(new Row { ["n"] = "1" }).ErrorCode);
        Assert.Equal(CairnErrorCode.Type, t.Insert(new Row { ["n"] = DateTime.UtcNow }).ErrorCode);
        Assert.Equal(CairnErrorCode.Type, t.Insert(new Row { ["at"] = 5L }).ErrorCode);       // a timestamp takes a DateTime
        Assert.Equal(CairnErrorCode.Type, t.Insert(new Row { ["s"] = 5 }).ErrorCode);
        Assert.Equal(CairnErrorCode.Range, t.Insert(new Row { ["n"] = ulong.MaxValue }).ErrorCode);
        Assert.Equal(CairnErrorCode.Range, t.Insert(new Row { ["n"] = BigInteger.Pow(2, 70) }).ErrorCode);
        Assert.Equal(CairnErrorCode.Schema, t.Insert(new Row { ["nope"] = 1 }).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, t.Insert(new Row { ["s"] = "\ud800" }).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, t.Insert(null!).ErrorCode);
        Assert.Equal(0, t.Count().Result);
        // any IEnumerable<KeyValuePair<string, object?>> is a row
        Assert.True(t.Insert(new Dictionary<string, object?> { ["n"] = 1, ["at"] = DateTimeOffset.UnixEpoch }).Success);
        Assert.Equal(DateTime.UnixEpoch, t.Get(1).ThrowIfFailed()["at"]);
    }

    [Fact]
    public void ConstraintsAndInsertManyAllOrNothing()
    {
        using var t = Open(People);
        var ids = t.InsertMany(new[] { new Row { ["id"] = 1L, ["name"] = "a" }, new Row { ["id"] = 2L, ["name"] = "b" } });
        Assert.Equal(new ulong[] { 1, 2 }, ids.ThrowIfFailed());
        var dup = t.InsertMany(new[] { new Row { ["id"] = 3L, ["name"] = "c" }, new Row { ["id"] = 1L, ["name"] = "again" } });
        Assert.Equal(CairnErrorCode.Constraint, dup.ErrorCode);
        Assert.Equal(2, t.Count().Result);
        Assert.Equal(CairnErrorCode.Constraint, t.Insert(new Row { ["id"] = 9L }).ErrorCode); // name is NOT NULL
        Assert.Equal(CairnErrorCode.Range, t.Insert(new Row { ["id"] = 9L, ["name"] = "x", ["tag"] = new byte[] { 1 } }).ErrorCode);

        ulong up = t.Upsert(new Row { ["id"] = 2L, ["name"] = "B" }).ThrowIfFailed();
        Assert.Equal(2UL, up);
        Assert.Equal("B", t.Get(2).ThrowIfFailed()["name"]);
        Assert.True(t.Upsert(new Row { ["id"] = 5L, ["name"] = "e" }).ThrowIfFailed() > 2); // a new row: a new id
        Assert.Equal(3, t.Count().Result);
    }

    [Fact]
    public void IterationInIdOrder()
    {
        using var t = Open("v i32");
        for (int i = 0; i < 5; i++) t.Insert(new Row { ["v"] = i * 10 }).ThrowIfFailed();
        t.Delete(2).ThrowIfFailed();
        var seen = new List<(ulong, int)>();
        foreach (var (id, row) in t) seen.Add((id, row.GetInt32("v")));
        Assert.Equal(new[] { (1UL, 0), (3UL, 20), (4UL, 30), (5UL, 40) }, seen);
        var rows = t.Rows().ThrowIfFailed();
        Assert.Equal(seen.Select(s => s.Item1), rows.Select(r => r.Id));
        Assert.Equal(4, t.Count().Result);
        // the visitor may call the table (the snapshot does not see the change)
        Assert.True(t.ForEach((id, _) => t.Insert(new Row { ["v"] = (int)id })).Success);
        Assert.Equal(8, t.Count().Result);
    }

    [Fact]
    public void LoadColumnBatches()
    {
        using var t = Open("id u32, name string, at timestamp null, ok bool");
        ulong first = t.Load(("id", new uint[] { 10, 11, 12 }), ("name", new List<string> { "a", "b", "c" }),
                             ("ok", new[] { true, false, true })).ThrowIfFailed();
        Assert.Equal(1UL, first);
        Assert.Equal(3, t.Count().Result);
        Assert.Equal(11u, t.Get(2).ThrowIfFailed()["id"]);
        Assert.True(t.Get(3).ThrowIfFailed().IsNull("at"));
        ulong next = t.Load(new Dictionary<string, IEnumerable> { ["id"] = new long[] { 1 }, ["at"] = new[] { DateTime.UnixEpoch } })
            .ThrowIfFailed();
        Assert.Equal(4UL, next);
        Assert.False(t.Load(("id", new long[] { 1, 2 }), ("name", new[] { "only one" })).Success); // lengths differ
        Assert.Equal(CairnErrorCode.Type, t.Load(("id", "not a list")).ErrorCode);
        Assert.Equal(4, t.Count().Result);
    }

    [Fact]
    public void LoadTypedArraysOfEveryType()
    {
        // arrays of exactly the column's .NET type go to cairn_table_load_columns; the rest as JSON
        using var t = Open("a i8, b i16, c i32, d i64, e u8, f u16, g u32, h u64, i f32, j f64, k bool, l string, m bytes, n bytes:2, o timestamp");
        var when = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(10);
        ulong first = t.Load(
            ("a", new sbyte[] { -128, 127, 0 }), ("b", new short[] { -1, 2, 3 }), ("c", new[] { int.MinValue, 0, int.MaxValue }),
            ("d", new[] { long.MinValue, 0, long.MaxValue }), ("e", new byte[] { 0, 1, 255 }), ("f", new ushort[] { 0, 1, 65535 }),
            ("g", new[] { 0u, 1u, uint.MaxValue }), ("h", new[] { 0UL, 1UL, ulong.MaxValue }), ("i", new[] { 0.5f, float.NaN, -2.25f }),
            ("j", new[] { 0.1, double.NegativeInfinity, -0.0 }), ("k", new[] { true, false, true }),
            ("l", new[] { "ü", null, "" }), ("m", new[] { new byte[] { 1 }, Array.Empty<byte>(), null }),
            ("n", new[] { new byte[] { 1, 2 }, null, new byte[] { 3, 4 } }), ("o", new[] { when, DateTime.UnixEpoch, when })).ThrowIfFailed();
        Assert.Equal(1UL, first);
        var rows = t.Rows().ThrowIfFailed();
        Assert.Equal(3, rows.Count);
        Row r0 = rows[0].Row, r1 = rows[1].Row, r2 = rows[2].Row;
        Assert.Equal((sbyte)-128, r0["a"]);
        Assert.Equal(long.MaxValue, r2["d"]);
        Assert.Equal(ulong.MaxValue, r2["h"]);
        Assert.True(float.IsNaN((float)r1["i"]!));
        Assert.Equal(double.NegativeInfinity, r1["j"]);
        Assert.Equal(false, r1["k"]);
        Assert.Equal("ü", r0["l"]);
        Assert.Null(r1["l"]);
        Assert.Equal("", r2["l"]);
        Assert.Equal(new byte[] { 1 }, r0["m"]);
        Assert.Equal(Array.Empty<byte>(), r1["m"]);
        Assert.Null(r2["m"]);
        Assert.Null(r1["n"]);
        Assert.Equal(new byte[] { 3, 4 }, r2["n"]);
        Assert.Equal(when, r0["o"]);
        Assert.Equal(DateTime.UnixEpoch, r1["o"]);

        // all or nothing, whichever path: a bytes:2 value of 3 bytes, a u8 value out of range
        Assert.Equal(CairnErrorCode.Range, t.Load(("n", new[] { new byte[] { 1, 2 }, new byte[] { 1, 2, 3 } })).ErrorCode);
        Assert.Equal(CairnErrorCode.Range, t.Load(("e", new long[] { 1, 256 })).ErrorCode);
        Assert.Equal(CairnErrorCode.Type, t.Load(("o", new long[] { 1 })).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, t.Load(("l", new[] { "\udc00" })).ErrorCode);
        Assert.Equal(3, t.Count().ThrowIfFailed());
    }

    [Fact]
    public void SchemaAsColumnsAndBack()
    {
        var schema = new TableSchema
        {
            new Column("id", ColumnType.I64) { PrimaryKey = true },
            new Column("name", ColumnType.String) { Nullable = false },
            new Column("score", ColumnType.F64) { Default = 0.5 },
            new Column("tag", ColumnType.Fixed, 8) { Unique = true },
        };
        using (var t = Open(schema))
        {
            var cols = t.Schema().ThrowIfFailed();
            Assert.Equal(new[] { "id", "name", "score", "tag" }, cols.Select(c => c.Name));
            Assert.Equal(ColumnType.I64, cols[0].Type);
            Assert.True(cols[0].PrimaryKey);
            Assert.False(cols[0].Nullable);
            Assert.False(cols[1].Nullable);
            Assert.Equal(0.5, cols[2].Default);
            Assert.Equal("bytes:8", cols[3].TypeName);
            Assert.Equal(8, cols[3].Length);
            Assert.True(cols[3].Unique);
            Assert.StartsWith("id i64 primary key", t.SchemaText().ThrowIfFailed());

            t.Insert(new Row { ["id"] = 1L, ["name"] = "x" }).ThrowIfFailed();
            Assert.True(t.AddColumn(new Column("level", ColumnType.U8) { Default = (byte)3 }).Success);
            Assert.Equal((byte)3, t.Get(1).ThrowIfFailed()["level"]);
            Assert.Equal(CairnErrorCode.Exists, t.AddColumn("level u8").ErrorCode);
            Assert.Equal(5, t.Stats().ThrowIfFailed().Columns);
        }
        // reopen without a schema; the same schema is fine, another is Schema
        using (var t = Open()) Assert.Equal(5, t.Schema().ThrowIfFailed().Count);
        var other = Table.Open(new TableOptions { Path = _tmp.Path("t"), Schema = "id i32" });
        Assert.Equal(CairnErrorCode.Schema, other.ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, Table.Open(new TableOptions { Path = _tmp.Path("u"), Schema = "id nonsense" }).ErrorCode);
        Assert.Equal(CairnErrorCode.Path, Table.Open(new TableOptions { Path = _tmp.Path("v"), Create = false }).ErrorCode);
    }

    [Fact]
    public void TransactionsScopeAndInTransaction()
    {
        using var t = Open("v i64");
        Assert.False(t.InTransaction().Result);
        using (var tx = t.BeginTransaction().ThrowIfFailed())
        {
            Assert.True(t.InTransaction().Result);
            t.Insert(new Row { ["v"] = 1L }).ThrowIfFailed();
            Assert.Equal(1, t.Count().Result);
        } // disposed uncommitted: rolled back
        Assert.False(t.InTransaction().Result);
        Assert.Equal(0, t.Count().Result);
        using (var tx = t.BeginTransaction().ThrowIfFailed())
        {
            t.Insert(new Row { ["v"] = 2L }).ThrowIfFailed();
            Assert.Equal(CairnErrorCode.Txn, t.Begin().ErrorCode);
            Assert.True(t.Stats().ThrowIfFailed().InTransaction);
            tx.Commit().ThrowIfFailed();
        }
        Assert.Equal(1, t.Count().Result);
        Assert.Equal(CairnErrorCode.Txn, t.Commit().ErrorCode);
        Assert.Equal(CairnErrorCode.Txn, t.Rollback().ErrorCode);
    }

    [Fact]
    public void EventsAfterTheCallAndAfterCommit()
    {
        using var t = Open("id i64 primary key, v string");
        var seen = new List<string>();
        ulong sub = t.Subscribe(e =>
        {
            // delivered after the call returned: the handler sees the change and may call the table
            var now = t.Get(e.Id);
            seen.Add($"{e.Change} {e.Id} {e.NewRow?["v"]} {e.OldRow?["v"]} {(now.Success ? now.ThrowIfFailed()["v"] : "gone")}");
        }).ThrowIfFailed();
        ulong id = t.Insert(new Row { ["id"] = 1L, ["v"] = "a" }).ThrowIfFailed();
        t.Update(id, new Row { ["v"] = "b" }).ThrowIfFailed();
        t.Delete(id).ThrowIfFailed();
        Assert.Equal(new[] { "Inserted 1 a  a", "Updated 1 b a b", "Deleted 1  b gone" }, seen);

        seen.Clear();
        t.Begin().ThrowIfFailed();
        t.Insert(new Row { ["id"] = 2L, ["v"] = "x" }).ThrowIfFailed();
        Assert.Empty(seen);
        t.Rollback().ThrowIfFailed();
        Assert.Empty(seen);
        t.Begin().ThrowIfFailed();
        ulong id3 = t.Insert(new Row { ["id"] = 3L, ["v"] = "y" }).ThrowIfFailed();
        Assert.Empty(seen);
        t.Commit().ThrowIfFailed();
        Assert.Equal(new[] { $"Inserted {id3} y  y" }, seen);

        Assert.True(t.Unsubscribe(sub).Success);
        Assert.Equal(CairnErrorCode.NotFound, t.Unsubscribe(sub).ErrorCode);
        t.Insert(new Row { ["id"] = 5L, ["v"] = "z" }).ThrowIfFailed();
        Assert.Single(seen);
    }

    [Fact]
    public void AHandlersExceptionReachesTheCallerAndTheChangeStays()
    {
        using var t = Open("v i64");
        t.Subscribe(_ => throw new InvalidOperationException("boom")).ThrowIfFailed();
        Assert.Throws<InvalidOperationException>(() => t.Insert(new Row { ["v"] = 1L }));
        Assert.Equal(1, t.Count().Result);
    }

    [Fact]
    public void StatsSyncCompactCheck()
    {
        string path = _tmp.Path("t");
        using (var t = Open("v i64"))
        {
            for (int i = 0; i < 10; i++) t.Insert(new Row { ["v"] = (long)i }).ThrowIfFailed();
            t.Delete(3).ThrowIfFailed();
            TableStats s = t.Stats().ThrowIfFailed();
            Assert.Equal(9, s.Rows);
            Assert.Equal(11UL, s.NextId);
            Assert.Equal(1, s.Columns);
            Assert.False(s.InTransaction);
            Assert.True(t.Sync().Success);
            Assert.True(t.Compact().Success);
            Assert.Equal(9, t.Stats().ThrowIfFailed().Rows);
        }
        Assert.True(Table.Check(path).Success);
        Assert.Equal(CairnErrorCode.Path, Table.Check(_tmp.Path("missing")).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, Table.Check(null!).ErrorCode);
    }

    [Fact]
    public void ClosedTableAnswersClosed()
    {
        var t = Open("v i64");
        t.Subscribe(_ => { }).ThrowIfFailed();
        t.Dispose();
        t.Dispose();
        Assert.True(t.IsClosed);
        Assert.Equal(CairnErrorCode.Closed, t.Insert(new Row { ["v"] = 1L }).ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, t.Get(1).ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, t.Count().ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, t.Rows().ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, t.Schema().ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, t.Stats().ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, t.Subscribe(_ => { }).ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, t.InTransaction().ErrorCode);
        var e = Assert.Throws<CairnException>(() => { foreach (var _ in t) { } });
        Assert.Equal(CairnErrorCode.Closed, e.ErrorCode);
    }

    [Fact]
    public void SchemaFormsConvertImplicitly()
    {
        TableSchema text = "id i64 primary key";
        Assert.Equal("id i64 primary key", text.Text);
        TableSchema list = new List<Column> { new("id", ColumnType.I64) { PrimaryKey = true } };
        TableSchema array = new[] { new Column("id", ColumnType.I64) { PrimaryKey = true } };
        TableSchema expr = [new Column("id", ColumnType.I64) { PrimaryKey = true }, new Column("tag", ColumnType.Fixed, 4)];
        Assert.Single(list.Columns);
        Assert.Equal(list.Columns, array.Columns);
        Assert.Equal("id i64 primary key, tag bytes:4", expr.ToString());
        Assert.Throws<InvalidOperationException>(() => text.Add(new Column("x", ColumnType.Bool)));
        using var t = Open(expr);
        Assert.Equal(new[] { "id", "tag" }, t.Schema().ThrowIfFailed().Select(c => c.Name));
        Assert.Throws<ArgumentNullException>(() => new TableSchema { null! });
        Assert.Equal(CairnErrorCode.Invalid, Table.Open(new TableOptions { Path = _tmp.Path("n"), Schema = new Column[] { null! } }).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, Table.Open((TableOptions)null!).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, Table.Open(new TableOptions()).ErrorCode); // no path
    }

    [Fact]
    public void ManyThreadsEachGetTheirOwnEvents()
    {
        using var t = Open("n i64");
        var seen = new System.Collections.Concurrent.ConcurrentBag<(int Thread, ulong Id)>();
        t.Subscribe(e => seen.Add((Environment.CurrentManagedThreadId, e.Id))).ThrowIfFailed();
        var mine = new System.Collections.Concurrent.ConcurrentBag<(int Thread, ulong Id)>();
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, w =>
        {
            for (int i = 0; i < 100; i++)
                mine.Add((Environment.CurrentManagedThreadId, t.Insert(new Row { ["n"] = (long)(w * 1000 + i) }).ThrowIfFailed()));
        });
        Assert.Equal(400, t.Count().ThrowIfFailed());
        // every insert raised exactly one event, on the thread that made it
        Assert.Equal(mine.OrderBy(x => x.Id), seen.OrderBy(x => x.Id));
    }

    [Fact]
    public void ReadOnlyHandleBesideTheWriter()
    {
        using var w = Open("v i64");
        w.Insert(new Row { ["v"] = 1L }).ThrowIfFailed();
        w.Sync().ThrowIfFailed();
        using var r = Table.Open(new TableOptions { Path = _tmp.Path("t"), ReadOnly = true }).ThrowIfFailed();
        Assert.Equal(1L, r.Get(1).ThrowIfFailed()["v"]);
        Assert.Equal(CairnErrorCode.ReadOnly, r.Insert(new Row { ["v"] = 2L }).ErrorCode);
        Assert.Equal(CairnErrorCode.Locked, Table.Open(new TableOptions { Path = _tmp.Path("t") }).ErrorCode);
    }
}
