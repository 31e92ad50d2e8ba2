// Mirrors core/include/cairn_errors.def EXACTLY: same codes, and each member's name in upper case is
// the table's NAME (NotFound <-> NOTFOUND). The unit test ErrorTableTests parses the .def and fails on
// any difference, and checks every name against the native cairn_errname().
namespace Cairn;

/// <summary>Every error code of Cairn (0 is success). Codes are stable and never renumbered.</summary>
public enum CairnErrorCode
{
    /// <summary>success</summary>
    Ok = 0,
    /// <summary>unspecified error</summary>
    Error = -1,
    /// <summary>not found (an expected outcome: a missing key or blob)</summary>
    NotFound = -2,
    /// <summary>already exists</summary>
    Exists = -3,
    /// <summary>invalid argument</summary>
    Invalid = -4,
    /// <summary>wrong type of argument</summary>
    Type = -5,
    /// <summary>value or key too large</summary>
    TooBig = -6,
    /// <summary>I/O error</summary>
    IO = -7,
    /// <summary>no space left on device</summary>
    NoSpc = -8,
    /// <summary>data is corrupt</summary>
    Corrupt = -9,
    /// <summary>locked by another writer</summary>
    Locked = -10,
    /// <summary>busy: timed out waiting for a lock</summary>
    Busy = -11,
    /// <summary>handle is closed</summary>
    Closed = -12,
    /// <summary>out of memory</summary>
    NoMem = -13,
    /// <summary>transaction state error</summary>
    Txn = -14,
    /// <summary>handle is read-only</summary>
    ReadOnly = -15,
    /// <summary>handle failed after a fatal I/O error; close and reopen</summary>
    Failed = -16,
    /// <summary>unsupported format version</summary>
    Version = -17,
    /// <summary>permission denied</summary>
    Perm = -18,
    /// <summary>path does not exist or is not usable</summary>
    Path = -19,
    /// <summary>iteration is over</summary>
    IterOver = -20,
    /// <summary>buffer too small or value out of range</summary>
    Range = -21,
    /// <summary>operation not supported</summary>
    Unsupported = -22,
    /// <summary>internal error</summary>
    Internal = -23,
    /// <summary>handle belongs to the process that opened it (used after fork); open a new one in this process</summary>
    Forked = -24,
}

/// <summary>Names of error codes as every binding spells them.</summary>
public static class CairnErrors
{
    /// <summary>The stable name of a code, e.g. "CAIRN_NOTFOUND"; "CAIRN_UNKNOWN" for a code not in the table.</summary>
    public static string NameOf(CairnErrorCode code) =>
        System.Enum.IsDefined(code) ? "CAIRN_" + code.ToString().ToUpperInvariant() : "CAIRN_UNKNOWN";

    /// <summary>Parse "CAIRN_NOTFOUND" (or "NOTFOUND") back to the code; false if no such name.</summary>
    public static bool TryParse(string name, out CairnErrorCode code)
    {
        string n = name.StartsWith("CAIRN_", System.StringComparison.Ordinal) ? name.Substring(6) : name;
        foreach (CairnErrorCode c in System.Enum.GetValues<CairnErrorCode>())
        {
            if (string.Equals(c.ToString(), n, System.StringComparison.OrdinalIgnoreCase))
            {
                code = c;
                return true;
            }
        }
        code = CairnErrorCode.Error;
        return false;
    }
}
