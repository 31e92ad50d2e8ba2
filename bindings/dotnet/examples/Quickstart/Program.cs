// Cairn from .NET in one page: a KV store (and a snapshot of it), a blob store, a table and a versioned
// store in a directory (the first argument, or a fresh temporary one). Every call returns an
// ExecResponse; ThrowIfFailed() is the opt-in exception.
using System.Text.Json.Nodes;
using Cairn;

string dir = args.Length > 0 ? args[0] : Directory.CreateTempSubdirectory("cairn-quickstart-").FullName;
Directory.CreateDirectory(dir);
Console.WriteLine($"Cairn {CairnLibrary.Version} in {dir}");

using (KvStore db = KvStore.Open(Path.Combine(dir, "kv")).ThrowIfFailed())
{
    db.Put("greeting", "hello from .NET");
    db.Put("user:1", new JsonObject { ["name"] = "Ada", ["langs"] = new JsonArray("en", "fr") });
    db.Put("raw", new byte[] { 0xca, 0xfe });

    using (var tx = db.BeginTransaction().ThrowIfFailed())
    {
        db.Put("counter", "1");
        tx.Commit().ThrowIfFailed();
    }

    Console.WriteLine($"greeting = {db.GetString("greeting").Result}");
    Console.WriteLine($"user:1   = {db.GetJson("user:1").Result!.ToJsonString()}");
    Console.WriteLine($"keys     = {string.Join(", ", db.KeyStrings().Result!)}");
    ExecResponse<KvValue> missing = db.Get("nobody");
    Console.WriteLine($"nobody   = Success={missing.Success}, ErrorCode={missing.ErrorCode}");
}

using (BlobStore blobs = BlobStore.Open(new BlobStoreOptions { Path = Path.Combine(dir, "blobs.db") }).ThrowIfFailed())
{
    blobs.OnCreated += (_, e) => Console.WriteLine($"event: created blob {e.Key} ({e.NewSize} bytes)");
    uint key = blobs.Create("a blob"u8).ThrowIfFailed();
    Console.WriteLine($"blob {key} = {System.Text.Encoding.UTF8.GetString(blobs.Read(key).ThrowIfFailed())}");
    Console.WriteLine($"blobs    = {blobs.Count().Result}");
}
using (Table people = Table.Open(new TableOptions
{
    Path = Path.Combine(dir, "people"),
    Schema = "id i64 primary key, name string not null, joined timestamp null",
}).ThrowIfFailed())
{
    people.Subscribe(e => Console.WriteLine($"event: {e.Change} row {e.Id}"));
    people.Insert(new Row { ["id"] = 1L, ["name"] = "Ada", ["joined"] = DateTime.UtcNow }).ThrowIfFailed();
    people.Insert(new Row { ["id"] = 2L, ["name"] = "Grace" }).ThrowIfFailed();
    foreach (var (id, row) in people)
        Console.WriteLine($"row {id}    = {row.GetString("name")}");
    Console.WriteLine($"table    = {people.Count().Result} rows");
}
using (Repo repo = Repo.Open(Path.Combine(dir, "versions")).ThrowIfFailed())
{
    repo.Init("acme").ThrowIfFailed();
    string v1 = repo.Save("acme", "ada", "config", "mode=fast").ThrowIfFailed();
    repo.Save("acme", "bob", "config", "mode=safe").ThrowIfFailed();
    Console.WriteLine($"config   = {repo.Load("acme", "config").Result!.AsString()} (was {repo.Load("acme", "config", v1).Result!.AsString()})");
    foreach (RepoVersion v in repo.History("acme", "config").ThrowIfFailed())
        Console.WriteLine($"version  {v.Digest[..12]} by {v.User} at {v.Time:u}");
}
using (KvStore db = KvStore.Open(Path.Combine(dir, "kv")).ThrowIfFailed())
{
    string snap = db.Snapshot().ThrowIfFailed();
    db.Put("greeting", "changed");
    using KvStore old = db.OpenSnapshot(snap).ThrowIfFailed();
    Console.WriteLine($"snapshot {snap}: greeting = {old.GetString("greeting").Result}");
}
if (args.Length == 0) Directory.Delete(dir, recursive: true);
