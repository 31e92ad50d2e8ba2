using System.Text.Json.Nodes;
using Xunit;

namespace Cairn.Tests;

[CollectionDefinition("clock", DisableParallelization = true)]
public class ClockCollection { }

/// <summary>ttl / expireAt and Expiry(), on the core's test clock (no test sleeps). The clock is
/// process-wide: these tests run alone.</summary>
[Collection("clock")]
public class ExpiryTests : IDisposable
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
    private readonly TempDir _tmp = new();

    public ExpiryTests() => CairnTesting.SetClock(T0);

    public void Dispose()
    {
        CairnTesting.SetClock(null);
        _tmp.Dispose();
    }

    private KvStore OpenDb() => KvStore.Open(_tmp.Path("db")).ThrowIfFailed();

    [Fact]
    public void TtlCountsFromTheClockAndExpires()
    {
        using var db = OpenDb();
        db.Put("s", "v", ttl: TimeSpan.FromMilliseconds(1500)).ThrowIfFailed();
        Assert.Equal(T0.AddMilliseconds(1500), db.Expiry("s").Result);
        CairnTesting.SetClock(T0.AddMilliseconds(1499));
        Assert.Equal("v", db.GetString("s").Result);
        CairnTesting.SetClock(T0.AddMilliseconds(1500));
        Assert.Equal(CairnErrorCode.NotFound, db.Get("s").ErrorCode);
        Assert.Equal(CairnErrorCode.NotFound, db.Expiry("s").ErrorCode);
    }

    [Fact]
    public void ExpireAtIsAnAbsoluteTime()
    {
        using var db = OpenDb();
        var at = T0.AddMinutes(5);
        db.Put("k", new byte[] { 1 }, expireAt: at).ThrowIfFailed();
        Assert.Equal(at, db.Expiry("k").Result);
        db.Put("past", "v", expireAt: T0.AddMinutes(-1)).ThrowIfFailed();
        Assert.Equal(CairnErrorCode.NotFound, db.Get("past").ErrorCode);
        db.Put("epoch", "v", expireAt: DateTimeOffset.UnixEpoch).ThrowIfFailed(); // expired, not "never"
        Assert.Equal(CairnErrorCode.NotFound, db.Get("epoch").ErrorCode);
        CairnTesting.SetClock(at);
        Assert.Equal(CairnErrorCode.NotFound, db.Get("k").ErrorCode);
    }

    [Fact]
    public void ExpiryOfANeverExpiringKeyIsNullAndOfAMissingKeyNotFound()
    {
        using var db = OpenDb();
        db.Put("never", "v").ThrowIfFailed();
        var never = db.Expiry("never");
        Assert.True(never.Success);
        Assert.Null(never.Result);
        var missing = db.Expiry("missing");
        Assert.False(missing.Success);
        Assert.Equal(CairnErrorCode.NotFound, missing.ErrorCode);
    }

    [Fact]
    public void BadTtlsAreInvalid()
    {
        using var db = OpenDb();
        Assert.Equal(CairnErrorCode.Invalid,
            db.Put("k", "v", ttl: TimeSpan.FromSeconds(1), expireAt: T0.AddSeconds(1)).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, db.Put("k", "v", ttl: TimeSpan.FromMilliseconds(-1)).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid,
            db.Put("k", "v", expireAt: new DateTimeOffset(1960, 1, 1, 0, 0, 0, TimeSpan.Zero)).ErrorCode);
        Assert.False(db.Exists("k").Result);
        db.Put("zero", "v", ttl: TimeSpan.Zero).ThrowIfFailed(); // expires at once
        Assert.Equal(CairnErrorCode.NotFound, db.Get("zero").ErrorCode);
    }

    [Fact]
    public void UpdateKeepsTheExpiry()
    {
        using var db = OpenDb();
        var at = T0.AddHours(1);
        db.Put("doc", new JsonObject { ["a"] = 1 }, expireAt: at).ThrowIfFailed();
        db.Update("doc", new JsonObject { ["b"] = 2 }).ThrowIfFailed();
        Assert.Equal(at, db.Expiry("doc").Result);
        Assert.Equal("{\"a\":1,\"b\":2}", db.GetJson("doc").Result!.ToJsonString());
    }
}
