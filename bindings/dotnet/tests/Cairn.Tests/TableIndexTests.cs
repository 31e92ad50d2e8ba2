using Xunit;

namespace Cairn.Tests;

/// <summary>Table indexes through the .NET API: the index list, lookups with and without an index (the
/// same ids), .NET values typed as rows type them, and the errors of each call.</summary>
public class TableIndexTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private const string Schema = "id i64 primary key, name string, score f64, at timestamp, tag bytes";

    private Table Open(bool readOnly = false) =>
        Table.Open(new TableOptions { Path = _tmp.Path("t"), Schema = readOnly ? null : (TableSchema)Schema, ReadOnly = readOnly }).ThrowIfFailed();

    private static readonly DateTime T0 = new(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);

    private static void Fill(Table t)
    {
        string?[] names = { "ann", "bob", "ann", null, "cid", "bob" };
        for (int i = 0; i < names.Length; i++)
            t.Insert(new Row
            {
                ["id"] = (long)(i + 1) * 10, ["name"] = names[i], ["score"] = i % 2 == 0 ? i * 1.5 : null,
                ["at"] = T0.AddSeconds(i), ["tag"] = new byte[] { (byte)(i % 3) },
            }).ThrowIfFailed();
    }

    /// <summary>Every lookup the tests make, as one list of answers (run without and with indexes).</summary>
    private static List<IReadOnlyList<ulong>> Answers(Table t) => new()
    {
        t.Lookup("name", "ann").ThrowIfFailed(),
        t.Lookup("name", "zed").ThrowIfFailed(),
        t.Lookup("name", null).ThrowIfFailed(),
        t.Lookup("id", 30L).ThrowIfFailed(),
        t.Lookup("id", 30.0).ThrowIfFailed(),
        t.Lookup("id", 30.5).ThrowIfFailed(),
        t.Lookup("at", T0.AddSeconds(2)).ThrowIfFailed(),
        t.Lookup("tag", new byte[] { 1 }).ThrowIfFailed(),
        t.Find(new Row { ["name"] = "bob", ["tag"] = new byte[] { 2 } }).ThrowIfFailed(),
        t.Find(new Row()).ThrowIfFailed(),
        t.RangeFind("score", 0.0, 6.0).ThrowIfFailed(),
        t.RangeFind("score", 0.0, 6.0, loOpen: true, hiOpen: true).ThrowIfFailed(),
        t.RangeFind("score", null, 3.0).ThrowIfFailed(),
        t.RangeFind("id", 15.5, null).ThrowIfFailed(),
        t.RangeFind("name", "b", "c").ThrowIfFailed(),
        t.RangeFind("at", T0.AddSeconds(1), T0.AddSeconds(3), hiOpen: true).ThrowIfFailed(),
    };

    [Fact]
    public void LookupsAnswerTheSameWithAndWithoutIndexes()
    {
        using var t = Open();
        Fill(t);
        List<IReadOnlyList<ulong>> scan = Answers(t);
        Assert.Equal(new ulong[] { 1, 3 }, scan[0]);
        Assert.Empty(scan[1]);
        Assert.Empty(scan[2]); // null matches nothing
        Assert.Equal(new ulong[] { 3 }, scan[3]);
        Assert.Equal(new ulong[] { 3 }, scan[4]); // 30.0 is the integer 30
        Assert.Empty(scan[5]);
        Assert.Equal(new ulong[] { 3 }, scan[6]);
        Assert.Equal(new ulong[] { 2, 5 }, scan[7]);
        Assert.Equal(new ulong[] { 6 }, scan[8]);
        Assert.Equal(new ulong[] { 1, 2, 3, 4, 5, 6 }, scan[9]);
        Assert.Equal(new ulong[] { 1, 3, 5 }, scan[10]); // scores 0, 3, 6; nulls never in a range
        Assert.Equal(new ulong[] { 3 }, scan[11]);
        Assert.Equal(new ulong[] { 1, 3 }, scan[12]);
        Assert.Equal(new ulong[] { 2, 3, 4, 5, 6 }, scan[13]); // id >= 15.5 means >= 20
        Assert.Equal(new ulong[] { 2, 6 }, scan[14]);
        Assert.Equal(new ulong[] { 2, 3 }, scan[15]);

        foreach (string c in new[] { "name", "at", "tag" }) t.CreateIndex(c).ThrowIfFailed();
        foreach (string c in new[] { "score", "id", "name", "at" }) t.CreateIndex(c, IndexKind.Range).ThrowIfFailed();
        Assert.Equal(scan, Answers(t));
    }

    [Fact]
    public void IndexListCreateDropAndErrors()
    {
        using (var t = Open())
        {
            Assert.Equal(new[] { new IndexInfo("id", IndexKind.Hash, true) }, t.Indexes().ThrowIfFailed());
            t.CreateIndex("score", IndexKind.Range).ThrowIfFailed();
            t.CreateIndex("name").ThrowIfFailed();
            Assert.Equal(new[]
            {
                new IndexInfo("id", IndexKind.Hash, true), new IndexInfo("name", IndexKind.Hash, false),
                new IndexInfo("score", IndexKind.Range, false),
            }, t.Indexes().ThrowIfFailed());

            Assert.Equal(CairnErrorCode.Exists, t.CreateIndex("name").ErrorCode);
            Assert.Equal(CairnErrorCode.Exists, t.CreateIndex("id").ErrorCode); // the primary key's own
            Assert.Equal(CairnErrorCode.Schema, t.CreateIndex("nope").ErrorCode);
            Assert.Equal(CairnErrorCode.Invalid, t.CreateIndex("name", (IndexKind)7).ErrorCode);
            Assert.Equal(CairnErrorCode.Invalid, t.CreateIndex("na\0me").ErrorCode);
            Assert.Equal(CairnErrorCode.Invalid, t.DropIndex("id").ErrorCode);
            Assert.Equal(CairnErrorCode.NotFound, t.DropIndex("name", IndexKind.Range).ErrorCode);
            t.Begin().ThrowIfFailed();
            Assert.Equal(CairnErrorCode.Txn, t.CreateIndex("at").ErrorCode);
            t.Rollback().ThrowIfFailed();

            t.DropIndex("name").ThrowIfFailed();
            Assert.Equal(CairnErrorCode.NotFound, t.DropIndex("name").ErrorCode);
            Fill(t);
        }
        using (var t = Open(readOnly: true))
        {
            // the definitions are stored in the table
            Assert.Equal(new[] { new IndexInfo("id", IndexKind.Hash, true), new IndexInfo("score", IndexKind.Range, false) },
                t.Indexes().ThrowIfFailed());
            Assert.Equal(CairnErrorCode.ReadOnly, t.CreateIndex("name").ErrorCode);
            Assert.Equal(new ulong[] { 3, 5 }, t.RangeFind("score", 3.0, null).ThrowIfFailed());
        }
    }

    [Fact]
    public void IndexesFollowWrites()
    {
        using var t = Open();
        t.CreateIndex("name").ThrowIfFailed();
        t.CreateIndex("score", IndexKind.Range).ThrowIfFailed();
        Fill(t);
        t.Update(1, new Row { ["name"] = "zed", ["score"] = 100.0 }).ThrowIfFailed();
        t.Delete(3).ThrowIfFailed();
        Assert.Empty(t.Lookup("name", "ann").ThrowIfFailed());
        Assert.Equal(new ulong[] { 1 }, t.Lookup("name", "zed").ThrowIfFailed());
        Assert.Equal(new ulong[] { 1 }, t.RangeFind("score", 50.0, null).ThrowIfFailed());
        t.Begin().ThrowIfFailed();
        t.Insert(new Row { ["id"] = 99L, ["name"] = "ann" }).ThrowIfFailed();
        Assert.Equal(new ulong[] { 7 }, t.Lookup("name", "ann").ThrowIfFailed()); // the transaction sees it
        t.Rollback().ThrowIfFailed();
        Assert.Empty(t.Lookup("name", "ann").ThrowIfFailed());
    }

    [Fact]
    public void BadValuesAreTypedErrors()
    {
        using var t = Open();
        Fill(t);
        Assert.Equal(CairnErrorCode.Type, t.Lookup("at", 5L).ErrorCode); // a timestamp takes a DateTime
        Assert.Equal(CairnErrorCode.Type, t.Lookup("id", DateTime.UtcNow).ErrorCode);
        Assert.Equal(CairnErrorCode.Type, t.Lookup("name", new object()).ErrorCode);
        Assert.Equal(CairnErrorCode.Type, t.Lookup("id", "ten").ErrorCode);
        Assert.Equal(CairnErrorCode.Schema, t.Lookup("nope", 1L).ErrorCode);
        Assert.Equal(CairnErrorCode.Schema, t.Find(new Row { ["nope"] = 1L }).ErrorCode);
        Assert.Equal(CairnErrorCode.Type, t.RangeFind("score", "a", null).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, t.Lookup("name", "\ud800").ErrorCode);
        t.Dispose();
        Assert.Equal(CairnErrorCode.Closed, t.Lookup("name", "ann").ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, t.Indexes().ErrorCode);
    }
}
