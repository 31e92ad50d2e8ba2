using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Cairn.Native;
using Xunit;

namespace Cairn.Tests;

/// <summary>The raw layer is 1:1 with the C API: every CAIRN_API function of cairn.h has a
/// [LibraryImport] of that name, and every declared entry point exists in the loaded library.</summary>
public class RawLayerTests
{
    private static readonly Regex Decl = new(@"CAIRN_API\s+[^;(]*?\b(cairn_[a-z0-9_]+)\s*\(", RegexOptions.Compiled);

    private static HashSet<string> Bound() =>
        typeof(NativeMethods).GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
            .Select(m => m.GetCustomAttribute<LibraryImportAttribute>()?.EntryPoint)
            .Where(e => e != null).Select(e => e!).ToHashSet();

    [Fact]
    public void EveryFunctionOfTheHeaderIsBound()
    {
        string header = File.ReadAllText(System.IO.Path.Combine(AppContext.BaseDirectory, "data", "cairn.h"));
        var declared = Decl.Matches(header).Select(m => m.Groups[1].Value).ToHashSet();
        Assert.True(declared.Count > 40, $"parsed only {declared.Count} functions from cairn.h");
        var missing = declared.Except(Bound()).OrderBy(x => x).ToList();
        Assert.True(missing.Count == 0, "not bound in NativeMethods: " + string.Join(", ", missing));
    }

    [Fact]
    public void EveryBoundEntryPointExists()
    {
        string? path = CairnLibrary.NativePath;
        Assert.NotNull(path);
        IntPtr lib = NativeLibrary.Load(path!);
        try
        {
            foreach (string name in Bound())
                Assert.True(NativeLibrary.TryGetExport(lib, name, out _), name + " is not exported by " + path);
        }
        finally
        {
            NativeLibrary.Free(lib);
        }
    }
}
