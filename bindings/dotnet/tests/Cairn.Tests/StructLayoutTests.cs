using System.Reflection;
using System.Runtime.InteropServices;
using Cairn.Native;
using Xunit;

namespace Cairn.Tests;

/// <summary>Every C struct the binding copies (Structs.g.cs) has the library's own layout: the size of
/// the struct and the offset and size of every field, as cairn_layout() reports them.</summary>
public class StructLayoutTests
{
    private static (int Rc, nuint Offset, nuint Size) Layout(string type, string? field)
    {
        int rc = NativeMethods.cairn_layout(type, field, out nuint offset, out nuint size);
        return (rc, offset, size);
    }

    [Fact]
    public void EveryCopiedStructMatchesTheLibrary()
    {
        Assert.True(NativeLayouts.All.Length >= 4, "expected the options and stats structs of both engines");
        foreach (var (ctype, type, fields) in NativeLayouts.All)
        {
            var whole = Layout(ctype, null);
            Assert.True(whole.Rc == 0, $"cairn_layout does not know {ctype}");
            Assert.True((nuint)Marshal.SizeOf(type) == whole.Size,
                $"{ctype}: sizeof is {whole.Size} in C, {Marshal.SizeOf(type)} in .NET");
            var declared = type.GetFields(BindingFlags.Instance | BindingFlags.Public).Select(f => f.Name).ToList();
            Assert.Equal(declared, fields.Select(f => f.Net).ToList());
            foreach (var (c, net) in fields)
            {
                var l = Layout(ctype, c);
                Assert.True(l.Rc == 0, $"cairn_layout does not know {ctype}.{c}");
                FieldInfo fi = type.GetField(net)!;
                Assert.True((nuint)Marshal.OffsetOf(type, net) == l.Offset,
                    $"{ctype}.{c}: offset {l.Offset} in C, {Marshal.OffsetOf(type, net)} in .NET");
                Assert.True((nuint)Marshal.SizeOf(fi.FieldType) == l.Size,
                    $"{ctype}.{c}: size {l.Size} in C, {Marshal.SizeOf(fi.FieldType)} in .NET");
            }
        }
    }

    [Fact]
    public void UnknownNamesAreNotFound()
    {
        Assert.Equal((int)CairnErrorCode.NotFound, Layout("cairn_nope", null).Rc);
        Assert.Equal((int)CairnErrorCode.NotFound, Layout("cairn_kv_stats", "nope").Rc);
    }

    [Fact]
    public void StatsCarryTheirSize()
    {
        Assert.Equal((uint)Marshal.SizeOf<CairnKvStats>(), CairnKvStats.Init().Size);
        Assert.Equal((uint)Marshal.SizeOf<CairnBlobStats>(), CairnBlobStats.Init().Size);
    }
}
