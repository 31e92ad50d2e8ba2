using Cairn.Native;
using Xunit;

namespace Cairn.Tests;

public class NativeLoaderTests
{
    [Fact]
    public void TheEnvironmentDirectoryIsSearchedFirstThenTheAppThenRuntimesRid()
    {
        string? env = Environment.GetEnvironmentVariable(NativeLoader.DirVariable);
        var candidates = NativeLoader.Candidates().ToList();
        if (!string.IsNullOrEmpty(env))
            Assert.Equal(System.IO.Path.Combine(env, "libcairn.so"), candidates[0]);
        Assert.Contains(System.IO.Path.Combine(AppContext.BaseDirectory, "libcairn.so"), candidates);
        Assert.Contains(candidates, c => c.Contains(System.IO.Path.Combine("runtimes", "linux-x64", "native")));
    }

    [Fact]
    public void TheLibraryWasLoadedByTheResolver()
    {
        string? path = CairnLibrary.NativePath;
        Assert.NotNull(path);
        Assert.True(File.Exists(path), path);
    }
}
