using System.Text.RegularExpressions;
using Xunit;

namespace Cairn.Tests;

/// <summary>The enum must mirror core/include/cairn_errors.def exactly, and agree with the native names.</summary>
public class ErrorTableTests
{
    private static readonly Regex Row = new(@"^\s*X\(\s*(-?\d+)\s*,\s*([A-Z0-9_]+)\s*,\s*""([^""]*)""\s*\)", RegexOptions.Compiled);

    internal static List<(int Code, string Name, string Text)> ReadDef()
    {
        string path = System.IO.Path.Combine(AppContext.BaseDirectory, "data", "cairn_errors.def");
        var rows = new List<(int, string, string)>();
        foreach (string line in File.ReadLines(path))
        {
            Match m = Row.Match(line);
            if (m.Success) rows.Add((int.Parse(m.Groups[1].Value), m.Groups[2].Value, m.Groups[3].Value));
        }
        return rows;
    }

    [Fact]
    public void EnumMirrorsTheDefFile()
    {
        var rows = ReadDef();
        Assert.True(rows.Count >= 24, $"parsed only {rows.Count} rows from cairn_errors.def");
        var members = Enum.GetValues<CairnErrorCode>();
        foreach (var (code, name, _) in rows)
        {
            Assert.True(Enum.IsDefined(typeof(CairnErrorCode), code), $"code {code} ({name}) missing from CairnErrorCode");
            var member = (CairnErrorCode)code;
            Assert.Equal(name, member.ToString().ToUpperInvariant());
            Assert.Equal("CAIRN_" + name, CairnErrors.NameOf(member));
            Assert.True(CairnErrors.TryParse("CAIRN_" + name, out var parsed));
            Assert.Equal(member, parsed);
        }
        Assert.Equal(rows.Count, members.Length);
        Assert.Equal(rows.Count, rows.Select(r => r.Code).Distinct().Count());
    }

    [Fact]
    public void NamesAndTextsAgreeWithTheNativeTable()
    {
        foreach (var (code, name, text) in ReadDef())
        {
            Assert.Equal("CAIRN_" + name, CairnLibrary.ErrorName(code));
            Assert.Equal(text, CairnLibrary.ErrorText(code));
        }
        Assert.Equal("CAIRN_UNKNOWN", CairnLibrary.ErrorName(-9999));
        Assert.Equal("CAIRN_UNKNOWN", CairnErrors.NameOf((CairnErrorCode)(-9999)));
        Assert.False(CairnErrors.TryParse("CAIRN_NOPE", out _));
    }

    [Fact]
    public void NativeLibraryLoadsAndReportsItsVersion()
    {
        Assert.Matches(@"^\d+\.\d+\.\d+", CairnLibrary.Version);
    }
}
