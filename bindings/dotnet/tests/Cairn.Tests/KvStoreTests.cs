using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Cairn.Tests;

public class KvStoreTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private KvStore OpenDb(string name = "db", KvOptions? o = null) => KvStore.Open(_tmp.Path(name), o).ThrowIfFailed();

    [Fact]
    public void PutGetTheThreeKinds()
    {
        using var db = OpenDb();
        Assert.True(db.Put("b", new byte[] { 0, 1, 255 }).Success);
        Assert.True(db.Put("t", "héllo ✓").Success);
        Assert.True(db.Put("j", JsonNode.Parse("{\"a\":[1,2,{\"b\":null}],\"s\":\"x\"}")).Success);
        Assert.True(db.Put("e", JsonDocument.Parse("[true,false]").RootElement).Success);
        Assert.True(db.Put("empty", Array.Empty<byte>()).Success);

        var b = db.Get("b");
        Assert.True(b.Success);
        Assert.Equal(CairnKind.Bytes, b.Result!.Kind);
        Assert.Equal(new byte[] { 0, 1, 255 }, b.Result.ToArray());
        Assert.Equal(new byte[] { 0, 1, 255 }, db.GetBytes("b").Result);

        Assert.Equal("héllo ✓", db.GetString("t").Result);
        Assert.Equal(CairnKind.Text, db.Get("t").Result!.Kind);

        var j = db.GetJson("j");
        Assert.True(j.Success);
        Assert.Equal("x", (string?)j.Result!["s"]);
        Assert.Equal(2, j.Result["a"]!.AsArray()[1]!.GetValue<int>());
        Assert.Equal("[true,false]", db.GetJson("e").Result!.ToJsonString());

        Assert.Empty(db.GetBytes("empty").Result!);

        // Kind mismatches are Type failures, never wrong data.
        Assert.Equal(CairnErrorCode.Type, db.GetString("b").ErrorCode);
        Assert.Equal(CairnErrorCode.Type, db.GetJson("t").ErrorCode);
    }

    [Fact]
    public void LargeValueRoundTrips()
    {
        using var db = OpenDb();
        var big = new byte[3 * 1024 * 1024 + 7];
        new Random(7).NextBytes(big);
        Assert.True(db.Put("big", big).Success);
        Assert.Equal(big, db.GetBytes("big").Result);
        var text = new string('z', 10_000) + "é";
        Assert.True(db.Put("longtext", text).Success);
        Assert.Equal(text, db.GetString("longtext").Result);
    }

    [Fact]
    public void MissingKeyIsNotFoundNotAnException()
    {
        using var db = OpenDb();
        var r = db.Get("nope");
        Assert.False(r.Success);
        Assert.Equal(CairnErrorCode.NotFound, r.ErrorCode);
        Assert.Null(r.Result);
        Assert.Equal(CairnErrorCode.NotFound, db.GetBytes("nope").ErrorCode);
        Assert.Equal(CairnErrorCode.NotFound, db.GetString("nope").ErrorCode);
        Assert.Equal(CairnErrorCode.NotFound, db.GetJson("nope").ErrorCode);
        Assert.Equal(CairnErrorCode.NotFound, db.Delete("nope").ErrorCode);
        Assert.False(db.Exists("nope").Result);
        Assert.Throws<CairnException>(() => db.Get("nope").ThrowIfFailed());
    }

    [Fact]
    public void DeleteExistsCountAndKeys()
    {
        using var db = OpenDb();
        foreach (var k in new[] { "b/2", "a/1", "b/1", "c" }) db.Put(k, k).ThrowIfFailed();
        db.Put(new byte[] { (byte)'b', 0, 0xff }, "bin").ThrowIfFailed();
        Assert.Equal(5, db.Count().Result);
        Assert.True(db.Exists("c").Result);
        Assert.Equal(CairnErrorCode.Type, db.KeyStrings().ErrorCode); // one key is not UTF-8
        var all = db.Keys().Result!;
        Assert.Equal(5, all.Count);
        // ascending bytewise: "b\0\xff" sorts before "b/1"
        Assert.Equal(new byte[] { (byte)'b', 0, 0xff }, all[1]);
        Assert.Equal(new[] { "b/1", "b/2" }, db.KeyStrings("b/").Result);
        Assert.Equal(CairnErrorCode.Type, db.KeyStrings("b").ErrorCode); // a key that is not UTF-8
        Assert.Equal("bin", db.GetString(new byte[] { (byte)'b', 0, 0xff }).Result);
        Assert.True(db.Delete("c").Success);
        Assert.False(db.Exists("c").Result);
        Assert.Equal(4, db.Count().Result);
        Assert.Empty(db.Keys("zzz").Result!);
    }

    [Fact]
    public void BadKeysAreTypedErrors()
    {
        using var db = OpenDb();
        Assert.Equal(CairnErrorCode.Invalid, db.Put("", "v").ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, db.Put(ReadOnlySpan<byte>.Empty, "v").ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, db.Get("").ErrorCode);
        Assert.Equal(CairnErrorCode.TooBig, db.Put(new string('k', 65536), "v").ErrorCode);
        Assert.True(db.Put(new string('k', 65535), "v").Success);
        Assert.Equal(CairnErrorCode.Invalid, db.Put((string)null!, "v").ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, db.Put("k", (byte[])null!).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, db.Put("k", (string)null!).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, db.Put("bad\ud800", "v").ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, db.Put("k", "bad\udc00").ErrorCode);
        var r = db.Put("", "v");
        Assert.False(string.IsNullOrEmpty(r.Message));
    }

    [Fact]
    public void UpdateMergesAJsonObject()
    {
        using var db = OpenDb();
        db.Put("doc", JsonNode.Parse("{\"a\":1,\"b\":{\"c\":2}}")).ThrowIfFailed();
        Assert.True(db.Update("doc", new JsonObject { ["b"] = 3, ["d"] = "new", ["n"] = null }).Success);
        var doc = db.GetJson("doc").Result!.AsObject();
        Assert.Equal(1, (int)doc["a"]!);
        Assert.Equal(3, (int)doc["b"]!);
        Assert.Equal("new", (string?)doc["d"]);
        Assert.True(doc.ContainsKey("n"));
        Assert.Equal(CairnErrorCode.NotFound, db.Update("nope", new JsonObject()).ErrorCode);
        db.Put("arr", JsonNode.Parse("[1]")).ThrowIfFailed();
        Assert.Equal(CairnErrorCode.Type, db.Update("arr", new JsonObject { ["x"] = 1 }).ErrorCode);
        db.Put("txt", "text").ThrowIfFailed();
        Assert.Equal(CairnErrorCode.Type, db.Update("txt", new JsonObject { ["x"] = 1 }).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, db.Update("doc", null!).ErrorCode);
    }

    [Fact]
    public void TransactionsCommitAndRollback()
    {
        using var db = OpenDb();
        db.Put("keep", "1").ThrowIfFailed();
        Assert.True(db.Begin().Success);
        Assert.Equal(CairnErrorCode.Txn, db.Begin().ErrorCode); // nested
        db.Put("a", "x").ThrowIfFailed();
        db.Delete("keep").ThrowIfFailed();
        Assert.Equal("x", db.GetString("a").Result); // reads see the transaction
        Assert.True(db.Stats().Result!.InTransaction);
        Assert.True(db.Rollback().Success);
        Assert.Equal(CairnErrorCode.NotFound, db.Get("a").ErrorCode);
        Assert.Equal("1", db.GetString("keep").Result);
        Assert.Equal(CairnErrorCode.Txn, db.Commit().ErrorCode);
        Assert.Equal(CairnErrorCode.Txn, db.Rollback().ErrorCode);

        db.Begin().ThrowIfFailed();
        db.Put("a", "y").ThrowIfFailed();
        db.Put("b", "z").ThrowIfFailed();
        db.Commit().ThrowIfFailed();
        Assert.False(db.Stats().Result!.InTransaction);
        db.Dispose();

        using var again = OpenDb();
        Assert.Equal("y", again.GetString("a").Result);
        Assert.Equal("z", again.GetString("b").Result);
    }

    [Fact]
    public void DisposeInsideATransactionRollsBack()
    {
        var db = OpenDb();
        db.Begin().ThrowIfFailed();
        db.Put("a", "x").ThrowIfFailed();
        db.Dispose();
        using var again = OpenDb();
        Assert.Equal(CairnErrorCode.NotFound, again.Get("a").ErrorCode);
    }

    [Fact]
    public void ReopenSyncCompactStats()
    {
        using (var db = OpenDb())
        {
            for (int i = 0; i < 200; i++) db.Put("k" + i, new byte[100]).ThrowIfFailed();
            for (int i = 0; i < 100; i++) db.Delete("k" + i).ThrowIfFailed();
            Assert.True(db.Sync().Success);
            var before = db.Stats().Result!;
            Assert.Equal(100, before.Keys);
            Assert.True(db.Compact().Success);
            var after = db.Stats().Result!;
            Assert.Equal(100, after.Keys);
            Assert.Equal(0, after.DeadBytes);
            Assert.True(after.Compactions >= 1);
            db.Begin().ThrowIfFailed();
            Assert.Equal(CairnErrorCode.Txn, db.Compact().ErrorCode);
            db.Rollback().ThrowIfFailed();
        }
        Assert.True(KvStore.Check(_tmp.Path("db")).Success);
        using var again = OpenDb();
        Assert.Equal(100, again.Count().Result);
        Assert.Equal(CairnErrorCode.NotFound, again.Get("k5").ErrorCode);
        Assert.Equal(100, again.GetBytes("k150").Result!.Length);
    }

    [Fact]
    public void OpenErrors()
    {
        File.WriteAllText(_tmp.Path("afile"), "x");
        var r = KvStore.Open(_tmp.Path("afile"));
        Assert.False(r.Success);
        Assert.Equal(CairnErrorCode.Path, r.ErrorCode);
        Assert.Null(r.Result);
        Assert.Equal(CairnErrorCode.Path, KvStore.Open(_tmp.Path("missing"), new KvOptions { Create = false }).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, KvStore.Open(null!).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, KvStore.Open(_tmp.Path("x"), new KvOptions { Sync = (SyncMode)9 }).ErrorCode);

        using var db = OpenDb();
        var second = KvStore.Open(_tmp.Path("db"));
        Assert.Equal(CairnErrorCode.Locked, second.ErrorCode);
        Assert.False(string.IsNullOrEmpty(second.Message));
    }

    [Fact]
    public void ReadOnlyRejectsWrites()
    {
        OpenDb().Dispose();
        using var ro = KvStore.Open(_tmp.Path("db"), new KvOptions { ReadOnly = true }).ThrowIfFailed();
        Assert.Equal(CairnErrorCode.ReadOnly, ro.Put("a", "b").ErrorCode);
    }

    [Fact]
    public void EveryCallOnADisposedStoreIsClosed()
    {
        var db = OpenDb();
        db.Put("a", "b").ThrowIfFailed();
        db.Dispose();
        db.Dispose(); // twice is fine
        Assert.True(db.IsClosed);
        Assert.True(db.Close().Success);
        var results = new ExecResponse[]
        {
            db.Put("a", "b"), db.Put("a", new byte[1]), db.Put("a", new JsonObject()), db.Get("a"), db.GetBytes("a"),
            db.GetString("a"), db.GetJson("a"), db.Delete("a"), db.Exists("a"), db.Count(), db.Keys(),
            db.KeyStrings(), db.Update("a", new JsonObject()), db.Begin(), db.Commit(), db.Rollback(), db.Sync(),
            db.Compact(), db.Stats(), db.Expiry("a"),
        };
        foreach (var r in results)
        {
            Assert.False(r.Success);
            Assert.Equal(CairnErrorCode.Closed, r.ErrorCode);
        }
        // The lock was released: the directory opens again.
        using var again = OpenDb();
        Assert.Equal("b", again.GetString("a").Result);
    }

    [Fact]
    public void DisposeDuringKeyVisitDefersTheNativeClose()
    {
        var db = OpenDb();
        for (int i = 0; i < 10; i++) db.Put("k" + i, "v").ThrowIfFailed();
        int seen = 0;
        var r = db.ForEachKey(ReadOnlySpan<byte>.Empty, k =>
        {
            if (seen++ == 2) db.Dispose(); // the iterator keeps the native store alive until it ends
        });
        Assert.True(r.Success);
        Assert.Equal(10, seen);
        Assert.Equal(CairnErrorCode.Closed, db.Count().ErrorCode);
        using var again = OpenDb(); // and then it really closed
        Assert.Equal(10, again.Count().Result);
    }
}
