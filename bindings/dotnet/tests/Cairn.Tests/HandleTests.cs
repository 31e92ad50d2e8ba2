using System.Runtime.CompilerServices;
using Xunit;

namespace Cairn.Tests;

/// <summary>SafeHandle lifetimes: finalization releases the writer lock, Dispose races with calls safely,
/// and one handle serves many threads.</summary>
public class HandleTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference OpenAndForget(string path)
    {
        var db = KvStore.Open(path).ThrowIfFailed();
        db.Put("k", "v").ThrowIfFailed();
        return new WeakReference(db);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference OpenBlobAndForget(string path)
    {
        var b = BlobStore.Open(path).ThrowIfFailed();
        b.OnCreated += (_, _) => { };
        b.Create(new byte[] { 1 }).ThrowIfFailed();
        return new WeakReference(b);
    }

    [Fact]
    public void FinalizerClosesAnUndisposedKvStore()
    {
        string path = _tmp.Path("db");
        WeakReference w = OpenAndForget(path);
        Assert.Equal(CairnErrorCode.Locked, KvStore.Open(path).ErrorCode);
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.False(w.IsAlive);
        using var again = KvStore.Open(path).ThrowIfFailed(); // the lock was released by the finalizer
        Assert.Equal("v", again.GetString("k").Result);
    }

    [Fact]
    public void FinalizerClosesAnUndisposedBlobStoreWithHandlers()
    {
        string path = _tmp.Path("blobs");
        WeakReference w = OpenBlobAndForget(path);
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.False(w.IsAlive); // event subscription does not root the store
        using var again = BlobStore.Open(path).ThrowIfFailed();
        Assert.Equal(1, again.Count().Result);
    }

    [Fact]
    public void DisposeRacingWithCallsGivesSuccessOrClosedNeverACrash()
    {
        for (int round = 0; round < 5; round++)
        {
            string path = _tmp.Path("race" + round);
            var db = KvStore.Open(path, new KvOptions { Sync = SyncMode.None }).ThrowIfFailed();
            using var start = new ManualResetEventSlim();
            var bad = new System.Collections.Concurrent.ConcurrentBag<string>();
            var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
            {
                start.Wait();
                for (int i = 0; i < 2000; i++)
                {
                    ExecResponse r = (i % 2 == 0) ? db.Put($"t{t}-{i}", "v") : db.Get($"t{t}-{i - 1}");
                    if (!r.Success && r.ErrorCode != CairnErrorCode.Closed) bad.Add(r.ToString());
                }
            })).ToList();
            threads.ForEach(th => th.Start());
            start.Set();
            Thread.Sleep(round); // dispose at varying points
            db.Dispose();
            threads.ForEach(th => th.Join());
            Assert.Empty(bad);
            using var again = KvStore.Open(path).ThrowIfFailed();
        }
    }

    [Fact]
    public void ManyThreadsShareOneHandle()
    {
        using var db = KvStore.Open(_tmp.Path("mt"), new KvOptions { Sync = SyncMode.None }).ThrowIfFailed();
        const int threads = 4, per = 1000;
        var errors = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            for (int i = 0; i < per; i++)
            {
                string k = $"t{t}:{i}";
                var p = db.Put(k, BitConverter.GetBytes(i));
                if (!p.Success) errors.Add("put " + p);
                var g = db.GetBytes(k);
                if (!g.Success || BitConverter.ToInt32(g.Result!) != i) errors.Add("get " + g);
            }
        });
        Assert.Empty(errors);
        Assert.Equal(threads * per, db.Count().Result);
        Assert.Equal(per, db.Keys("t2:").Result!.Count);
    }

    [Fact]
    public void GroupCommitFromManyThreadsKeepsEveryWrite()
    {
        string path = _tmp.Path("group");
        using (var db = KvStore.Open(path, new KvOptions { Sync = SyncMode.Group }).ThrowIfFailed())
        {
            var errors = new System.Collections.Concurrent.ConcurrentBag<string>();
            Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, t =>
            {
                for (int i = 0; i < 50; i++)
                {
                    var r = db.Put($"g{t}:{i}", "v");
                    if (!r.Success) errors.Add(r.ToString());
                }
            });
            Assert.Empty(errors);
        }
        using var again = KvStore.Open(path).ThrowIfFailed();
        Assert.Equal(200, again.Count().Result);
    }

    [Fact]
    public void ConcurrentBlobCreatesGetDistinctKeys()
    {
        using var s = BlobStore.Open(new BlobStoreOptions { Path = _tmp.Path("blobs"), Sync = SyncMode.None }).ThrowIfFailed();
        var keys = new System.Collections.Concurrent.ConcurrentBag<uint>();
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, t =>
        {
            for (int i = 0; i < 250; i++) keys.Add(s.Create(new byte[] { (byte)t, (byte)i }).ThrowIfFailed());
        });
        Assert.Equal(1000, keys.Distinct().Count());
        Assert.Equal(1000, s.Count().Result);
        Assert.Equal(keys.OrderBy(k => k), s.Keys().Result);
    }

    [Fact]
    public void ErrorMessagesAreThreadLocal()
    {
        using var db = KvStore.Open(_tmp.Path("msg")).ThrowIfFailed();
        File.WriteAllText(_tmp.Path("file"), "x");
        var messages = new System.Collections.Concurrent.ConcurrentBag<(CairnErrorCode, string)>();
        Parallel.For(0, 8, i =>
        {
            var r = i % 2 == 0 ? (ExecResponse)KvStore.Open(_tmp.Path("file")) : db.Put("", "v");
            messages.Add((r.ErrorCode, r.Message));
        });
        foreach (var (code, msg) in messages)
        {
            Assert.True(code is CairnErrorCode.Path or CairnErrorCode.Invalid, code.ToString());
            Assert.False(string.IsNullOrEmpty(msg));
        }
    }
}
