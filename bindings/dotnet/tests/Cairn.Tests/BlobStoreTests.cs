using Xunit;

namespace Cairn.Tests;

public class BlobStoreTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private BlobStore OpenStore(string name = "blobs") =>
        BlobStore.Open(new BlobStoreOptions { Path = _tmp.Path(name) }).ThrowIfFailed();

    [Fact]
    public void CreateReadUpdateDelete()
    {
        using var s = OpenStore();
        var c = s.Create(new byte[] { 1, 2, 3 });
        Assert.True(c.Success);
        uint k = c.Result;
        Assert.Equal(new byte[] { 1, 2, 3 }, s.Read(k).Result);
        Assert.True(s.Exists(k).Result);
        Assert.True(s.Update(k, new byte[] { 4, 5, 6, 7, 8 }).Success);
        Assert.Equal(new byte[] { 4, 5, 6, 7, 8 }, s.Read(k).Result);
        Assert.True(s.Update(k, (ReadOnlySpan<byte>)new byte[] { 9 }).Success);
        Assert.Equal(new byte[] { 9 }, s.Read(k).Result);
        Assert.True(s.Delete(k).Success);
        Assert.False(s.Exists(k).Result);
        var missing = s.Read(k);
        Assert.False(missing.Success);
        Assert.Equal(CairnErrorCode.NotFound, missing.ErrorCode);
        Assert.Null(missing.Result);
        Assert.Equal(CairnErrorCode.NotFound, s.Update(k, new byte[] { 1 }).ErrorCode);
        Assert.Equal(CairnErrorCode.NotFound, s.Delete(k).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, s.Create((byte[])null!).ErrorCode);
    }

    [Fact]
    public void KeysAreNeverHandedOutTwice()
    {
        uint reserved, explicitKey = 1000;
        using (var s = OpenStore())
        {
            uint a = s.Create(new byte[] { 1 }).ThrowIfFailed();
            reserved = s.ReserveNextKey().ThrowIfFailed();
            Assert.NotEqual(a, reserved);
            Assert.True(s.Create(reserved, new byte[] { 2 }).Success);
            Assert.Equal(CairnErrorCode.Exists, s.Create(reserved, new byte[] { 3 }).ErrorCode);
            Assert.True(s.Create(explicitKey, (ReadOnlySpan<byte>)new byte[] { 4 }).Success);
            uint b = s.Create(new byte[] { 5 }).ThrowIfFailed();
            Assert.NotEqual(explicitKey, b);
            Assert.Equal(new uint[] { a, reserved, explicitKey, b }.OrderBy(x => x), s.Keys().Result);
            Assert.Equal(4, s.Count().Result);
        }
        using (var s = OpenStore())
        {
            Assert.Equal(4, s.Count().Result);
            var before = s.Keys().Result!;
            uint c = s.Create(new byte[] { 6 }).ThrowIfFailed();
            Assert.DoesNotContain(c, before); // never handed out twice, not even after reopen
        }
    }

    [Fact]
    public void ZeroLengthBlobSurvivesReopen()
    {
        uint k;
        using (var s = OpenStore())
        {
            k = s.Create(Array.Empty<byte>()).ThrowIfFailed();
            Assert.Empty(s.Read(k).Result!);
            Assert.True(s.Create(ReadOnlySpan<byte>.Empty).Success);
        }
        Assert.True(BlobStore.Check(_tmp.Path("blobs")).Success);
        using (var s = OpenStore())
        {
            Assert.Empty(s.Read(k).Result!);
            Assert.Equal(2, s.Count().Result);
        }
    }

    [Fact]
    public void EventsFireOncePerSuccessfulOperation()
    {
        using var s = OpenStore();
        var log = new List<string>();
        s.OnCreated += (o, e) => { Assert.Same(s, o); log.Add($"c{e.Key}:{e.OldSize}>{e.NewSize}"); };
        s.OnUpdated += (_, e) => log.Add($"u{e.Key}:{e.OldSize}>{e.NewSize}");
        s.OnDeleted += (_, e) => log.Add($"d{e.Key}:{e.OldSize}>{e.NewSize}");

        uint k = s.Create(new byte[10]).ThrowIfFailed();
        s.Update(k, new byte[20]).ThrowIfFailed();
        s.Delete(k).ThrowIfFailed();
        Assert.Equal(new[] { $"c{k}:0>10", $"u{k}:10>20", $"d{k}:20>0" }, log);

        log.Clear();
        Assert.False(s.Delete(k).Success);        // failed: no event
        Assert.False(s.Update(k, new byte[1]).Success);
        uint r = s.ReserveNextKey().ThrowIfFailed(); // reserving is not a change
        Assert.Empty(log);
        s.Create(r, new byte[3]).ThrowIfFailed();
        Assert.False(s.Create(r, new byte[3]).Success);
        Assert.Equal(new[] { $"c{r}:0>3" }, log);
    }

    [Fact]
    public void TransactionEventsAreDeferredToCommitAndDroppedOnRollback()
    {
        using var s = OpenStore();
        var log = new List<string>();
        s.OnCreated += (_, e) => log.Add("c" + e.Key);
        s.OnDeleted += (_, e) => log.Add("d" + e.Key);

        s.Begin().ThrowIfFailed();
        uint a = s.Create(new byte[] { 1 }).ThrowIfFailed();
        uint b = s.Create(new byte[] { 2 }).ThrowIfFailed();
        Assert.Empty(log);
        Assert.True(s.Stats().Result!.InTransaction);
        s.Commit().ThrowIfFailed();
        Assert.Equal(new[] { "c" + a, "c" + b }, log);

        log.Clear();
        s.Begin().ThrowIfFailed();
        s.Delete(a).ThrowIfFailed();
        s.Create(new byte[] { 3 }).ThrowIfFailed();
        s.Rollback().ThrowIfFailed();
        Assert.Empty(log);
        Assert.True(s.Exists(a).Result);
        Assert.Equal(CairnErrorCode.Txn, s.Commit().ErrorCode);
        Assert.Equal(CairnErrorCode.Txn, s.Rollback().ErrorCode);
        s.Begin().ThrowIfFailed();
        Assert.Equal(CairnErrorCode.Txn, s.Begin().ErrorCode);
        s.Rollback().ThrowIfFailed();
    }

    [Fact]
    public void HandlerExceptionsReachTheCallerAfterEveryEventWasRaised()
    {
        using var s = OpenStore();
        int raised = 0;
        s.OnCreated += (_, _) => { raised++; throw new InvalidOperationException("handler"); };
        s.Begin().ThrowIfFailed();
        s.Create(new byte[] { 1 }).ThrowIfFailed();
        s.Create(new byte[] { 2 }).ThrowIfFailed();
        var ex = Assert.Throws<AggregateException>(() => s.Commit());
        Assert.Equal(2, ex.InnerExceptions.Count);
        Assert.Equal(2, raised);
        Assert.Equal(2, s.Count().Result); // the commit itself happened
        Assert.Throws<InvalidOperationException>(() => s.Create(new byte[] { 3 }));
        Assert.Equal(3, s.Count().Result);
    }

    [Fact]
    public void HandlersCanUnsubscribeAndCallBackIntoTheStore()
    {
        using var s = OpenStore();
        var seen = new List<uint>();
        EventHandler<BlobEventArgs> h = (_, e) => seen.Add((uint)s.Read(e.Key).Result!.Length);
        s.OnCreated += h;
        uint first = s.Create(new byte[7]).ThrowIfFailed();
        s.OnCreated -= h;
        s.Create(new byte[8]).ThrowIfFailed();
        Assert.Equal(new uint[] { 7 }, seen);
        // The last handler gone, the native subscription went too; a new one works again.
        s.OnUpdated += h;
        s.Update(first, new byte[9]).ThrowIfFailed();
        Assert.Equal(new uint[] { 7, 9 }, seen);
    }

    [Fact]
    public void CheckAStoreFile()
    {
        using (var s = OpenStore())
            s.Create(new byte[] { 1, 2 }).ThrowIfFailed();
        Assert.True(BlobStore.Check(_tmp.Path("blobs")).Success);
        Assert.Equal(CairnErrorCode.Invalid, BlobStore.Check(null!).ErrorCode);
    }

    [Fact]
    public void EventsAreRaisedOnTheWritingThreadPerStore()
    {
        using var s1 = OpenStore("one");
        using var s2 = OpenStore("two");
        int n1 = 0, n2 = 0;
        s1.OnCreated += (_, _) => Interlocked.Increment(ref n1);
        s2.OnCreated += (_, _) => Interlocked.Increment(ref n2);
        Parallel.For(0, 4, t =>
        {
            for (int i = 0; i < 200; i++) (t % 2 == 0 ? s1 : s2).Create(new byte[] { (byte)i }).ThrowIfFailed();
        });
        Assert.Equal(400, n1);
        Assert.Equal(400, n2);
    }

    [Fact]
    public void SyncCompactStats()
    {
        using var s = OpenStore();
        var keys = Enumerable.Range(0, 50).Select(i => s.Create(new byte[100]).ThrowIfFailed()).ToList();
        foreach (uint k in keys.Where((_, i) => i % 2 == 0)) s.Delete(k).ThrowIfFailed();
        Assert.True(s.Sync().Success);
        var before = s.Stats().Result!;
        Assert.Equal(25, before.Entries);
        Assert.Equal(2500, before.LiveBytes);
        Assert.True(before.FreeBytes > 0);
        Assert.True(s.Compact().Success);
        var after = s.Stats().Result!;
        Assert.Equal(25, after.Entries);
        Assert.Equal(0, after.FreeBytes);
        Assert.True(after.FileSize < before.FileSize);
        foreach (uint k in keys.Where((_, i) => i % 2 == 1)) Assert.Equal(100, s.Read(k).Result!.Length);
        uint next = s.Stats().Result!.NextKey;
        Assert.Equal(next, s.Create(new byte[1]).Result); // the struct's fields line up with the C layout
        Assert.False(s.Stats().Result!.InTransaction);
    }

    [Fact]
    public void OpenErrorsAndClosedHandle()
    {
        Assert.Equal(CairnErrorCode.Invalid, BlobStore.Open(new BlobStoreOptions()).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, BlobStore.Open((BlobStoreOptions)null!).ErrorCode);
        Assert.Equal(CairnErrorCode.Path,
            BlobStore.Open(new BlobStoreOptions { Path = _tmp.Path("nope/x.db"), Create = false }).ErrorCode);
        using (var first = OpenStore())
            Assert.Equal(CairnErrorCode.Locked, BlobStore.Open(_tmp.Path("blobs")).ErrorCode);

        var s = OpenStore();
        uint k = s.Create(new byte[] { 1 }).ThrowIfFailed();
        s.Dispose();
        s.Dispose();
        var results = new ExecResponse[]
        {
            s.Create(new byte[] { 1 }), s.Create(5, new byte[] { 1 }), s.ReserveNextKey(), s.Read(k),
            s.Update(k, new byte[] { 2 }), s.Delete(k), s.Exists(k), s.Count(), s.Keys(), s.Sync(), s.Compact(),
            s.Stats(), s.Begin(), s.Commit(), s.Rollback(),
        };
        Assert.All(results, r => Assert.Equal(CairnErrorCode.Closed, r.ErrorCode));
        Assert.Throws<CairnException>(() => s.OnCreated += (_, _) => { });
    }

    [Fact]
    public void ReadOnlyStore()
    {
        OpenStore().Dispose();
        using var ro = BlobStore.Open(new BlobStoreOptions { Path = _tmp.Path("blobs"), ReadOnly = true }).ThrowIfFailed();
        Assert.Equal(CairnErrorCode.ReadOnly, ro.Create(new byte[] { 1 }).ErrorCode);
    }
}
