using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace Cairn.Tests;

public class RepoTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private Repo OpenRepo(string name = "repo", bool readOnly = false) =>
        Repo.Open(new RepoOptions { Path = _tmp.Path(name), ReadOnly = readOnly, Sync = SyncMode.None }).ThrowIfFailed();

    private static bool IsDigest(string? d) => d is { Length: 64 } && d.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    [Fact]
    public void SaveLoadEveryKindAndOldVersions()
    {
        using var repo = OpenRepo();
        Assert.True(repo.Init("acme").Success);
        string d1 = repo.Save("acme", "ada", "doc", "v1").ThrowIfFailed();
        string d2 = repo.Save("acme", "ada", "doc", new JsonObject { ["n"] = 2 }).ThrowIfFailed();
        string d3 = repo.Save("acme", "bob", "bin", new byte[] { 0, 255 }).ThrowIfFailed();
        Assert.True(IsDigest(d1) && IsDigest(d2) && IsDigest(d3));
        Assert.NotEqual(d1, d2);

        var head = repo.Load("acme", "doc").ThrowIfFailed();
        Assert.Equal(CairnKind.Json, head.Kind);
        Assert.Equal(2, (int)head.AsJson()!["n"]!);
        var old = repo.Load("acme", "doc", d1).ThrowIfFailed();
        Assert.Equal(KvValue.FromString("v1"), old);
        Assert.Equal(new byte[] { 0, 255 }, repo.Load("acme", "bin").Result!.ToArray());
        Assert.Equal(d2, repo.Digest("acme", "doc").Result);
        Assert.True(repo.Exists("acme", "doc").Result);
        Assert.False(repo.Exists("acme", "nothing").Result);
        Assert.False(repo.Exists("nobody", "doc").Result);

        Assert.Equal(CairnErrorCode.NotFound, repo.Load("acme", "nothing").ErrorCode);
        Assert.Equal(CairnErrorCode.NotFound, repo.Load("nobody", "doc").ErrorCode);
        Assert.Equal(CairnErrorCode.NotFound, repo.Load("acme", "bin", d1).ErrorCode); // a digest of another entry
        Assert.Equal(CairnErrorCode.NotFound, repo.Digest("acme", "nothing").ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, repo.Load("acme", "doc", "abc").ErrorCode);
        Assert.Equal(CairnErrorCode.NotFound, repo.Save("nobody", "u", "doc", "x").ErrorCode);

        Assert.Equal(new[] { "bin", "doc" }, repo.Entries("acme").Result);
        Assert.Equal(new[] { "acme" }, repo.Tenants().Result);
        Assert.Equal(CairnErrorCode.NotFound, repo.Entries("nobody").ErrorCode);
    }

    [Fact]
    public void CacheBytesNoneDefaultAndLargeGiveTheSameAnswers()
    {
        var answers = new List<string>();
        foreach (ulong cache in new ulong[] { 1, 0, ulong.MaxValue })
        {
            using var repo = Repo.Open(new RepoOptions { Path = _tmp.Path("cache"), Sync = SyncMode.None, CacheBytes = cache }).ThrowIfFailed();
            repo.Init("t").ThrowIfFailed();
            var recs = Enumerable.Range(0, 300).Select(i => ($"k{i:D4}", (object)$"v{i}")).ToArray();
            string d1 = repo.PutMany("t", "u", "c", recs).ThrowIfFailed();
            string d2 = repo.Put("t", "u", "c", "k0150", "changed").ThrowIfFailed();
            static string Keys(IReadOnlyList<byte[]> ks) => string.Join(",", ks.Select(k => Convert.ToHexString(k)));
            RepoDiff diff = repo.Diff("t", d1, d2).ThrowIfFailed(), all = repo.Diff("t", null, d2).ThrowIfFailed();
            answers.Add(string.Join("|", Keys(diff.Added), Keys(diff.Removed), Keys(diff.Changed), Keys(all.Added),
                                    repo.Get("t", "c", "k0150").ThrowIfFailed().AsString(), Keys(repo.Keys("t", "c", d1).ThrowIfFailed())));
        }
        Assert.Equal(answers[0], answers[1]);
        Assert.Equal(answers[0], answers[2]);
        Assert.Contains("6B30313530", answers[0]); // k0150 changed
    }

    [Fact]
    public void CollectionsPutGetDeleteKeysRecords()
    {
        using var repo = OpenRepo();
        repo.Init("t").ThrowIfFailed();
        string d1 = repo.Put("t", "u", "c", "b", "2").ThrowIfFailed();
        string d2 = repo.PutMany("t", "u", "c", new[] { ("a", (object)"1"), ("c", new byte[] { 9 }), ("a", new JsonArray(1)) }).ThrowIfFailed();
        Assert.Equal(3, repo.Count("t", "c").Result);
        Assert.Equal(1, repo.Count("t", "c", d1).Result);
        Assert.Equal("[1]", repo.Get("t", "c", "a").Result!.AsJson()!.ToJsonString()); // the last of a twice-given key
        Assert.Equal(CairnErrorCode.NotFound, repo.Get("t", "c", "a", d1).ErrorCode);
        var keys = repo.Keys("t", "c").ThrowIfFailed();
        Assert.Equal(new[] { "a", "b", "c" }, keys.Select(k => Encoding.UTF8.GetString(k)));
        var recs = repo.Records("t", "c").ThrowIfFailed();
        Assert.Equal("b", recs[1].KeyString);
        Assert.Equal(KvValue.FromString("2"), recs[1].Value);
        Assert.Equal(new byte[] { 9 }, recs[2].Value.ToArray());

        string d3 = repo.Delete("t", "u", "c", "b").ThrowIfFailed();
        Assert.Equal(CairnErrorCode.NotFound, repo.Delete("t", "u", "c", "zz").ErrorCode);
        Assert.Equal(CairnErrorCode.NotFound, repo.Get("t", "c", "b").ErrorCode);

        // Binary keys.
        repo.Put("t", "u", "bin", new byte[] { 0xff, 0 }, "x").ThrowIfFailed();
        Assert.Equal(new byte[] { 0xff, 0 }, repo.Keys("t", "bin").Result![0]);
        Assert.Equal(KvValue.FromString("x"), repo.Get("t", "bin", new byte[] { 0xff, 0 }).Result);

        var diff = repo.Diff("t", d1, d3).ThrowIfFailed();
        Assert.Equal(new[] { "a", "c" }, diff.Added.Select(k => Encoding.UTF8.GetString(k)));
        Assert.Equal(new[] { "b" }, diff.Removed.Select(k => Encoding.UTF8.GetString(k)));
        Assert.Empty(diff.Changed);
        var all = repo.Diff("t", null, d2).ThrowIfFailed();
        Assert.Equal(3, all.Added.Count);

        // A collection is not a whole value and the other way round.
        Assert.Equal(CairnErrorCode.Type, repo.Save("t", "u", "c", "x").ErrorCode);
        repo.Save("t", "u", "v", "x").ThrowIfFailed();
        Assert.Equal(CairnErrorCode.Type, repo.Put("t", "u", "v", "k", "x").ErrorCode);
        Assert.Equal(CairnErrorCode.Type, repo.Load("t", "c").ErrorCode);
    }

    [Fact]
    public void HistoryTagsGcStatsVerify()
    {
        var before = DateTime.UtcNow.AddSeconds(-5);
        using (var repo = OpenRepo())
        {
            repo.Init("t").ThrowIfFailed();
            string d1 = repo.Save("t", "ada", "e", "1").ThrowIfFailed();
            string d2 = repo.Save("t", "bob", "e", "2").ThrowIfFailed();
            var h = repo.History("t", "e").ThrowIfFailed();
            Assert.Equal(2, h.Count);
            Assert.Equal(d2, h[0].Digest);
            Assert.Equal(new[] { d1 }, h[0].Parents);
            Assert.Empty(h[1].Parents);
            Assert.Equal("bob", h[0].User);
            Assert.Equal(DateTimeKind.Utc, h[0].Time.Kind);
            Assert.InRange(h[0].Time, before, DateTime.UtcNow.AddSeconds(5));
            Assert.False(h[0].Collection);
            Assert.Single(repo.History("t", "e", max: 1).Result!);
            Assert.Empty(repo.History("t", "never").Result!);
            Assert.Equal(CairnErrorCode.NotFound, repo.History("nobody", "e").ErrorCode);

            repo.Tag("t", "v1", d1).ThrowIfFailed();
            Assert.Equal(d1, repo.TagGet("t", "v1").Result);
            Assert.Equal(CairnErrorCode.NotFound, repo.TagGet("t", "v2").ErrorCode);
            Assert.Equal(CairnErrorCode.NotFound, repo.Tag("t", "v2", new string('0', 64)).ErrorCode);

            var s = repo.Stats().ThrowIfFailed();
            Assert.Equal(1, s.Tenants);
            Assert.True(s.Objects >= 4 && s.DiskBytes > 0);
            Assert.Equal(0, repo.Gc().Result);                                    // everything is reachable
            Assert.Equal(CairnErrorCode.Invalid, repo.Gc(TimeSpan.FromSeconds(-1)).ErrorCode);

            // A read-only handle beside the writer sees it and refuses writes.
            using var ro = OpenRepo(readOnly: true);
            Assert.Equal(d2, ro.Digest("t", "e").Result);
            Assert.Equal(CairnErrorCode.ReadOnly, ro.Save("t", "u", "e", "3").ErrorCode);
            Assert.Equal(CairnErrorCode.Locked, Repo.Open(_tmp.Path("repo")).ErrorCode);
        }
        Assert.True(Repo.Verify(_tmp.Path("repo")).Success);
        Assert.Equal(CairnErrorCode.Path, Repo.Verify(_tmp.Path("none")).ErrorCode);
        using var again = OpenRepo();
        Assert.Equal(KvValue.FromString("2"), again.Load("t", "e").Result);
    }

    [Fact]
    public void BadArgumentsAreErrorsNotExceptions()
    {
        using var repo = OpenRepo();
        repo.Init("t").ThrowIfFailed();
        Assert.Equal(CairnErrorCode.Invalid, repo.Init("a\0b").ErrorCode);             // C would see "a"
        Assert.Equal(CairnErrorCode.Invalid, repo.Init("\ud800").ErrorCode);           // unpaired surrogate
        Assert.Equal(CairnErrorCode.Invalid, repo.Init(null!).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, repo.Init("").ErrorCode);                 // the core: 1..255 bytes
        Assert.Equal(CairnErrorCode.Invalid, repo.Init("tab\there").ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, repo.Save("t", "u", "e\0", "x").ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, repo.Save("t", "u", "e", (KvValue)null!).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, repo.Put("t", "u", "c", "", "x").ErrorCode); // empty key
        Assert.Equal(CairnErrorCode.Type, repo.PutMany("t", "u", "c", new[] { ("k", (object)42) }).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, repo.PutMany("t", "u", "c", new[] { ("k", "1"), ("", "2") }).ErrorCode);
        Assert.False(repo.Exists("t", "c").Result);                                     // all or nothing
        Assert.Equal(CairnErrorCode.Invalid, repo.Get("t", "c", "k", "zz").ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, repo.History("t", "e", -1).ErrorCode);
        // The engine-neutral verbs the repository has no use for answer Unsupported.
        Assert.Equal(CairnErrorCode.Unsupported, repo.Begin().ErrorCode);
        Assert.Equal(CairnErrorCode.Unsupported, repo.Snapshot().ErrorCode);
    }

    [Fact]
    public void ClosedRepoAnswersClosed()
    {
        var repo = OpenRepo();
        repo.Init("t").ThrowIfFailed();
        string d = repo.Save("t", "u", "e", "x").ThrowIfFailed();
        repo.Dispose();
        repo.Dispose();
        Assert.Equal(CairnErrorCode.Closed, repo.Init("t").ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, repo.Init("bad\0name").ErrorCode);         // closed first
        Assert.Equal(CairnErrorCode.Closed, repo.Load("t", "e").ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, repo.Save("t", "u", "e", "y").ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, repo.PutMany("t", "u", "c", new[] { ("k", "v") }).ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, repo.Keys("t", "c").ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, repo.History("t", "e").ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, repo.Diff("t", null, d).ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, repo.Tenants().ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, repo.Stats().ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, repo.Gc().ErrorCode);
    }

    [Fact]
    public void ThreadsSaveToOneHandle()
    {
        using var repo = OpenRepo();
        repo.Init("t").ThrowIfFailed();
        Parallel.For(0, 4, i =>
        {
            for (int j = 0; j < 10; j++) repo.Put("t", "u" + i, "c", $"k{i}-{j}", $"v{j}").ThrowIfFailed();
        });
        Assert.Equal(40, repo.Count("t", "c").Result);
        Assert.Equal(40, repo.History("t", "c").Result!.Count);
    }
}

/// <summary>With the test clock set, a version's time is exactly the clock's (and digests are
/// reproducible: the same changes at the same clock give the same digests).</summary>
[Collection("clock")]
public class RepoClockTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2030, 1, 2, 3, 4, 5, 678, TimeSpan.Zero);
    private readonly TempDir _tmp = new();

    public RepoClockTests() => CairnTesting.SetClock(T0);

    public void Dispose()
    {
        CairnTesting.SetClock(null);
        _tmp.Dispose();
    }

    private string SaveTwice(string name)
    {
        using var repo = Repo.Open(_tmp.Path(name)).ThrowIfFailed();
        repo.Init("t").ThrowIfFailed();
        repo.Save("t", "u", "e", "1").ThrowIfFailed();
        return repo.Save("t", "u", "e", "2").ThrowIfFailed();
    }

    [Fact]
    public void TimeIsTheClockAndDigestsRepeat()
    {
        string a = SaveTwice("a"), b = SaveTwice("b");
        Assert.Equal(a, b);
        using var repo = Repo.Open(_tmp.Path("a")).ThrowIfFailed();
        var v = repo.History("t", "e").ThrowIfFailed()[0];
        Assert.Equal(T0.UtcDateTime, v.Time);
        Assert.Equal(DateTimeKind.Utc, v.Time.Kind);
    }
}
