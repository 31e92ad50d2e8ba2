using Xunit;

namespace Cairn.Tests;

public class ExecResponseTests
{
    [Fact]
    public void SuccessShape()
    {
        var ok = ExecResponse.Ok;
        Assert.True(ok.Success);
        Assert.Equal(CairnErrorCode.Ok, ok.ErrorCode);
        Assert.Equal("", ok.Message);
        Assert.Equal("CAIRN_OK", ok.ErrorName);
        ok.ThrowIfFailed(); // no throw

        var r = ExecResponse<int>.Ok(42);
        Assert.True(r.Success);
        Assert.Equal(42, r.Result);
        Assert.Equal(42, r.ThrowIfFailed());
        Assert.Contains("42", r.ToString());
    }

    [Fact]
    public void FailureShape()
    {
        var f = ExecResponse<byte[]>.Fail(CairnErrorCode.NotFound, "not found");
        Assert.False(f.Success);
        Assert.Equal(CairnErrorCode.NotFound, f.ErrorCode);
        Assert.Equal("CAIRN_NOTFOUND", f.ErrorName);
        Assert.Equal("not found", f.Message);
        Assert.Null(f.Result);
        var ex = Assert.Throws<CairnException>(() => f.ThrowIfFailed());
        Assert.Equal(CairnErrorCode.NotFound, ex.ErrorCode);
        Assert.Equal("CAIRN_NOTFOUND", ex.ErrorName);
        Assert.Equal("not found", ex.Message);
        Assert.StartsWith("CAIRN_NOTFOUND", f.ToString());

        ExecResponse baseView = f;
        Assert.Throws<CairnException>(() => baseView.ThrowIfFailed());

        var carried = ExecResponse<long>.From(f);
        Assert.Equal(CairnErrorCode.NotFound, carried.ErrorCode);
        Assert.Equal(0L, carried.Result);
    }

    [Fact]
    public void ExceptionWithoutMessageUsesTheName()
    {
        var ex = new CairnException(CairnErrorCode.Locked, "");
        Assert.Equal("CAIRN_LOCKED", ex.Message);
    }

    [Fact]
    public void ValueConversions()
    {
        Assert.Equal(CairnKind.Bytes, KvValue.FromObject(new byte[] { 1 }).Result!.Kind);
        Assert.Equal(CairnKind.Bytes, KvValue.FromObject(new ReadOnlyMemory<byte>(new byte[] { 1 })).Result!.Kind);
        Assert.Equal(CairnKind.Text, KvValue.FromObject("x").Result!.Kind);
        Assert.Equal(CairnKind.Json, KvValue.FromObject(System.Text.Json.Nodes.JsonNode.Parse("{\"a\":1}")).Result!.Kind);
        foreach (object? bad in new object?[] { 5, 1.5, true, null, new List<int>(), new object() })
        {
            var r = KvValue.FromObject(bad);
            Assert.False(r.Success);
            Assert.Equal(CairnErrorCode.Type, r.ErrorCode);
        }
        Assert.Equal(CairnErrorCode.Invalid, KvValue.FromObject("bad \ud800 surrogate").ErrorCode);
        Assert.Equal(KvValue.FromString("é"), KvValue.FromRaw(CairnKind.Text, "é"u8));
        Assert.Equal("{\"a\":\"é\"}", KvValue.FromJson(System.Text.Json.Nodes.JsonNode.Parse("{\"a\":\"\\u00e9\"}")).AsString());
        Assert.Equal("null", KvValue.FromJson((System.Text.Json.Nodes.JsonNode?)null).AsString());
        Assert.Throws<InvalidOperationException>(() => KvValue.FromBytes(new byte[] { 1 }).AsString());
    }
}
