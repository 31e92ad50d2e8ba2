// BlobStore: uint32 keys -> byte arrays in one file (BinaryDocumentDb's model), crash-safe through the
// WAL. Every call returns an ExecResponse. Change events (OnCreated/OnUpdated/OnDeleted) come from the
// core's subscription and are delivered by the base (NativeStore): after the native call returned.
using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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
    private readonly object _eventLock = new();
    private EventHandler<BlobEventArgs>? _created, _updated, _deleted;
    private ulong _subscription; // the native subscription's id, 0 while nobody listens
    private long _sink;          // its sink in the base (the native context)

    private BlobStore(BlobHandle h, string path) : base(h, path, "blob store") { }

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

    /// <summary>Opens the snapshot <paramref name="name"/> (taken with <see cref="NativeStore.Snapshot"/>;
    /// a blob store keeps them beside its file, in <c>&lt;path&gt;-snapshots/</c>) as a read-only store: reads
    /// see the store as it was then, writes fail with ReadOnly. NotFound when there is no such snapshot.
    /// Dispose it like any store; it does not depend on this handle.</summary>
    public ExecResponse<BlobStore> OpenSnapshot(string name) =>
        OpenSnapshotCore(name, (h, _) => new BlobStore((BlobHandle)h, $"{Path}-snapshots/{name}/blob"));

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
                long sink = AddSink(Deliver);
                var a = (Ctx: sink, Id: 0UL);
                int rc = Call(ref a, static (h, ref a) =>
                    NativeMethods.cairn_blob_subscribe(h, &OnNativeEvent, (byte*)a.Ctx, out a.Id));
                if (rc != 0)
                {
                    RemoveSink(sink);
                    ExecResponse r = Status(rc);
                    throw new CairnException(r.ErrorCode, "cannot subscribe to blob events: " + r.Message);
                }
                _subscription = a.Id;
                _sink = sink;
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
                RemoveSink(_sink);
            }
        }
    }

    [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
    private static void OnNativeEvent(byte* ctx, int ev, uint key, ulong oldSize, ulong newSize)
    {
        // Never let anything escape into native code: only record here (the base raises it after the call).
        try
        {
            Record(ctx, new BlobEventArgs((BlobChange)ev, key, (long)oldSize, (long)newSize));
        }
        catch
        {
        }
    }

    private void Deliver(object payload)
    {
        var e = (BlobEventArgs)payload;
        EventHandler<BlobEventArgs>? handler = e.Change switch
        {
            BlobChange.Created => _created,
            BlobChange.Updated => _updated,
            BlobChange.Deleted => _deleted,
            _ => null,
        };
        handler?.Invoke(this, e);
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
