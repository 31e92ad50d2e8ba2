using System.Text.RegularExpressions;
using Xunit;

namespace Cairn.Tests;

/// <summary>NativeStore.Metrics: the Prometheus text of every engine's stats.</summary>
public class MetricsTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void KvMetricsCountTheKeys()
    {
        using var db = KvStore.Open(_tmp.Path("db")).ThrowIfFailed();
        Assert.True(db.Put("a", "1").Success);
        Assert.True(db.Put("b", "2").Success);
        var m = db.Metrics();
        Assert.True(m.Success, m.Message);
        Assert.Matches(new Regex("^cairn_kv_keys\\{store=\"[^\"]*\"\\} 2$", RegexOptions.Multiline), m.Result!);
        Assert.Contains("# TYPE cairn_kv_keys gauge", m.Result);
        Assert.Contains("# TYPE cairn_kv_compactions_total counter", m.Result);
    }

    [Fact]
    public void EveryEngineHasMetrics()
    {
        using var blob = BlobStore.Open(_tmp.Path("blob")).ThrowIfFailed();
        Assert.True(blob.Create(new byte[] { 1, 2, 3 }).Success);
        Assert.Matches(new Regex("^cairn_blob_entries\\{store=\"[^\"]*\"\\} 1$", RegexOptions.Multiline), blob.Metrics().Result!);

        using var t = Table.Open(new TableOptions { Path = _tmp.Path("t"), Schema = "id i64" }).ThrowIfFailed();
        Assert.True(t.Insert(new Row { ["id"] = 1L }).Success);
        Assert.Matches(new Regex("^cairn_table_rows\\{store=\"[^\"]*\"\\} 1$", RegexOptions.Multiline), t.Metrics().Result!);

        using var repo = Repo.Open(_tmp.Path("repo")).ThrowIfFailed();
        Assert.Contains("# TYPE cairn_repo_tenants gauge", repo.Metrics().Result!);
    }

    [Fact]
    public void ClosedStoreGivesClosed()
    {
        var db = KvStore.Open(_tmp.Path("db")).ThrowIfFailed();
        db.Dispose();
        var m = db.Metrics();
        Assert.False(m.Success);
        Assert.Equal(CairnErrorCode.Closed, m.ErrorCode);
    }
}
