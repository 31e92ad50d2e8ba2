// Repo: the versioned store (cairn/repo.h). Tenants hold entries; every save, put or delete makes a new
// immutable version named by a SHA-256 digest (64 lowercase hex characters) that records its parents,
// user and time. An entry holds a whole value (Save/Load) or a collection of records (Put/Get/Delete).
// Values are typed as in the KV (KvValue: byte[] -> Bytes, string -> Text, JsonNode -> Json). Every call
// returns an ExecResponse; none throws for a storage error.
using System;
using System.Collections.Generic;
using System.Text.Json;
using Cairn.Native;

namespace Cairn;

/// <summary>Options of <see cref="Repo.Open(RepoOptions)"/> (Create, ReadOnly, Sync and LockTimeout are
/// those of every store; Sync is <see cref="SyncMode.Commit"/> or <see cref="SyncMode.None"/>).</summary>
public sealed class RepoOptions : StoreOptions
{
    /// <summary>The repository directory. Required.</summary>
    public string? Path { get; set; }

    /// <summary>Tree nodes kept in memory once checked against their digest, up to this many bytes: a
    /// diff or a put reads them again without reading or hashing them again. 0 (the default): 64 MiB;
    /// 1: none.</summary>
    public ulong CacheBytes { get; set; }
}

/// <summary>Counters of a repository (cairn_repo_stats): tenants, object files and the bytes of every
/// object and ref.</summary>
public sealed record RepoStats(long Tenants, long Objects, long DiskBytes);

/// <summary>One version of an entry: its digest, its parents' digests, who made it and when (UTC), and
/// whether it is a collection (else a whole value).</summary>
public sealed record RepoVersion(string Digest, IReadOnlyList<string> Parents, string User, DateTime Time, bool Collection);

/// <summary>The keys that differ between two versions of a collection, each list in key order.</summary>
public sealed record RepoDiff(IReadOnlyList<byte[]> Added, IReadOnlyList<byte[]> Removed, IReadOnlyList<byte[]> Changed);

/// <summary>A record of a collection: its key and value.</summary>
public sealed record RepoRecord(byte[] Key, KvValue Value)
{
    /// <summary>The key as text (its UTF-8 decoded); throws DecoderFallbackException for a binary key.</summary>
    public string KeyString => Interop.StrictUtf8.GetString(Key);
}

/// <summary>A versioned store of tenants, entries and their history, in one directory. Thread-safe;
/// dispose to close. Transactions, Sync, Compact and the argument-less Count of the base are Unsupported
/// here (every change is already one durable version).</summary>
public sealed unsafe class Repo : NativeStore
{
    /// <summary>Characters of a digest (SHA-256 in lowercase hex).</summary>
    public const int DigestLength = 64;

    private Repo(RepoHandle h, string path) : base(h, path, "repository") { }

    private int Call<TArgs>(scoped ref TArgs args, NativeCall<RepoHandle, TArgs> call) where TArgs : allows ref struct =>
        Invoke(ref args, call);

    // ---- open / verify -------------------------------------------------------------------------------

    /// <summary>Opens (or creates) the repository in directory <paramref name="path"/>.</summary>
    public static ExecResponse<Repo> Open(string path) => Open(new RepoOptions { Path = path });

    /// <summary>Opens (or creates) the repository described by <paramref name="options"/>. A second
    /// writer is Locked; read-only handles open beside the writer and see its changes.</summary>
    public static ExecResponse<Repo> Open(RepoOptions options)
    {
        if (options is null) return ExecResponse<Repo>.Fail(CairnErrorCode.Invalid, "options is null");
        var native = options.ToNative<CairnRepoOptions>();
        native.CacheBytes = options.CacheBytes;
        return OpenStore(options.Path, options, p => { var n = native; return (NativeMethods.cairn_repo_open(out RepoHandle h, p, &n), h); },
                         static (h, p) => new Repo(h, p));
    }

    /// <summary>Re-hashes every object of the repository at <paramref name="path"/> and checks that every
    /// ref names a complete version: Success when sound, Corrupt (naming the digest or ref) when damaged,
    /// Path when missing.</summary>
    public static ExecResponse Verify(string path) => CheckPath(path, static p => NativeMethods.cairn_repo_verify(p));

    // ---- argument checks -----------------------------------------------------------------------------

    /// <summary>Closed first (as every call of a closed store), then each name C could not receive as given
    /// (null, a NUL inside, an unpaired surrogate): Invalid. The core checks the rest (length, control
    /// characters, digest syntax).</summary>
    private ExecResponse? Refuse(string? a, string aw, string? b = "", string bw = "", string? c = "", string cw = "")
    {
        if (IsClosed) return Status(ClosedRc);
        return ArgProblem(a, aw) ?? ArgProblem(b, bw) ?? ArgProblem(c, cw);
    }

    /// <summary>An optional digest: null is fine (the head, or the empty collection in Diff).</summary>
    private static ExecResponse? DigestProblem(string? digest, string what) => digest is null ? null : ArgProblem(digest, what);

    private static string DigestString(ReadOnlySpan<byte> buf) => System.Text.Encoding.ASCII.GetString(buf.Slice(0, DigestLength));

    // ---- tenants -------------------------------------------------------------------------------------

    /// <summary>Creates the tenant (an existing one is fine).</summary>
    public ExecResponse Init(string tenant)
    {
        if (Refuse(tenant, "tenant") is ExecResponse bad) return bad;
        return Status(Invoke<RepoHandle>(h => NativeMethods.cairn_repo_init(h, tenant)));
    }

    /// <summary>The tenants' names, sorted bytewise.</summary>
    public ExecResponse<IReadOnlyList<string>> Tenants()
    {
        nint json = 0;
        int rc = Call(ref json, static (h, ref j) => { int rc = NativeMethods.cairn_repo_tenants(h, out byte* o); j = (nint)o; return rc; });
        return rc == 0 ? Names((byte*)json) : Fail<IReadOnlyList<string>>(rc);
    }

    /// <summary>The tenant's entries (values and collections), sorted bytewise; NotFound for an unknown
    /// tenant.</summary>
    public ExecResponse<IReadOnlyList<string>> Entries(string tenant)
    {
        if (Refuse(tenant, "tenant") is ExecResponse bad) return ExecResponse<IReadOnlyList<string>>.From(bad);
        var a = (Tenant: tenant, Out: (nint)0);
        int rc = Call(ref a, static (h, ref a) => { int rc = NativeMethods.cairn_repo_entries(h, a.Tenant, out byte* o); a.Out = (nint)o; return rc; });
        return rc == 0 ? Names((byte*)a.Out) : Fail<IReadOnlyList<string>>(rc);
    }

    private static ExecResponse<IReadOnlyList<string>> Names(byte* json)
    {
        byte[] text = Interop.TakeOwnedString(json);
        try
        {
            var list = JsonSerializer.Deserialize<List<string>>(text) ?? new List<string>();
            return ExecResponse<IReadOnlyList<string>>.Ok(list);
        }
        catch (JsonException e)
        {
            return ExecResponse<IReadOnlyList<string>>.Fail(CairnErrorCode.Internal, "the engine's list does not parse: " + e.Message);
        }
    }

    // ---- whole values --------------------------------------------------------------------------------

    private ref struct ChangeArgs
    {
        public string Tenant, User, Entry;
        public ReadOnlySpan<byte> Key, Value;
        public int Kind;
        public byte* Digest;
    }

    /// <summary>Saves <paramref name="value"/> (a KvValue; byte[], string and JsonNode convert to one) as
    /// the new head of <paramref name="entry"/> and returns the new version's digest. NotFound for an
    /// unknown tenant; Type when the entry is a collection.</summary>
    public ExecResponse<string> Save(string tenant, string user, string entry, KvValue value)
    {
        if (Refuse(tenant, "tenant", user, "user", entry, "entry") is ExecResponse bad) return ExecResponse<string>.From(bad);
        if (value is null) return NullValue<string>();
        byte* digest = stackalloc byte[DigestLength + 1];
        var a = new ChangeArgs { Tenant = tenant, User = user, Entry = entry, Value = value.RawData, Kind = (int)value.Kind, Digest = digest };
        int rc = Call(ref a, static (h, ref a) => NativeMethods.cairn_repo_save(h, a.Tenant, a.User, a.Entry, a.Value, a.Kind, a.Digest));
        return rc == 0 ? ExecResponse<string>.Ok(DigestString(new ReadOnlySpan<byte>(digest, DigestLength))) : Fail<string>(rc);
    }

    private static ExecResponse<T> NullValue<T>() =>
        ExecResponse<T>.Fail(CairnErrorCode.Invalid, "value is null (store an empty byte[] or a JsonNode instead)");

    private ref struct ReadArgs
    {
        public string Tenant, Entry;
        public string? Digest;
        public ReadOnlySpan<byte> Key;
        public byte* Value;
        public nuint Len;
        public int Kind;
    }

    /// <summary>The head of <paramref name="entry"/>, or its version <paramref name="digest"/>. NotFound when
    /// the tenant, entry or version is absent (a digest of another entry is absent); Type for a
    /// collection; Invalid for a malformed digest.</summary>
    public ExecResponse<KvValue> Load(string tenant, string entry, string? digest = null)
    {
        if ((Refuse(tenant, "tenant", entry, "entry") ?? DigestProblem(digest, "digest")) is ExecResponse bad) return ExecResponse<KvValue>.From(bad);
        var a = new ReadArgs { Tenant = tenant, Entry = entry, Digest = digest };
        int rc = Call(ref a, static (h, ref a) => NativeMethods.cairn_repo_load(h, a.Tenant, a.Entry, a.Digest, out a.Value, out a.Len, out a.Kind));
        return rc == 0 ? ExecResponse<KvValue>.Ok(KvValue.Adopt((CairnKind)a.Kind, Interop.TakeOwned(a.Value, a.Len))) : Fail<KvValue>(rc);
    }

    /// <summary>True if the entry exists (false for an unknown tenant too).</summary>
    public ExecResponse<bool> Exists(string tenant, string entry)
    {
        if (Refuse(tenant, "tenant", entry, "entry") is ExecResponse bad) return ExecResponse<bool>.From(bad);
        var a = (Tenant: tenant, Entry: entry);
        return Truth(Call(ref a, static (h, ref a) => NativeMethods.cairn_repo_exists(h, a.Tenant, a.Entry)));
    }

    /// <summary>The head digest of <paramref name="entry"/>; NotFound when absent.</summary>
    public ExecResponse<string> Digest(string tenant, string entry)
    {
        if (Refuse(tenant, "tenant", entry, "entry") is ExecResponse bad) return ExecResponse<string>.From(bad);
        byte* digest = stackalloc byte[DigestLength + 1];
        var a = new ChangeArgs { Tenant = tenant, Entry = entry, Digest = digest };
        int rc = Call(ref a, static (h, ref a) => NativeMethods.cairn_repo_digest(h, a.Tenant, a.Entry, a.Digest));
        return rc == 0 ? ExecResponse<string>.Ok(DigestString(new ReadOnlySpan<byte>(digest, DigestLength))) : Fail<string>(rc);
    }

    // ---- collections ---------------------------------------------------------------------------------

    /// <summary>Puts one record into the collection <paramref name="entry"/> (created by its first put) and
    /// returns the new version's digest. Type when the entry holds a whole value.</summary>
    public ExecResponse<string> Put(string tenant, string user, string entry, string key, KvValue value)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? Put(tenant, user, entry, k.Bytes, value) : k.Fail<string>();
    }

    /// <summary>Puts one record under a binary key.</summary>
    public ExecResponse<string> Put(string tenant, string user, string entry, ReadOnlySpan<byte> key, KvValue value)
    {
        if (Refuse(tenant, "tenant", user, "user", entry, "entry") is ExecResponse bad) return ExecResponse<string>.From(bad);
        if (value is null) return NullValue<string>();
        byte* digest = stackalloc byte[DigestLength + 1];
        var a = new ChangeArgs { Tenant = tenant, User = user, Entry = entry, Key = key, Value = value.RawData, Kind = (int)value.Kind, Digest = digest };
        int rc = Call(ref a, static (h, ref a) => NativeMethods.cairn_repo_put(h, a.Tenant, a.User, a.Entry, a.Key, a.Value, a.Kind, a.Digest));
        return rc == 0 ? ExecResponse<string>.Ok(DigestString(new ReadOnlySpan<byte>(digest, DigestLength))) : Fail<string>(rc);
    }

    /// <summary>Puts many records as ONE new version (all or nothing); a key given twice keeps its last
    /// value. Keys are strings (their UTF-8); values anything <see cref="KvValue.FromObject"/> maps
    /// (byte[], string, JsonNode, KvValue; another type is a Type failure).</summary>
    public ExecResponse<string> PutMany<TValue>(string tenant, string user, string entry, IEnumerable<(string Key, TValue Value)> records)
    {
        if (records is null) return ExecResponse<string>.Fail(CairnErrorCode.Invalid, "records is null");
        var list = new List<(byte[], KvValue)>();
        foreach (var (key, value) in records)
        {
            if (key is null) return ExecResponse<string>.Fail(CairnErrorCode.Invalid, "key is null");
            byte[] k;
            try { k = Interop.StrictUtf8.GetBytes(key); }
            catch (System.Text.EncoderFallbackException)
            {
                return ExecResponse<string>.Fail(CairnErrorCode.Invalid, "key is not valid UTF-16 text (unpaired surrogate)");
            }
            var v = KvValue.FromObject(value);
            if (!v.Success) return ExecResponse<string>.From(v);
            list.Add((k, v.Result!));
        }
        return PutManyCore(tenant, user, entry, list);
    }

    /// <summary>Puts many records under binary keys as one new version.</summary>
    public ExecResponse<string> PutMany<TValue>(string tenant, string user, string entry, IEnumerable<(byte[] Key, TValue Value)> records)
    {
        if (records is null) return ExecResponse<string>.Fail(CairnErrorCode.Invalid, "records is null");
        var list = new List<(byte[], KvValue)>();
        foreach (var (key, value) in records)
        {
            if (key is null) return ExecResponse<string>.Fail(CairnErrorCode.Invalid, "key is null");
            var v = KvValue.FromObject(value);
            if (!v.Success) return ExecResponse<string>.From(v);
            list.Add((key, v.Result!));
        }
        return PutManyCore(tenant, user, entry, list);
    }

    private ref struct ManyArgs
    {
        public string Tenant, User, Entry;
        public nuint N;
        public byte** Keys, Values;
        public nuint* KLens, VLens;
        public int* Kinds;
        public byte* Digest;
    }

    private ExecResponse<string> PutManyCore(string tenant, string user, string entry, List<(byte[] Key, KvValue Value)> records)
    {
        if (Refuse(tenant, "tenant", user, "user", entry, "entry") is ExecResponse bad) return ExecResponse<string>.From(bad);
        int n = records.Count;
        // Every key and value in one pinned array; the pointer arrays point into it.
        long total = 0;
        foreach (var (k, v) in records) total += k.Length + v.Length;
        if (total > Array.MaxLength) return ExecResponse<string>.Fail(CairnErrorCode.TooBig, "records larger than a .NET array");
        var blob = new byte[Math.Max(1, total)];
        var offsets = new (int K, int V)[n];
        int at = 0;
        for (int i = 0; i < n; i++)
        {
            var (k, v) = records[i];
            offsets[i].K = at;
            k.CopyTo(blob, at);
            at += k.Length;
            offsets[i].V = at;
            v.RawData.CopyTo(blob, at);
            at += v.Length;
        }
        var keys = new nint[n + 1];
        var values = new nint[n + 1];
        var klens = new nuint[n + 1];
        var vlens = new nuint[n + 1];
        var kinds = new int[n + 1];
        byte* digest = stackalloc byte[DigestLength + 1];
        fixed (byte* b = blob)
        fixed (nint* kp = keys, vp = values)
        fixed (nuint* kl = klens, vl = vlens)
        fixed (int* kd = kinds)
        {
            for (int i = 0; i < n; i++)
            {
                keys[i] = (nint)(b + offsets[i].K);
                values[i] = (nint)(b + offsets[i].V);
                klens[i] = (nuint)records[i].Key.Length;
                vlens[i] = (nuint)records[i].Value.Length;
                kinds[i] = (int)records[i].Value.Kind;
            }
            var a = new ManyArgs
            {
                Tenant = tenant, User = user, Entry = entry, N = (nuint)n, Keys = (byte**)kp, Values = (byte**)vp,
                KLens = kl, VLens = vl, Kinds = kd, Digest = digest,
            };
            int rc = Call(ref a, static (h, ref a) => NativeMethods.cairn_repo_put_many(h, a.Tenant, a.User, a.Entry, a.N,
                a.Keys, a.KLens, a.Values, a.VLens, a.Kinds, a.Digest));
            return rc == 0 ? ExecResponse<string>.Ok(DigestString(new ReadOnlySpan<byte>(digest, DigestLength))) : Fail<string>(rc);
        }
    }

    /// <summary>The record <paramref name="key"/> of the head (or of version <paramref name="digest"/>);
    /// NotFound when the key, entry, version or tenant is absent.</summary>
    public ExecResponse<KvValue> Get(string tenant, string entry, string key, string? digest = null)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? Get(tenant, entry, k.Bytes, digest) : k.Fail<KvValue>();
    }

    /// <summary>The record under a binary key.</summary>
    public ExecResponse<KvValue> Get(string tenant, string entry, ReadOnlySpan<byte> key, string? digest = null)
    {
        if ((Refuse(tenant, "tenant", entry, "entry") ?? DigestProblem(digest, "digest")) is ExecResponse bad) return ExecResponse<KvValue>.From(bad);
        var a = new ReadArgs { Tenant = tenant, Entry = entry, Digest = digest, Key = key };
        int rc = Call(ref a, static (h, ref a) => NativeMethods.cairn_repo_get(h, a.Tenant, a.Entry, a.Digest, a.Key, out a.Value, out a.Len, out a.Kind));
        return rc == 0 ? ExecResponse<KvValue>.Ok(KvValue.Adopt((CairnKind)a.Kind, Interop.TakeOwned(a.Value, a.Len))) : Fail<KvValue>(rc);
    }

    /// <summary>Deletes one record (a new version, whose digest is returned); NotFound when the key is
    /// absent.</summary>
    public ExecResponse<string> Delete(string tenant, string user, string entry, string key)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? Delete(tenant, user, entry, k.Bytes) : k.Fail<string>();
    }

    /// <summary>Deletes the record under a binary key.</summary>
    public ExecResponse<string> Delete(string tenant, string user, string entry, ReadOnlySpan<byte> key)
    {
        if (Refuse(tenant, "tenant", user, "user", entry, "entry") is ExecResponse bad) return ExecResponse<string>.From(bad);
        byte* digest = stackalloc byte[DigestLength + 1];
        var a = new ChangeArgs { Tenant = tenant, User = user, Entry = entry, Key = key, Digest = digest };
        int rc = Call(ref a, static (h, ref a) => NativeMethods.cairn_repo_delete(h, a.Tenant, a.User, a.Entry, a.Key, a.Digest));
        return rc == 0 ? ExecResponse<string>.Ok(DigestString(new ReadOnlySpan<byte>(digest, DigestLength))) : Fail<string>(rc);
    }

    /// <summary>Number of records of the head (or of version <paramref name="digest"/>).</summary>
    public ExecResponse<long> Count(string tenant, string entry, string? digest = null)
    {
        if ((Refuse(tenant, "tenant", entry, "entry") ?? DigestProblem(digest, "digest")) is ExecResponse bad) return ExecResponse<long>.From(bad);
        var a = (Tenant: tenant, Entry: entry, Digest: digest, N: 0UL);
        int rc = Call(ref a, static (h, ref a) => NativeMethods.cairn_repo_count(h, a.Tenant, a.Entry, a.Digest, out a.N));
        return Result(rc, (long)a.N);
    }

    /// <summary>The records of the head (or of version <paramref name="digest"/>) in key order (bytewise).</summary>
    public ExecResponse<IReadOnlyList<RepoRecord>> Records(string tenant, string entry, string? digest = null)
    {
        var list = new List<RepoRecord>();
        var r = Visit(tenant, entry, digest, (k, v, kind) => list.Add(new RepoRecord(k.ToArray(), KvValue.FromRaw((CairnKind)kind, v))));
        return r.Success ? ExecResponse<IReadOnlyList<RepoRecord>>.Ok(list) : ExecResponse<IReadOnlyList<RepoRecord>>.From(r);
    }

    /// <summary>The keys of the head (or of version <paramref name="digest"/>), ascending bytewise.</summary>
    public ExecResponse<IReadOnlyList<byte[]>> Keys(string tenant, string entry, string? digest = null)
    {
        var list = new List<byte[]>();
        var r = Visit(tenant, entry, digest, (k, _, _) => list.Add(k.ToArray()));
        return r.Success ? ExecResponse<IReadOnlyList<byte[]>>.Ok(list) : ExecResponse<IReadOnlyList<byte[]>>.From(r);
    }

    /// <summary>A visitor of the records of a version; the spans are valid only during the call.</summary>
    public delegate void RecordVisitor(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, int kind);

    private ref struct IterArgs
    {
        public string Tenant, Entry;
        public string? Digest;
        public RepoIterHandle? It;
    }

    /// <summary>Calls <paramref name="visit"/> for each record of a version in key order, without
    /// allocating per record.</summary>
    public ExecResponse Visit(string tenant, string entry, string? digest, RecordVisitor visit)
    {
        ArgumentNullException.ThrowIfNull(visit);
        if ((Refuse(tenant, "tenant", entry, "entry") ?? DigestProblem(digest, "digest")) is ExecResponse bad) return bad;
        var a = new IterArgs { Tenant = tenant, Entry = entry, Digest = digest };
        int rc = Call(ref a, static (h, ref a) => NativeMethods.cairn_repo_iter_open(out a.It, h, a.Tenant, a.Entry, a.Digest));
        return Drain(rc, a.It!, it =>
        {
            int rc = NativeMethods.cairn_repo_iter_next(it, out byte* k, out nuint klen, out byte* v, out nuint vlen, out int kind);
            if (rc == 0) visit(new ReadOnlySpan<byte>(k, (int)klen), v == null ? default : new ReadOnlySpan<byte>(v, (int)vlen), kind);
            return rc;
        });
    }

    // ---- diff, history, tags ---------------------------------------------------------------------------

    /// <summary>The keys added, removed and changed from version <paramref name="from"/> to version
    /// <paramref name="to"/> of a collection (either null: the empty collection). Type for a whole-value
    /// version, NotFound for an unknown digest.</summary>
    public ExecResponse<RepoDiff> Diff(string tenant, string? from, string? to)
    {
        if ((Refuse(tenant, "tenant") ?? DigestProblem(from, "from") ?? DigestProblem(to, "to")) is ExecResponse bad) return ExecResponse<RepoDiff>.From(bad);
        var a = (Tenant: tenant, From: from, To: to, Out: (nint)0);
        int rc = Call(ref a, static (h, ref a) => { int rc = NativeMethods.cairn_repo_diff(h, a.Tenant, a.From, a.To, out byte* o); a.Out = (nint)o; return rc; });
        if (rc != 0) return Fail<RepoDiff>(rc);
        byte[] text = Interop.TakeOwnedString((byte*)a.Out);
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            return ExecResponse<RepoDiff>.Ok(new RepoDiff(KeyList(root.GetProperty("added")), KeyList(root.GetProperty("removed")),
                KeyList(root.GetProperty("changed"))));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            return ExecResponse<RepoDiff>.Fail(CairnErrorCode.Internal, "the engine's diff does not parse: " + e.Message);
        }
    }

    /// <summary>Keys of the engine's JSON: a string (UTF-8) or {"$bytes": hex}.</summary>
    private static List<byte[]> KeyList(JsonElement arr)
    {
        var list = new List<byte[]>();
        foreach (var k in arr.EnumerateArray())
            list.Add(k.ValueKind == JsonValueKind.String
                ? Interop.StrictUtf8.GetBytes(k.GetString()!)
                : Convert.FromHexString(k.GetProperty("$bytes").GetString()!));
        return list;
    }

    /// <summary>The versions of <paramref name="entry"/>, newest first, at most <paramref name="max"/>
    /// (0: all); empty for an entry never saved, NotFound for an unknown tenant.</summary>
    public ExecResponse<IReadOnlyList<RepoVersion>> History(string tenant, string entry, int max = 0)
    {
        if (Refuse(tenant, "tenant", entry, "entry") is ExecResponse bad) return ExecResponse<IReadOnlyList<RepoVersion>>.From(bad);
        if (max < 0) return ExecResponse<IReadOnlyList<RepoVersion>>.Fail(CairnErrorCode.Invalid, "max is negative");
        var a = (Tenant: tenant, Entry: entry, Max: (nuint)max, Out: (nint)0);
        int rc = Call(ref a, static (h, ref a) => { int rc = NativeMethods.cairn_repo_history(h, a.Tenant, a.Entry, a.Max, out byte* o); a.Out = (nint)o; return rc; });
        if (rc != 0) return Fail<IReadOnlyList<RepoVersion>>(rc);
        byte[] text = Interop.TakeOwnedString((byte*)a.Out);
        try
        {
            using var doc = JsonDocument.Parse(text);
            var list = new List<RepoVersion>();
            foreach (var v in doc.RootElement.EnumerateArray())
            {
                var parents = new List<string>();
                foreach (var p in v.GetProperty("parents").EnumerateArray()) parents.Add(p.GetString()!);
                list.Add(new RepoVersion(v.GetProperty("digest").GetString()!, parents, v.GetProperty("user").GetString()!,
                    DateTime.UnixEpoch.AddMilliseconds(v.GetProperty("time").GetInt64()), v.GetProperty("collection").GetBoolean()));
            }
            return ExecResponse<IReadOnlyList<RepoVersion>>.Ok(list);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException or ArgumentOutOfRangeException)
        {
            return ExecResponse<IReadOnlyList<RepoVersion>>.Fail(CairnErrorCode.Internal, "the engine's history does not parse: " + e.Message);
        }
    }

    /// <summary>Names version <paramref name="digest"/> <paramref name="name"/> (set again to move it);
    /// NotFound when the digest names no version of the tenant.</summary>
    public ExecResponse Tag(string tenant, string name, string digest)
    {
        if (Refuse(tenant, "tenant", name, "name", digest, "digest") is ExecResponse bad) return bad;
        var a = (Tenant: tenant, Name: name, Digest: digest);
        return Status(Call(ref a, static (h, ref a) => NativeMethods.cairn_repo_tag(h, a.Tenant, a.Name, a.Digest)));
    }

    /// <summary>The digest the tag <paramref name="name"/> names; NotFound when absent.</summary>
    public ExecResponse<string> TagGet(string tenant, string name)
    {
        if (Refuse(tenant, "tenant", name, "name") is ExecResponse bad) return ExecResponse<string>.From(bad);
        byte* digest = stackalloc byte[DigestLength + 1];
        var a = new ChangeArgs { Tenant = tenant, Entry = name, Digest = digest };
        int rc = Call(ref a, static (h, ref a) => NativeMethods.cairn_repo_tag_get(h, a.Tenant, a.Entry, a.Digest));
        return rc == 0 ? ExecResponse<string>.Ok(DigestString(new ReadOnlySpan<byte>(digest, DigestLength))) : Fail<string>(rc);
    }

    // ---- maintenance ---------------------------------------------------------------------------------

    /// <summary>Removes the objects no head or tag reaches that are older than <paramref name="grace"/>
    /// (default zero: any age); returns how many were removed.</summary>
    public ExecResponse<long> Gc(TimeSpan grace = default)
    {
        if (grace < TimeSpan.Zero) return ExecResponse<long>.Fail(CairnErrorCode.Invalid, "grace is negative");
        ulong ms = (ulong)Math.Ceiling(grace.TotalMilliseconds);
        var a = (Grace: ms, Removed: 0UL);
        int rc = Call(ref a, static (h, ref a) => NativeMethods.cairn_repo_gc(h, a.Grace, out a.Removed));
        return Result(rc, (long)a.Removed);
    }

    /// <summary>Counters of the repository.</summary>
    public ExecResponse<RepoStats> Stats()
    {
        var s = CairnRepoStats.Init();
        int rc = Call(ref s, static (h, ref s) => NativeMethods.cairn_repo_stats(h, ref s));
        return Result(rc, new RepoStats((long)s.Tenants, (long)s.Objects, (long)s.DiskBytes));
    }
}
