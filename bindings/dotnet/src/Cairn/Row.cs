// Rows of a table as .NET values, and their conversion from and to the JSON row form of cairn/table.h
// (the form every binding hands the core as it is). Values by column type:
//   i8 sbyte, i16 short, i32 int, i64 long, u8 byte, u16 ushort, u32 uint, u64 ulong (exact), f32 float,
//   f64 double (NaN and infinities as {"$f64": ...}), bool, string, bytes / bytes:N byte[] ({"$bytes": hex}),
//   timestamp DateTime (UTC; microseconds since the Unix epoch in the table), null.
// Going in, any .NET integer type reaches the core as a JSON integer and the core checks its range for
// the column (Range); a floating-point value is always written as a JSON number with a fraction or an
// exponent, so an integer column refuses it (Type) as it refuses a string or a bool.
using System;
using System.Buffers;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cairn;

/// <summary>
/// One row of a table: column name -> value, in schema order (rows read from a table have every
/// column; nulls are null). Build one for Insert/Update with a collection initializer:
/// <c>new Row { ["id"] = 1L, ["name"] = "ada" }</c> (any <c>IEnumerable&lt;KeyValuePair&lt;string, object?&gt;&gt;</c>,
/// such as a <c>Dictionary&lt;string, object?&gt;</c>, is accepted too). The indexer gives the value as
/// stored (the column type's .NET type, see <see cref="ColumnType"/>); the typed getters convert
/// between numeric types where the value fits (<see cref="GetInt64"/> of an i32 column works).
/// </summary>
public sealed class Row : OrderedDictionary<string, object?>
{
    /// <summary>An empty row.</summary>
    public Row() : base(StringComparer.Ordinal) { }

    /// <summary>An empty row with room for <paramref name="capacity"/> columns (query results).</summary>
    internal Row(int capacity) : base(capacity, StringComparer.Ordinal) { }

    /// <summary>A row holding these columns.</summary>
    public Row(IEnumerable<KeyValuePair<string, object?>> values) : base(StringComparer.Ordinal)
    {
        foreach (var kv in values) Add(kv.Key, kv.Value);
    }

    /// <summary>True if the column's value is null. KeyNotFoundException for a column the row lacks.</summary>
    public bool IsNull(string column) => this[column] is null;

    /// <summary>The value converted to <typeparamref name="T"/>: numeric types convert when the value fits
    /// (OverflowException otherwise), DateTime converts to DateTimeOffset, null gives default(T) for a
    /// nullable T (InvalidCastException for a non-nullable value type). KeyNotFoundException for a
    /// column the row lacks.</summary>
    public T Get<T>(string column)
    {
        object? v = this[column];
        if (v is T t) return t;
        Type target = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        if (v is null)
        {
            if (!typeof(T).IsValueType || Nullable.GetUnderlyingType(typeof(T)) is not null) return default!;
            throw new InvalidCastException($"column '{column}' is null, not a {typeof(T).Name}");
        }
        if (v is DateTime dt && target == typeof(DateTimeOffset)) return (T)(object)new DateTimeOffset(dt);
        if (IsNumber(v) && IsNumberType(target))
            return (T)Convert.ChangeType(v, target, CultureInfo.InvariantCulture);
        throw new InvalidCastException($"column '{column}' holds a {v.GetType().Name}, not a {typeof(T).Name}");
    }

    private static bool IsNumber(object v) => v is sbyte or byte or short or ushort or int or uint or long or ulong or float or double;

    private static bool IsNumberType(Type t) =>
        t == typeof(sbyte) || t == typeof(byte) || t == typeof(short) || t == typeof(ushort) || t == typeof(int) ||
        t == typeof(uint) || t == typeof(long) || t == typeof(ulong) || t == typeof(float) || t == typeof(double) ||
        t == typeof(decimal);

    /// <summary>An integer column's value as a long.</summary>
    public long GetInt64(string column) => Get<long>(column);
    /// <summary>An integer column's value as a ulong.</summary>
    public ulong GetUInt64(string column) => Get<ulong>(column);
    /// <summary>An integer column's value as an int.</summary>
    public int GetInt32(string column) => Get<int>(column);
    /// <summary>A numeric column's value as a double.</summary>
    public double GetDouble(string column) => Get<double>(column);
    /// <summary>A bool column's value.</summary>
    public bool GetBoolean(string column) => Get<bool>(column);
    /// <summary>A string column's value (null for null).</summary>
    public string? GetString(string column) => Get<string?>(column);
    /// <summary>A bytes or bytes:N column's value (null for null).</summary>
    public byte[]? GetBytes(string column) => Get<byte[]?>(column);
    /// <summary>A timestamp column's value (UTC).</summary>
    public DateTime GetDateTime(string column) => Get<DateTime>(column);

    /// <summary>The row in the JSON form of the core (for display and logs).</summary>
    public override string ToString()
    {
        try
        {
            return TableValues.RowJson(this);
        }
        catch (TableValueException e)
        {
            return e.Message;
        }
    }
}

/// <summary>A value the binding cannot hand to the core (Type, Invalid) or a row it cannot read.</summary>
internal sealed class TableValueException : Exception
{
    public TableValueException(CairnErrorCode code, string message) : base(message) => Code = code;
    public CairnErrorCode Code { get; }
}

/// <summary>A column as the binding keeps it to read rows: name, type, N of bytes:N.</summary>
internal readonly record struct ColumnInfo(string Name, ColumnType Type, int Length, int Index = -1);

/// <summary>Conversions between .NET values and the JSON row form.</summary>
internal static class TableValues
{
    public static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = false,
    };

    private static readonly long EpochTicks = DateTime.UnixEpoch.Ticks;

    // ---- .NET -> JSON ------------------------------------------------------------------------------

    /// <summary>A row (or changes) as a JSON object (<paramref name="columns"/>: the table's columns by
    /// name, null for an unknown one; null: no table, e.g. for display).</summary>
    public static string RowJson(IEnumerable<KeyValuePair<string, object?>> row, Func<string, ColumnInfo?>? columns = null)
    {
        if (row is null) throw new TableValueException(CairnErrorCode.Invalid, "row is null");
        return Json(w => WriteRow(w, row, columns));
    }

    /// <summary>A list of rows as a JSON array.</summary>
    public static string RowsJson(IEnumerable<IEnumerable<KeyValuePair<string, object?>>> rows, Func<string, ColumnInfo?> columns)
    {
        if (rows is null) throw new TableValueException(CairnErrorCode.Invalid, "rows is null");
        return Json(w =>
        {
            w.WriteStartArray();
            foreach (var row in rows)
            {
                if (row is null) throw new TableValueException(CairnErrorCode.Invalid, "a row is null");
                WriteRow(w, row, columns);
            }
            w.WriteEndArray();
        });
    }

    /// <summary>Column batches as the JSON object {"column": [values...]}.</summary>
    public static string ColumnsJson(IEnumerable<KeyValuePair<string, IEnumerable>> columns, Func<string, ColumnInfo?> lookup)
    {
        if (columns is null) throw new TableValueException(CairnErrorCode.Invalid, "columns is null");
        return Json(w =>
        {
            w.WriteStartObject();
            foreach (var (name, values) in columns)
            {
                if (name is null) throw new TableValueException(CairnErrorCode.Invalid, "a column name is null");
                if (values is null || values is string)
                    throw new TableValueException(CairnErrorCode.Type, $"column '{name}': the values are not a list");
                w.WritePropertyName(Checked(name, name));
                w.WriteStartArray();
                ColumnType? type = lookup(name)?.Type;
                foreach (object? v in values) WriteValue(w, v, name, type);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        });
    }

    private static void WriteRow(Utf8JsonWriter w, IEnumerable<KeyValuePair<string, object?>> row, Func<string, ColumnInfo?>? columns)
    {
        w.WriteStartObject();
        foreach (var (name, value) in row)
        {
            if (name is null) throw new TableValueException(CairnErrorCode.Invalid, "a column name is null");
            w.WritePropertyName(Checked(name, name));
            WriteValue(w, value, name, columns?.Invoke(name)?.Type);
        }
        w.WriteEndObject();
    }

    private static string Json(Action<Utf8JsonWriter> write)
    {
        var buf = new ArrayBufferWriter<byte>(256);
        try
        {
            using (var w = new Utf8JsonWriter(buf, WriterOptions)) write(w);
        }
        catch (ArgumentException e)
        {
            // Utf8JsonWriter refuses text that is not valid UTF-16 (a lone surrogate).
            throw new TableValueException(CairnErrorCode.Invalid, "not valid UTF-16 text (unpaired surrogate): " + e.Message);
        }
        return Encoding.UTF8.GetString(buf.WrittenSpan);
    }

    /// <summary>Writes one value in the JSON row form for a column of <paramref name="type"/> (null: not
    /// known; the core answers Schema for an unknown column). Type for a .NET type no column takes, and
    /// for a date given to a column that is not a timestamp or an integer given to a timestamp column
    /// (both would otherwise reach the core as a valid integer).</summary>
    public static void WriteValue(Utf8JsonWriter w, object? v, string column, ColumnType? type)
    {
        bool isDate = v is DateTime or DateTimeOffset;
        if (type is ColumnType t && v is not null && isDate != (t == ColumnType.Timestamp))
            throw new TableValueException(CairnErrorCode.Type, isDate
                ? $"column '{column}' is {Column.TypeText(t, 0)}, not a timestamp: a {v.GetType().Name} does not fit it"
                : $"column '{column}' is a timestamp: give a DateTime or DateTimeOffset, not a {v.GetType().Name}");
        switch (v)
        {
            case null: w.WriteNullValue(); return;
            case bool b: w.WriteBooleanValue(b); return;
            case string s: w.WriteStringValue(Checked(s, column)); return;
            case sbyte n: w.WriteNumberValue(n); return;
            case byte n: w.WriteNumberValue(n); return;
            case short n: w.WriteNumberValue(n); return;
            case ushort n: w.WriteNumberValue(n); return;
            case int n: w.WriteNumberValue(n); return;
            case uint n: w.WriteNumberValue(n); return;
            case long n: w.WriteNumberValue(n); return;
            case ulong n: w.WriteNumberValue(n); return;
            case Int128 n: w.WriteRawValue(n.ToString(CultureInfo.InvariantCulture), skipInputValidation: true); return;
            case UInt128 n: w.WriteRawValue(n.ToString(CultureInfo.InvariantCulture), skipInputValidation: true); return;
            case BigInteger n: w.WriteRawValue(n.ToString(CultureInfo.InvariantCulture), skipInputValidation: true); return;
            case double d: WriteDouble(w, d); return;
            case float f: WriteFloat(w, f); return;
            case decimal m: WriteDouble(w, (double)m); return;
            case Half h: WriteFloat(w, (float)h); return;
            case byte[] a: WriteBytes(w, a); return;
            case ReadOnlyMemory<byte> rm: WriteBytes(w, rm.Span); return;
            case Memory<byte> mm: WriteBytes(w, mm.Span); return;
            case ArraySegment<byte> seg: WriteBytes(w, seg.AsSpan()); return;
            case DateTime dt: w.WriteNumberValue(Micros(dt)); return;
            case DateTimeOffset dto: w.WriteNumberValue(MicrosFromUtcTicks(dto.UtcTicks)); return;
            case Enum e:
                if (Type.GetTypeCode(Enum.GetUnderlyingType(e.GetType())) is TypeCode.Byte or TypeCode.UInt16 or TypeCode.UInt32 or TypeCode.UInt64)
                    w.WriteNumberValue(Convert.ToUInt64(e, CultureInfo.InvariantCulture));
                else
                    w.WriteNumberValue(Convert.ToInt64(e, CultureInfo.InvariantCulture));
                return;
            default:
                throw new TableValueException(CairnErrorCode.Type,
                    $"column '{column}': a {v.GetType().FullName} is not a table value (integers, float, double, bool, string, byte[], DateTime, null)");
        }
    }

    /// <summary>The string itself if it is valid UTF-16; Invalid for a lone surrogate (the JSON writer
    /// would escape it as \uD800, text that is not Unicode).</summary>
    private static string Checked(string s, string column)
    {
        ReadOnlySpan<char> span = s;
        if (span.IndexOfAnyInRange('\uD800', '\uDFFF') < 0) return s;
        try
        {
            Cairn.Native.Interop.StrictUtf8.GetByteCount(s);
        }
        catch (EncoderFallbackException)
        {
            throw new TableValueException(CairnErrorCode.Invalid, $"column '{column}': not valid UTF-16 text (unpaired surrogate)");
        }
        return s;
    }

    private static void WriteBytes(Utf8JsonWriter w, ReadOnlySpan<byte> b)
    {
        w.WriteStartObject();
        w.WriteString("$bytes", Convert.ToHexStringLower(b));
        w.WriteEndObject();
    }

    private static void WriteSpecial(Utf8JsonWriter w, double d)
    {
        w.WriteStartObject();
        w.WriteString("$f64", double.IsNaN(d) ? "nan" : d > 0 ? "inf" : "-inf");
        w.WriteEndObject();
    }

    private static void WriteDouble(Utf8JsonWriter w, double d)
    {
        if (!double.IsFinite(d)) WriteSpecial(w, d);
        else w.WriteRawValue(Fraction(d.ToString("R", CultureInfo.InvariantCulture)), skipInputValidation: true);
    }

    private static void WriteFloat(Utf8JsonWriter w, float f)
    {
        if (!float.IsFinite(f)) WriteSpecial(w, f);
        else w.WriteRawValue(Fraction(f.ToString("R", CultureInfo.InvariantCulture)), skipInputValidation: true);
    }

    /// <summary>A number that reads as floating point (2 -> 2.0), as the core tells integers from numbers.</summary>
    private static string Fraction(string s) => s.AsSpan().IndexOfAny('.', 'E', 'e') >= 0 ? s : s + ".0";

    /// <summary>Microseconds since the Unix epoch (a Local DateTime is converted to UTC; Unspecified is
    /// taken as UTC; below a microsecond rounds toward the past).</summary>
    public static long Micros(DateTime dt) =>
        MicrosFromUtcTicks(dt.Kind == DateTimeKind.Local ? dt.ToUniversalTime().Ticks : dt.Ticks);

    private static long MicrosFromUtcTicks(long ticks) => FloorDiv(ticks - EpochTicks, 10);

    private static long FloorDiv(long a, long b) => a / b - ((a % b != 0 && (a < 0) != (b < 0)) ? 1 : 0);

    /// <summary>A value as a literal of the schema text (for a column's default).</summary>
    public static string Literal(object v, string column) => v switch
    {
        string s => "'" + s.Replace("'", "''") + "'",
        bool b => b ? "true" : "false",
        byte[] a => "x'" + Convert.ToHexStringLower(a) + "'",
        _ => Json(w => WriteValue(w, v, column, null)),
    };

    // ---- JSON -> .NET ------------------------------------------------------------------------------

    /// <summary>A JSON row object of the core as a Row, each value typed by its column
    /// (<paramref name="columns"/>: name -> column; null for an unknown name: a generic reading).</summary>
    public static Row ReadRow(ReadOnlySpan<byte> json, Func<string, ColumnInfo?> columns)
    {
        var r = new Utf8JsonReader(json);
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject) throw Bad("a row is not a JSON object");
        var row = new Row();
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            string name = r.GetString()!;
            if (!r.Read()) throw Bad("truncated row");
            ColumnInfo? col = columns(name);
            row[name] = ReadValue(ref r, col, name);
        }
        return row;
    }

    private static TableValueException Bad(string what) => new(CairnErrorCode.Internal, "unexpected JSON from the core: " + what);

    internal static object? ReadValue(ref Utf8JsonReader r, ColumnInfo? col, string name)
    {
        ColumnType? type = col?.Type;
        switch (r.TokenType)
        {
            case JsonTokenType.Null: return null;
            case JsonTokenType.True: return true;
            case JsonTokenType.False: return false;
            case JsonTokenType.String: return r.GetString();
            case JsonTokenType.Number:
                return type switch
                {
                    ColumnType.I8 => (object)(sbyte)r.GetInt64(),
                    ColumnType.I16 => (object)(short)r.GetInt64(),
                    ColumnType.I32 => (object)(int)r.GetInt64(),
                    ColumnType.I64 => (object)r.GetInt64(),
                    ColumnType.U8 => (object)(byte)r.GetUInt64(),
                    ColumnType.U16 => (object)(ushort)r.GetUInt64(),
                    ColumnType.U32 => (object)(uint)r.GetUInt64(),
                    ColumnType.U64 => (object)r.GetUInt64(),
                    ColumnType.F32 => (object)(float)r.GetDouble(),
                    ColumnType.F64 => (object)r.GetDouble(),
                    ColumnType.Timestamp => (object)Timestamp(r.GetInt64(), name),
                    _ => r.TryGetInt64(out long l) ? (object)l : r.TryGetUInt64(out ulong u) ? (object)u : (object)r.GetDouble(),
                };
            case JsonTokenType.StartObject:
                if (!r.Read() || r.TokenType != JsonTokenType.PropertyName) throw Bad("an empty object value");
                string tag = r.GetString()!;
                if (!r.Read() || r.TokenType != JsonTokenType.String) throw Bad("a tagged value without text");
                string text = r.GetString()!;
                if (!r.Read() || r.TokenType != JsonTokenType.EndObject) throw Bad("a tagged value with more fields");
                if (tag == "$bytes") return Convert.FromHexString(text);
                if (tag == "$f64")
                {
                    double d = text switch
                    {
                        "nan" => double.NaN,
                        "inf" => double.PositiveInfinity,
                        "-inf" => double.NegativeInfinity,
                        _ => throw Bad("$f64 " + text),
                    };
                    return type == ColumnType.F32 ? (object)(float)d : (object)d;
                }
                throw Bad("tag " + tag);
            default:
                throw Bad(r.TokenType.ToString());
        }
    }

    /// <summary>Microseconds since the epoch as a UTC DateTime (exact: 10 ticks per microsecond); Range
    /// outside DateTime's years 1..9999.</summary>
    public static DateTime Timestamp(long micros, string column)
    {
        long minMicros = -(EpochTicks / 10);
        long maxMicros = (DateTime.MaxValue.Ticks - EpochTicks) / 10;
        if (micros < minMicros || micros > maxMicros)
            throw new TableValueException(CairnErrorCode.Range,
                $"column '{column}': timestamp {micros} us is outside the years DateTime holds (1..9999)");
        return new DateTime(EpochTicks + micros * 10, DateTimeKind.Utc);
    }

    /// <summary>A value of a JSON tree (a schema's default) typed by its column.</summary>
    public static object? FromNode(JsonNode node, ColumnType type, string name)
    {
        byte[] json = Encoding.UTF8.GetBytes(node.ToJsonString());
        var r = new Utf8JsonReader(json);
        r.Read();
        return ReadValue(ref r, new ColumnInfo(name, type, 0), name);
    }
}
