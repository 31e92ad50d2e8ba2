using System.Text.Json.Nodes;
using Xunit;

namespace Cairn.Tests;

public class TypedJsonTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    public sealed record User(string Name, int Age, string[] Langs);

    [Fact]
    public void RecordsRoundTripAsJsonDocuments()
    {
        using var db = KvStore.Open(_tmp.Path("db")).ThrowIfFailed();
        Assert.True(db.PutJson("u", new User("Ada", 36, new[] { "en", "fr" })).Success);
        Assert.Equal(CairnKind.Json, db.Get("u").Result!.Kind);
        var u = db.GetJson<User>("u").ThrowIfFailed()!;
        Assert.Equal("Ada", u.Name);
        Assert.Equal(36, u.Age);
        Assert.Equal(new[] { "en", "fr" }, u.Langs);
        // The same document through the untyped API, as every other language sees it.
        Assert.Equal("Ada", (string?)db.GetJson("u").Result!["Name"]);
        Assert.Equal(42, db.PutJson("n", 42).Success ? db.GetJson<int>("n").Result : -1);
    }

    [Fact]
    public void MismatchesAreTypeFailures()
    {
        using var db = KvStore.Open(_tmp.Path("db")).ThrowIfFailed();
        db.Put("t", "text").ThrowIfFailed();
        Assert.Equal(CairnErrorCode.Type, db.GetJson<User>("t").ErrorCode);
        db.Put("arr", new JsonArray(1, 2)).ThrowIfFailed();
        Assert.Equal(CairnErrorCode.Type, db.GetJson<User>("arr").ErrorCode);
        Assert.Equal(CairnErrorCode.NotFound, db.GetJson<User>("nope").ErrorCode);
        Assert.Equal(CairnErrorCode.Type, db.PutJson("p", new IntPtr(5)).ErrorCode);
    }
}
