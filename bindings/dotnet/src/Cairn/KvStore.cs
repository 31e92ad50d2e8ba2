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

/// <summary>Options of <see cref="KvStore.Open(string, KvOptions?)"/>.</summary>
public sealed class KvOptions
{
    /// <summary>Create the directory if it is missing (default true).</summary>
    public bool Create { get; set; } = true;
    /// <summary>Open without the writer lock; writes fail with ReadOnly.</summary>
    public bool ReadOnly { get; set; }
    /// <summary>Sync policy (default <see cref="SyncMode.Commit"/>).</summary>
    public SyncMode Sync { get; set; } = SyncMode.Commit;
    /// <summary>Rotate the active data file past this many bytes (0: the default, 64 MiB).</summary>
    public ulong MaxFileSize { get; set; }
    /// <summary>Zero: a second writer fails at once with Locked; more: wait up to this long, then Busy.</summary>
    public TimeSpan LockTimeout { get; set; } = TimeSpan.Zero;
}

/// <summary>Counters of a KV store (cairn_kv_stats).</summary>
public sealed record KvStats(
    long Keys, long DataFiles, long DiskBytes, long LiveBytes, long DeadBytes,
    long KeydirBytes, long Seq, long Reclaims, bool InTransaction);

/// <summary>A Bitcask-style log key-value store in one directory. Thread-safe; dispose to close.</summary>
public sealed unsafe class KvStore : IDisposable
{
    private readonly KvHandle _h;
    private readonly object _updateLock = new();

    private KvStore(KvHandle h, string path)
    {
        _h = h;
        Path = path;
    }

    /// <summary>The directory this store was opened on.</summary>
    public string Path { get; }

    /// <summary>True once disposed.</summary>
    public bool IsClosed => _h.IsClosed;

    // ---- open / close ----------------------------------------------------------------------------

    /// <summary>Opens (or creates) the store in directory <paramref name="path"/>.</summary>
    public static ExecResponse<KvStore> Open(string path, KvOptions? options = null)
    {
        if (path is null) return ExecResponse<KvStore>.Fail(CairnErrorCode.Invalid, "path is null");
        if (path.IndexOf('\0') >= 0)
            return ExecResponse<KvStore>.Fail(CairnErrorCode.Invalid, "path contains a NUL character");
        var o = options ?? new KvOptions();
        if (!Enum.IsDefined(o.Sync))
            return ExecResponse<KvStore>.Fail(CairnErrorCode.Invalid, $"unknown sync mode {(int)o.Sync}");
        if (o.LockTimeout < TimeSpan.Zero || o.LockTimeout.TotalMilliseconds > uint.MaxValue)
            return ExecResponse<KvStore>.Fail(CairnErrorCode.Invalid, "lock timeout out of range");
        var native = new CairnKvOptions
        {
            Version = CairnKvOptions.CurrentVersion,
            Create = o.Create ? 1 : 0,
            ReadOnly = o.ReadOnly ? 1 : 0,
            Sync = (int)o.Sync,
            MaxFileSize = o.MaxFileSize,
            LockTimeoutMs = (uint)Math.Ceiling(o.LockTimeout.TotalMilliseconds),
        };
        int rc = NativeMethods.cairn_kv_open(out KvHandle h, path, &native);
        if (rc != 0)
        {
            var fail = Interop.Failure<KvStore>(rc);
            h.Dispose();
            return fail;
        }
        return ExecResponse<KvStore>.Ok(new KvStore(h, path));
    }

    /// <summary>Closes the store: an open transaction is rolled back, pending writes are synced.
    /// Later calls return <see cref="CairnErrorCode.Closed"/>. Calling it again does nothing.</summary>
    public void Dispose() => _h.Dispose();

    /// <summary>Same as <see cref="Dispose"/>, as an ExecResponse (always a success).</summary>
    public ExecResponse Close()
    {
        _h.Dispose();
        return ExecResponse.Ok;
    }

    /// <summary>Verifies every record of the store at <paramref name="path"/> without opening it for
    /// writing: Success if clean, Corrupt with file and offset in the message otherwise.</summary>
    public static ExecResponse Check(string path)
    {
        if (path is null) return ExecResponse.Fail(CairnErrorCode.Invalid, "path is null");
        return Interop.Status(NativeMethods.cairn_kv_check(path));
    }

    // ---- put -------------------------------------------------------------------------------------

    /// <summary>Stores bytes (kind Bytes) under a string key, optionally expiring at <paramref name="expireAt"/>.</summary>
    public ExecResponse Put(string key, byte[] value, DateTimeOffset? expireAt = null)
    {
        if (value is null) return NullValue();
        return Put(key, (ReadOnlySpan<byte>)value, expireAt);
    }

    /// <summary>Stores bytes (kind Bytes) under a string key.</summary>
    public ExecResponse Put(string key, ReadOnlySpan<byte> value, DateTimeOffset? expireAt = null)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? PutCore(k.Bytes, value, CairnKind.Bytes, expireAt) : k.Fail();
    }

    /// <summary>Stores text (kind Text) under a string key.</summary>
    public ExecResponse Put(string key, string value, DateTimeOffset? expireAt = null)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        if (!k.Ok) return k.Fail();
        return PutText(k.Bytes, value, expireAt);
    }

    /// <summary>Stores a JSON document (kind Json) under a string key; null is the document <c>null</c>.</summary>
    public ExecResponse Put(string key, JsonNode? value, DateTimeOffset? expireAt = null)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? PutCore(k.Bytes, KvValue.SerializeJson(value), CairnKind.Json, expireAt) : k.Fail();
    }

    /// <summary>Stores a JSON document (kind Json) under a string key.</summary>
    public ExecResponse Put(string key, JsonElement value, DateTimeOffset? expireAt = null) =>
        Put(key, KvValue.FromJson(value), expireAt);

    /// <summary>Stores a value of any kind under a string key.</summary>
    public ExecResponse Put(string key, KvValue value, DateTimeOffset? expireAt = null)
    {
        if (value is null) return NullValue();
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? PutCore(k.Bytes, value.RawData, value.Kind, expireAt) : k.Fail();
    }

    /// <summary>Stores bytes (kind Bytes) under a binary key.</summary>
    public ExecResponse Put(ReadOnlySpan<byte> key, byte[] value, DateTimeOffset? expireAt = null)
    {
        if (value is null) return NullValue();
        return PutCore(key, value, CairnKind.Bytes, expireAt);
    }

    /// <summary>Stores bytes (kind Bytes) under a binary key.</summary>
    public ExecResponse Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, DateTimeOffset? expireAt = null) =>
        PutCore(key, value, CairnKind.Bytes, expireAt);

    /// <summary>Stores text (kind Text) under a binary key.</summary>
    public ExecResponse Put(ReadOnlySpan<byte> key, string value, DateTimeOffset? expireAt = null) =>
        PutText(key, value, expireAt);

    /// <summary>Stores a JSON document (kind Json) under a binary key.</summary>
    public ExecResponse Put(ReadOnlySpan<byte> key, JsonNode? value, DateTimeOffset? expireAt = null) =>
        PutCore(key, KvValue.SerializeJson(value), CairnKind.Json, expireAt);

    /// <summary>Stores a JSON document (kind Json) under a binary key.</summary>
    public ExecResponse Put(ReadOnlySpan<byte> key, JsonElement value, DateTimeOffset? expireAt = null) =>
        PutCore(key, KvValue.FromJson(value).RawData, CairnKind.Json, expireAt);

    /// <summary>Stores a value of any kind under a binary key.</summary>
    public ExecResponse Put(ReadOnlySpan<byte> key, KvValue value, DateTimeOffset? expireAt = null)
    {
        if (value is null) return NullValue();
        return PutCore(key, value.RawData, value.Kind, expireAt);
    }

    private ExecResponse PutText(ReadOnlySpan<byte> key, string value, DateTimeOffset? expireAt)
    {
        if (value is null) return NullValue();
        using var v = new Utf8Arg(value, stackalloc byte[Interop.StackBytes], "value");
        return v.Ok ? PutCore(key, v.Bytes, CairnKind.Text, expireAt) : v.Fail();
    }

    private static ExecResponse NullValue() =>
        ExecResponse.Fail(CairnErrorCode.Invalid, "value is null (store an empty byte[] or a JsonNode instead)");

    /// <summary>Unix ms for the C API. 0 means "never" there, so the epoch itself becomes 1 (expired);
    /// a time before the epoch stays negative and the core rejects it with Invalid.</summary>
    private static long ExpireMs(DateTimeOffset t)
    {
        long ms = t.ToUnixTimeMilliseconds();
        return ms == 0 ? 1 : ms;
    }

    private ExecResponse PutCore(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, CairnKind kind,
                                 DateTimeOffset? expireAt)
    {
        if (_h.IsClosed) return Interop.Closed(false);
        int rc;
        byte empty = 0;
        fixed (byte* kp = key)
        fixed (byte* vp0 = value)
        {
            // The C API wants a valid pointer even for an empty value or key.
            byte* vp = vp0 == null ? &empty : vp0;
            byte* kpp = kp == null ? &empty : kp;
            try
            {
                rc = expireAt is null
                    ? NativeMethods.cairn_kv_put(_h, kpp, (nuint)key.Length, vp, (nuint)value.Length, (int)kind)
                    : NativeMethods.cairn_kv_put_ex(_h, kpp, (nuint)key.Length, vp, (nuint)value.Length, (int)kind,
                                                    ExpireMs(expireAt.Value));
            }
            catch (ObjectDisposedException)
            {
                return Interop.Closed(false);
            }
        }
        return Interop.Status(rc);
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
    public ExecResponse PutJson<T>(string key, T value, JsonSerializerOptions? options = null, DateTimeOffset? expireAt = null)
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
        return k.Ok ? PutCore(k.Bytes, json, CairnKind.Json, expireAt) : k.Fail();
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

    private int GetCore(ReadOnlySpan<byte> key, out byte[]? data, out int kind)
    {
        data = null;
        kind = 0;
        if (_h.IsClosed) return (int)CairnErrorCode.Closed;
        byte empty = 0;
        fixed (byte* kp0 = key)
        {
            byte* kp = kp0 == null ? &empty : kp0;
            // Most values are small: read into a stack buffer first (one native call, no native
            // allocation); a larger value comes back as Range and is fetched whole.
            byte* buf = stackalloc byte[Interop.StackBytes];
            int rc;
            nuint vlen;
            try
            {
                rc = NativeMethods.cairn_kv_get_into(_h, kp, (nuint)key.Length, buf, Interop.StackBytes,
                                                     out vlen, out kind);
                if (rc == 0)
                {
                    data = vlen == 0 ? Array.Empty<byte>() : new ReadOnlySpan<byte>(buf, (int)vlen).ToArray();
                    return 0;
                }
                // A larger value: read it straight into a managed array of its size (no native
                // allocation, one copy); retry if a concurrent writer changed its size meanwhile.
                while (rc == (int)CairnErrorCode.Range)
                {
                    if (vlen > (nuint)Array.MaxLength) return (int)CairnErrorCode.TooBig;
                    var arr = new byte[(int)vlen];
                    fixed (byte* ap = arr)
                        rc = NativeMethods.cairn_kv_get_into(_h, kp, (nuint)key.Length, ap, (nuint)arr.Length,
                                                             out vlen, out kind);
                    if (rc == 0) data = vlen == (nuint)arr.Length ? arr : arr.AsSpan(0, (int)vlen).ToArray();
                }
                return rc;
            }
            catch (ObjectDisposedException)
            {
                return (int)CairnErrorCode.Closed;
            }
        }
    }

    private static ExecResponse<T> Fail<T>(int rc) =>
        rc == (int)CairnErrorCode.Closed && NativeMethods.cairn_errcode() != rc
            ? ExecResponse<T>.From(Interop.Closed(false))
            : Interop.Failure<T>(rc);

    /// <summary>When a live key expires (null: never); NotFound if absent.</summary>
    public ExecResponse<DateTimeOffset?> Expiry(string key)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? Expiry(k.Bytes) : k.Fail<DateTimeOffset?>();
    }

    /// <summary>When a live binary key expires (null: never); NotFound if absent.</summary>
    public ExecResponse<DateTimeOffset?> Expiry(ReadOnlySpan<byte> key)
    {
        if (_h.IsClosed) return ExecResponse<DateTimeOffset?>.From(Interop.Closed(false));
        int rc;
        long ms;
        byte empty = 0;
        fixed (byte* kp0 = key)
        {
            byte* kp = kp0 == null ? &empty : kp0;
            try { rc = NativeMethods.cairn_kv_expiry(_h, kp, (nuint)key.Length, out ms); }
            catch (ObjectDisposedException) { return ExecResponse<DateTimeOffset?>.From(Interop.Closed(false)); }
        }
        if (rc != 0) return Interop.Failure<DateTimeOffset?>(rc);
        return ExecResponse<DateTimeOffset?>.Ok(ms == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(ms));
    }

    // ---- delete / contains / count -------------------------------------------------------------

    /// <summary>Deletes a key; NotFound if absent (nothing is written then).</summary>
    public ExecResponse Delete(string key)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? Delete(k.Bytes) : k.Fail();
    }

    /// <summary>Deletes a binary key; NotFound if absent.</summary>
    public ExecResponse Delete(ReadOnlySpan<byte> key)
    {
        if (_h.IsClosed) return Interop.Closed(false);
        int rc;
        byte empty = 0;
        fixed (byte* kp0 = key)
        {
            byte* kp = kp0 == null ? &empty : kp0;
            try { rc = NativeMethods.cairn_kv_delete(_h, kp, (nuint)key.Length); }
            catch (ObjectDisposedException) { return Interop.Closed(false); }
        }
        return Interop.Status(rc);
    }

    /// <summary>Whether a live key exists.</summary>
    public ExecResponse<bool> Contains(string key)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? Contains(k.Bytes) : k.Fail<bool>();
    }

    /// <summary>Whether a live binary key exists.</summary>
    public ExecResponse<bool> Contains(ReadOnlySpan<byte> key)
    {
        if (_h.IsClosed) return ExecResponse<bool>.From(Interop.Closed(false));
        int rc;
        byte empty = 0;
        fixed (byte* kp0 = key)
        {
            byte* kp = kp0 == null ? &empty : kp0;
            try { rc = NativeMethods.cairn_kv_exists(_h, kp, (nuint)key.Length); }
            catch (ObjectDisposedException) { return ExecResponse<bool>.From(Interop.Closed(false)); }
        }
        return rc >= 0 ? ExecResponse<bool>.Ok(rc == 1) : Interop.Failure<bool>(rc);
    }

    /// <summary>Number of live keys (inside a transaction: as the transaction sees it).</summary>
    public ExecResponse<long> Count()
    {
        if (_h.IsClosed) return ExecResponse<long>.From(Interop.Closed(false));
        int rc;
        ulong n;
        try { rc = NativeMethods.cairn_kv_count(_h, out n); }
        catch (ObjectDisposedException) { return ExecResponse<long>.From(Interop.Closed(false)); }
        return rc == 0 ? ExecResponse<long>.Ok((long)n) : Interop.Failure<long>(rc);
    }

    // ---- keys --------------------------------------------------------------------------------------

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
        var strict = new System.Text.UTF8Encoding(false, true);
        foreach (byte[] k in keys.Result!)
        {
            try { list.Add(strict.GetString(k)); }
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

    /// <summary>Calls <paramref name="visit"/> for each live key starting with <paramref name="prefix"/>,
    /// ascending; the span is valid only during the call.</summary>
    public ExecResponse ForEachKey(ReadOnlySpan<byte> prefix, KeyVisitor visit)
    {
        ArgumentNullException.ThrowIfNull(visit);
        if (_h.IsClosed) return Interop.Closed(false);
        int rc;
        KvIterHandle it;
        byte empty = 0;
        fixed (byte* pp0 = prefix)
        {
            byte* pp = pp0 == null ? &empty : pp0;
            try { rc = NativeMethods.cairn_kv_iter_open(out it, _h, pp, (nuint)prefix.Length); }
            catch (ObjectDisposedException) { return Interop.Closed(false); }
        }
        if (rc != 0)
        {
            var fail = Interop.Failure(rc);
            it.Dispose();
            return fail;
        }
        using (it)
        {
            it.Attach(_h);
            while (true)
            {
                rc = NativeMethods.cairn_kv_iter_next(it, out byte* k, out nuint klen);
                if (rc == (int)CairnErrorCode.IterOver) return ExecResponse.Ok;
                if (rc != 0) return Interop.Failure(rc);
                visit(new ReadOnlySpan<byte>(k, (int)klen));
            }
        }
    }

    // ---- update (BinaryDB's merge of a JSON object) ----------------------------------------------

    /// <summary>Merges the top-level fields of <paramref name="changes"/> into the JSON object stored under
    /// <paramref name="key"/> (a field set to null becomes null). NotFound if absent; Type if the value is
    /// not a JSON object. The expiry of the key is kept.</summary>
    public ExecResponse Update(string key, JsonObject changes)
    {
        using var k = new Utf8Arg(key, stackalloc byte[Interop.StackBytes], "key");
        return k.Ok ? Update(k.Bytes, changes) : k.Fail();
    }

    /// <summary>Merges fields into the JSON object stored under a binary key.</summary>
    public ExecResponse Update(ReadOnlySpan<byte> key, JsonObject changes)
    {
        if (changes is null) return ExecResponse.Fail(CairnErrorCode.Invalid, "changes is null");
        // Serialises Update against Update on this handle (get + put is not one native call).
        lock (_updateLock)
        {
            var cur = GetJson(key);
            if (!cur.Success) return cur;
            if (cur.Result is not JsonObject obj)
                return ExecResponse.Fail(CairnErrorCode.Type, "the value is not a JSON object");
            foreach (KeyValuePair<string, JsonNode?> kv in changes)
                obj[kv.Key] = kv.Value?.DeepClone();
            var exp = Expiry(key);
            if (!exp.Success) return exp;
            return PutCore(key, KvValue.SerializeJson(obj), CairnKind.Json, exp.Result);
        }
    }

    // ---- transactions and maintenance -----------------------------------------------------------

    /// <summary>Begins a transaction as a scope: Commit() it; disposing it uncommitted rolls it back.</summary>
    public ExecResponse<Transaction> BeginTransaction()
    {
        ExecResponse r = Begin();
        return r.Success ? ExecResponse<Transaction>.Ok(new Transaction(Commit, Rollback)) : ExecResponse<Transaction>.From(r);
    }

    /// <summary>Begins a transaction on this handle (Txn if one is open).</summary>
    public ExecResponse Begin() => Simple(&NativeMethods_kv_begin);
    /// <summary>Commits the open transaction: its writes become durable together (Txn if none).</summary>
    public ExecResponse Commit() => Simple(&NativeMethods_kv_commit);
    /// <summary>Drops the open transaction's writes (Txn if none).</summary>
    public ExecResponse Rollback() => Simple(&NativeMethods_kv_rollback);
    /// <summary>Flushes and fsyncs everything written so far.</summary>
    public ExecResponse Sync() => Simple(&NativeMethods_kv_sync);
    /// <summary>Merges the data files, dropping dead records (crash-safe; Txn inside a transaction).</summary>
    public ExecResponse Reclaim() => Simple(&NativeMethods_kv_reclaim);

    private static int NativeMethods_kv_begin(KvHandle h) => NativeMethods.cairn_kv_begin(h);
    private static int NativeMethods_kv_commit(KvHandle h) => NativeMethods.cairn_kv_commit(h);
    private static int NativeMethods_kv_rollback(KvHandle h) => NativeMethods.cairn_kv_rollback(h);
    private static int NativeMethods_kv_sync(KvHandle h) => NativeMethods.cairn_kv_sync(h);
    private static int NativeMethods_kv_reclaim(KvHandle h) => NativeMethods.cairn_kv_compact(h);

    private ExecResponse Simple(delegate*<KvHandle, int> fn)
    {
        if (_h.IsClosed) return Interop.Closed(false);
        int rc;
        try { rc = fn(_h); }
        catch (ObjectDisposedException) { return Interop.Closed(false); }
        return Interop.Status(rc);
    }

    /// <summary>Counters of the store.</summary>
    public ExecResponse<KvStats> Stats()
    {
        if (_h.IsClosed) return ExecResponse<KvStats>.From(Interop.Closed(false));
        int rc;
        CairnKvStats s;
        try { rc = NativeMethods.cairn_kv_stats(_h, out s); }
        catch (ObjectDisposedException) { return ExecResponse<KvStats>.From(Interop.Closed(false)); }
        if (rc != 0) return Interop.Failure<KvStats>(rc);
        return ExecResponse<KvStats>.Ok(new KvStats((long)s.Keys, (long)s.DataFiles, (long)s.DiskBytes,
            (long)s.LiveBytes, (long)s.DeadBytes, (long)s.KeydirBytes, (long)s.Seq, (long)s.Reclaims, s.InTxn != 0));
    }
}
