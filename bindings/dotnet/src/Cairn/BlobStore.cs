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

/// <summary>Options of <see cref="BlobStore.Open(BlobStoreOptions)"/> (Create, ReadOnly, Sync and
/// LockTimeout are those of every store).</summary>
public sealed class BlobStoreOptions : StoreOptions
{
    /// <summary>The data file (its WAL is this path + "-wal"). Required.</summary>
    public string? Path { get; set; }
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
public sealed unsafe class BlobStore : NativeStore
{
    private readonly long _id;
    private readonly object _eventLock = new();
    private EventHandler<BlobEventArgs>? _created, _updated, _deleted;
    private ulong _subscription; // the native subscription's id, 0 while nobody listens

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

    private BlobStore(BlobHandle h, string path) : base(h, path, "blob store")
    {
        _id = Interlocked.Increment(ref s_nextId);
    }

    private int Call<TArgs>(scoped ref TArgs args, NativeCall<BlobHandle, TArgs> call) where TArgs : allows ref struct =>
        Invoke(ref args, call);

    // ---- open / check --------------------------------------------------------------------------------

    /// <summary>Opens (or creates) the blob store file <paramref name="path"/>.</summary>
    public static ExecResponse<BlobStore> Open(string path) => Open(new BlobStoreOptions { Path = path });

    /// <summary>Opens (or creates) the blob store described by <paramref name="options"/>.</summary>
    public static ExecResponse<BlobStore> Open(BlobStoreOptions options)
    {
        if (options is null) return ExecResponse<BlobStore>.Fail(CairnErrorCode.Invalid, "options is null");
        var native = options.ToNative<CairnBlobOptions>();
        return OpenStore(options.Path, options, p => { var n = native; return (NativeMethods.cairn_blob_open(out BlobHandle h, p, &n), h); },
                         static (h, p) => new BlobStore(h, p));
    }

    /// <summary>Verifies a blob store file and its WAL without opening it for writing: Success if clean,
    /// Corrupt with the detail in the message otherwise.</summary>
    public static ExecResponse Check(string path) => CheckPath(path, static p => NativeMethods.cairn_blob_check(p));

    // ---- events ----------------------------------------------------------------------------------------

    /// <summary>Raised once per successful create, after the call returned (in a transaction: after Commit).</summary>
    public event EventHandler<BlobEventArgs>? OnCreated
    {
        add { AddHandler(ref _created, value); }
        remove { RemoveHandler(ref _created, value); }
    }

    /// <summary>Raised once per successful update (in a transaction: after Commit).</summary>
    public event EventHandler<BlobEventArgs>? OnUpdated
    {
        add { AddHandler(ref _updated, value); }
        remove { RemoveHandler(ref _updated, value); }
    }

    /// <summary>Raised once per successful delete (in a transaction: after Commit).</summary>
    public event EventHandler<BlobEventArgs>? OnDeleted
    {
        add { AddHandler(ref _deleted, value); }
        remove { RemoveHandler(ref _deleted, value); }
    }

    private void AddHandler(ref EventHandler<BlobEventArgs>? field, EventHandler<BlobEventArgs>? value)
    {
        if (value is null) return;
        lock (_eventLock)
        {
            // Subscribe natively with the first handler, so a store nobody listens to pays nothing.
            if (_subscription == 0)
            {
                var a = (Ctx: _id, Id: 0UL);
                int rc = Call(ref a, static (h, ref a) =>
                    NativeMethods.cairn_blob_subscribe(h, &OnNativeEvent, (byte*)a.Ctx, out a.Id));
                if (rc != 0)
                {
                    ExecResponse r = Status(rc);
                    throw new CairnException(r.ErrorCode, "cannot subscribe to blob events: " + r.Message);
                }
                _subscription = a.Id;
            }
            field += value;
        }
    }

    private void RemoveHandler(ref EventHandler<BlobEventArgs>? field, EventHandler<BlobEventArgs>? value)
    {
        lock (_eventLock)
        {
            field -= value;
            // The last handler gone: the native subscription goes too (a closed store has none left).
            if (_created is null && _updated is null && _deleted is null && _subscription != 0)
            {
                ulong id = _subscription;
                _subscription = 0;
                Call(ref id, static (h, ref id) => NativeMethods.cairn_blob_unsubscribe(h, id));
            }
        }
    }

    [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
    private static void OnNativeEvent(byte* ctx, int ev, uint key, ulong oldSize, ulong newSize)
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

    /// <summary>The response of a call that may change the store (its message captured first), then the
    /// events the core recorded during it, raised in order on this thread: an event means a durable
    /// change, whatever the final status. Every handler runs; then an exception one threw is rethrown
    /// (several: an AggregateException) from the call, whose change stays made.</summary>
    private protected override ExecResponse Complete(int rc)
    {
        ExecResponse r = Status(rc);
        List<Pending>? pending = t_pending;
        if (pending is null || pending.Count == 0) return r;
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
        if (errors is { Count: 1 }) ExceptionDispatchInfo.Capture(errors[0]).Throw();
        if (errors is { Count: > 1 }) throw new AggregateException("blob event handlers threw", errors);
        return r;
    }

    // ---- operations ------------------------------------------------------------------------------------

    private ref struct DataArgs
    {
        public ReadOnlySpan<byte> Data;
        public uint Key;
    }

    /// <summary>Stores <paramref name="data"/> (may be empty) under a new key, returned as Result.</summary>
    public ExecResponse<uint> Create(byte[] data)
    {
        if (data is null) return ExecResponse<uint>.Fail(CairnErrorCode.Invalid, "data is null");
        return Create((ReadOnlySpan<byte>)data);
    }

    /// <summary>Stores <paramref name="data"/> (may be empty) under a new key, returned as Result.</summary>
    public ExecResponse<uint> Create(ReadOnlySpan<byte> data)
    {
        var a = new DataArgs { Data = data };
        ExecResponse r = Complete(Call(ref a, static (h, ref a) => NativeMethods.cairn_blob_create(h, a.Data, out a.Key)));
        return r.Success ? ExecResponse<uint>.Ok(a.Key) : ExecResponse<uint>.From(r);
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
        var a = new DataArgs { Data = data, Key = key };
        return Complete(Call(ref a, static (h, ref a) => NativeMethods.cairn_blob_create_with_key(h, a.Key, a.Data)));
    }

    /// <summary>Hands out the next key without storing anything (it is never handed out again).</summary>
    public ExecResponse<uint> ReserveNextKey()
    {
        uint key = 0;
        int rc = Call(ref key, static (h, ref k) => NativeMethods.cairn_blob_reserve_next_key(h, out k));
        return Result(rc, key);
    }

    /// <summary>The blob's bytes; NotFound if absent.</summary>
    public ExecResponse<byte[]> Read(uint key)
    {
        var a = (Key: key, Data: (byte[]?)null);
        int rc = Call(ref a, static (h, ref a) =>
        {
            int rc = NativeMethods.cairn_blob_read(h, a.Key, out byte* p, out nuint len);
            if (rc == 0) a.Data = Interop.TakeOwned(p, len);
            return rc;
        });
        return Result(rc, a.Data!);
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
        var a = new DataArgs { Data = data, Key = key };
        return Complete(Call(ref a, static (h, ref a) => NativeMethods.cairn_blob_update(h, a.Key, a.Data)));
    }

    /// <summary>Deletes the blob; NotFound if absent.</summary>
    public ExecResponse Delete(uint key) =>
        Complete(Call(ref key, static (h, ref k) => NativeMethods.cairn_blob_delete(h, k)));

    /// <summary>Whether a blob exists under <paramref name="key"/>.</summary>
    public ExecResponse<bool> Exists(uint key)
=>
        Truth(Call(ref key, static (h, ref k) => NativeMethods.cairn_blob_exists(h, k)));

    /// <summary>The live keys, ascending (a snapshot).</summary>
    public ExecResponse<IReadOnlyList<uint>> Keys()
    {
        BlobIterHandle? it = null;
        int rc = Call(ref it, static (h, ref it) => NativeMethods.cairn_blob_iter_open(out it, h));
        var keys = new List<uint>();
        ExecResponse r = Drain(rc, it!, it =>
        {
            int rc = NativeMethods.cairn_blob_iter_next(it, out uint k);
            if (rc == 0) keys.Add(k);
            return rc;
        });
        return r.Success ? ExecResponse<IReadOnlyList<uint>>.Ok(keys) : ExecResponse<IReadOnlyList<uint>>.From(r);
    }

    /// <summary>Counters of the store.</summary>
    public ExecResponse<BlobStats> Stats()
    {
        var s = CairnBlobStats.Init();
        int rc = Call(ref s, static (h, ref s) => NativeMethods.cairn_blob_stats(h, ref s));
        return Result(rc, new BlobStats((long)s.Entries, (long)s.LiveBytes, (long)s.FreeBytes,
            (long)s.FreeEntries, (long)s.FileSize, (long)s.WalBytes, s.NextKey, s.InTxn != 0));
    }
}
