using System.Text.RegularExpressions;
using Xunit;

namespace Cairn.Tests;

[CollectionDefinition("docs", DisableParallelization = true)]
public class DocsCollection { }

/// <summary>docs/dotnet.md's examples are DocsExamples.cs line for line, and print what the guide says.</summary>
[Collection("docs")]
public class DocsTests
{
    private static string Data(string name) => System.IO.Path.Combine(AppContext.BaseDirectory, "data", name);

    private static List<List<string>> Blocks()
    {
        var blocks = new List<List<string>>();
        List<string>? cur = null;
        foreach (string line in File.ReadLines(Data("dotnet.md")))
        {
            if (cur is null && line.Trim() == "```csharp") cur = new List<string>();
            else if (cur is not null && line.Trim() == "```") { blocks.Add(cur); cur = null; }
            else cur?.Add(line);
        }
        return blocks;
    }

    private static List<string> Normalize(IEnumerable<string> lines) =>
        lines.Select(l => l.Trim()).Where(l => l.Length > 0).ToList();

    [Fact]
    public void EveryExampleOfTheGuideIsCompiledHere()
    {
        var blocks = Blocks();
        Assert.Equal(DocsExamples.All.Length, blocks.Count);
        var source = Normalize(File.ReadLines(Data("DocsExamples.cs")));
        foreach (var block in blocks)
        {
            var b = Normalize(block);
            bool found = Enumerable.Range(0, source.Count - b.Count + 1)
                .Any(i => source.Skip(i).Take(b.Count).SequenceEqual(b));
            Assert.True(found, "this example of docs/dotnet.md is not in DocsExamples.cs:\n" + string.Join("\n", b));
        }
    }

    private static readonly Regex Printed = new(@"Console\.WriteLine\(.*\);\s*//\s?(.*)$");

    [Fact]
    public void ExamplesPrintWhatTheGuideSays()
    {
        var blocks = Blocks();
        using var tmp = new TempDir();
        string oldDir = Environment.CurrentDirectory;
        TextWriter oldOut = Console.Out;
        try
        {
            Environment.CurrentDirectory = tmp.Root;
            for (int i = 0; i < DocsExamples.All.Length; i++)
            {
                var expected = blocks[i].Select(l => Printed.Match(l)).Where(m => m.Success)
                    .Select(m => m.Groups[1].Value.Trim()).ToList();
                var sw = new StringWriter();
                Console.SetOut(sw);
                DocsExamples.All[i]();
                Console.SetOut(oldOut);
                var printed = sw.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(s => s.TrimEnd('\r')).ToList();
                Assert.Equal(expected, printed);
            }
        }
        finally
        {
            Console.SetOut(oldOut);
            Environment.CurrentDirectory = oldDir;
        }
    }
}
