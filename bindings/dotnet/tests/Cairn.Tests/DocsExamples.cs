// The examples of docs/dotnet.md, verbatim (DocsTests checks that every ```csharp block of the guide
// appears here line for line, and runs these methods in order, comparing what they print with the
// comments of the guide). Edit both together.
using System.Text.Json.Nodes;

namespace Cairn.Tests;

internal static class DocsExamples
{
    public static readonly Action[] All = { OpenWriteRead, Errors, TransactionsExpiryMerge, BlobStoreAndEvents, Tables, Queries, Indexes, ArrowExport, VersionedStore, SnapshotsAndBackups };

    private static void OpenWriteRead()
    {
        using KvStore db = KvStore.Open("app.db").ThrowIfFailed();   // a directory; created if missing

        db.Put("greeting", "hello");                                  // string -> TEXT
        db.Put("raw", new byte[] { 0x00, 0xff });                     // byte[] / ReadOnlySpan<byte> -> BYTES
        db.Put("user:1", new JsonObject { ["name"] = "Ada", ["langs"] = new JsonArray("en") }); // JSON

        Console.WriteLine(db.GetString("greeting").Result);          // hello
        Console.WriteLine(db.GetJson("user:1").Result!["name"]);     // Ada
        Console.WriteLine(db.Get("raw").Result!.Kind);               // Bytes
        Console.WriteLine(db.Count().Result);                        // 3
        Console.WriteLine(string.Join(",", db.KeyStrings("user:").Result!)); // user:1

        ExecResponse<KvValue> missing = db.Get("nobody");            // a missing key is not an exception:
        Console.WriteLine(missing.Success);                          // False
        Console.WriteLine(missing.ErrorCode);                        // NotFound
    }

    private static void Errors()
    {
        using KvStore db = KvStore.Open("app.db").ThrowIfFailed();

        ExecResponse r = db.Delete("nobody");
        Console.WriteLine(r.ErrorName);                              // CAIRN_NOTFOUND

        ExecResponse<KvStore> second = KvStore.Open("app.db");       // the writer lock is taken
        Console.WriteLine(second.ErrorCode);                         // Locked
        Console.WriteLine(second.Message.Length > 0);                // True

        try
        {
            db.Put("", "empty keys are invalid").ThrowIfFailed();
        }
        catch (CairnException e)
        {
            Console.WriteLine(e.ErrorCode);                          // Invalid
        }
    }

    private static void TransactionsExpiryMerge()
    {
        using KvStore db = KvStore.Open("app.db").ThrowIfFailed();

        db.Begin().ThrowIfFailed();
        db.Put("a", "1");
        db.Put("b", "2");
        db.Commit().ThrowIfFailed();                                 // both durable, or neither

        db.Begin();
        db.Delete("a");
        db.Rollback();                                               // as if nothing happened
        Console.WriteLine(db.Exists("a").Result);                    // True
        Console.WriteLine(db.Begin().Success && db.Begin().ErrorCode == CairnErrorCode.Txn); // True
        db.Rollback();

        db.Put("session", "token", ttl: TimeSpan.FromMinutes(30));    // expires by itself
        Console.WriteLine(db.Expiry("session").Result.HasValue);    // True
        Console.WriteLine(db.Expiry("a").Result is null);           // True

        db.Update("user:1", new JsonObject { ["admin"] = true });    // merge fields into a JSON object
        Console.WriteLine(db.GetJson("user:1").Result!.ToJsonString()); // {"name":"Ada","langs":["en"],"admin":true}

        KvStats stats = db.Stats().ThrowIfFailed();
        Console.WriteLine(stats.Keys);                               // 6
        db.Compact().ThrowIfFailed();                                // merge the log files, drop dead records
    }

    private static void BlobStoreAndEvents()
    {
        using BlobStore blobs = BlobStore.Open(new BlobStoreOptions { Path = "blobs.db" }).ThrowIfFailed();

        var log = new List<string>();
        blobs.OnCreated += (_, e) => log.Add($"created {e.Key} ({e.NewSize} bytes)");
        blobs.OnUpdated += (_, e) => log.Add($"updated {e.Key} {e.OldSize}->{e.NewSize}");
        blobs.OnDeleted += (_, e) => log.Add($"deleted {e.Key}");

        uint key = blobs.Create(new byte[] { 1, 2, 3 }).ThrowIfFailed();
        blobs.Update(key, new byte[] { 4, 5, 6, 7 });
        Console.WriteLine(Convert.ToHexString(blobs.Read(key).Result!)); // 04050607

        uint reserved = blobs.ReserveNextKey().ThrowIfFailed();      // a key nobody else will get
        blobs.Create(reserved, "later"u8);                           // ReadOnlySpan<byte> works too
        Console.WriteLine(blobs.Create(reserved, new byte[1]).ErrorCode); // Exists

        blobs.Begin();
        blobs.Delete(key);
        Console.WriteLine(log.Count);                                // 3
        blobs.Commit();                                              // events of a transaction come at commit
        Console.WriteLine(log[^1]);                                  // deleted 1

        Console.WriteLine(blobs.Read(key).ErrorCode);                // NotFound
        Console.WriteLine(string.Join(",", blobs.Keys().Result!));   // 2
    }

    private static void Tables()
    {
        using Table people = Table.Open(new TableOptions
        {
            Path = "people",                                         // a directory, created with its schema
            Schema = "id i64 primary key, name string not null, score f64 null, joined timestamp null",
        }).ThrowIfFailed();

        var changes = new List<string>();
        ulong sub = people.Subscribe(e => changes.Add($"{e.Change} {e.Id}")).ThrowIfFailed();

        var joined = new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        ulong ada = people.Insert(new Row { ["id"] = 1L, ["name"] = "Ada", ["score"] = 9.5, ["joined"] = joined })
            .ThrowIfFailed();
        Console.WriteLine(ada);                                      // 1
        people.InsertMany(new[] { new Row { ["id"] = 2L, ["name"] = "Grace" }, new Row { ["id"] = 3L, ["name"] = "Linus" } });

        Row row = people.Get(ada).ThrowIfFailed();
        Console.WriteLine(row.GetString("name"));                    // Ada
        Console.WriteLine(row.GetDateTime("joined").ToString("o"));  // 2024-01-02T03:04:05.0000000Z
        Console.WriteLine(row["id"] is long);                        // True
        Console.WriteLine(people.Insert(new Row { ["id"] = 1L, ["name"] = "again" }).ErrorCode); // Constraint
        Console.WriteLine(people.Insert(new Row { ["id"] = "4", ["name"] = "x" }).ErrorCode);    // Type

        people.Update(2, new Row { ["score"] = 7.25 });
        people.Delete(3);
        Console.WriteLine(people.Get(3).ErrorCode);                  // NotFound

        using (var tx = people.BeginTransaction().ThrowIfFailed())
        {
            people.Upsert(new Row { ["id"] = 2L, ["name"] = "Grace Hopper" }); // updates the row with id 2
            tx.Commit();                                             // events of a transaction come at commit
        }
        Console.WriteLine(string.Join(", ", changes));               // Inserted 1, Inserted 2, Inserted 3, Updated 2, Deleted 3, Updated 2
        people.Unsubscribe(sub);

        foreach (var (id, r) in people)                              // live rows in id order
            changes.Add($"{id}={r["name"]}");
        Console.WriteLine(string.Join(", ", changes.TakeLast(2)));   // 1=Ada, 2=Grace Hopper

        ulong first = people.Load(("id", new long[] { 10, 11 }), ("name", new[] { "x", "y" })).ThrowIfFailed();
        Console.WriteLine(people.Count().Result);                    // 4

        var schema = new TableSchema
        {
            new Column("id", ColumnType.I64) { PrimaryKey = true },
            new Column("tag", ColumnType.Fixed, 4) { Unique = true },
            new Column("level", ColumnType.U8) { Default = (byte)1 },
        };
        using Table tags = Table.Open("tags", schema).ThrowIfFailed();
        tags.Insert(new Row { ["id"] = 1L, ["tag"] = new byte[] { 1, 2, 3, 4 } });
        Console.WriteLine(tags.Get(1).Result!["level"]);             // 1
        Console.WriteLine(tags.Schema().Result![1].TypeName);        // bytes:4
        tags.AddColumn("note string default 'none'");
        Console.WriteLine(tags.Get(1).Result!["note"]);              // none
        Console.WriteLine(tags.Stats().Result!.Columns);             // 4
    }

    private static void Queries()
    {
        using Table scores = Table.Open("scores", "name string, score f64, cat i32, at timestamp").ThrowIfFailed();
        var day = new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        scores.Load(("name", new[] { "ann", "bob", "cy", "dee", "eve" }), ("score", new[] { 95.0, 88.5, 91.0, 79.0, 99.0 }),
            ("cat", new[] { 3, 1, 3, 2, 3 }), ("at", new[] { day, day.AddDays(1), day.AddDays(2), day.AddDays(3), day.AddDays(4) }));

        QueryResult top = scores.From().Where("score > ?", 90).OrderBy("score", descending: true).Limit(2).Execute().ThrowIfFailed();
        Console.WriteLine(string.Join(", ", top.Select(r => r["name"])));      // eve, ann
        Console.WriteLine(top[0]["score"] is double);                         // True
        Console.WriteLine(scores.From().Where("score > ? AND cat = ?", 90, 3).Count().Result); // 3
        Console.WriteLine(scores.From().Where(("cat", "=", 1)).First().Result!["name"]);     // bob
        Console.WriteLine(scores.From().Where("at >= ?", day.AddDays(3)).Count().Result);     // 2
        Console.WriteLine(scores.CountWhere(new Dictionary<string, object?> { ["cat"] = 3, ["score"] = new Dictionary<string, object?> { ["lt"] = 99 } }).Result); // 2

        Console.WriteLine(scores.Aggregate(Aggregate.Sum("score")).Result);    // 452.5
        Console.WriteLine(scores.Aggregate(Aggregate.Max("at")).Result is DateTime); // True
        QueryResult byCat = scores.GroupBy("cat", Aggregate.Count(alias: "n"), Aggregate.Avg("score")).ThrowIfFailed();
        Console.WriteLine(string.Join("; ", byCat.Select(g => $"{g["cat"]}: {g["n"]}, {g["avg(score)"]}"))); // 1: 1, 88.5; 2: 1, 79; 3: 3, 95

        QueryResult names = scores.From().Where("cat = 3").Select("name").ToColumns().ThrowIfFailed();
        Console.WriteLine(string.Join(",", names.Column("name")));            // ann,cy,eve

        using Table cats = Table.Open("cats", "id i32, label string").ThrowIfFailed();
        cats.InsertMany(new[] { new Row { ["id"] = 1, ["label"] = "one" }, new Row { ["id"] = 3, ["label"] = "three" } });
        QueryResult joined = scores.Join(cats, new JoinQuery
        {
            On = [("cat", "id")], Type = JoinType.Left, Columns = ["left.name", "right.label"],
        }).ThrowIfFailed();
        Console.WriteLine(string.Join(", ", joined.Select(r => $"{r["left.name"]}={r["right.label"] ?? "-"}"))); // ann=three, bob=one, cy=three, dee=-, eve=three

        Console.WriteLine(scores.From().Where("nope > 1").Execute().ErrorCode);               // Schema
        Console.WriteLine(scores.From().Where("score > ?", "high").Execute().ErrorCode);      // Type
    }

    private static void Indexes()
    {
        using Table people = Table.Open("members", "email string unique, city string, age i32").ThrowIfFailed();
        people.InsertMany(new[]
        {
            new Row { ["email"] = "ann@x", ["city"] = "oslo", ["age"] = 31 },
            new Row { ["email"] = "bob@x", ["city"] = "rome", ["age"] = 25 },
            new Row { ["email"] = "cy@x", ["city"] = "oslo", ["age"] = 40 },
        }).ThrowIfFailed();

        people.CreateIndex("city").ThrowIfFailed();                           // a hash index (the default kind)
        people.CreateIndex("age", IndexKind.Range).ThrowIfFailed();
        Console.WriteLine(string.Join(", ", people.Indexes().Result!.Select(i => $"{i.Column} {i.Kind}{(i.Unique ? " unique" : "")}"))); // email Hash unique, city Hash, age Range
        Console.WriteLine(string.Join(",", people.Lookup("city", "oslo").Result!));                       // 1,3
        Console.WriteLine(string.Join(",", people.Find(new Row { ["city"] = "oslo", ["age"] = 40 }).Result!)); // 3
        Console.WriteLine(string.Join(",", people.RangeFind("age", 25, 40, hiOpen: true).Result!));        // 1,2
        Console.WriteLine(string.Join(",", people.RangeFind("age", 30.5, null).Result!));                  // 1,3
        Console.WriteLine(people.CreateIndex("city").ErrorCode);              // Exists
        Console.WriteLine(people.DropIndex("email").ErrorCode);               // Invalid
    }

    private static void ArrowExport()
    {
        using Table temps = Table.Open("temps", "city string, deg f64 not null").ThrowIfFailed();
        temps.Load(("city", new[] { "oslo", "rome", "oslo" }), ("deg", new[] { 3.5, 14.0, 5.0 })).ThrowIfFailed();

        using (ArrowBatches all = temps.ToArrow().ThrowIfFailed())           // Apache.Arrow RecordBatches
        {
            Console.WriteLine(string.Join(",", all.Schema.FieldsList.Select(f => f.Name))); // _id,city,deg
            Console.WriteLine(all.RowCount);                                   // 3
            Console.WriteLine(all[0].Column("deg") is Apache.Arrow.DoubleArray); // True
        }
        using (ArrowBatches warm = temps.ToArrow(temps.From().Where("deg > ?", 4).Select("city").ToQuery()).ThrowIfFailed())
        {
            var city = (Apache.Arrow.LargeStringArray)warm[0].Column(0);
            Console.WriteLine(city.GetString(0) + "," + city.GetString(1));   // rome,oslo
        }
        using (ArrowColumn deg = temps.ExportColumn("deg").ThrowIfFailed())    // one array, read in place
        {
            ReadOnlySpan<double> v = deg.Values<double>();
            Console.WriteLine(v[0] + v[1] + v[2]);                             // 22.5
        }
    }

    private static void VersionedStore()
    {
        using Repo repo = Repo.Open(new RepoOptions { Path = "versions" }).ThrowIfFailed(); // a directory
        repo.Init("acme");                                               // tenants share nothing

        string v1 = repo.Save("acme", "ada", "config", "mode=fast").ThrowIfFailed();         // the new digest
        string v2 = repo.Save("acme", "bob", "config", new JsonObject { ["mode"] = "safe" }).ThrowIfFailed();
        Console.WriteLine(v1.Length);                                    // 64
        Console.WriteLine(repo.Load("acme", "config").Result!.AsJson()!["mode"]);  // safe
        Console.WriteLine(repo.Load("acme", "config", v1).Result!.AsString());     // mode=fast
        Console.WriteLine(repo.Load("acme", "nothing").ErrorCode);       // NotFound

        IReadOnlyList<RepoVersion> history = repo.History("acme", "config").ThrowIfFailed(); // newest first
        Console.WriteLine($"{history[0].User} after {history[1].User}"); // bob after ada
        Console.WriteLine(history[0].Parents[0] == v1);                  // True
        Console.WriteLine(history[0].Time.Kind);                         // Utc

        string c1 = repo.PutMany("acme", "ada", "roles", new[] { ("ada", "admin"), ("bob", "dev") }).ThrowIfFailed();
        repo.Put("acme", "bob", "roles", "eve", "dev");
        repo.Delete("acme", "bob", "roles", "ada");
        Console.WriteLine(repo.Count("acme", "roles").Result);           // 2
        Console.WriteLine(repo.Get("acme", "roles", "ada", c1).Result!.AsString()); // admin
        Console.WriteLine(string.Join(", ", repo.Records("acme", "roles").Result!.Select(r => $"{r.KeyString}={r.Value.AsString()}"))); // bob=dev, eve=dev
        RepoDiff diff = repo.Diff("acme", c1, repo.Digest("acme", "roles").Result).ThrowIfFailed();
        Console.WriteLine($"+{diff.Added.Count} -{diff.Removed.Count} ~{diff.Changed.Count}"); // +1 -1 ~0

        repo.Tag("acme", "release-1", v1);                               // a name for a version
        Console.WriteLine(repo.TagGet("acme", "release-1").Result == v1); // True
        Console.WriteLine(repo.Gc().Result);                             // 0
        Console.WriteLine(Repo.Verify("versions").Success);              // True
    }

    private static void SnapshotsAndBackups()
    {
        using KvStore db = KvStore.Open("snap.db").ThrowIfFailed();
        db.Put("k", "before");
        string name = db.Snapshot("nightly").ThrowIfFailed();            // Snapshot() picks a unique name
        db.Put("k", "after");

        using (KvStore snap = db.OpenSnapshot(name).ThrowIfFailed())     // the store as it was
        {
            Console.WriteLine(snap.GetString("k").Result);               // before
            Console.WriteLine(snap.Put("k", "x").ErrorCode);             // ReadOnly
        }
        SnapshotInfo info = db.Snapshots().Result![0];                   // oldest first
        Console.WriteLine($"{info.Name} {info.Time.Kind} {info.Bytes > 0}"); // nightly Utc True
        db.DropSnapshot("nightly");

        db.Backup("snap-backup").ThrowIfFailed();                        // a missing or empty directory
        using KvStore copy = KvStore.Open("snap-backup").ThrowIfFailed();
        Console.WriteLine(copy.GetString("k").Result);                   // after
    }
}
