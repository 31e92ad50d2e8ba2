using Xunit;

namespace Cairn.Tests;

public class TransactionScopeTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void KvScopeCommitsOrRollsBackOnDispose()
    {
        using var db = KvStore.Open(_tmp.Path("db")).ThrowIfFailed();
        using (var tx = db.BeginTransaction().ThrowIfFailed())
        {
            db.Put("a", "1").ThrowIfFailed();
            Assert.Equal(CairnErrorCode.Txn, db.BeginTransaction().ErrorCode);
            Assert.True(tx.Commit().Success);
            Assert.False(tx.IsOpen);
            Assert.Equal(CairnErrorCode.Txn, tx.Commit().ErrorCode);
        }
        using (var tx = db.BeginTransaction().ThrowIfFailed())
        {
            db.Put("b", "2").ThrowIfFailed();
        } // not committed: rolled back
        Assert.Equal("1", db.GetString("a").Result);
        Assert.Equal(CairnErrorCode.NotFound, db.Get("b").ErrorCode);
        Assert.False(db.Stats().Result!.InTransaction);
    }

    [Fact]
    public void BlobScopeRaisesEventsOnlyWhenCommitted()
    {
        using var s = BlobStore.Open(_tmp.Path("b")).ThrowIfFailed();
        int created = 0;
        s.OnCreated += (_, _) => created++;
        using (s.BeginTransaction().ThrowIfFailed())
            s.Create(new byte[] { 1 }).ThrowIfFailed();
        Assert.Equal(0, created);
        Assert.Equal(0, s.Count().Result);
        using (var tx = s.BeginTransaction().ThrowIfFailed())
        {
            s.Create(new byte[] { 1 }).ThrowIfFailed();
            tx.Commit().ThrowIfFailed();
        }
        Assert.Equal(1, created);
    }

    [Fact]
    public void DisposingTheScopeAfterTheStoreIsHarmless()
    {
        var db = KvStore.Open(_tmp.Path("db")).ThrowIfFailed();
        var tx = db.BeginTransaction().ThrowIfFailed();
        db.Put("a", "1").ThrowIfFailed();
        db.Dispose(); // rolls back
        tx.Dispose();
        Assert.False(tx.IsOpen);
        Assert.Equal(CairnErrorCode.Txn, tx.Commit().ErrorCode); // finished by the dispose
        using var again = KvStore.Open(_tmp.Path("db")).ThrowIfFailed();
        Assert.Equal(CairnErrorCode.NotFound, again.Get("a").ErrorCode);
    }
}
