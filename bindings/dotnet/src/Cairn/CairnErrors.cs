// The names of the error codes. The enum CairnErrorCode itself is generated from
// core/include/cairn_errors.def (CairnErrorCode.g.cs, tools/gen/dotnet.py): each member's name in upper
// case is the table's NAME (NotFound <-> NOTFOUND); ErrorTableTests checks it against cairn_errname().
namespace Cairn;

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
