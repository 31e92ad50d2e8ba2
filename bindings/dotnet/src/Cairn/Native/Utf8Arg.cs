using System;

namespace Cairn.Native;

/// <summary>
/// A string argument encoded as UTF-8 into a caller's stack buffer (or a pooled array when longer).
/// Use with <c>using var k = new Utf8Arg(s, stackalloc byte[Interop.StackBytes], "key");</c>.
/// </summary>
internal ref struct Utf8Arg
{
    private byte[]? _rented;
    private readonly string _what;

    public Utf8Arg(string? s, Span<byte> scratch, string what)
    {
        _rented = null;
        _what = what;
        if (s is null)
        {
            Ok = false;
            IsNull = true;
            Bytes = default;
            return;
        }
        IsNull = false;
        Ok = Interop.TryEncode(s, scratch, ref _rented, out ReadOnlySpan<byte> b);
        Bytes = b;
    }

    /// <summary>The UTF-8 bytes (valid while this value lives).</summary>
    public ReadOnlySpan<byte> Bytes { get; }

    /// <summary>False for a null string or one that is not valid UTF-16.</summary>
    public bool Ok { get; }

    private bool IsNull { get; }

    public ExecResponse Fail() => ExecResponse.Fail(CairnErrorCode.Invalid, FailText());

    public ExecResponse<T> Fail<T>() => ExecResponse<T>.Fail(CairnErrorCode.Invalid, FailText());

    private string FailText() => IsNull ? $"{_what} is null" : $"{_what} is not valid UTF-16 text (unpaired surrogate)";

    public void Dispose()
    {
        Interop.Return(_rented);
        _rented = null;
    }
}
