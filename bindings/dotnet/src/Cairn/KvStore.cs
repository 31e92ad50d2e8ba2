// KvStore: the Bitcask log key-value store. Every call returns an ExecResponse; none throws for a
// storage error (ThrowIfFailed() is opt-in). Keys are bytes (1..65535): pass a string (its UTF-8) or
// bytes. Values: byte[] / ReadOnlySpan<byte> -> BYTES, string -> TEXT, JsonNode / JsonElement -> JSON.
using System;
using System.Collections.Generic;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cairn.Native;

namespace Cairn;

/// <summary>When a commit is made durable (cairn_sync_mode).</summary>
public enum SyncMode
{
    /// <summary>Never fsync on commit; Sync() and Dispose still do.</summary>
    None = 0,
    /// <summary>fsync before every commit returns (default).</summary>
    Commit = 1,
    /// <summary>One fsync acknowledges every writer waiting on it (many writer threads).</summary>
    Group = 2,
}

/// <summary>Options of <see cref="KvStore.Open(string, KvOptions?)"/> (Create, ReadOnly, Sync and
/// LockTimeout are those of every store).</summary>
public sealed class KvOptions : StoreOptions
{
    /// <summary>Rotate the active data file past this many bytes (0: the default, 64 MiB). A size above
    /// what the format can address is Invalid (the core checks it).</summary>
    public ulong MaxFileSize { get; set; }
}

/// <summary>Counters of a KV store (cairn_kv_stats).</summary>
public sealed record KvStats(
    long Keys, long DataFiles, long DiskBytes, long LiveBytes, long DeadBytes,
    long KeydirBytes, long Seq, long Compactions, bool InTransaction);

/// <summary>A Bitcask-style log key-value store in one directory. Thread-safe; dispose to close.</summary>
public sealed unsafe class KvStore : NativeStore
{
    private KvStore(KvHandle h, string path) : base(h, path, "KV store") { }

    private int Call<TArgs>(scoped ref TArgs args, NativeCall<KvHandle, TArgs> call) where TArgs : allows ref struct =>
        Invoke(ref args, call);

    // ---- open / check --------------------------------------------------------------------------------

    /// <summary>Opens (or creates) the store in directory <paramref name="path"/>.</summary>
    public static ExecResponse<KvStore> Open(string path, KvOptions? options = null)
    {
        var o = options ?? new KvOptions();
        var native = o.ToNative<CairnKvOptions>();
        native.MaxFileSize = o.MaxFileSize;
        return OpenStore(path, o, p => { var n = native; return (NativeMethods.cairn_kv_open(out KvHandle h, p, &n), h); },
                         static (h, p) => new KvStore(h, p));
    }

    /// <summary>Verifies every record of the store at <paramref name="path"/> without opening it for
    /// writing: Success if clean, Corrupt with file and offset in the message otherwise.</summary>
    public static ExecResponse Check(string path) => CheckPath(path, static p => NativeMethods.cairn_kv_check(p));

    /// <summary>Opens the snapshot <paramref name="name"/> (taken with <see cref="NativeStore.Snapshot"/>)
    /// as a read-only store: reads see the store as it was then, writes fail with ReadOnly. NotFound when
    /// there is no such snapshot. Dispose it like any store; it does not depend on this handle.</summary>
    public ExecResponse<KvStore> OpenSnapshot(string name) =>
        OpenSnapshotCore(name, static (h, p) => new KvStore((KvHandle)h, p));

    // ---- put -------------------------------------------------------------------------------------

    /// <summary>Stores bytes (kind Bytes) under a string key, optionally expiring at <paramref name="expireAt"/>.</summary>
    public ExecResponse Put(string key, byte[] value, TimeSpan? ttl = null, DateTimeOffset? expireAt = null)
    {
        if (value is null) return NullValue();
        return Put(key, (ReadOnlySpan<byte>)value, ttl, expireAt);
    }

    /// <summary>Stores bytes (kind Bytes) under a string key.</summary>
    public ExecResponse Put(string key, ReadOnlySpan<byte> value, TimeSpan? ttl = null, DateTimeOffset? expireAt = null)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? PutCore(k.Bytes, value, CairnKind.Bytes, ttl, expireAt) : k.Fail();
    }

    /// <summary>Stores text (kind Text) under a string key.</summary>
    public ExecResponse Put(string key, string value, TimeSpan? ttl = null, DateTimeOffset? expireAt = null)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        if (!k.Ok) return k.Fail();
        return PutText(k.Bytes, value, ttl, expireAt);
    }

    /// <summary>Stores a JSON document (kind Json) under a string key; null is the document <c>null</c>.</summary>
    public ExecResponse Put(string key, JsonNode? value, TimeSpan? ttl = null, DateTimeOffset? expireAt = null)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? PutCore(k.Bytes, KvValue.SerializeJson(value), CairnKind.Json, ttl, expireAt) : k.Fail();
    }

    /// <summary>Stores a JSON document (kind Json) under a string key.</summary>
    public ExecResponse Put(string key, JsonElement value, TimeSpan? ttl = null, DateTimeOffset? expireAt = null) =>
        Put(key, KvValue.FromJson(value), ttl, expireAt);

    /// <summary>Stores a value of any kind under a string key.</summary>
    public ExecResponse Put(string key, KvValue value, TimeSpan? ttl = null, DateTimeOffset? expireAt = null)
    {
        if (value is null) return NullValue();
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? PutCore(k.Bytes, value.RawData, value.Kind, ttl, expireAt) : k.Fail();
    }

    /// <summary>Stores bytes (kind Bytes) under a binary key.</summary>
    public ExecResponse Put(ReadOnlySpan<byte> key, byte[] value, TimeSpan? ttl = null, DateTimeOffset? expireAt = null)
    {
        if (value is null) return NullValue();
        return PutCore(key, value, CairnKind.Bytes, ttl, expireAt);
    }

    /// <summary>Stores bytes (kind Bytes) under a binary key.</summary>
    public ExecResponse Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, TimeSpan? ttl = null, DateTimeOffset? expireAt = null) =>
        PutCore(key, value, CairnKind.Bytes, ttl, expireAt);

    /// <summary>Stores text (kind Text) under a binary key.</summary>
    public ExecResponse Put(ReadOnlySpan<byte> key, string value, TimeSpan? ttl = null, DateTimeOffset? expireAt = null) =>
        PutText(key, value, ttl, expireAt);

    /// <summary>Stores a JSON document (kind Json) under a binary key.</summary>
    public ExecResponse Put(ReadOnlySpan<byte> key, JsonNode? value, TimeSpan? ttl = null, DateTimeOffset? expireAt = null) =>
        PutCore(key, KvValue.SerializeJson(value), CairnKind.Json, ttl, expireAt);

    /// <summary>Stores a JSON document (kind Json) under a binary key.</summary>
    public ExecResponse Put(ReadOnlySpan<byte> key, JsonElement value, TimeSpan? ttl = null, DateTimeOffset? expireAt = null) =>
        PutCore(key, KvValue.FromJson(value).RawData, CairnKind.Json, ttl, expireAt);

    /// <summary>Stores a value of any kind under a binary key.</summary>
    public ExecResponse Put(ReadOnlySpan<byte> key, KvValue value, TimeSpan? ttl = null, DateTimeOffset? expireAt = null)
    {
        if (value is null) return NullValue();
        return PutCore(key, value.RawData, value.Kind, ttl, expireAt);
    }

    private ExecResponse PutText(ReadOnlySpan<byte> key, string value, TimeSpan? ttl, DateTimeOffset? expireAt)
    {
        if (value is null) return NullValue();
        using var v = new Utf8Arg(value, stackalloc byte[Interop.StackBytes], "value");
        return v.Ok ? PutCore(key, v.Bytes, CairnKind.Text, ttl, expireAt) : v.Fail();
    }

    private static ExecResponse NullValue() =>
        ExecResponse.Fail(CairnErrorCode.Invalid, "value is null (store an empty byte[] or a JsonNode instead)");

    private ref struct PutArgs
    {
        public ReadOnlySpan<byte> Key, Value;
        public int Kind;
        public long ExpireAtMs;
    }

    /// <summary>The C expiry (Unix ms, 0: never) of ttl or expireAt; Invalid for both, a negative ttl or a
    /// time the C API cannot hold. A ttl counts from the clock expiry uses (the test clock when set).</summary>
    private static string? ExpireAtMs(TimeSpan? ttl, DateTimeOffset? expireAt, out long ms)
    {
        ms = 0;
        if (ttl is not null && expireAt is not null) return "give ttl or expireAt, not both";
        if (ttl is TimeSpan t)
        {
            if (t < TimeSpan.Zero) return "ttl is negative";
            // Whole ms, rounded up: a positive ttl never expires earlier than asked.
            long add = (long)Math.Ceiling(t.TotalMilliseconds);
            ms = CairnTesting.NowMs() + add;
        }
        else if (expireAt is DateTimeOffset at)
        {
            ms = at.ToUnixTimeMilliseconds();
            if (ms < 0) return "expireAt is before 1970";
        }
        else return null;
        if (ms == 0) ms = 1; // 0 is "never" in C: the epoch itself is already expired
        return null;
    }

    private ExecResponse PutCore(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, CairnKind kind,
                                 TimeSpan? ttl, DateTimeOffset? expireAt)
    {
        if (ExpireAtMs(ttl, expireAt, out long ms) is string problem) return ExecResponse.Fail(CairnErrorCode.Invalid, problem);
        var a = new PutArgs { Key = key, Value = value, Kind = (int)kind, ExpireAtMs = ms };
        return Status(Call(ref a, static (h, ref a) => a.ExpireAtMs == 0
            ? NativeMethods.cairn_kv_put(h, a.Key, a.Value, a.Kind)
            : NativeMethods.cairn_kv_put_ex(h, a.Key, a.Value, a.Kind, a.ExpireAtMs)));
    }

    // ---- get -------------------------------------------------------------------------------------

    /// <summary>The value and its kind; a missing or expired key is Success=false, ErrorCode=NotFound.</summary>
    public ExecResponse<KvValue> Get(string key)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? Get(k.Bytes) : k.Fail<KvValue>();
    }

    /// <summary>The value and its kind under a binary key.</summary>
    public ExecResponse<KvValue> Get(ReadOnlySpan<byte> key)
    {
        int rc = GetCore(key, out byte[]? data, out int kind);
        return rc == 0 ? ExecResponse<KvValue>.Ok(KvValue.Adopt((CairnKind)kind, data!)) : Fail<KvValue>(rc);
    }

    /// <summary>The stored bytes, whatever the kind (text and JSON as their UTF-8).</summary>
    public ExecResponse<byte[]> GetBytes(string key)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? GetBytes(k.Bytes) : k.Fail<byte[]>();
    }

    /// <summary>The stored bytes under a binary key, whatever the kind.</summary>
    public ExecResponse<byte[]> GetBytes(ReadOnlySpan<byte> key)
    {
        int rc = GetCore(key, out byte[]? data, out _);
        return rc == 0 ? ExecResponse<byte[]>.Ok(data!) : Fail<byte[]>(rc);
    }

    /// <summary>The text of a Text (or Json) value; a Bytes value is a Type failure, text that is not
    /// valid UTF-8 (written by raw C) is Corrupt.</summary>
    public ExecResponse<string> GetString(string key)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? GetString(k.Bytes) : k.Fail<string>();
    }

    /// <summary>The text of a Text (or Json) value under a binary key.</summary>
    public ExecResponse<string> GetString(ReadOnlySpan<byte> key)
    {
        int rc = GetCore(key, out byte[]? data, out int kind);
        if (rc != 0) return Fail<string>(rc);
        if (kind != (int)CairnKind.Text && kind != (int)CairnKind.Json)
            return ExecResponse<string>.Fail(CairnErrorCode.Type, $"the value is {(CairnKind)kind}, not text");
        try
        {
            return ExecResponse<string>.Ok(Interop.StrictUtf8.GetString(data!));
        }
        catch (System.Text.DecoderFallbackException)
        {
            return ExecResponse<string>.Fail(CairnErrorCode.Corrupt, "the stored text is not valid UTF-8");
        }
    }

    /// <summary>The document of a Json value (Result null for the document <c>null</c>); other kinds are a
    /// Type failure, a stored document that does not parse is Corrupt.</summary>
    public ExecResponse<JsonNode?> GetJson(string key)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? GetJson(k.Bytes) : k.Fail<JsonNode?>();
    }

    /// <summary>The document of a Json value under a binary key.</summary>
    public ExecResponse<JsonNode?> GetJson(ReadOnlySpan<byte> key)
    {
        int rc = GetCore(key, out byte[]? data, out int kind);
        if (rc != 0) return Fail<JsonNode?>(rc);
        if (kind != (int)CairnKind.Json)
            return ExecResponse<JsonNode?>.Fail(CairnErrorCode.Type, $"the value is {(CairnKind)kind}, not JSON");
        try
        {
            return ExecResponse<JsonNode?>.Ok(JsonNode.Parse(data!));
        }
        catch (JsonException e)
        {
            return ExecResponse<JsonNode?>.Fail(CairnErrorCode.Corrupt, "the stored JSON value does not parse: " + e.Message);
        }
    }

    /// <summary>Stores <paramref name="value"/> serialized by System.Text.Json (kind Json). A value the
    /// serializer cannot handle is a Type failure.</summary>
    public ExecResponse PutJson<T>(string key, T value, JsonSerializerOptions? options = null, TimeSpan? ttl = null, DateTimeOffset? expireAt = null)
    {
        byte[] json;
        try
        {
            json = JsonSerializer.SerializeToUtf8Bytes(value, options);
        }
        catch (Exception e) when (e is NotSupportedException or JsonException or InvalidOperationException or ArgumentException)
        {
            return ExecResponse.Fail(CairnErrorCode.Type, $"cannot serialize a {typeof(T)} to JSON: {e.Message}");
        }
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? PutCore(k.Bytes, json, CairnKind.Json, ttl, expireAt) : k.Fail();
    }

    /// <summary>Deserializes the Json value under <paramref name="key"/> to <typeparamref name="T"/>
    /// (System.Text.Json); another kind, or a document that does not fit T, is a Type failure.</summary>
    public ExecResponse<T?> GetJson<T>(string key, JsonSerializerOptions? options = null)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        if (!k.Ok) return k.Fail<T?>();
        int rc = GetCore(k.Bytes, out byte[]? data, out int kind);
        if (rc != 0) return Fail<T?>(rc);
        if (kind != (int)CairnKind.Json)
            return ExecResponse<T?>.Fail(CairnErrorCode.Type, $"the value is {(CairnKind)kind}, not JSON");
        try
        {
            return ExecResponse<T?>.Ok(JsonSerializer.Deserialize<T>(data!, options));
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            return ExecResponse<T?>.Fail(CairnErrorCode.Type, $"the stored JSON is not a {typeof(T)}: {e.Message}");
        }
    }

    private ref struct GetArgs
    {
        public ReadOnlySpan<byte> Key;
        public byte[]? Data;
        public int Kind;
    }

    private int GetCore(ReadOnlySpan<byte> key, out byte[]? data, out int kind)
    {
        var a = new GetArgs { Key = key };
        int rc = Call(ref a, static (h, ref a) =>
        {
            // Most values are small: read into a stack buffer first (one native call, no native
            // allocation); a larger value comes back as Range and is read straight into a managed array
            // of its size (one copy), again if a concurrent writer changed its size meanwhile.
            Span<byte> buf = stackalloc byte[Interop.StackBytes];
            int rc = NativeMethods.cairn_kv_get_into(h, a.Key, buf, out nuint vlen, out a.Kind);
            if (rc == 0) a.Data = buf.Slice(0, (int)vlen).ToArray();
            while (rc == (int)CairnErrorCode.Range)
            {
                if (vlen > (nuint)Array.MaxLength) return (int)CairnErrorCode.TooBig;
                var arr = new byte[(int)vlen];
                rc = NativeMethods.cairn_kv_get_into(h, a.Key, arr, out vlen, out a.Kind);
                if (rc == 0) a.Data = vlen == (nuint)arr.Length ? arr : arr.AsSpan(0, (int)vlen).ToArray();
            }
            return rc;
        });
        data = a.Data;
        kind = a.Kind;
        return rc;
    }

    private ref struct KeyArgs
    {
        public ReadOnlySpan<byte> Key;
        public long Out;
    }

    /// <summary>When a live key expires: Result null for a key that never expires; NotFound for a missing
    /// or expired key.</summary>
    public ExecResponse<DateTimeOffset?> Expiry(string key)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? Expiry(k.Bytes) : k.Fail<DateTimeOffset?>();
    }

    /// <summary>When a live binary key expires (Result null: never); NotFound if absent.</summary>
    public ExecResponse<DateTimeOffset?> Expiry(ReadOnlySpan<byte> key)
    {
        var a = new KeyArgs { Key = key };
        int rc = Call(ref a, static (h, ref a) => NativeMethods.cairn_kv_expiry(h, a.Key, out a.Out));
        return Result(rc, a.Out == 0 ? (DateTimeOffset?)null : DateTimeOffset.FromUnixTimeMilliseconds(a.Out));
    }

    // ---- delete / exists / count ---------------------------------------------------------------------

    /// <summary>Deletes a key; NotFound if absent (nothing is written then).</summary>
    public ExecResponse Delete(string key)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? Delete(k.Bytes) : k.Fail();
    }

    /// <summary>Deletes a binary key; NotFound if absent.</summary>
    public ExecResponse Delete(ReadOnlySpan<byte> key) =>
        Status(Call(ref key, static (h, ref k) => NativeMethods.cairn_kv_delete(h, k)));

    /// <summary>Whether a live key exists.</summary>
    public ExecResponse<bool> Exists(string key)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? Exists(k.Bytes) : k.Fail<bool>();
    }

    /// <summary>Whether a live binary key exists.</summary>
    public ExecResponse<bool> Exists(ReadOnlySpan<byte> key)
=>
        Truth(Call(ref key, static (h, ref k) => NativeMethods.cairn_kv_exists(h, k)));

    // ---- keys ------------------------------------------------------------------------------------------

    /// <summary>The live keys starting with <paramref name="prefix"/> (all when null or empty), ascending bytewise.</summary>
    public ExecResponse<IReadOnlyList<byte[]>> Keys(string? prefix = null)
    {
        if (prefix is null) return Keys(ReadOnlySpan<byte>.Empty);
        using var p = new Utf8Arg(prefix, stackalloc byte[Interop.StackBytes], "prefix");
        return p.Ok ? Keys(p.Bytes) : p.Fail<IReadOnlyList<byte[]>>();
    }

    /// <summary>The live keys starting with a binary prefix, ascending bytewise (a snapshot).</summary>
    public ExecResponse<IReadOnlyList<byte[]>> Keys(ReadOnlySpan<byte> prefix)
    {
        var list = new List<byte[]>();
        ExecResponse r = ForEachKey(prefix, k => list.Add(k.ToArray()));
        return r.Success ? ExecResponse<IReadOnlyList<byte[]>>.Ok(list) : ExecResponse<IReadOnlyList<byte[]>>.From(r);
    }

    /// <summary>The live keys as strings (their UTF-8 decoded); a key that is not valid UTF-8 makes the
    /// call fail with Type (use <see cref="Keys(string?)"/> for binary keys).</summary>
    public ExecResponse<IReadOnlyList<string>> KeyStrings(string? prefix = null)
    {
        var keys = Keys(prefix);
        if (!keys.Success) return ExecResponse<IReadOnlyList<string>>.From(keys);
        var list = new List<string>(keys.Result!.Count);
        foreach (byte[] k in keys.Result!)
        {
            try { list.Add(Interop.StrictUtf8.GetString(k)); }
            catch (System.Text.DecoderFallbackException)
            {
                return ExecResponse<IReadOnlyList<string>>.Fail(CairnErrorCode.Type,
                    "key " + Convert.ToHexStringLower(k) + " is not valid UTF-8");
            }
        }
        return ExecResponse<IReadOnlyList<string>>.Ok(list);
    }

    /// <summary>A span-based visitor over the keys of a snapshot, without allocating per key.</summary>
    public delegate void KeyVisitor(ReadOnlySpan<byte> key);

    private ref struct IterArgs
    {
        public ReadOnlySpan<byte> Prefix;
        public KvIterHandle? It;
    }

    /// <summary>Calls <paramref name="visit"/> for each live key starting with <paramref name="prefix"/>,
    /// ascending; the span is valid only during the call.</summary>
    public ExecResponse ForEachKey(ReadOnlySpan<byte> prefix, KeyVisitor visit)
    {
        ArgumentNullException.ThrowIfNull(visit);
        var a = new IterArgs { Prefix = prefix };
        int rc = Call(ref a, static (h, ref a) => NativeMethods.cairn_kv_iter_open(out a.It, h, a.Prefix));
        return Drain(rc, a.It!, it =>
        {
            int rc = NativeMethods.cairn_kv_iter_next(it, out byte* k, out nuint klen);
            if (rc == 0) visit(new ReadOnlySpan<byte>(k, (int)klen));
            return rc;
        });
    }

    // ---- update (a merge of JSON objects) ------------------------------------------------------------

    /// <summary>Merges the top-level fields of <paramref name="changes"/> into the JSON object stored under
    /// <paramref name="key"/> (a field set to null becomes null; a nested object replaces the old one).
    /// NotFound if absent; Type if the value is not a JSON object. The expiry of the key is kept.</summary>
    public ExecResponse Update(string key, JsonObject changes)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? Update(k.Bytes, changes) : k.Fail();
    }

    private ref struct UpdateArgs
    {
        public ReadOnlySpan<byte> Key, Changes;
    }

    /// <summary>Merges fields into the JSON object stored under a binary key (one native call,
    /// cairn_kv_update_json: atomic with respect to the handle's other writers).</summary>
    public ExecResponse Update(ReadOnlySpan<byte> key, JsonObject changes)
    {
        if (changes is null) return ExecResponse.Fail(CairnErrorCode.Invalid, "changes is null");
        var a = new UpdateArgs { Key = key, Changes = KvValue.SerializeJson(changes) };
        return Status(Call(ref a, static (h, ref a) => NativeMethods.cairn_kv_update_json(h, a.Key, a.Changes)));
    }

    // ---- stats -----------------------------------------------------------------------------------------

    /// <summary>Counters of the store.</summary>
    public ExecResponse<KvStats> Stats()
    {
        var s = CairnKvStats.Init();
        int rc = Call(ref s, static (h, ref s) => NativeMethods.cairn_kv_stats(h, ref s));
        return Result(rc, new KvStats((long)s.Keys, (long)s.DataFiles, (long)s.DiskBytes, (long)s.LiveBytes,
            (long)s.DeadBytes, (long)s.KeydirBytes, (long)s.Seq, (long)s.Compactions, s.InTxn != 0));
    }
}
