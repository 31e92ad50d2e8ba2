// The .NET conformance testee: one JSON request per line on stdin, one JSON response per line on
// stdout (tests/conformance/PROTOCOL.md). Every kv.* / blob.* / table.* / repo.* op goes through the
// public API of the Cairn package (KvStore, BlobStore, Table, Repo, ExecResponse); the checks made here are only those .NET's static
// types make at compile time (a wrong-typed key, handle or option cannot reach the API: CAIRN_TYPE),
// in the same order as the C reference testee, so multi-fault requests get the same answer.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cairn;

namespace CairnConformance;

/// <summary>A failure the testee itself detects (argument decoding), with the neutral error name.</summary>
internal sealed class TesteeError : Exception
{
    public TesteeError(CairnErrorCode code, string message) : base(message) { Code = code; }
    public CairnErrorCode Code { get; }
}

internal static partial class Program
{
    private static readonly JsonSerializerOptions Out = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = false,
    };

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private sealed class Slot
    {
        public KvStore? Kv;
        public BlobStore? Blob;
        public Table? Table;
        public Repo? Repo;
        public bool Closed = true;
        public Dictionary<long, EventHandler<BlobEventArgs>> Listeners = new();
        public long NextListener;
        public List<JsonNode?> Events = new();
    }

    private static readonly Dictionary<string, Slot> Slots = new(StringComparer.Ordinal);

    private static int Main()
    {
        var stdin = new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false), false, 1 << 16);
        using Stream stdout = Console.OpenStandardOutput();
        string? line;
        while ((line = stdin.ReadLine()) != null)
        {
            if (line.Length == 0) continue;
            JsonObject resp;
            try
            {
                resp = HandleLine(line);
            }
            catch (Exception e) // never die: any surprise is an answer
            {
                resp = Error(CairnErrorCode.Internal, "testee: " + e.GetType().Name + ": " + e.Message);
            }
            byte[] bytes;
            try
            {
                bytes = JsonSerializer.SerializeToUtf8Bytes(resp, Out);
            }
            catch (Exception e)
            {
                bytes = JsonSerializer.SerializeToUtf8Bytes(
                    Error(CairnErrorCode.Internal, "testee: cannot serialise the reply: " + e.Message), Out);
            }
            stdout.Write(bytes);
            stdout.WriteByte((byte)'\n');
            stdout.Flush();
        }
        Reset();
        return 0;
    }

    private static JsonObject Error(CairnErrorCode code, string message) =>
        new() { ["error"] = CairnErrors.NameOf(code), ["message"] = message };

    private static JsonObject Ok(JsonNode? result) => new() { ["ok"] = result };

    /// <summary>&lt;engine&gt;.in_txn: NativeStore.InTransaction, the same for every engine.</summary>
    private static JsonObject InTxn(NativeStore s)
    {
        var r = s.InTransaction();
        return FromResponse(r, () => r.Result);
    }

    /// <summary>&lt;engine&gt;.metrics: NativeStore.Metrics, the same for every engine.</summary>
    private static JsonObject MetricsOp(NativeStore s)
    {
        var r = s.Metrics();
        return FromResponse(r, () => r.Result);
    }

    private static JsonObject FromResponse(ExecResponse r, Func<JsonNode?> result) =>
        r.Success ? Ok(result()) : Error(r.ErrorCode, r.Message);

    private static JsonObject HandleLine(string line)
    {
        JsonNode? req;
        try
        {
            req = JsonNode.Parse(line);
        }
        catch (JsonException e)
        {
            return Error(CairnErrorCode.Invalid, "bad request: " + e.Message);
        }
        if (req is not JsonObject obj || obj["op"] is not JsonValue opv || opv.GetValueKind() != JsonValueKind.String)
            return Error(CairnErrorCode.Invalid, "bad request: not an object with a string op");
        string op = opv.GetValue<string>();
        JsonNode? argsNode = obj["args"];
        JsonObject args;
        if (argsNode is null) args = new JsonObject();
        else if (argsNode is JsonObject ao) args = ao;
        else if (Ops.ContainsKey(op)) return Error(CairnErrorCode.Invalid, "args must be an object");
        else args = new JsonObject();

        if (!Ops.TryGetValue(op, out var fn)) return Error(CairnErrorCode.Unsupported, $"unknown op '{op}'");
        if (op != "kv.close" && op != "blob.close" && op != "table.close" && op != "repo.close" && op != "proc.fork" && HasNative(args))
            return Error(CairnErrorCode.Type, $"{op}: an argument has the wrong host type");
        try
        {
            return fn(args);
        }
        catch (TesteeError e)
        {
            return Error(e.Code, e.Message);
        }
    }

    /// <summary>A `$native` anywhere in the arguments (outside a $json document) is a host value of
    /// the wrong type, which C# rejects at compile time: CAIRN_TYPE before anything else.</summary>
    private static bool HasNative(JsonNode? v)
    {
        if (v is JsonObject o)
        {
            if (o.Count == 1 && o.ContainsKey("$native")) return true;
            if (o.Count == 1 && o.ContainsKey("$json")) return false;
            foreach (var kv in o) if (HasNative(kv.Value)) return true;
        }
        else if (v is JsonArray a)
        {
            foreach (var x in a) if (HasNative(x)) return true;
        }
        return false;
    }

    private static readonly Dictionary<string, Func<JsonObject, JsonObject>> Ops = new(StringComparer.Ordinal)
    {
        ["reset"] = _ => { Reset(); return Ok(null); },
        // .NET has no fork(): a process cannot be copied with its open handles. The fork cases are
        // in xfail/dotnet.txt.
        ["proc.fork"] = _ => Error(CairnErrorCode.Unsupported, "proc.fork: .NET cannot fork a running process with its handles"),
        ["kv.open"] = KvOpen,
        ["kv.close"] = Close,
        ["kv.put"] = KvPut,
        ["kv.get"] = KvGet,
        ["kv.delete"] = a => { var (db, k) = KvAndKey(a); return FromResponse(db.Delete(k), () => null); },
        ["kv.exists"] = a => { var (db, k) = KvAndKey(a); var r = db.Exists(k); return FromResponse(r, () => r.Result); },
        ["kv.count"] = a => { var r = Kv(a).Count(); return FromResponse(r, () => r.Result); },
        ["kv.keys"] = KvKeys,
        ["kv.update"] = KvUpdate,
        ["kv.begin"] = a => FromResponse(Kv(a).Begin(), () => null),
        ["kv.commit"] = a => FromResponse(Kv(a).Commit(), () => null),
        ["kv.rollback"] = a => FromResponse(Kv(a).Rollback(), () => null),
        ["kv.in_txn"] = a => InTxn(Kv(a)),
        ["kv.metrics"] = a => MetricsOp(Kv(a)),
        ["kv.sync"] = a => FromResponse(Kv(a).Sync(), () => null),
        ["kv.compact"] = a => FromResponse(Kv(a).Compact(), () => null),
        ["kv.expiry"] = a =>
        {
            var (db, k) = KvAndKey(a);
            var r = db.Expiry(k);
            // null: never expires; an integer: Unix ms; a missing key: CAIRN_NOTFOUND
            return FromResponse(r, () => r.Result is DateTimeOffset t ? JsonValue.Create(t.ToUnixTimeMilliseconds()) : null);
        },
        ["kv.check"] = a => FromResponse(KvStore.Check(GetString(a, "path")), () => null),
        ["blob.check"] = a => FromResponse(BlobStore.Check(GetString(a, "path")), () => null),
        ["clock.set"] = a =>
        {
            long ms = GetInt(a["ms"], "ms", 0, long.MaxValue);
            CairnTesting.SetClock(ms == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(ms));
            return Ok(null);
        },
        ["kv.snapshot"] = a => SnapTake(Kv(a), a),
        ["kv.snapshots"] = a => SnapList(Kv(a)),
        ["kv.open_snapshot"] = a => SnapOpen(a, n => Kv(a).OpenSnapshot(n), (s, st) => s.Kv = st),
        ["kv.drop_snapshot"] = a => { KvStore db = Kv(a); return FromResponse(db.DropSnapshot(GetString(a, "name")), () => null); },
        ["kv.backup"] = a => { KvStore db = Kv(a); return FromResponse(db.Backup(GetString(a, "dest")), () => null); },
        ["blob.snapshot"] = a => SnapTake(Blob(a).Store, a),
        ["blob.snapshots"] = a => SnapList(Blob(a).Store),
        ["blob.open_snapshot"] = a => SnapOpen(a, n => Blob(a).Store.OpenSnapshot(n), (s, st) => s.Blob = st),
        ["blob.drop_snapshot"] = a => { var db = Blob(a).Store; return FromResponse(db.DropSnapshot(GetString(a, "name")), () => null); },
        ["blob.backup"] = a => { var db = Blob(a).Store; return FromResponse(db.Backup(GetString(a, "dest")), () => null); },
        ["table.snapshot"] = a => SnapTake(Tbl(a), a),
        ["table.snapshots"] = a => SnapList(Tbl(a)),
        ["table.open_snapshot"] = a => SnapOpen(a, n => Tbl(a).OpenSnapshot(n), (s, st) => s.Table = st),
        ["table.drop_snapshot"] = a => { var db = Tbl(a); return FromResponse(db.DropSnapshot(GetString(a, "name")), () => null); },
        ["table.backup"] = a => { var db = Tbl(a); return FromResponse(db.Backup(GetString(a, "dest")), () => null); },
        ["repo.open"] = RepoOpen,
        ["repo.close"] = Close,
        ["repo.verify"] = a => FromResponse(Repo.Verify(GetString(a, "path")), () => null),
        ["repo.init"] = a => { var r = Rp(a); return FromResponse(r.Init(GetString(a, "tenant")), () => null); },
        ["repo.tenants"] = a => { var r = Rp(a).Tenants(); return FromResponse(r, () => StringList(r.Result!)); },
        ["repo.entries"] = a => { var rp = Rp(a); var r = rp.Entries(GetString(a, "tenant")); return FromResponse(r, () => StringList(r.Result!)); },
        ["repo.save"] = a =>
        {
            var rp = Rp(a);
            string t = GetString(a, "tenant"), u = GetString(a, "user"), e = GetString(a, "entry");
            var r = rp.Save(t, u, e, Value(a));
            return FromResponse(r, () => r.Result);
        },
        ["repo.load"] = a =>
        {
            var rp = Rp(a);
            string t = GetString(a, "tenant"), e = GetString(a, "entry");
            var r = rp.Load(t, e, OptDigest(a, "digest"));
            if (r.ErrorCode == CairnErrorCode.NotFound) return Ok(null);
            return r.Success ? ValueJson(r.Result!) : Error(r.ErrorCode, r.Message);
        },
        ["repo.exists"] = a =>
        {
            var rp = Rp(a);
            string t = GetString(a, "tenant"), e = GetString(a, "entry");
            var r = rp.Exists(t, e);
            return FromResponse(r, () => r.Result);
        },
        ["repo.digest"] = a =>
        {
            var rp = Rp(a);
            string t = GetString(a, "tenant"), e = GetString(a, "entry");
            var r = rp.Digest(t, e);
            if (r.ErrorCode == CairnErrorCode.NotFound) return Ok(null);
            return FromResponse(r, () => r.Result);
        },
        ["repo.put"] = a =>
        {
            var rp = Rp(a);
            string t = GetString(a, "tenant"), u = GetString(a, "user"), e = GetString(a, "entry");
            byte[] key = Key(a, "key");
            var r = rp.Put(t, u, e, key, Value(a));
            return FromResponse(r, () => r.Result);
        },
        ["repo.put_many"] = a =>
        {
            var rp = Rp(a);
            string t = GetString(a, "tenant"), u = GetString(a, "user"), e = GetString(a, "entry");
            if (!a.TryGetPropertyValue("records", out JsonNode? recs)) throw Err(CairnErrorCode.Invalid, "missing argument 'records'");
            if (recs is not JsonArray ra) throw Err(CairnErrorCode.Type, "records: expected a list of [key, value]");
            var list = new List<(byte[] Key, object Value)>();
            for (int i = 0; i < ra.Count; i++)
            {
                if (ra[i] is not JsonArray pair || pair.Count != 2) throw Err(CairnErrorCode.Type, $"records[{i}]: expected [key, value]");
                list.Add((GetBytes(pair[0], "key", out _), HostValue(pair[1])));
            }
            var r = rp.PutMany(t, u, e, list);
            return FromResponse(r, () => r.Result);
        },
        ["repo.get"] = a =>
        {
            var rp = Rp(a);
            string t = GetString(a, "tenant"), e = GetString(a, "entry");
            string? d = OptDigest(a, "digest");
            byte[] key = Key(a, "key");
            var r = rp.Get(t, e, key, d);
            if (r.ErrorCode == CairnErrorCode.NotFound) return Ok(null);
            return r.Success ? ValueJson(r.Result!) : Error(r.ErrorCode, r.Message);
        },
        ["repo.delete"] = a =>
        {
            var rp = Rp(a);
            string t = GetString(a, "tenant"), u = GetString(a, "user"), e = GetString(a, "entry");
            var r = rp.Delete(t, u, e, Key(a, "key"));
            return FromResponse(r, () => r.Result);
        },
        ["repo.count"] = a =>
        {
            var rp = Rp(a);
            string t = GetString(a, "tenant"), e = GetString(a, "entry");
            var r = rp.Count(t, e, OptDigest(a, "digest"));
            return FromResponse(r, () => r.Result);
        },
        ["repo.keys"] = a =>
        {
            var rp = Rp(a);
            string t = GetString(a, "tenant"), e = GetString(a, "entry");
            var r = rp.Keys(t, e, OptDigest(a, "digest"));
            return FromResponse(r, () => new JsonArray(r.Result!.Select(k => (JsonNode?)KeyJson(k)).ToArray()));
        },
        ["repo.diff"] = a =>
        {
            var rp = Rp(a);
            string t = GetString(a, "tenant");
            if (!a.ContainsKey("from") || !a.ContainsKey("to")) throw Err(CairnErrorCode.Invalid, "missing argument 'from' or 'to'");
            var r = rp.Diff(t, OptDigest(a, "from"), OptDigest(a, "to"));
            JsonArray Keys(IReadOnlyList<byte[]> ks) => new(ks.Select(k => (JsonNode?)KeyJson(k)).ToArray());
            return FromResponse(r, () => new JsonObject
            {
                ["added"] = Keys(r.Result!.Added), ["removed"] = Keys(r.Result!.Removed), ["changed"] = Keys(r.Result!.Changed),
            });
        },
        ["repo.history"] = a =>
        {
            var rp = Rp(a);
            string t = GetString(a, "tenant"), e = GetString(a, "entry");
            int max = a["max"] is null ? 0 : (int)GetInt(a["max"], "max", 0, int.MaxValue);
            var r = rp.History(t, e, max);
            return FromResponse(r, () => new JsonArray(r.Result!.Select(v => (JsonNode?)new JsonObject
            {
                ["digest"] = v.Digest,
                ["parents"] = new JsonArray(v.Parents.Select(p => (JsonNode?)JsonValue.Create(p)).ToArray()),
                ["user"] = v.User,
                ["time"] = new DateTimeOffset(v.Time).ToUnixTimeMilliseconds(),
                ["collection"] = v.Collection,
            }).ToArray()));
        },
        ["repo.tag"] = a =>
        {
            var rp = Rp(a);
            string t = GetString(a, "tenant"), n = GetString(a, "name"), d = GetString(a, "digest");
            return FromResponse(rp.Tag(t, n, d), () => null);
        },
        ["repo.tag_get"] = a =>
        {
            var rp = Rp(a);
            string t = GetString(a, "tenant"), n = GetString(a, "name");
            var r = rp.TagGet(t, n);
            if (r.ErrorCode == CairnErrorCode.NotFound) return Ok(null);
            return FromResponse(r, () => r.Result);
        },
        ["repo.gc"] = a =>
        {
            var rp = Rp(a);
            long grace = a["grace_ms"] is null ? 0 : GetInt(a["grace_ms"], "grace_ms", 0, (long)TimeSpan.MaxValue.TotalMilliseconds);
            var r = rp.Gc(TimeSpan.FromMilliseconds(grace));
            return FromResponse(r, () => r.Result);
        },
        ["repo.stats"] = a => StatsOp(Rp(a).Stats(), "tenants", "objects", "disk_bytes"),
        ["repo.metrics"] = a => MetricsOp(Rp(a)),
        ["kv.stats"] = a => StatsOp(Kv(a).Stats(), "keys", "data_files", "disk_bytes", "live_bytes", "dead_bytes", "in_txn"),
        ["blob.open"] = BlobOpen,
        ["blob.close"] = Close,
        ["blob.create"] = a =>
        {
            var s = Blob(a).Store;
            byte[] data = Data(a);
            var r = s.Create(data);
            return FromResponse(r, () => r.Result);
        },
        ["blob.reserve_next_key"] = a => { var r = Blob(a).Store.ReserveNextKey(); return FromResponse(r, () => r.Result); },
        ["blob.create_with_key"] = a =>
        {
            var s = Blob(a).Store;
            uint key = BlobKey(a);
            byte[] data = Data(a);
            return FromResponse(s.Create(key, data), () => null);
        },
        ["blob.read"] = a =>
        {
            var s = Blob(a).Store;
            var r = s.Read(BlobKey(a));
            return FromResponse(r, () => Hex(r.Result!));
        },
        ["blob.update"] = a =>
        {
            var s = Blob(a).Store;
            uint key = BlobKey(a);
            byte[] data = Data(a);
            return FromResponse(s.Update(key, data), () => null);
        },
        ["blob.delete"] = a => { var s = Blob(a).Store; return FromResponse(s.Delete(BlobKey(a)), () => null); },
        ["blob.exists"] = a => { var s = Blob(a).Store; var r = s.Exists(BlobKey(a)); return FromResponse(r, () => r.Result); },
        ["blob.count"] = a => { var r = Blob(a).Store.Count(); return FromResponse(r, () => r.Result); },
        ["blob.keys"] = a =>
        {
            var r = Blob(a).Store.Keys();
            return FromResponse(r, () =>
            {
                var arr = new JsonArray();
                foreach (uint k in r.Result!) arr.Add(k);
                return arr;
            });
        },
        ["blob.sync"] = a => FromResponse(Blob(a).Store.Sync(), () => null),
        ["blob.compact"] = a => FromResponse(Blob(a).Store.Compact(), () => null),
        ["blob.begin"] = a => FromResponse(Blob(a).Store.Begin(), () => null),
        ["blob.in_txn"] = a => InTxn(Blob(a).Store),
        ["blob.metrics"] = a => MetricsOp(Blob(a).Store),
        ["blob.commit"] = a => FromResponse(Blob(a).Store.Commit(), () => null),
        ["blob.rollback"] = a => FromResponse(Blob(a).Store.Rollback(), () => null),
        ["blob.stats"] = a => StatsOp(Blob(a).Store.Stats(), "entries", "live_bytes", "free_bytes", "free_entries", "file_size", "next_key", "in_txn"),
        ["blob.subscribe"] = BlobSubscribe,
        ["blob.unsubscribe"] = BlobUnsubscribe,
        ["table.open"] = TableOpen,
        ["table.close"] = Close,
        ["table.check"] = a => FromResponse(Table.Check(GetString(a, "path")), () => null),
        ["table.repair"] = a => { var r = Table.Repair(GetString(a, "path")); return FromResponse(r, () => r.Result); },
        ["table.schema"] = a =>
        {
            var r = Tbl(a).Schema();
            return FromResponse(r, () =>
            {
                var arr = new JsonArray();
                foreach (Column c in r.Result!)
                    arr.Add(new JsonObject
                    {
                        ["name"] = c.Name, ["type"] = c.TypeName, ["nullable"] = c.Nullable,
                        ["primary_key"] = c.PrimaryKey, ["unique"] = c.Unique, ["default"] = WireValue(c.Default),
                    });
                return arr;
            });
        },
        ["table.add_column"] = a => { var t = Tbl(a); return FromResponse(t.AddColumn(GetString(a, "spec")), () => null); },
        ["table.insert"] = a => { var t = Tbl(a); var r = t.Insert(RowArg(a, "row")); return FromResponse(r, () => r.Result); },
        ["table.upsert"] = a => { var t = Tbl(a); var r = t.Upsert(RowArg(a, "row")); return FromResponse(r, () => r.Result); },
        ["table.insert_many"] = a =>
        {
            var t = Tbl(a);
            if (a["rows"] is not JsonArray rows) throw Err(a.ContainsKey("rows") ? CairnErrorCode.Type : CairnErrorCode.Invalid, "rows: expected a list");
            var list = rows.Select(r => NativeRow(r, "rows")).ToList();
            var res = t.InsertMany(list);
            return FromResponse(res, () => new JsonArray(res.Result!.Select(id => (JsonNode?)JsonValue.Create(id)).ToArray()));
        },
        ["table.load"] = a =>
        {
            var t = Tbl(a);
            if (a["columns"] is not JsonObject cols) throw Err(a.ContainsKey("columns") ? CairnErrorCode.Type : CairnErrorCode.Invalid, "columns: expected an object");
            var d = new Dictionary<string, System.Collections.IEnumerable>(StringComparer.Ordinal);
            foreach (var (name, vals) in cols)
            {
                if (vals is not JsonArray va) throw Err(CairnErrorCode.Type, $"columns.{name}: expected a list");
                d[name] = va.Select(v => NativeValue(v, name)).ToArray();
            }
            var r = t.Load(d);
            return FromResponse(r, () => r.Result);
        },
        ["table.get"] = a =>
        {
            var t = Tbl(a);
            var r = t.Get(IdArg(a));
            if (r.ErrorCode == CairnErrorCode.NotFound) return Ok(null); // missing: null
            return FromResponse(r, () => WireRow(r.Result!));
        },
        ["table.update"] = a => { var t = Tbl(a); ulong id = IdArg(a); return FromResponse(t.Update(id, RowArg(a, "changes")), () => null); },
        ["table.delete"] = a => { var t = Tbl(a); return FromResponse(t.Delete(IdArg(a)), () => null); },
        ["table.count"] = a => { var r = Tbl(a).Count(); return FromResponse(r, () => r.Result); },
        ["table.rows"] = a =>
        {
            // The binding's iteration idiom: foreach over the table (a failure throws CairnException).
            var t = Tbl(a);
            var arr = new JsonArray();
            try
            {
                foreach (var (id, row) in t) arr.Add(new JsonArray(JsonValue.Create(id), WireRow(row)));
            }
            catch (CairnException e)
            {
                return Error(e.ErrorCode, e.Message);
            }
            return Ok(arr);
        },
        // Queries: the query object as the C API's keys in a dictionary of .NET values (Table.Query's
        // dictionary form); the result read back through QueryResult (rows, or by column).
        ["table.query"] = a =>
        {
            var t = Tbl(a);
            var r = t.Query(QueryArg(a));
            return FromResponse(r, () => ResultWire(r.Result!));
        },
        ["table.count_where"] = a =>
        {
            var t = Tbl(a);
            // Only where and params count (as in the core): the binding's CountWhere(TableQuery).
            Dictionary<string, object?> q = QueryArg(a);
            var r = t.CountWhere(new TableQuery
            {
                Where = q.GetValueOrDefault("where"),
                Params = q.TryGetValue("params", out object? ps) ? ps as IEnumerable<object?> ?? new[] { ps } : null,
            });
            return FromResponse(r, () => r.Result);
        },
        ["table.join"] = a =>
        {
            var left = SlotGet(new JsonObject { ["handle"] = a["left"]?.DeepClone() }, Engine.Table).Table!;
            var right = SlotGet(new JsonObject { ["handle"] = a["right"]?.DeepClone() }, Engine.Table).Table!;
            var r = left.Join(right, QueryArg(a));
            return FromResponse(r, () => ResultWire(r.Result!));
        },
        ["table.begin"] = a => FromResponse(Tbl(a).Begin(), () => null),
        ["table.commit"] = a => FromResponse(Tbl(a).Commit(), () => null),
        ["table.rollback"] = a => FromResponse(Tbl(a).Rollback(), () => null),
        ["table.in_txn"] = a => InTxn(Tbl(a)),
        ["table.metrics"] = a => MetricsOp(Tbl(a)),
        ["table.sync"] = a => FromResponse(Tbl(a).Sync(), () => null),
        ["table.compact"] = a => FromResponse(Tbl(a).Compact(), () => null),
        ["table.stats"] = a => StatsOp(Tbl(a).Stats(), "rows", "deleted_rows", "next_id", "row_groups", "segments", "tail_rows", "disk_bytes", "wal_bytes", "columns", "in_txn"),
        ["table.subscribe"] = a =>
        {
            Slot slot = SlotGet(a, Engine.Table);
            var r = slot.Table!.Subscribe(e => slot.Events.Add(new JsonArray(
                e.Change switch { TableChange.Inserted => "inserted", TableChange.Updated => "updated", _ => "deleted" },
                JsonValue.Create(e.Id),
                e.NewRow is null ? null : WireRow(e.NewRow),
                e.OldRow is null ? null : WireRow(e.OldRow))));
            return FromResponse(r, () => r.Result);
        },
        ["table.unsubscribe"] = a =>
        {
            var t = Tbl(a);
            if (!a.TryGetPropertyValue("id", out JsonNode? idv)) throw Err(CairnErrorCode.Invalid, "missing argument 'id'");
            long id = GetInt(idv, "id", long.MinValue, long.MaxValue);
            if (id < 0) return Error(CairnErrorCode.NotFound, $"no subscription {id}");
            return FromResponse(t.Unsubscribe((ulong)id), () => null);
        },
        ["table.events"] = a =>
        {
            Slot slot = SlotGet(a, Engine.Table);
            var arr = new JsonArray();
            foreach (var e in slot.Events) arr.Add(e);
            slot.Events = new List<JsonNode?>();
            return Ok(arr);
        },
        ["blob.events"] = a =>
        {
            var (slot, _) = Blob(a);
            var arr = new JsonArray();
            foreach (var e in slot.Events) arr.Add(e);
            slot.Events = new List<JsonNode?>();
            return Ok(arr);
        },
    };

    // ---- argument decoding (the same checks, in the same order, as the C reference) ----------------

    private static TesteeError Err(CairnErrorCode code, string message) => new(code, message);

    private static string GetString(JsonObject a, string name)
    {
        if (!a.TryGetPropertyValue(name, out JsonNode? v)) throw Err(CairnErrorCode.Invalid, $"missing argument '{name}'");
        if (v is JsonValue jv && jv.GetValueKind() == JsonValueKind.String) return jv.GetValue<string>();
        throw Err(CairnErrorCode.Type, $"{name}: expected a string");
    }

    private static long GetInt(JsonNode? v, string what, long lo, long hi)
    {
        if (v is not JsonValue jv || jv.GetValueKind() != JsonValueKind.Number || !jv.TryGetValue(out long n))
        {
            // An integral number out of the long range is still an integer: out of range.
            if (v is JsonValue big && big.GetValueKind() == JsonValueKind.Number &&
                decimal.TryParse(big.ToJsonString(), System.Globalization.NumberStyles.Integer,
                                 System.Globalization.CultureInfo.InvariantCulture, out _))
                throw Err(CairnErrorCode.Invalid, $"{what}: {big.ToJsonString()} out of range");
            throw Err(CairnErrorCode.Type, $"{what}: expected an integer");
        }
        if (jv.ToJsonString().IndexOfAny(new[] { '.', 'e', 'E' }) >= 0)
            throw Err(CairnErrorCode.Type, $"{what}: expected an integer");
        if (n < lo || n > hi) throw Err(CairnErrorCode.Invalid, $"{what}: {n} out of range");
        return n;
    }

    private static bool GetBool(JsonNode? v, string what)
    {
        if (v is JsonValue jv && (jv.GetValueKind() == JsonValueKind.True || jv.GetValueKind() == JsonValueKind.False))
            return jv.GetValue<bool>();
        throw Err(CairnErrorCode.Type, $"{what}: expected a bool");
    }

    private static SyncMode GetSync(JsonNode? v)
    {
        if (v is not JsonValue jv || jv.GetValueKind() != JsonValueKind.String)
            throw Err(CairnErrorCode.Type, "sync: expected a string");
        return jv.GetValue<string>() switch
        {
            "none" => SyncMode.None,
            "commit" => SyncMode.Commit,
            "group" => SyncMode.Group,
            var s => throw Err(CairnErrorCode.Invalid, $"sync: unknown mode '{s}'"),
        };
    }

    private static byte[] HexDecode(JsonNode? h, string what)
    {
        if (h is not JsonValue jv || jv.GetValueKind() != JsonValueKind.String)
            throw Err(CairnErrorCode.Invalid, $"{what}: $bytes must be a hex string");
        string s = jv.GetValue<string>();
        if (s.Length % 2 != 0) throw Err(CairnErrorCode.Invalid, "hex string of odd length");
        try
        {
            return Convert.FromHexString(s);
        }
        catch (FormatException)
        {
            throw Err(CairnErrorCode.Invalid, "bad hex digit");
        }
    }

    private static bool IsTagged(JsonNode? v, string tag) => v is JsonObject o && o.Count == 1 && o.ContainsKey(tag);

    /// <summary>Bytes from a string (its UTF-8), {"$bytes"} or {"$repeat"}; isText tells which.</summary>
    private static byte[] GetBytes(JsonNode? v, string what, out bool isText)
    {
        isText = false;
        if (v is JsonValue jv && jv.GetValueKind() == JsonValueKind.String)
        {
            isText = true;
            try { return StrictUtf8.GetBytes(jv.GetValue<string>()); }
            catch (EncoderFallbackException) { throw Err(CairnErrorCode.Invalid, $"{what}: not valid UTF-16"); }
        }
        if (IsTagged(v, "$bytes")) return HexDecode(v!["$bytes"], what);
        if (IsTagged(v, "$repeat"))
        {
            JsonNode? r = v!["$repeat"];
            JsonNode? h = r is JsonObject ro ? ro["hex"] : null;
            JsonNode? c = r is JsonObject ro2 ? ro2["count"] : null;
            if (h is not JsonValue hv || hv.GetValueKind() != JsonValueKind.String ||
                c is not JsonValue cv || cv.GetValueKind() != JsonValueKind.Number ||
                !cv.TryGetValue(out long count) || count < 0)
                throw Err(CairnErrorCode.Invalid, $"{what}: $repeat needs hex and a count >= 0");
            byte[] pat = HexDecode(h, what);
            if (pat.Length > 0 && count > Array.MaxLength / pat.Length)
                throw Err(CairnErrorCode.TooBig, $"{what}: $repeat too large");
            var outBytes = new byte[pat.Length * count];
            for (long i = 0; i < count; i++) pat.CopyTo(outBytes, i * pat.Length);
            return outBytes;
        }
        throw Err(CairnErrorCode.Type, $"{what}: wrong type");
    }

    private static byte[] Key(JsonObject a, string name)
    {
        if (!a.TryGetPropertyValue(name, out JsonNode? v)) throw Err(CairnErrorCode.Invalid, $"missing argument '{name}'");
        return GetBytes(v, name, out _);
    }

    /// <summary>A KV value as the host type the binding maps to its kind: string, byte[] or JsonNode.</summary>
    private static KvValue Value(JsonObject a)
    {
        if (!a.TryGetPropertyValue("value", out JsonNode? v)) throw Err(CairnErrorCode.Invalid, "missing argument 'value'");
        // The binding's own dynamic mapping of host values (byte[] -> BYTES, string -> TEXT, JsonNode -> JSON).
        var r = KvValue.FromObject(HostValue(v));
        if (!r.Success) throw Err(r.ErrorCode, r.Message);
        return r.Result!;
    }

    /// <summary>A wire value as the host value the binding maps to a kind: string, byte[] or JsonNode.</summary>
    private static object HostValue(JsonNode? v)
    {
        object? host;
        if (IsTagged(v, "$json")) host = JsonDoc(v!["$json"]);
        else
        {
            byte[] b = GetBytes(v, "value", out bool isText);
            host = isText ? ((JsonValue)v!).GetValue<string>() : b;
        }
        return host;
    }

    /// <summary>An optional digest: absent or null -> null, else a string (another type: CAIRN_TYPE).</summary>
    private static string? OptDigest(JsonObject a, string name)
    {
        JsonNode? v = a[name];
        if (v is null) return null;
        if (v is JsonValue jv && jv.GetValueKind() == JsonValueKind.String) return jv.GetValue<string>();
        throw Err(CairnErrorCode.Type, $"{name}: expected a digest string");
    }

    private static JsonArray StringList(IReadOnlyList<string> l) => new(l.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray());

    /// <summary>A $json document as a host JsonNode; JSON null is a JSON document too.</summary>
    private static object JsonDoc(JsonNode? doc) =>
        doc is null ? JsonDocument.Parse("null").RootElement.Clone() : doc.DeepClone();

    private static byte[] Data(JsonObject a)
    {
        if (!a.TryGetPropertyValue("data", out JsonNode? v)) throw Err(CairnErrorCode.Invalid, "missing argument 'data'");
        return GetBytes(v, "data", out _);
    }

    private static uint BlobKey(JsonObject a) => BlobKeyArg(a, "key");

    private static uint BlobKeyArg(JsonObject a, string name)
    {
        if (!a.TryGetPropertyValue(name, out JsonNode? v)) throw Err(CairnErrorCode.Invalid, $"missing argument '{name}'");
        return (uint)GetInt(v, name, 0, uint.MaxValue);
    }

    // ---- handles --------------------------------------------------------------------------------------

    private enum Engine { Kv, Blob, Table, Repo }

    private static Slot SlotGet(JsonObject a, Engine engine)
    {
        string name = GetString(a, "handle");
        if (!Slots.TryGetValue(name, out Slot? s)) throw Err(CairnErrorCode.Invalid, $"no handle named '{name}'");
        NativeStore? store = engine switch { Engine.Kv => s.Kv, Engine.Blob => s.Blob, Engine.Repo => s.Repo, _ => s.Table };
        if (store is null) throw Err(CairnErrorCode.Type, $"handle '{name}' is of another engine");
        if (s.Closed)
        {
            // Ask the binding: a disposed store answers CAIRN_CLOSED (before any argument is decoded,
            // as in the reference).
            ExecResponse r = store.Count();
            if (!r.Success) throw Err(r.ErrorCode, r.Message);
        }
        return s;
    }

    // A closed slot keeps its disposed store: the binding itself answers CAIRN_CLOSED.
    private static KvStore Kv(JsonObject a) => SlotGet(a, Engine.Kv).Kv!;

    private static Table Tbl(JsonObject a) => SlotGet(a, Engine.Table).Table!;

    private static Repo Rp(JsonObject a) => SlotGet(a, Engine.Repo).Repo!;

    private static (Slot Slot, BlobStore Store) Blob(JsonObject a)
    {
        Slot s = SlotGet(a, Engine.Blob);
        return (s, s.Blob!);
    }

    private static (KvStore, byte[]) KvAndKey(JsonObject a)
    {
        KvStore db = Kv(a);
        return (db, Key(a, "key"));
    }

    // ---- snapshots and backups: the same ops for every store ----
    private static JsonObject SnapTake(NativeStore db, JsonObject a)
    {
        string? name = a["name"] is null ? null : GetString(a, "name");
        var r = db.Snapshot(name);
        return FromResponse(r, () => r.Result);
    }

    private static JsonObject SnapList(NativeStore db)
    {
        var r = db.Snapshots();
        return FromResponse(r, () => new JsonArray(r.Result!.Select(i => (JsonNode?)new JsonObject
        {
            ["name"] = i.Name, ["time"] = new DateTimeOffset(i.Time).ToUnixTimeMilliseconds(), ["bytes"] = i.Bytes,
        }).ToArray()));
    }

    // The snapshot becomes the slot named by `as` (a read-only store of the same class).
    private static JsonObject SnapOpen<T>(JsonObject a, Func<string, ExecResponse<T>> open, Action<Slot, T> set)
    {
        string name = GetString(a, "name");
        string @as = GetString(a, "as");
        Slot s = SlotForOpen(@as);
        var r = open(name);
        if (!r.Success) return Error(r.ErrorCode, r.Message);
        s.Kv = null;
        s.Blob = null;
        s.Table = null;
        s.Repo = null;
        set(s, r.Result!);
        s.Closed = false;
        Slots[@as] = s;
        return Ok(null);
    }

    private static Slot SlotForOpen(string name)
    {
        if (Slots.TryGetValue(name, out Slot? s))
        {
            if (!s.Closed) throw Err(CairnErrorCode.Invalid, $"handle '{name}' is already open");
            return s;
        }
        return new Slot();
    }

    private static JsonObject Close(JsonObject a)
    {
        string name = GetString(a, "handle");
        if (!Slots.TryGetValue(name, out Slot? s)) throw Err(CairnErrorCode.Invalid, $"no handle named '{name}'");
        CloseSlot(s);
        return Ok(null);
    }

    private static void CloseSlot(Slot s)
    {
        s.Kv?.Dispose();
        s.Blob?.Dispose();
        s.Table?.Dispose();
        s.Repo?.Dispose();
        s.Closed = true;
        s.Listeners.Clear();
        s.Events = new List<JsonNode?>();
    }

    private static void Reset()
    {
        foreach (Slot s in Slots.Values) CloseSlot(s);
        Slots.Clear();
    }

    // ---- KV ---------------------------------------------------------------------------------------------

    private static JsonObject KvOpen(JsonObject a)
    {
        string name = GetString(a, "handle");
        string path = GetString(a, "path");
        var o = new KvOptions();
        if (a["options"] is JsonNode opts)
        {
            if (opts is not JsonObject oo) throw Err(CairnErrorCode.Type, "options: expected an object");
            foreach (var (k, v) in oo)
            {
                switch (k)
                {
                    case "create": o.Create = GetBool(v, k); break;
                    case "read_only": o.ReadOnly = GetBool(v, k); break;
                    case "sync": o.Sync = GetSync(v); break;
                    case "max_file_size": o.MaxFileSize = (ulong)GetInt(v, k, 0, long.MaxValue); break;
                    case "lock_timeout_ms": o.LockTimeout = TimeSpan.FromMilliseconds(GetInt(v, k, 0, uint.MaxValue)); break;
                    default: throw Err(CairnErrorCode.Invalid, $"options: unknown option '{k}'");
                }
            }
        }
        Slot s = SlotForOpen(name);
        var r = KvStore.Open(path, o);
        if (!r.Success) return Error(r.ErrorCode, r.Message);
        s.Kv = r.Result;
        s.Blob = null;
        s.Table = null;
        s.Repo = null;
        s.Closed = false;
        Slots[name] = s;
        return Ok(null);
    }

    private static JsonObject KvPut(JsonObject a)
    {
        KvStore db = Kv(a);
        a.TryGetPropertyValue("expire_at", out JsonNode? exp);
        a.TryGetPropertyValue("ttl", out JsonNode? ttl);
        bool hasExp = a.ContainsKey("expire_at"), hasTtl = a.ContainsKey("ttl");
        if (hasExp && hasTtl) throw Err(CairnErrorCode.Invalid, "give expire_at or ttl, not both");
        DateTimeOffset? at = null;
        TimeSpan? ttlSpan = null;
        if (hasExp)
        {
            long ms = GetInt(exp, "expire_at", long.MinValue, long.MaxValue);
            // 0 is "never" in the protocol (as in the C API); anything else is a point in time.
            if (ms != 0)
            {
                if (ms < DateTimeOffset.MinValue.ToUnixTimeMilliseconds() || ms > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
                    throw Err(CairnErrorCode.Invalid, $"expire_at: {ms} out of range");
                at = DateTimeOffset.FromUnixTimeMilliseconds(ms);
            }
        }
        else if (hasTtl)
        {
            // A negative ttl reaches the binding, which answers CAIRN_INVALID itself.
            long ttlMs = GetInt(ttl, "ttl", long.MinValue / 2, (long)TimeSpan.MaxValue.TotalMilliseconds / 2);
            ttlSpan = TimeSpan.FromMilliseconds(ttlMs);
        }
        byte[] key = Key(a, "key");
        KvValue value = Value(a);
        return FromResponse(db.Put(key, value, ttl: ttlSpan, expireAt: at), () => null);
    }

    private static JsonObject KvGet(JsonObject a)
    {
        var (db, key) = KvAndKey(a);
        var r = db.Get(key);
        if (r.ErrorCode == CairnErrorCode.NotFound) return Ok(null); // missing: null
        if (!r.Success) return Error(r.ErrorCode, r.Message);
        return ValueJson(r.Result!);
    }

    /// <summary>A value read back: text -> string, bytes -> {"$bytes"}, JSON -> {"$json": doc}.</summary>
    private static JsonObject ValueJson(KvValue v)
    {
        switch (v.Kind)
        {
            case CairnKind.Text:
                try { return Ok(StrictUtf8.GetString(v.Span)); }
                catch (DecoderFallbackException) { return Error(CairnErrorCode.Corrupt, "text value is not valid UTF-8"); }
            case CairnKind.Json:
                try { return Ok(new JsonObject { ["$json"] = v.AsJson() }); }
                catch (JsonException e) { return Error(CairnErrorCode.Corrupt, "JSON value does not parse: " + e.Message); }
                catch (DecoderFallbackException) { return Error(CairnErrorCode.Corrupt, "JSON value is not valid UTF-8"); }
            default:
                return Ok(Hex(v.Span));
        }
    }

    private static JsonObject Hex(ReadOnlySpan<byte> b) => new() { ["$bytes"] = Convert.ToHexStringLower(b) };

    private static JsonNode KeyJson(byte[] k)
    {
        try { return JsonValue.Create(StrictUtf8.GetString(k)); }
        catch (DecoderFallbackException) { return Hex(k); }
    }

    private static JsonObject KvKeys(JsonObject a)
    {
        KvStore db = Kv(a);
        byte[] prefix = a["prefix"] is null ? Array.Empty<byte>() : Key(a, "prefix");
        var r = db.Keys(prefix);
        return FromResponse(r, () =>
        {
            var arr = new JsonArray();
            foreach (byte[] k in r.Result!) arr.Add(KeyJson(k));
            return arr;
        });
    }

    private static JsonObject KvUpdate(JsonObject a)
    {
        KvStore db = Kv(a);
        if (!a.TryGetPropertyValue("changes", out JsonNode? ch)) throw Err(CairnErrorCode.Invalid, "missing argument 'changes'");
        if (!IsTagged(ch, "$json") || ch!["$json"] is not JsonObject changes)
            throw Err(CairnErrorCode.Type, "changes: expected a JSON object");
        byte[] key = Key(a, "key");
        return FromResponse(db.Update(key, (JsonObject)changes.DeepClone()), () => null);
    }

    /// <summary>The named fields of a stats record, by their protocol names (snake_case of the
    /// property; in_txn is InTransaction).</summary>
    private static JsonObject StatsOp<T>(ExecResponse<T> r, params string[] fields) => FromResponse(r, () =>
    {
        var o = new JsonObject();
        foreach (string f in fields)
        {
            string prop = f == "in_txn" ? "InTransaction" : string.Concat(f.Split('_').Select(w => char.ToUpperInvariant(w[0]) + w[1..]));
            o[f] = JsonSerializer.SerializeToNode(typeof(T).GetProperty(prop)!.GetValue(r.Result));
        }
        return o;
    });

    // ---- versioned store ----------------------------------------------------------------------------------

    private static JsonObject RepoOpen(JsonObject a)
    {
        string name = GetString(a, "handle");
        string path = GetString(a, "path");
        var o = new RepoOptions { Path = path };
        if (a["options"] is JsonNode opts)
        {
            if (opts is not JsonObject oo) throw Err(CairnErrorCode.Type, "options: expected an object");
            foreach (var (k, v) in oo)
            {
                switch (k)
                {
                    case "create": o.Create = GetBool(v, k); break;
                    case "read_only": o.ReadOnly = GetBool(v, k); break;
                    case "sync": o.Sync = GetSync(v); break;
                    case "lock_timeout_ms": o.LockTimeout = TimeSpan.FromMilliseconds(GetInt(v, k, 0, uint.MaxValue)); break;
                    case "cache_bytes": o.CacheBytes = (ulong)GetInt(v, k, 0, long.MaxValue); break;
                    default: throw Err(CairnErrorCode.Invalid, $"options: unknown option '{k}'");
                }
            }
        }
        Slot s = SlotForOpen(name);
        var r = Repo.Open(o);
        if (!r.Success) return Error(r.ErrorCode, r.Message);
        s.Repo = r.Result;
        s.Kv = null;
        s.Blob = null;
        s.Table = null;
        s.Closed = false;
        Slots[name] = s;
        return Ok(null);
    }

    // ---- blob store ---------------------------------------------------------------------------------------

    private static JsonObject BlobOpen(JsonObject a)
    {
        string name = GetString(a, "handle");
        string path = GetString(a, "path");
        var o = new BlobStoreOptions { Path = path };
        if (a["options"] is JsonNode opts)
        {
            if (opts is not JsonObject oo) throw Err(CairnErrorCode.Type, "options: expected an object");
            foreach (var (k, v) in oo)
            {
                switch (k)
                {
                    case "create": o.Create = GetBool(v, k); break;
                    case "read_only": o.ReadOnly = GetBool(v, k); break;
                    case "sync": o.Sync = GetSync(v); break;
                    case "lock_timeout_ms": o.LockTimeout = TimeSpan.FromMilliseconds(GetInt(v, k, 0, uint.MaxValue)); break;
                    default: throw Err(CairnErrorCode.Invalid, $"options: unknown option '{k}'");
                }
            }
        }
        Slot s = SlotForOpen(name);
        var r = BlobStore.Open(o);
        if (!r.Success) return Error(r.ErrorCode, r.Message);
        s.Blob = r.Result;
        s.Kv = null;
        s.Table = null;
        s.Repo = null;
        s.Closed = false;
        s.Listeners.Clear();
        s.Events = new List<JsonNode?>();
        Slots[name] = s;
        return Ok(null);
    }

    private static JsonObject BlobUnsubscribe(JsonObject a)
    {
        var (slot, store) = Blob(a);
        if (!a.TryGetPropertyValue("id", out JsonNode? idv)) throw Err(CairnErrorCode.Invalid, "missing argument 'id'");
        long id = GetInt(idv, "id", long.MinValue, long.MaxValue);
        if (!slot.Listeners.Remove(id, out var listener)) return Error(CairnErrorCode.NotFound, $"no listener {id}");
        store.OnCreated -= listener;
        store.OnUpdated -= listener;
        store.OnDeleted -= listener;
        return Ok(null);
    }

    /// <summary>Adds one more listener (each records every event); with `probe`, the listener also reads
    /// that blob through the same handle when called (it runs after the C call returned).</summary>
    private static JsonObject BlobSubscribe(JsonObject a)
    {
        var (slot, store) = Blob(a);
        uint? probe = a.ContainsKey("probe") ? BlobKeyArg(a, "probe") : null;
        EventHandler<BlobEventArgs> listener = (_, e) =>
        {
            var rec = new JsonArray(
                e.Change switch { BlobChange.Created => "created", BlobChange.Updated => "updated", _ => "deleted" },
                e.Key, e.OldSize, e.NewSize);
            if (probe is uint p)
            {
                var r = store.Read(p);
                rec.Add(r.Success ? JsonValue.Create(r.Result!.Length) : null);
            }
            slot.Events.Add(rec);
        };
        try
        {
            store.OnCreated += listener;
            store.OnUpdated += listener;
            store.OnDeleted += listener;
        }
        catch (CairnException e)
        {
            store.OnCreated -= listener;
            store.OnUpdated -= listener;
            return Error(e.ErrorCode, e.Message);
        }
        long id = ++slot.NextListener;
        slot.Listeners[id] = listener;
        return Ok(id);
    }

    // ---- table --------------------------------------------------------------------------------------------

    private static JsonObject TableOpen(JsonObject a)
    {
        string name = GetString(a, "handle");
        string path = GetString(a, "path");
        var o = new TableOptions { Path = path };
        if (a["options"] is JsonNode opts)
        {
            if (opts is not JsonObject oo) throw Err(CairnErrorCode.Type, "options: expected an object");
            foreach (var (k, v) in oo)
            {
                switch (k)
                {
                    case "create": o.Create = GetBool(v, k); break;
                    case "read_only": o.ReadOnly = GetBool(v, k); break;
                    case "sync": o.Sync = GetSync(v); break;
                    case "lock_timeout_ms": o.LockTimeout = TimeSpan.FromMilliseconds(GetInt(v, k, 0, uint.MaxValue)); break;
                    case "checkpoint_rows": o.CheckpointRows = (uint)GetInt(v, k, 0, uint.MaxValue); break;
                    default: throw Err(CairnErrorCode.Invalid, $"options: unknown option '{k}'");
                }
            }
        }
        if (a.TryGetPropertyValue("schema", out JsonNode? sch) && sch is not null)
        {
            if (sch is JsonValue sv && sv.GetValueKind() == JsonValueKind.String) o.Schema = sv.GetValue<string>();
            else if (sch is JsonArray cols) o.Schema = cols.Select(ColumnArg).ToList();
            else throw Err(CairnErrorCode.Type, "schema: expected a string or a list of columns");
        }
        Slot s = SlotForOpen(name);
        var r = Table.Open(o);
        if (!r.Success) return Error(r.ErrorCode, r.Message);
        s.Table = r.Result;
        s.Kv = null;
        s.Blob = null;
        s.Repo = null;
        s.Closed = false;
        s.Events = new List<JsonNode?>();
        Slots[name] = s;
        return Ok(null);
    }

    /// <summary>A wire column object as the binding's Column.</summary>
    private static Column ColumnArg(JsonNode? c)
    {
        if (c is not JsonObject o) throw Err(CairnErrorCode.Type, "schema: a column must be an object");
        string name = o["name"] is JsonValue nv && nv.GetValueKind() == JsonValueKind.String ? nv.GetValue<string>()
            : throw Err(CairnErrorCode.Invalid, "schema: a column needs a name");
        string typeText = o["type"] is JsonValue tv && tv.GetValueKind() == JsonValueKind.String ? tv.GetValue<string>()
            : throw Err(CairnErrorCode.Invalid, $"schema: column '{name}' needs a type");
        ColumnType type;
        int length = 0;
        if (typeText.StartsWith("bytes:", StringComparison.Ordinal))
        {
            type = ColumnType.Fixed;
            if (!int.TryParse(typeText.AsSpan(6), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out length))
                throw Err(CairnErrorCode.Invalid, $"schema: bad type '{typeText}'");
        }
        else
        {
            var found = Enum.GetValues<ColumnType>().Where(t => t != ColumnType.Fixed && new Column("x", t).TypeName == typeText).ToList();
            if (found.Count != 1) throw Err(CairnErrorCode.Invalid, $"schema: unknown type '{typeText}'");
            type = found[0];
        }
        var col = new Column(name, type, length)
        {
            PrimaryKey = o["primary_key"] is JsonNode pk && GetBool(pk, "primary_key"),
            Unique = o["unique"] is JsonNode u && GetBool(u, "unique"),
            Default = o["default"] is JsonNode d ? NativeValue(d, name) : null,
        };
        if (o["nullable"] is JsonNode nl) col = col with { Nullable = GetBool(nl, "nullable") };
        return col;
    }

    private static ulong IdArg(JsonObject a)
    {
        if (!a.TryGetPropertyValue("id", out JsonNode? v)) throw Err(CairnErrorCode.Invalid, "missing argument 'id'");
        if (v is JsonValue jv && jv.GetValueKind() == JsonValueKind.Number && jv.TryGetValue(out ulong u) &&
            jv.ToJsonString().IndexOfAny(new[] { '.', 'e', 'E' }) < 0)
            return u;
        return (ulong)GetInt(v, "id", 0, long.MaxValue);
    }

    private static Row RowArg(JsonObject a, string name)
    {
        if (!a.TryGetPropertyValue(name, out JsonNode? v)) throw Err(CairnErrorCode.Invalid, $"missing argument '{name}'");
        return NativeRow(v, name);
    }

    /// <summary>A wire row as the binding's Row of .NET values.</summary>
    private static Row NativeRow(JsonNode? v, string what)
    {
        if (v is not JsonObject o) throw Err(CairnErrorCode.Type, $"{what}: a row must be an object");
        var row = new Row();
        foreach (var (k, x) in o) row[k] = NativeValue(x, k);
        return row;
    }

    /// <summary>A wire value as the .NET value a user would pass: integers as long (ulong beyond, a
    /// BigInteger beyond that: the core answers Range), other numbers as double, $f64 as the double,
    /// $bytes as byte[], $ts as a UTC DateTime.</summary>
    private static object? NativeValue(JsonNode? v, string what)
    {
        switch (v)
        {
            case null: return null;
            case JsonObject o when IsTagged(o, "$bytes") || IsTagged(o, "$repeat"): return GetBytes(o, what, out _);
            case JsonObject o when IsTagged(o, "$f64"):
                return (o["$f64"] as JsonValue)?.ToString() switch
                {
                    "nan" => double.NaN,
                    "inf" => double.PositiveInfinity,
                    "-inf" => double.NegativeInfinity,
                    var x => throw Err(CairnErrorCode.Invalid, $"{what}: bad $f64 '{x}'"),
                };
            case JsonObject o when IsTagged(o, "$ts"):
            {
                long us = GetInt(o["$ts"], what, long.MinValue, long.MaxValue);
                const long epoch = 621355968000000000;
                if (us < -epoch / 10 || us > (DateTime.MaxValue.Ticks - epoch) / 10)
                    throw Err(CairnErrorCode.Range, $"{what}: $ts {us} is outside the years DateTime holds");
                return new DateTime(epoch + us * 10, DateTimeKind.Utc);
            }
            case JsonValue jv:
                switch (jv.GetValueKind())
                {
                    case JsonValueKind.String: return jv.GetValue<string>();
                    case JsonValueKind.True: return true;
                    case JsonValueKind.False: return false;
                    case JsonValueKind.Number:
                        string text = jv.ToJsonString();
                        if (text.IndexOfAny(new[] { '.', 'e', 'E' }) < 0)
                        {
                            if (long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long l)) return l;
                            if (ulong.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ulong u)) return u;
                            return System.Numerics.BigInteger.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
                        }
                        return double.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
                }
                break;
        }
        // A list or another object is a host value no column takes: the binding answers for it.
        return v.DeepClone();
    }

    /// <summary>The query argument as the dictionary Table.Query takes: objects as dictionaries, lists as
    /// lists, tagged values ($bytes, $ts, $f64) and scalars as the .NET values a user would pass.</summary>
    private static Dictionary<string, object?> QueryArg(JsonObject a)
    {
        if (!a.TryGetPropertyValue("query", out JsonNode? q)) throw Err(CairnErrorCode.Invalid, "missing argument 'query'");
        if (q is not JsonObject o) throw Err(CairnErrorCode.Type, "query: expected an object");
        return (Dictionary<string, object?>)QueryValue(o, "query")!;
    }

    private static object? QueryValue(JsonNode? v, string what)
    {
        switch (v)
        {
            case JsonObject o when IsTagged(o, "$bytes") || IsTagged(o, "$ts") || IsTagged(o, "$f64"):
                return NativeValue(o, what);
            case JsonObject o:
            {
                var d = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (k, x) in o) d[k] = QueryValue(x, k);
                return d;
            }
            case JsonArray arr:
                return arr.Select(x => QueryValue(x, what)).ToList();
            default:
                return NativeValue(v, what);
        }
    }

    /// <summary>A query or join result on the wire: {"columns", "rows"} or {"columns", "data", "count"}.</summary>
    private static JsonObject ResultWire(QueryResult r)
    {
        var cols = new JsonArray();
        foreach (ResultColumn c in r.Columns) cols.Add(new JsonObject { ["name"] = c.Name, ["type"] = c.Type });
        if (!r.IsColumnar)
            return new JsonObject { ["columns"] = cols, ["rows"] = new JsonArray(r.Select(row => (JsonNode?)WireRow(row)).ToArray()) };
        var data = new JsonObject();
        foreach (ResultColumn c in r.Columns) data[c.Name] = new JsonArray(r.Column(c.Name).Select(WireValue).ToArray());
        return new JsonObject { ["columns"] = cols, ["data"] = data, ["count"] = r.Count };
    }

    /// <summary>A row read back, on the wire.</summary>
    private static JsonObject WireRow(Row row)
    {
        var o = new JsonObject();
        foreach (var (k, v) in row) o[k] = WireValue(v);
        return o;
    }

    private static JsonNode? WireValue(object? v) => v switch
    {
        null => null,
        byte[] b => Hex(b),
        DateTime dt => new JsonObject { ["$ts"] = (dt.Ticks - 621355968000000000) / 10 },
        double d when !double.IsFinite(d) => new JsonObject { ["$f64"] = double.IsNaN(d) ? "nan" : d > 0 ? "inf" : "-inf" },
        float f when !float.IsFinite(f) => new JsonObject { ["$f64"] = float.IsNaN(f) ? "nan" : f > 0 ? "inf" : "-inf" },
        float f => JsonValue.Create((double)f),
        _ => JsonSerializer.SerializeToNode(v, v.GetType()),
    };
}
