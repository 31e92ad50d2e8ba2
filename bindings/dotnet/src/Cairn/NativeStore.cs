// NativeStore: what every engine class shares, so that an engine class is its own methods and nothing
// else. The handle's lifetime (Dispose/Close, the finalizer through the SafeHandle), the one guard around
// every native call (closed before or during the call -> Closed, never an exception), the mapping of a
// status code to an ExecResponse, transactions and their scope, the verbs every engine has (Sync,
// Compact), option validation, open, check and cursors.
using System;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using Cairn.Native;

namespace Cairn;

/// <summary>A native call made under the guard of <see cref="NativeStore"/>: the handle and the call's
/// arguments/results (any type, spans included), returning the C status.</summary>
internal delegate int NativeCall<in THandle, TArgs>(THandle handle, scoped ref TArgs args)
    where THandle : NativeHandle where TArgs : allows ref struct;

/// <summary>A snapshot of a store: its name, when it was taken (UTC) and the bytes its files hold.</summary>
public sealed record SnapshotInfo(string Name, DateTime Time, long Bytes);

/// <summary>A C options struct (generated): version and the fields every engine has.</summary>
internal interface INativeOptions
{
    void Init(int create, int readOnly, int sync, uint lockTimeoutMs);
}

/// <summary>Options every engine has.</summary>
public abstract class StoreOptions
{
    /// <summary>Create the store if it is missing (default true).</summary>
    public bool Create { get; set; } = true;
    /// <summary>Open without the writer lock; writes fail with ReadOnly.</summary>
    public bool ReadOnly { get; set; }
    /// <summary>Sync policy (default <see cref="SyncMode.Commit"/>).</summary>
    public SyncMode Sync { get; set; } = SyncMode.Commit;
    /// <summary>Zero: a second writer fails at once with Locked; more (up to 4294967295 ms): wait up to
    /// this long, then Busy. Outside that range: Invalid.</summary>
    public TimeSpan LockTimeout { get; set; } = TimeSpan.Zero;

    /// <summary>The C options struct of an engine with these fields (and its version) filled in.</summary>
    internal T ToNative<T>() where T : struct, INativeOptions
    {
        var n = default(T);
        n.Init(Create ? 1 : 0, ReadOnly ? 1 : 0, (int)Sync, (uint)Math.Ceiling(LockTimeout.TotalMilliseconds));
        return n;
    }

    /// <summary>Null if the options can be passed to the core, else why not. The core checks the
    /// values it receives (maximum file size and the like); this checks what C cannot even hold.</summary>
    internal string? Problem()
    {
        if (!Enum.IsDefined(Sync)) return $"unknown sync mode {(int)Sync}";
        if (LockTimeout < TimeSpan.Zero || LockTimeout.TotalMilliseconds > uint.MaxValue)
            return "lock timeout out of range (0 to 4294967295 ms)";
        return null;
    }
}

/// <summary>The base of every store class (<see cref="KvStore"/>, <see cref="BlobStore"/>): handle
/// lifetime, transactions, Sync and Compact. Thread-safe; dispose to close.</summary>
public abstract unsafe class NativeStore : IDisposable
{
    private protected const int ClosedRc = (int)CairnErrorCode.Closed;

    private readonly NativeHandle _handle;
    private readonly ExecResponse _closed;

    private protected NativeStore(NativeHandle handle, string path, string engine)
    {
        _handle = handle;
        Path = path;
        _closed = ExecResponse.Fail(CairnErrorCode.Closed, $"the {engine} is closed (disposed)");
    }

    /// <summary>The native handle (the raw-layer rows of bench/dotnet call through it).</summary>
    internal NativeHandle Handle => _handle;

    /// <summary>The path this store was opened on.</summary>
    public string Path { get; }

    /// <summary>True once disposed.</summary>
    public bool IsClosed => _handle.IsClosed;

    /// <summary>Closes the store: an open transaction is rolled back, pending writes are synced. Later
    /// calls return <see cref="CairnErrorCode.Closed"/>. Calling it again does nothing.</summary>
    public void Dispose() => _handle.Dispose();

    /// <summary>Same as <see cref="Dispose"/>, as an ExecResponse (always a success).</summary>
    public ExecResponse Close()
    {
        Dispose();
        return ExecResponse.Ok;
    }

    // ---- the verbs every engine has ------------------------------------------------------------------

    /// <summary>Begins a transaction on this handle (Txn if one is open). The transaction belongs to the
    /// handle, not to a thread.</summary>
    public ExecResponse Begin() => Complete(Invoke<NativeHandle>(static h => h.Begin()));

    /// <summary>Commits the open transaction: its writes become durable together, then its events (if
    /// the engine has any) are raised in order. Txn if none is open.</summary>
    public ExecResponse Commit() => Complete(Invoke<NativeHandle>(static h => h.Commit()));

    /// <summary>Drops the open transaction's writes; no events are raised for them (Txn if none).</summary>
    public ExecResponse Rollback() => Complete(Invoke<NativeHandle>(static h => h.Rollback()));

    /// <summary>True while a transaction is open on this handle: the core's flag
    /// (cairn_&lt;engine&gt;_in_txn); Unsupported where the engine has no such call.</summary>
    public ExecResponse<bool> InTransaction() => Truth(Invoke<NativeHandle>(static h => h.InTxn()));

    /// <summary>Begins a transaction as a scope: Commit() it; disposing it uncommitted rolls it back.</summary>
    public ExecResponse<Transaction> BeginTransaction()
    {
        ExecResponse r = Begin();
        return r.Success ? ExecResponse<Transaction>.Ok(new Transaction(Commit, Rollback)) : ExecResponse<Transaction>.From(r);
    }

    /// <summary>Makes everything written so far durable (fsync; the blob store also checkpoints its WAL).</summary>
    public ExecResponse Sync() => Complete(Invoke<NativeHandle>(static h => h.Sync()));

    /// <summary>Rewrites the store's files without dead or free space (crash-safe; Txn inside a
    /// transaction where the engine requires it).</summary>
    public ExecResponse Compact() => Complete(Invoke<NativeHandle>(static h => h.Compact()));

    /// <summary>Number of live entries (inside a transaction: as the transaction sees it).</summary>
    public ExecResponse<long> Count()
    {
        ulong n = 0;
        int rc = Invoke(ref n, static (NativeHandle h, scoped ref ulong n) => h.Count(out n));
        return Result(rc, (long)n);
    }

    /// <summary>The store's stats as Prometheus text exposition (format 0.0.4: <c># HELP</c>/<c># TYPE</c>
    /// lines, then samples labelled <c>store="&lt;path&gt;"</c>), ready to serve on a /metrics
    /// endpoint; Unsupported where the engine has no cairn_&lt;engine&gt;_metrics.</summary>
    public ExecResponse<string> Metrics()
    {
        nint text = 0;
        int rc = Invoke(ref text, static (NativeHandle h, scoped ref nint t) =>
        {
            int rc = h.Metrics(out byte* o);
            t = (nint)o;
            return rc;
        });
        if (rc != 0)
        {
            if (text != 0) NativeMethods.cairn_free((byte*)text);
            return Fail<string>(rc);
        }
        return ExecResponse<string>.Ok(System.Text.Encoding.UTF8.GetString(Interop.TakeOwnedString((byte*)text)));
    }

    // ---- snapshots and backups (docs/snapshots.md) -----------------------------------------------------
    // The five calls live here, once: the generated handle class of an engine overrides the snapshot verbs
    // its C API has (cairn_<engine>_snapshot & co.), and an engine class only adds its typed
    // OpenSnapshot (one line over OpenSnapshotCore). An engine whose C API has no snapshots yet answers
    // Unsupported.

    /// <summary>Takes a named, read-only, point-in-time copy of the store (kept inside it, under
    /// <c>snapshots/</c>) and returns its name; <paramref name="name"/> null picks a unique one. Names are
    /// <c>[A-Za-z0-9._-]</c>, 1 to 128 characters, not starting with '.' (else Invalid); Exists when
    /// taken, Txn inside a transaction.</summary>
    public ExecResponse<string> Snapshot(string? name = null)
    {
        if (IsClosed) return ExecResponse<string>.From(_closed);
        if (name is not null && ArgProblem(name, "snapshot name") is ExecResponse bad) return ExecResponse<string>.From(bad);
        byte* created = null;
        var a = (Name: name, Out: (nint)0);
        int rc = Invoke(ref a, static (NativeHandle h, scoped ref (string? Name, nint Out) a) =>
        {
            int rc = h.Snapshot(a.Name, out byte* o);
            a.Out = (nint)o;
            return rc;
        });
        created = (byte*)a.Out;
        if (rc != 0) return Fail<string>(rc);
        try { return ExecResponse<string>.Ok(Interop.Utf8(created)); }
        finally { NativeMethods.cairn_free(created); }
    }

    /// <summary>The store's snapshots, oldest first.</summary>
    public ExecResponse<IReadOnlyList<SnapshotInfo>> Snapshots()
    {
        nint json = 0;
        int rc = Invoke(ref json, static (NativeHandle h, scoped ref nint j) =>
        {
            int rc = h.Snapshots(out byte* o);
            j = (nint)o;
            return rc;
        });
        if (rc != 0) return Fail<IReadOnlyList<SnapshotInfo>>(rc);
        byte[] text = Interop.TakeOwnedString((byte*)json);
        var list = new List<SnapshotInfo>();
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(text);
            foreach (var e in doc.RootElement.EnumerateArray())
                list.Add(new SnapshotInfo(e.GetProperty("name").GetString()!,
                    DateTime.UnixEpoch.AddMilliseconds(e.GetProperty("time").GetInt64()),
                    e.GetProperty("bytes").GetInt64()));
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            return ExecResponse<IReadOnlyList<SnapshotInfo>>.Fail(CairnErrorCode.Internal, "the snapshot list does not parse: " + e.Message);
        }
        return ExecResponse<IReadOnlyList<SnapshotInfo>>.Ok(list);
    }

    /// <summary>Removes the snapshot <paramref name="name"/> (NotFound when absent). Handles already open
    /// on it keep working until closed.</summary>
    public ExecResponse DropSnapshot(string name)
    {
        if (IsClosed) return _closed;
        if (ArgProblem(name, "snapshot name") is ExecResponse bad) return bad;
        return Status(Invoke(ref name, static (NativeHandle h, scoped ref string n) => h.DropSnapshot(n)));
    }

    /// <summary>Copies the store, consistently and while writers go on, into <paramref name="dest"/> (a
    /// missing or empty directory; else Exists). The copy shares no file with the store and opens as a
    /// normal, writable store.</summary>
    public ExecResponse Backup(string dest)
    {
        if (IsClosed) return _closed;
        if (ArgProblem(dest, "dest") is ExecResponse bad) return bad;
        return Status(Invoke(ref dest, static (NativeHandle h, scoped ref string d) => h.Backup(d)));
    }

    /// <summary>Opens the snapshot <paramref name="name"/> read-only as a store of the same engine,
    /// wrapped by <paramref name="make"/> (the engine's constructor). Independent of this handle: it
    /// stays open after this one is closed.</summary>
    private protected ExecResponse<TStore> OpenSnapshotCore<TStore>(string name, Func<NativeHandle, string, TStore> make)
    {
        if (IsClosed) return ExecResponse<TStore>.From(_closed);
        if (ArgProblem(name, "snapshot name") is ExecResponse bad) return ExecResponse<TStore>.From(bad);
        var a = (Name: name, Handle: (NativeHandle?)null);
        int rc = Invoke(ref a, static (NativeHandle h, scoped ref (string Name, NativeHandle? Handle) a) =>
            h.OpenSnapshot(a.Name, out a.Handle));
        if (rc != 0)
        {
            var fail = Fail<TStore>(rc);
            a.Handle?.Dispose();
            return fail;
        }
        return ExecResponse<TStore>.Ok(make(a.Handle!, System.IO.Path.Combine(Path, "snapshots", name)));
    }

    /// <summary>Invalid for a string argument C cannot receive as given: null, holding a NUL (C would see
    /// only the text before it) or not valid UTF-16 (an unpaired surrogate).</summary>
    private protected static ExecResponse? ArgProblem(string? s, string what)
    {
        if (s is null) return ExecResponse.Fail(CairnErrorCode.Invalid, $"{what} is null");
        if (s.IndexOf('\0') >= 0) return ExecResponse.Fail(CairnErrorCode.Invalid, $"{what} contains a NUL character");
        foreach (char c in s)
            if (char.IsSurrogate(c))
            {
                try { Interop.StrictUtf8.GetByteCount(s); }
                catch (System.Text.EncoderFallbackException)
                {
                    return ExecResponse.Fail(CairnErrorCode.Invalid, $"{what} is not valid UTF-16 text (unpaired surrogate)");
                }
                break;
            }
        return null;
    }

    // ---- plumbing for the engine classes ----------------------------------------------------------------

    /// <summary>The one guard around native calls: Closed if the store is disposed before or during the
    /// call (the SafeHandle refuses a disposed handle), else the call's status.</summary>
    private protected int Invoke<THandle, TArgs>(scoped ref TArgs args, NativeCall<THandle, TArgs> call)
        where THandle : NativeHandle where TArgs : allows ref struct
    {
        if (_handle.IsClosed) return ClosedRc;
        try
        {
            return call((THandle)_handle, ref args);
        }
        catch (ObjectDisposedException)
        {
            return ClosedRc;
        }
    }

    /// <summary><see cref="Invoke{THandle, TArgs}"/> for a call with no arguments.</summary>
    private protected int Invoke<THandle>(Func<THandle, int> call) where THandle : NativeHandle =>
        Invoke(ref call, static (THandle h, scoped ref Func<THandle, int> c) => c(h));

    /// <summary>A status as a response; Closed from the guard (no native message) reads as this store's.</summary>
    private protected ExecResponse Status(int rc) =>
        rc == 0 ? ExecResponse.Ok
        : rc == ClosedRc && NativeMethods.cairn_errcode() != rc ? _closed
        : Interop.Failure(rc);

    /// <summary>A failed status as a response of type T.</summary>
    private protected ExecResponse<T> Fail<T>(int rc) => ExecResponse<T>.From(Status(rc));

    /// <summary>The answer of an exists-style call: 1 true, 0 false, negative a failure.</summary>
    private protected ExecResponse<bool> Truth(int rc) => rc >= 0 ? ExecResponse<bool>.Ok(rc == 1) : Fail<bool>(rc);

    /// <summary>Status, or the value on success.</summary>
    private protected ExecResponse<T> Result<T>(int rc, T value) => rc == 0 ? ExecResponse<T>.Ok(value) : Fail<T>(rc);

    // ---- events ------------------------------------------------------------------------------------------
    // The core calls an engine's subscription callback on the thread that made the change, during that
    // call (or during commit). The callback ([UnmanagedCallersOnly], one per engine) only records a
    // managed copy of the event with Record(); Complete() raises what the call recorded right after the
    // C call returned, so a handler never runs inside native code, may call back into the store, and an
    // exception it throws reaches the caller normally. A subscription's native context is the key of
    // its sink here (unique in the process), so no store ever sees another store's events.

    private readonly struct PendingEvent
    {
        public readonly long Sink;
        public readonly object Payload;
        public PendingEvent(long sink, object payload)
        {
            Sink = sink;
            Payload = payload;
        }
    }

    [ThreadStatic] private static List<PendingEvent>? t_pending;
    private static long s_nextSink;
    private readonly Dictionary<long, Action<object>> _sinks = new();

    /// <summary>Registers a receiver of this store's events; the returned key is the native context to
    /// subscribe with (passed back to <see cref="Record"/>).</summary>
    private protected long AddSink(Action<object> deliver)
    {
        long key = System.Threading.Interlocked.Increment(ref s_nextSink);
        lock (_sinks) _sinks[key] = deliver;
        return key;
    }

    /// <summary>Removes a receiver: events it recorded but not yet got are dropped.</summary>
    private protected void RemoveSink(long key)
    {
        lock (_sinks) _sinks.Remove(key);
    }

    /// <summary>Records an event for the sink <paramref name="ctx"/> (call only from a native callback;
    /// never throws).</summary>
    private protected static unsafe void Record(byte* ctx, object payload)
    {
        try
        {
            (t_pending ??= new List<PendingEvent>()).Add(new PendingEvent((long)ctx, payload));
        }
        catch
        {
            // Out of memory while recording: the event is lost rather than the process.
        }
    }

    /// <summary>The response of a call that may change the store (its message captured first), then the
    /// events the core recorded during it, delivered in order on this thread: an event means a durable
    /// change, whatever the final status. Every handler runs; then an exception one threw is rethrown
    /// (several: an AggregateException) from the call, whose change stays made.</summary>
    private protected ExecResponse Complete(int rc)
    {
        ExecResponse r = Status(rc);
        List<PendingEvent>? pending = t_pending;
        if (pending is null || pending.Count == 0) return r;
        // Everything recorded on this thread was recorded by the call that just returned; a handler's
        // own calls record into a fresh list.
        t_pending = null;
        List<Exception>? errors = null;
        foreach (PendingEvent p in pending)
        {
            Action<object>? deliver;
            lock (_sinks) _sinks.TryGetValue(p.Sink, out deliver);
            if (deliver is null) continue;
            try
            {
                deliver(p.Payload);
            }
            catch (Exception e)
            {
                (errors ??= new List<Exception>()).Add(e);
            }
        }
        if (errors is { Count: 1 }) ExceptionDispatchInfo.Capture(errors[0]).Throw();
        if (errors is { Count: > 1 }) throw new AggregateException("event handlers threw", errors);
        return r;
    }

    /// <summary>Runs a cursor opened with status <paramref name="rc"/> to its end: <paramref name="step"/>
    /// fetches and consumes one item (0) until IterOver. The cursor holds a reference on the store.</summary>
    private protected ExecResponse Drain<TIter>(int rc, TIter it, Func<TIter, int> step) where TIter : ChildHandle
    {
        if (rc != 0)
        {
            ExecResponse fail = Status(rc);
            it?.Dispose();
            return fail;
        }
        using (it)
        {
            it.Attach(_handle);
            while ((rc = step(it)) == 0) { }
            return rc == (int)CairnErrorCode.IterOver ? ExecResponse.Ok : Status(rc);
        }
    }

    /// <summary>Opens a store: the path and the options are checked, <paramref name="open"/> makes the C
    /// call, <paramref name="make"/> wraps the handle.</summary>
    private protected static ExecResponse<TStore> OpenStore<THandle, TStore>(
        string? path, StoreOptions options, Func<string, (int Rc, THandle Handle)> open, Func<THandle, string, TStore> make)
        where THandle : NativeHandle
    {
        if (path is null) return ExecResponse<TStore>.Fail(CairnErrorCode.Invalid, "path is null");
        if (path.IndexOf('\0') >= 0) return ExecResponse<TStore>.Fail(CairnErrorCode.Invalid, "path contains a NUL character");
        if (options.Problem() is string problem) return ExecResponse<TStore>.Fail(CairnErrorCode.Invalid, problem);
        var (rc, h) = open(path);
        if (rc == 0) return ExecResponse<TStore>.Ok(make(h, path));
        var fail = Interop.Failure<TStore>(rc);
        h?.Dispose();
        return fail;
    }

    /// <summary>An offline check of the store at <paramref name="path"/>: Success if clean, Corrupt with
    /// file and offset in the message otherwise.</summary>
    private protected static ExecResponse CheckPath(string? path, Func<string, int> check)
    {
        if (path is null) return ExecResponse.Fail(CairnErrorCode.Invalid, "path is null");
        if (path.IndexOf('\0') >= 0) return ExecResponse.Fail(CairnErrorCode.Invalid, "path contains a NUL character");
        int rc = check(path);
        return rc == 0 ? ExecResponse.Ok : Interop.Failure(rc);
    }
}
