// SafeHandles own the native handles: the runtime reference-counts them across P/Invoke calls, so a
// Dispose racing with a call on another thread closes the native handle only after that call returns,
// and a store that is never disposed is still closed (its writer lock released) by the finalizer.
using System;
using System.Runtime.InteropServices;

namespace Cairn.Native;

/// <summary>Owns a cairn_kv*; releasing it calls cairn_kv_close.</summary>
internal sealed class KvHandle : SafeHandle
{
    public KvHandle() : base(IntPtr.Zero, ownsHandle: true) { }
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle()
    {
        NativeMethods.cairn_kv_close(handle);
        return true;
    }
}

/// <summary>Owns a cairn_blob*; releasing it calls cairn_blob_close.</summary>
internal sealed class BlobHandle : SafeHandle
{
    public BlobHandle() : base(IntPtr.Zero, ownsHandle: true) { }
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle()
    {
        NativeMethods.cairn_blob_close(handle);
        return true;
    }
}

/// <summary>
/// Base of iterator handles: holds a reference on the store handle it was opened from, so the store
/// is not closed underneath a live iterator (the store's close waits until the iterator is freed).
/// </summary>
internal abstract class ChildHandle : SafeHandle
{
    private SafeHandle? _parent;
    protected ChildHandle() : base(IntPtr.Zero, ownsHandle: true) { }
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Call right after a successful open; takes a reference on the parent.</summary>
    public void Attach(SafeHandle parent)
    {
        bool added = false;
        parent.DangerousAddRef(ref added);
        if (added) _parent = parent;
    }

    protected abstract void Free(IntPtr h);

    protected override bool ReleaseHandle()
    {
        Free(handle);
        _parent?.DangerousRelease();
        _parent = null;
        return true;
    }
}

/// <summary>Owns a cairn_kv_iter*.</summary>
internal sealed class KvIterHandle : ChildHandle
{
    protected override void Free(IntPtr h) => NativeMethods.cairn_kv_iter_free(h);
}

/// <summary>Owns a cairn_blob_iter*.</summary>
internal sealed class BlobIterHandle : ChildHandle
{
    protected override void Free(IntPtr h) => NativeMethods.cairn_blob_iter_free(h);
}
