// Helpers shared by the public classes: turning a native status into an ExecResponse (with the
// thread-local message read on the same thread, right after the failing call) and UTF-8 encoding of
// strings into stack or pooled buffers, so a call with string arguments allocates nothing on the heap.
using System;
using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;

namespace Cairn.Native;

internal static unsafe class Interop
{
    /// <summary>Strict UTF-8: a string with a lone surrogate is an error, never silently replaced.</summary>
    public static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Size of the stack buffers callers use for keys and short values.</summary>
    public const int StackBytes = 256;

    public static ExecResponse Failure(int rc) => ExecResponse.Fail((CairnErrorCode)rc, MessageFor(rc));

    public static ExecResponse<T> Failure<T>(int rc) => ExecResponse<T>.Fail((CairnErrorCode)rc, MessageFor(rc));

    /// <summary>The detailed thread-local message if it belongs to this failure, else the code's static text.</summary>
    public static string MessageFor(int rc)
    {
        if (NativeMethods.cairn_errcode() == rc)
        {
            string m = Utf8(NativeMethods.cairn_errmsg());
            if (m.Length > 0) return m;
        }
        return Utf8(NativeMethods.cairn_errstr(rc));
    }

    public static string Utf8(byte* p) => p == null ? "" : Marshal.PtrToStringUTF8((IntPtr)p) ?? "";

    /// <summary>
    /// Encodes <paramref name="s"/> as UTF-8 into <paramref name="scratch"/> if it fits, else into a
    /// buffer rented from the shared pool (returned by <see cref="Return"/>). False on invalid UTF-16.
    /// </summary>
    public static bool TryEncode(string s, Span<byte> scratch, scoped ref byte[]? rented, out ReadOnlySpan<byte> bytes)
    {
        try
        {
            int n;
            if (s.Length * 3 <= scratch.Length)
            {
                n = StrictUtf8.GetBytes(s, scratch);
                bytes = scratch.Slice(0, n);
                return true;
            }
            n = StrictUtf8.GetByteCount(s);
            Span<byte> dst = n <= scratch.Length ? scratch : (rented = ArrayPool<byte>.Shared.Rent(n));
            n = StrictUtf8.GetBytes(s, dst);
            bytes = dst.Slice(0, n);
            return true;
        }
        catch (EncoderFallbackException)
        {
            bytes = default;
            return false;
        }
    }

    public static void Return(byte[]? rented)
    {
        if (rented != null) ArrayPool<byte>.Shared.Return(rented);
    }

    /// <summary>Length of a NUL-terminated C string (0 for NULL).</summary>
    public static nuint StrLen(byte* p)
    {
        if (p == null) return 0;
        nuint n = 0;
        while (p[n] != 0) n++;
        return n;
    }

    /// <summary>A caller-owned C string (UTF-8) as bytes; the native string is freed.</summary>
    public static byte[] TakeOwnedString(byte* p) => TakeOwned(p, StrLen(p));

    /// <summary>Copies a native buffer owned by the caller into a new array and frees it.</summary>
    public static byte[] TakeOwned(byte* p, nuint len)
    {
        try
        {
            if (len > (nuint)Array.MaxLength)
                throw new OutOfMemoryException("value larger than a .NET array");
            return len == 0 ? Array.Empty<byte>() : new ReadOnlySpan<byte>(p, (int)len).ToArray();
        }
        finally
        {
            NativeMethods.cairn_free(p);
        }
    }
}
