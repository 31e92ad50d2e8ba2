// Finds the native core for the [LibraryImport]s of this assembly. Order:
//   1. the directory in the environment variable CAIRN_NATIVE_DIR (build trees, tests);
//   2. the application's directory and this assembly's directory (the library copied next to them);
//   3. runtimes/<rid>/native/ under those (the NuGet layout, when the app has no deps.json entry);
//   4. the runtime's default probing (deps.json, LD_LIBRARY_PATH, system directories).
using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Cairn.Native;

internal static class NativeLoader
{
    /// <summary>Environment variable naming a directory that holds the native library.</summary>
    public const string DirVariable = "CAIRN_NATIVE_DIR";

    /// <summary>Full path of the library loaded by the resolver (null if default probing found it).</summary>
    public static string? LoadedFrom { get; private set; }

#pragma warning disable CA2255 // a module initializer is the one place that runs before any P/Invoke
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Init()
    {
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(NativeLoader).Assembly, Resolve);
        }
        catch (InvalidOperationException)
        {
            // A resolver is already set for this assembly (the host set one): keep it.
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != NativeMethods.Lib) return IntPtr.Zero;
        foreach (string path in Candidates())
        {
            if (File.Exists(path) && NativeLibrary.TryLoad(path, out IntPtr h))
            {
                LoadedFrom = path;
                return h;
            }
        }
        return IntPtr.Zero; // fall back to the runtime's own probing
    }

    internal static IEnumerable<string> Candidates()
    {
        string[] files = OperatingSystem.IsWindows() ? new[] { "cairn.dll" }
            : OperatingSystem.IsMacOS() ? new[] { "libcairn.dylib" }
            : new[] { "libcairn.so", "libcairn.so.0" };

        var dirs = new List<string>();
        string? env = Environment.GetEnvironmentVariable(DirVariable);
        if (!string.IsNullOrEmpty(env)) dirs.Add(env);
        var bases = new List<string>();
        if (!string.IsNullOrEmpty(AppContext.BaseDirectory)) bases.Add(AppContext.BaseDirectory);
        string asmDir = Path.GetDirectoryName(typeof(NativeLoader).Assembly.Location) ?? "";
        if (asmDir.Length > 0) bases.Add(asmDir);
        dirs.AddRange(bases);
        foreach (string rid in Rids())
            foreach (string b in bases)
                dirs.Add(Path.Combine(b, "runtimes", rid, "native"));

        foreach (string d in dirs)
            foreach (string f in files)
                yield return Path.Combine(d, f);
    }

    private static IEnumerable<string> Rids()
    {
        yield return RuntimeInformation.RuntimeIdentifier;
        string os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
        string arch = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        yield return os + "-" + arch;
    }
}
