// The raw layer: [LibraryImport] declarations 1:1 with core/include/cairn.h. Nothing here is public;
// the idiomatic classes (KvStore, BlobStore) are the only callers. Pointers and lengths are passed as
// the C API takes them (byte*, nuint) so callers pin spans with `fixed` and nothing is copied.
using System;
using System.Runtime.InteropServices;

namespace Cairn.Native;

/// <summary>cairn_kv_options (version 1). Layout matches the C struct (sequential, natural alignment).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CairnKvOptions
{
    public const uint CurrentVersion = 1;
    public uint Version;
    public int Create;
    public int ReadOnly;
    public int Sync;
    public ulong MaxFileSize;
    public uint LockTimeoutMs;
}

/// <summary>cairn_kv_stats.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CairnKvStats
{
    public ulong Keys;
    public ulong DataFiles;
    public ulong DiskBytes;
    public ulong LiveBytes;
    public ulong DeadBytes;
    public ulong KeydirBytes;
    public ulong Seq;
    public ulong Reclaims;
    public int InTxn;
}

/// <summary>cairn_blob_options (version 1).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CairnBlobOptions
{
    public const uint CurrentVersion = 1;
    public uint Version;
    public int Create;
    public int ReadOnly;
    public int Sync;
    public uint LockTimeoutMs;
}

/// <summary>cairn_blob_stats.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CairnBlobStats
{
    public ulong Entries;
    public ulong LiveBytes;
    public ulong FreeBytes;
    public ulong FreeEntries;
    public ulong FileSize;
    public ulong WalBytes;
    public uint NextKey;
    public int InTxn;
}

internal static unsafe partial class NativeMethods
{
    /// <summary>The library name the resolver (NativeLoader) maps to libcairn.so / cairn.dll / libcairn.dylib.</summary>
    public const string Lib = "cairn";

    // ---- errors and misc ---------------------------------------------------------------------
    [LibraryImport(Lib, EntryPoint = "cairn_errname")] public static partial byte* cairn_errname(int code);
    [LibraryImport(Lib, EntryPoint = "cairn_errstr")] public static partial byte* cairn_errstr(int code);
    [LibraryImport(Lib, EntryPoint = "cairn_errmsg")] public static partial byte* cairn_errmsg();
    [LibraryImport(Lib, EntryPoint = "cairn_errcode")] public static partial int cairn_errcode();
    [LibraryImport(Lib, EntryPoint = "cairn_errclear")] public static partial void cairn_errclear();
    [LibraryImport(Lib, EntryPoint = "cairn_version")] public static partial byte* cairn_version();
    [LibraryImport(Lib, EntryPoint = "cairn_free")] public static partial void cairn_free(void* p);

    // ---- KV ------------------------------------------------------------------------------------
    [LibraryImport(Lib, EntryPoint = "cairn_kv_open", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int cairn_kv_open(out KvHandle kv, string path, CairnKvOptions* opts);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_close")] public static partial void cairn_kv_close(IntPtr kv);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_put")]
    public static partial int cairn_kv_put(KvHandle kv, byte* key, nuint klen, byte* val, nuint vlen, int kind);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_put_ex")]
    public static partial int cairn_kv_put_ex(KvHandle kv, byte* key, nuint klen, byte* val, nuint vlen, int kind,
                                              long expireAtMs);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_get")]
    public static partial int cairn_kv_get(KvHandle kv, byte* key, nuint klen, out byte* val, out nuint vlen,
                                           out int kind);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_get_into")]
    public static partial int cairn_kv_get_into(KvHandle kv, byte* key, nuint klen, byte* buf, nuint cap,
                                                out nuint vlen, out int kind);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_expiry")]
    public static partial int cairn_kv_expiry(KvHandle kv, byte* key, nuint klen, out long expireAtMs);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_delete")]
    public static partial int cairn_kv_delete(KvHandle kv, byte* key, nuint klen);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_exists")]
    public static partial int cairn_kv_exists(KvHandle kv, byte* key, nuint klen);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_count")]
    public static partial int cairn_kv_count(KvHandle kv, out ulong count);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_iter_open")]
    public static partial int cairn_kv_iter_open(out KvIterHandle it, KvHandle kv, byte* prefix, nuint plen);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_iter_next")]
    public static partial int cairn_kv_iter_next(KvIterHandle it, out byte* key, out nuint klen);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_iter_free")] public static partial void cairn_kv_iter_free(IntPtr it);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_begin")] public static partial int cairn_kv_begin(KvHandle kv);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_commit")] public static partial int cairn_kv_commit(KvHandle kv);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_rollback")] public static partial int cairn_kv_rollback(KvHandle kv);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_sync")] public static partial int cairn_kv_sync(KvHandle kv);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_compact")] public static partial int cairn_kv_compact(KvHandle kv);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_stats")]
    public static partial int cairn_kv_stats(KvHandle kv, out CairnKvStats stats);
    [LibraryImport(Lib, EntryPoint = "cairn_kv_check", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int cairn_kv_check(string path);

    // ---- blob store ------------------------------------------------------------------------------
    [LibraryImport(Lib, EntryPoint = "cairn_blob_open", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int cairn_blob_open(out BlobHandle blob, string path, CairnBlobOptions* opts);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_close")] public static partial void cairn_blob_close(IntPtr blob);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_create")]
    public static partial int cairn_blob_create(BlobHandle b, byte* data, nuint len, out uint key);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_reserve_next_key")]
    public static partial int cairn_blob_reserve_next_key(BlobHandle b, out uint key);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_create_with_key")]
    public static partial int cairn_blob_create_with_key(BlobHandle b, uint key, byte* data, nuint len);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_read")]
    public static partial int cairn_blob_read(BlobHandle b, uint key, out byte* data, out nuint len);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_update")]
    public static partial int cairn_blob_update(BlobHandle b, uint key, byte* data, nuint len);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_delete")]
    public static partial int cairn_blob_delete(BlobHandle b, uint key);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_exists")]
    public static partial int cairn_blob_exists(BlobHandle b, uint key);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_count")]
    public static partial int cairn_blob_count(BlobHandle b, out ulong count);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_iter_open")]
    public static partial int cairn_blob_iter_open(out BlobIterHandle it, BlobHandle b);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_iter_next")]
    public static partial int cairn_blob_iter_next(BlobIterHandle it, out uint key);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_iter_free")] public static partial void cairn_blob_iter_free(IntPtr it);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_sync")] public static partial int cairn_blob_sync(BlobHandle b);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_stats")]
    public static partial int cairn_blob_stats(BlobHandle b, out CairnBlobStats stats);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_compact")] public static partial int cairn_blob_compact(BlobHandle b);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_begin")] public static partial int cairn_blob_begin(BlobHandle b);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_commit")] public static partial int cairn_blob_commit(BlobHandle b);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_rollback")] public static partial int cairn_blob_rollback(BlobHandle b);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_subscribe")]
    public static partial int cairn_blob_subscribe(BlobHandle b,
        delegate* unmanaged[Cdecl]<void*, int, uint, ulong, ulong, void> fn, void* ctx, out ulong id);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_unsubscribe")]
    public static partial int cairn_blob_unsubscribe(BlobHandle b, ulong id);
    [LibraryImport(Lib, EntryPoint = "cairn_blob_check", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int cairn_blob_check(string path);
}
