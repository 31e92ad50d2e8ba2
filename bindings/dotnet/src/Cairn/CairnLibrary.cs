using Cairn.Native;

namespace Cairn;

/// <summary>Facts about the loaded native core.</summary>
public static unsafe class CairnLibrary
{
    /// <summary>The core's version, e.g. "0.1.0".</summary>
    public static string Version => Interop.Utf8(NativeMethods.cairn_version());

    /// <summary>Where the native library was loaded from (null when the runtime's default probing found it).</summary>
    public static string? NativePath
    {
        get
        {
            _ = Version; // make sure it is loaded
            return NativeLoader.LoadedFrom;
        }
    }

    /// <summary>The core's own name of an error code ("CAIRN_NOTFOUND"), from cairn_errname().</summary>
    public static string ErrorName(int code) => Interop.Utf8(NativeMethods.cairn_errname(code));

    /// <summary>The core's static text of an error code ("not found"), from cairn_errstr().</summary>
    public static string ErrorText(int code) => Interop.Utf8(NativeMethods.cairn_errstr(code));
}
