using Xunit;

namespace Cairn.Tests;

public class SnapshotTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private KvStore OpenDb(string name = "db") => KvStore.Open(_tmp.Path(name)).ThrowIfFailed();

    [Fact]
    public void SnapshotIsIsolatedBothWaysAndReadOnly()
    {
        using var db = OpenDb();
        db.Put("a", "1");
        db.Put("b", "2");
        Assert.Equal("s1", db.Snapshot("s1").Result);
        db.Put("a", "changed");
        db.Delete("b");
        db.Put("c", "3");

        using (var snap = db.OpenSnapshot("s1").ThrowIfFailed())
        {
            Assert.Equal("1", snap.GetString("a").Result);
            Assert.Equal("2", snap.GetString("b").Result);
            Assert.Equal(CairnErrorCode.NotFound, snap.Get("c").ErrorCode);
            Assert.Equal(2, snap.Count().Result);
            Assert.Equal(CairnErrorCode.ReadOnly, snap.Put("x", "y").ErrorCode);
            Assert.Equal(System.IO.Path.Combine(db.Path, "snapshots", "s1"), snap.Path);
        }
        Assert.Equal("changed", db.GetString("a").Result);
        Assert.Equal(2, db.Count().Result);
    }

    [Fact]
    public void BlobStoreSnapshotAndBackup()
    {
        string path = _tmp.Path("store.blob");
        using var bs = BlobStore.Open(path).ThrowIfFailed();
        uint k = bs.Create(new byte[] { 1, 2, 3 }).ThrowIfFailed();
        Assert.Equal("s", bs.Snapshot("s").Result);
        Assert.True(bs.Update(k, new byte[] { 9 }).Success);
        using (var snap = bs.OpenSnapshot("s").ThrowIfFailed())
        {
            Assert.Equal(new byte[] { 1, 2, 3 }, snap.Read(k).Result);
            Assert.Equal(CairnErrorCode.ReadOnly, snap.Create(new byte[] { 4 }).ErrorCode);
            Assert.Equal($"{bs.Path}-snapshots/s/blob", snap.Path);
        }
        string dest = _tmp.Path("backup.blob");
        Assert.True(bs.Backup(dest).Success);
        Assert.Equal(CairnErrorCode.Exists, bs.Backup(dest).ErrorCode);
        using (var copy = BlobStore.Open(dest).ThrowIfFailed())
            Assert.Equal(new byte[] { 9 }, copy.Read(k).Result);
        Assert.True(bs.DropSnapshot("s").Success);
        Assert.Empty(bs.Snapshots().Result!);
    }

    [Fact]
    public void TableSnapshotAndBackup()
    {
        using var t = Table.Open(new TableOptions { Path = _tmp.Path("t"), Schema = "k string primary key, n i64" }).ThrowIfFailed();
        ulong id = t.Insert(new Row { ["k"] = "a", ["n"] = 1L }).ThrowIfFailed();
        Assert.Equal("s", t.Snapshot("s").Result);
        Assert.True(t.Update(id, new Row { ["n"] = 2L }).Success);
        using (var snap = t.OpenSnapshot("s").ThrowIfFailed())
        {
            Assert.Equal(1L, snap.Get(id).Result!["n"]);
            Assert.Equal(CairnErrorCode.ReadOnly, snap.Insert(new Row { ["k"] = "b", ["n"] = 0L }).ErrorCode);
        }
        string dest = _tmp.Path("tb");
        Assert.True(t.Backup(dest).Success);
        using var copy = Table.Open(dest).ThrowIfFailed();
        Assert.Equal(2L, copy.Get(id).Result!["n"]);
    }

    [Fact]
    public void ListNamesAndDrop()
    {
        var before = DateTime.UtcNow.AddMinutes(-1);
        using var db = OpenDb();
        db.Put("k", "v");
        string auto1 = db.Snapshot().ThrowIfFailed();
        string auto2 = db.Snapshot().ThrowIfFailed();
        Assert.NotEqual(auto1, auto2);
        db.Snapshot("named").ThrowIfFailed();

        var list = db.Snapshots().ThrowIfFailed();
        // Oldest first, to the millisecond (snapshots taken within one are in name order).
        Assert.Equal(new[] { auto1, auto2, "named" }.Order(), list.Select(s => s.Name).Order());
        Assert.True(list.Zip(list.Skip(1)).All(p => p.First.Time <= p.Second.Time));
        Assert.All(list, s =>
        {
            Assert.Equal(DateTimeKind.Utc, s.Time.Kind);
            Assert.True(s.Time > before);
            Assert.True(s.Bytes > 0);
        });

        Assert.Equal(CairnErrorCode.Exists, db.Snapshot("named").ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, db.Snapshot("../x").ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, db.Snapshot("ok\0..").ErrorCode);   // C would see "ok"
        Assert.Equal(CairnErrorCode.Invalid, db.Snapshot("").ErrorCode);
        Assert.True(db.DropSnapshot("named").Success);
        Assert.Equal(CairnErrorCode.NotFound, db.DropSnapshot("named").ErrorCode);
        Assert.Equal(CairnErrorCode.NotFound, db.OpenSnapshot("named").ErrorCode);
        Assert.Equal(2, db.Snapshots().Result!.Count);

        db.Begin().ThrowIfFailed();
        Assert.Equal(CairnErrorCode.Txn, db.Snapshot("in-txn").ErrorCode);
        db.Rollback().ThrowIfFailed();
    }

    [Fact]
    public void SnapshotOutlivesItsStoreHandle()
    {
        KvStore snap;
        using (var db = OpenDb())
        {
            db.Put("k", "v");
            db.Snapshot("s").ThrowIfFailed();
            snap = db.OpenSnapshot("s").ThrowIfFailed();
        }
        using (snap) Assert.Equal("v", snap.GetString("k").Result);
    }

    [Fact]
    public void BackupOpensAsAStoreAndSharesNothing()
    {
        string dest = _tmp.Path("backup");
        using (var db = OpenDb())
        {
            db.Put("k", "v");
            Assert.True(db.Backup(dest).Success);
            Assert.Equal(CairnErrorCode.Exists, db.Backup(dest).ErrorCode);    // not empty now
            db.Put("k", "after");
        }
        using var copy = KvStore.Open(dest).ThrowIfFailed();
        Assert.Equal("v", copy.GetString("k").Result);
        Assert.True(copy.Put("w", "writable").Success);
    }

    [Fact]
    public void ClosedStoreAnswersClosed()
    {
        var db = OpenDb();
        db.Dispose();
        Assert.Equal(CairnErrorCode.Closed, db.Snapshot().ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, db.Snapshots().ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, db.OpenSnapshot("s").ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, db.DropSnapshot("s").ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, db.Backup(_tmp.Path("b")).ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, db.OpenSnapshot("bad\0name").ErrorCode);   // closed first
    }
}
