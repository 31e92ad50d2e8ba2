// The two Arrow export functions of cairn/table.h, declared by hand: tools/gen/dotnet.py skips
// cairn/arrow.h (SKIP_HEADERS) and these two (SKIP_FUNCTIONS), because their structs are the Arrow C data
// interface's, which Apache.Arrow.C declares with the same layout (the ABI of the specification).
using System.Runtime.InteropServices;
using Apache.Arrow.C;

namespace Cairn.Native;

internal static unsafe partial class NativeMethods
{
    /// <summary>cairn_table_export_stream: the live rows matching <paramref name="query"/> (NULL: every row
    /// and column) as an ArrowArrayStream the caller releases (before closing the table).</summary>
    [LibraryImport(Lib, EntryPoint = "cairn_table_export_stream", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int cairn_table_export_stream(TableHandle t, string? query, CArrowArrayStream* @out);

    /// <summary>cairn_table_export_column: one column of every live row as one array (values copied once;
    /// independent of the table afterwards). The caller releases both structs.</summary>
    [LibraryImport(Lib, EntryPoint = "cairn_table_export_column", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int cairn_table_export_column(TableHandle t, string? column, CArrowSchema* schema, CArrowArray* array);
}
