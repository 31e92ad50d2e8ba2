// SafeHandles own the native handles: the runtime reference-counts them across P/Invoke calls, so a
// Dispose racing with a call on another thread closes the native handle only after that call returns,
// and a store that is never disposed is still closed (its writer lock released) by the finalizer.
// The concrete handle classes (one per opaque C type, with their destructor and the shared verbs
// their engine has) are generated: Handles.g.cs.
using System;
using System.Runtime.InteropServices;

namespace Cairn.Native;

/// <summary>Base of every generated handle: releasing it calls the type's destructor.</summary>
internal abstract class NativeHandle : SafeHandle
{
    protected NativeHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>The C destructor of this handle type.</summary>
    protected abstract void Free(nint h);

    protected override bool ReleaseHandle()
    {
        Free(handle);
        return true;
    }

    private const int Unsupported = (int)CairnErrorCode.Unsupported;

    // The verbs every engine shares (docs/c-api.md); the generated class of an engine overrides those
    // its C API has.
    internal virtual int Begin() => Unsupported;
    internal virtual int Commit() => Unsupported;
    internal virtual int Rollback() => Unsupported;
    internal virtual int InTxn() => Unsupported;
    internal virtual int Sync() => Unsupported;
    internal virtual int Compact() => Unsupported;
    internal virtual int Count(out ulong n)
    {
        n = 0;
        return Unsupported;
    }

    // cairn_<engine>_metrics: the Prometheus text exposition of the engine's stats (caller-owned,
    // cairn_free); the generated class of an engine overrides it where its C API has the call.
    internal virtual unsafe int Metrics(out byte* text)
    {
        text = null;
        return Unsupported;
    }

    // The five snapshot calls (docs/snapshots.md): the generated class of an engine overrides them once
    // its C API has cairn_<engine>_snapshot & co. Outputs are caller-owned (cairn_free).
    internal virtual unsafe int Snapshot(string? name, out byte* created)
    {
        created = null;
        return Unsupported;
    }
    internal virtual unsafe int Snapshots(out byte* json)
    {
        json = null;
        return Unsupported;
    }
    internal virtual int OpenSnapshot(string? name, out NativeHandle? snapshot)
    {
        snapshot = null;
        return Unsupported;
    }
    internal virtual int DropSnapshot(string? name) => Unsupported;
    internal virtual int Backup(string? dest) => Unsupported;
}

/// <summary>
/// Base of handles opened from another handle (cursors): holds a reference on the store handle it was
/// opened from, so the store is not closed underneath a live cursor (the store's close waits until the
/// cursor is freed).
/// </summary>
internal abstract class ChildHandle : NativeHandle
{
    private SafeHandle? _parent;

    /// <summary>Call right after a successful open; takes a reference on the parent.</summary>
    public void Attach(SafeHandle parent)
    {
        bool added = false;
        parent.DangerousAddRef(ref added);
        if (added) _parent = parent;
    }

    protected override bool ReleaseHandle()
    {
        base.ReleaseHandle();
        _parent?.DangerousRelease();
        _parent = null;
        return true;
    }
}
