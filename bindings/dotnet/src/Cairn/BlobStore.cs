// BlobStore: uint32 keys -> byte arrays in one file (BinaryDocumentDb's model), crash-safe through the
// WAL. Every call returns an ExecResponse. Change events (OnCreated/OnUpdated/OnDeleted) come from the
// core's subscription: the native callback only records them on the calling thread, and the managed
// layer raises them right after the native call returns, so a handler never runs inside native code,
// may call back into the store, and an exception it throws reaches the caller normally.
using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;
using Cairn.Native;

namespace Cairn;

/// <summary>Options of <see cref="BlobStore.Open(BlobStoreOptions)"/>.</summary>
public sealed class BlobStoreOptions
{
    /// <summary>The data file (its WAL is this path + "-wal"). Required.</summary>
    public string? Path { get; set; }
    /// <summary>Create the file if it is missing (default true).</summary>
    public bool Create { get; set; } = true;
    /// <summary>Writes fail with ReadOnly.</summary>
    public bool ReadOnly { get; set; }
    /// <summary>Sync policy (default <see cref="SyncMode.Commit"/>).</summary>
    public SyncMode Sync { get; set; } = SyncMode.Commit;
    /// <summary>Zero: a second writer fails at once with Locked; more: wait up to this long, then Busy.</summary>
    public TimeSpan LockTimeout { get; set; } = TimeSpan.Zero;
}

/// <summary>Counters of a blob store (cairn_blob_stats).</summary>
public sealed record BlobStats(
    long Entries, long LiveBytes, long FreeBytes, long FreeEntries, long FileSize, long WalBytes,
    uint NextKey, bool InTransaction);

/// <summary>What happened to a blob.</summary>
public enum BlobChange
{
    /// <summary>A blob was created.</summary>
    Created = 1,
    /// <summary>A blob was replaced.</summary>
    Updated = 2,
    /// <summary>A blob was deleted.</summary>
    Deleted = 3,
}

/// <summary>Arguments of the change events: the key and the sizes before and after.</summary>
public sealed class BlobEventArgs : EventArgs
{
    internal BlobEventArgs(BlobChange change, uint key, long oldSize, long newSize)
    {
        Change = change;
        Key = key;
        OldSize = oldSize;
        NewSize = newSize;
    }

    /// <summary>Created, Updated or Deleted.</summary>
    public BlobChange Change { get; }
    /// <summary>The blob's key.</summary>
    public uint Key { get; }
    /// <summary>Size before (0 for Created).</summary>
    public long OldSize { get; }
    /// <summary>Size after (0 for Deleted).</summary>
    public long NewSize { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Change} {Key} {OldSize}->{NewSize}";
}

/// <summary>A store of byte arrays under uint keys in one file. Thread-safe; dispose to close.</summary>
public sealed unsafe class BlobStore : IDisposable
{
    private readonly BlobHandle _h;
    private readonly long _id;
    private readonly object _eventLock = new();
    private EventHandler<BlobEventArgs>? _created, _updated, _deleted;
    private int _subscribed; // 1 once the native subscription exists

    private static long s_nextId;

    private readonly struct Pending
    {
        public readonly long Store;
        public readonly int Event;
        public readonly uint Key;
        public readonly ulong OldSize, NewSize;
        public Pending(long store, int ev, uint key, ulong oldSize, ulong newSize)
        {
            Store = store; Event = ev; Key = key; OldSize = oldSize; NewSize = newSize;
        }
    }

    // The core calls back on the thread that made the change, during that call.
    [ThreadStatic] private static List<Pending>? t_pending;

    private BlobStore(BlobHandle h, string path)
    {
        _h = h;
        Path = path;
        _id = Interlocked.Increment(ref s_nextId);
    }

    /// <summary>The data file this store was opened on.</summary>
    public string Path { get; }

    /// <summary>True once disposed.</summary>
    public bool IsClosed => _h.IsClosed;

    // ---- open / close ----------------------------------------------------------------------------

    /// <summary>Opens (or creates) the blob store file <paramref name="path"/>.</summary>
    public static ExecResponse<BlobStore> Open(string path) => Open(new BlobStoreOptions { Path = path });

    /// <summary>Opens (or creates) the blob store described by <paramref name="options"/>.</summary>
    public static ExecResponse<BlobStore> Open(BlobStoreOptions options)
    {
        if (options is null) return ExecResponse<BlobStore>.Fail(CairnErrorCode.Invalid, "options is null");
        string? path = options.Path;
        if (path is null) return ExecResponse<BlobStore>.Fail(CairnErrorCode.Invalid, "options.Path is null");
        if (path.IndexOf('\0') >= 0)
            return ExecResponse<BlobStore>.Fail(CairnErrorCode.Invalid, "path contains a NUL character");
        if (!Enum.IsDefined(options.Sync))
            return ExecResponse<BlobStore>.Fail(CairnErrorCode.Invalid, $"unknown sync mode {(int)options.Sync}");
        if (options.LockTimeout < TimeSpan.Zero || options.LockTimeout.TotalMilliseconds > uint.MaxValue)
            return ExecResponse<BlobStore>.Fail(CairnErrorCode.Invalid, "lock timeout out of range");
        var native = new CairnBlobOptions
        {
            Version = CairnBlobOptions.CurrentVersion,
            Create = options.Create ? 1 : 0,
            ReadOnly = options.ReadOnly ? 1 : 0,
            Sync = (int)options.Sync,
            LockTimeoutMs = (uint)Math.Ceiling(options.LockTimeout.TotalMilliseconds),
        };
        int rc = NativeMethods.cairn_blob_open(out BlobHandle h, path, &native);
        if (rc != 0)
        {
            var fail = Interop.Failure<BlobStore>(rc);
            h.Dispose();
            return fail;
        }
        return ExecResponse<BlobStore>.Ok(new BlobStore(h, path));
    }

    /// <summary>Closes the store (an open transaction is rolled back). Later calls return Closed.</summary>
    public void Dispose() => _h.Dispose();

    /// <summary>Same as <see cref="Dispose"/>, as an ExecResponse (always a success).</summary>
    public ExecResponse Close()
    {
        _h.Dispose();
        return ExecResponse.Ok;
    }

    /// <summary>Verifies a blob store file and its WAL without opening it for writing.</summary>
    public static ExecResponse Check(string path)
    {
        if (path is null) return ExecResponse.Fail(CairnErrorCode.Invalid, "path is null");
        return Interop.Status(NativeMethods.cairn_blob_check(path));
    }

    // ---- events ------------------------------------------------------------------------------------

    /// <summary>Raised once per successful create, after it is durable (in a transaction: at commit).</summary>
    public event EventHandler<BlobEventArgs>? OnCreated
    {
        add { AddHandler(ref _created, value); }
        remove { lock (_eventLock) _created -= value; }
    }

    /// <summary>Raised once per successful update (in a transaction: at commit).</summary>
    public event EventHandler<BlobEventArgs>? OnUpdated
    {
        add { AddHandler(ref _updated, value); }
        remove { lock (_eventLock) _updated -= value; }
    }

    /// <summary>Raised once per successful delete (in a transaction: at commit).</summary>
    public event EventHandler<BlobEventArgs>? OnDeleted
    {
        add { AddHandler(ref _deleted, value); }
        remove { lock (_eventLock) _deleted -= value; }
    }

    private void AddHandler(ref EventHandler<BlobEventArgs>? field, EventHandler<BlobEventArgs>? value)
    {
        if (value is null) return;
        lock (_eventLock)
        {
            // Subscribe natively with the first handler, so a store nobody listens to pays nothing.
            if (_subscribed == 0)
            {
                ExecResponse r = SubscribeNative();
                if (!r.Success) throw new CairnException(r.ErrorCode, "cannot subscribe to blob events: " + r.Message);
                _subscribed = 1;
            }
            field += value;
        }
    }

    private ExecResponse SubscribeNative()
    {
        if (_h.IsClosed) return Interop.Closed(true);
        int rc;
        try { rc = NativeMethods.cairn_blob_subscribe(_h, &OnNativeEvent, (void*)_id, out _); }
        catch (ObjectDisposedException) { return Interop.Closed(true); }
        return Interop.Status(rc);
    }

    [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
    private static void OnNativeEvent(void* ctx, int ev, uint key, ulong oldSize, ulong newSize)
    {
        // Never let anything escape into native code: only record here.
        try
        {
            (t_pending ??= new List<Pending>()).Add(new Pending((long)ctx, ev, key, oldSize, newSize));
        }
        catch
        {
            // Out of memory while recording: the event is lost rather than the process.
        }
    }

    /// <summary>Raises the events the last native call recorded for this store, in order.</summary>
    private void RaisePending()
    {
        List<Pending>? pending = t_pending;
        if (pending is null || pending.Count == 0) return;
        Pending[] mine = pending.FindAll(p => p.Store == _id).ToArray();
        pending.RemoveAll(p => p.Store == _id);
        List<Exception>? errors = null;
        foreach (Pending p in mine)
        {
            EventHandler<BlobEventArgs>? handler = p.Event switch
            {
                1 => _created,
                2 => _updated,
                3 => _deleted,
                _ => null,
            };
            if (handler is null) continue;
            try
            {
                handler(this, new BlobEventArgs((BlobChange)p.Event, p.Key, (long)p.OldSize, (long)p.NewSize));
            }
            catch (Exception e)
            {
                (errors ??= new List<Exception>()).Add(e);
            }
        }
        // Every event was raised; now let the handlers' exceptions through (the operation itself succeeded).
        if (errors is { Count: 1 }) ExceptionDispatchInfo.Capture(errors[0]).Throw();
        if (errors is { Count: > 1 }) throw new AggregateException("blob event handlers threw", errors);
    }

    /// <summary>The failure response (message captured first), after raising any event the core fired
    /// (an event means a durable change, whatever the final status).</summary>
    private ExecResponse FailureAfterEvents(int rc)
    {
        ExecResponse fail = Interop.Failure(rc);
        RaisePending();
        return fail;
    }

    // ---- operations ---------------------------------------------------------------------------------

    /// <summary>Stores <paramref name="data"/> (may be empty) under a new key, returned as Result.</summary>
    public ExecResponse<uint> Create(byte[] data)
    {
        if (data is null) return ExecResponse<uint>.Fail(CairnErrorCode.Invalid, "data is null");
        return Create((ReadOnlySpan<byte>)data);
    }

    /// <summary>Stores <paramref name="data"/> (may be empty) under a new key, returned as Result.</summary>
    public ExecResponse<uint> Create(ReadOnlySpan<byte> data)
    {
        if (_h.IsClosed) return ExecResponse<uint>.From(Interop.Closed(true));
        int rc;
        uint key;
        byte empty = 0;
        fixed (byte* dp0 = data)
        {
            byte* dp = dp0 == null ? &empty : dp0;
            try { rc = NativeMethods.cairn_blob_create(_h, dp, (nuint)data.Length, out key); }
            catch (ObjectDisposedException) { return ExecResponse<uint>.From(Interop.Closed(true)); }
        }
        if (rc != 0) return ExecResponse<uint>.From(FailureAfterEvents(rc));
        RaisePending();
        return ExecResponse<uint>.Ok(key);
    }

    /// <summary>Stores under an explicit key (e.g. from <see cref="ReserveNextKey"/>); Exists if present.</summary>
    public ExecResponse Create(uint key, byte[] data)
    {
        if (data is null) return ExecResponse.Fail(CairnErrorCode.Invalid, "data is null");
        return Create(key, (ReadOnlySpan<byte>)data);
    }

    /// <summary>Stores under an explicit key; Exists if present. Auto keys never collide with it.</summary>
    public ExecResponse Create(uint key, ReadOnlySpan<byte> data)
    {
        if (_h.IsClosed) return Interop.Closed(true);
        int rc;
        byte empty = 0;
        fixed (byte* dp0 = data)
        {
            byte* dp = dp0 == null ? &empty : dp0;
            try { rc = NativeMethods.cairn_blob_create_with_key(_h, key, dp, (nuint)data.Length); }
            catch (ObjectDisposedException) { return Interop.Closed(true); }
        }
        if (rc != 0) return FailureAfterEvents(rc);
        RaisePending();
        return ExecResponse.Ok;
    }

    /// <summary>Hands out the next key without storing anything (it is never handed out again).</summary>
    public ExecResponse<uint> ReserveNextKey()
    {
        if (_h.IsClosed) return ExecResponse<uint>.From(Interop.Closed(true));
        int rc;
        uint key;
        try { rc = NativeMethods.cairn_blob_reserve_next_key(_h, out key); }
        catch (ObjectDisposedException) { return ExecResponse<uint>.From(Interop.Closed(true)); }
        return rc == 0 ? ExecResponse<uint>.Ok(key) : Interop.Failure<uint>(rc);
    }

    /// <summary>The blob's bytes; NotFound if absent.</summary>
    public ExecResponse<byte[]> Read(uint key)
    {
        if (_h.IsClosed) return ExecResponse<byte[]>.From(Interop.Closed(true));
        int rc;
        byte* p;
        nuint len;
        try { rc = NativeMethods.cairn_blob_read(_h, key, out p, out len); }
        catch (ObjectDisposedException) { return ExecResponse<byte[]>.From(Interop.Closed(true)); }
        if (rc != 0) return Interop.Failure<byte[]>(rc);
        return ExecResponse<byte[]>.Ok(Interop.TakeOwned(p, len));
    }

    /// <summary>Replaces the blob's bytes; NotFound if absent.</summary>
    public ExecResponse Update(uint key, byte[] data)
    {
        if (data is null) return ExecResponse.Fail(CairnErrorCode.Invalid, "data is null");
        return Update(key, (ReadOnlySpan<byte>)data);
    }

    /// <summary>Replaces the blob's bytes; NotFound if absent.</summary>
    public ExecResponse Update(uint key, ReadOnlySpan<byte> data)
    {
        if (_h.IsClosed) return Interop.Closed(true);
        int rc;
        byte empty = 0;
        fixed (byte* dp0 = data)
        {
            byte* dp = dp0 == null ? &empty : dp0;
            try { rc = NativeMethods.cairn_blob_update(_h, key, dp, (nuint)data.Length); }
            catch (ObjectDisposedException) { return Interop.Closed(true); }
        }
        if (rc != 0) return FailureAfterEvents(rc);
        RaisePending();
        return ExecResponse.Ok;
    }

    /// <summary>Deletes the blob; NotFound if absent.</summary>
    public ExecResponse Delete(uint key)
    {
        if (_h.IsClosed) return Interop.Closed(true);
        int rc;
        try { rc = NativeMethods.cairn_blob_delete(_h, key); }
        catch (ObjectDisposedException) { return Interop.Closed(true); }
        if (rc != 0) return FailureAfterEvents(rc);
        RaisePending();
        return ExecResponse.Ok;
    }

    /// <summary>Whether a blob exists under <paramref name="key"/>.</summary>
    public ExecResponse<bool> Exists(uint key)
    {
        if (_h.IsClosed) return ExecResponse<bool>.From(Interop.Closed(true));
        int rc;
        try { rc = NativeMethods.cairn_blob_exists(_h, key); }
        catch (ObjectDisposedException) { return ExecResponse<bool>.From(Interop.Closed(true)); }
        return rc >= 0 ? ExecResponse<bool>.Ok(rc == 1) : Interop.Failure<bool>(rc);
    }

    /// <summary>Number of live blobs.</summary>
    public ExecResponse<long> Count()
    {
        if (_h.IsClosed) return ExecResponse<long>.From(Interop.Closed(true));
        int rc;
        ulong n;
        try { rc = NativeMethods.cairn_blob_count(_h, out n); }
        catch (ObjectDisposedException) { return ExecResponse<long>.From(Interop.Closed(true)); }
        return rc == 0 ? ExecResponse<long>.Ok((long)n) : Interop.Failure<long>(rc);
    }

    /// <summary>The live keys, ascending (a snapshot).</summary>
    public ExecResponse<IReadOnlyList<uint>> Keys()
    {
        if (_h.IsClosed) return ExecResponse<IReadOnlyList<uint>>.From(Interop.Closed(true));
        int rc;
        BlobIterHandle it;
        try { rc = NativeMethods.cairn_blob_iter_open(out it, _h); }
        catch (ObjectDisposedException) { return ExecResponse<IReadOnlyList<uint>>.From(Interop.Closed(true)); }
        if (rc != 0)
        {
            var fail = Interop.Failure<IReadOnlyList<uint>>(rc);
            it.Dispose();
            return fail;
        }
        var keys = new List<uint>();
        using (it)
        {
            it.Attach(_h);
            while (true)
            {
                rc = NativeMethods.cairn_blob_iter_next(it, out uint k);
                if (rc == (int)CairnErrorCode.IterOver) break;
                if (rc != 0) return Interop.Failure<IReadOnlyList<uint>>(rc);
                keys.Add(k);
            }
        }
        return ExecResponse<IReadOnlyList<uint>>.Ok(keys);
    }

    /// <summary>Makes everything durable and checkpoints the WAL into the data file.</summary>
    public ExecResponse Flush() => Simple(&Native_flush, false);
    /// <summary>Rewrites the file without free space (crash-safe).</summary>
    public ExecResponse Compact() => Simple(&Native_compact, false);
    /// <summary>Begins a transaction as a scope: Commit() it; disposing it uncommitted rolls it back.</summary>
    public ExecResponse<Transaction> BeginTransaction()
    {
        ExecResponse r = Begin();
        return r.Success ? ExecResponse<Transaction>.Ok(new Transaction(Commit, Rollback)) : ExecResponse<Transaction>.From(r);
    }

    /// <summary>Begins a transaction (Txn if one is open); its events are raised at commit.</summary>
    public ExecResponse Begin() => Simple(&Native_begin, false);
    /// <summary>Commits the open transaction and raises its events in order (Txn if none).</summary>
    public ExecResponse Commit() => Simple(&Native_commit, true);
    /// <summary>Drops the open transaction's changes; no events are raised for them (Txn if none).</summary>
    public ExecResponse Rollback() => Simple(&Native_rollback, true);

    private static int Native_flush(BlobHandle h) => NativeMethods.cairn_blob_sync(h);
    private static int Native_compact(BlobHandle h) => NativeMethods.cairn_blob_compact(h);
    private static int Native_begin(BlobHandle h) => NativeMethods.cairn_blob_begin(h);
    private static int Native_commit(BlobHandle h) => NativeMethods.cairn_blob_commit(h);
    private static int Native_rollback(BlobHandle h) => NativeMethods.cairn_blob_rollback(h);

    private ExecResponse Simple(delegate*<BlobHandle, int> fn, bool events)
    {
        if (_h.IsClosed) return Interop.Closed(true);
        int rc;
        try { rc = fn(_h); }
        catch (ObjectDisposedException) { return Interop.Closed(true); }
        if (rc != 0) return events ? FailureAfterEvents(rc) : Interop.Failure(rc);
        if (events) RaisePending();
        return ExecResponse.Ok;
    }

    /// <summary>Counters of the store.</summary>
    public ExecResponse<BlobStats> Stats()
    {
        if (_h.IsClosed) return ExecResponse<BlobStats>.From(Interop.Closed(true));
        int rc;
        CairnBlobStats s;
        try { rc = NativeMethods.cairn_blob_stats(_h, out s); }
        catch (ObjectDisposedException) { return ExecResponse<BlobStats>.From(Interop.Closed(true)); }
        if (rc != 0) return Interop.Failure<BlobStats>(rc);
        return ExecResponse<BlobStats>.Ok(new BlobStats((long)s.Entries, (long)s.LiveBytes, (long)s.FreeBytes,
            (long)s.FreeEntries, (long)s.FileSize, (long)s.WalBytes, s.NextKey, s.InTxn != 0));
    }
}
