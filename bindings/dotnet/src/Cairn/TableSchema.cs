// The table's schema as .NET objects: ColumnType, Column and TableSchema (the text form or a list of
// columns). A list of columns is handed to the core as the JSON array form of cairn/table.h; the core
// parses and checks both forms, so the binding never interprets schema text.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cairn;

/// <summary>The type of a table column (cairn_type; the numbers are part of the file format).</summary>
public enum ColumnType
{
    /// <summary>i8: sbyte.</summary>
    I8 = 1,
    /// <summary>i16: short.</summary>
    I16 = 2,
    /// <summary>i32: int.</summary>
    I32 = 3,
    /// <summary>i64: long.</summary>
    I64 = 4,
    /// <summary>u8: byte.</summary>
    U8 = 5,
    /// <summary>u16: ushort.</summary>
    U16 = 6,
    /// <summary>u32: uint.</summary>
    U32 = 7,
    /// <summary>u64: ulong.</summary>
    U64 = 8,
    /// <summary>f32: float.</summary>
    F32 = 9,
    /// <summary>f64: double.</summary>
    F64 = 10,
    /// <summary>bool.</summary>
    Bool = 11,
    /// <summary>bytes:N: byte[] of exactly <see cref="Column.Length"/> bytes.</summary>
    Fixed = 12,
    /// <summary>string (UTF-8 in the table).</summary>
    String = 13,
    /// <summary>bytes: byte[] of any length.</summary>
    Bytes = 14,
    /// <summary>timestamp: DateTime (UTC), microseconds since the Unix epoch in the table.</summary>
    Timestamp = 15,
}

/// <summary>
/// One column of a table schema: <c>new Column("id", ColumnType.I64) { PrimaryKey = true }</c>,
/// <c>new Column("tag", ColumnType.Fixed, 8) { Unique = true }</c>,
/// <c>new Column("score", ColumnType.F64) { Default = 0.5 }</c>.
/// </summary>
public sealed record Column
{
    private bool? _nullable;

    /// <summary>A column of a type other than bytes:N.</summary>
    public Column(string name, ColumnType type)
    {
        Name = name;
        Type = type;
    }

    /// <summary>A bytes:N column (<paramref name="type"/> <see cref="ColumnType.Fixed"/>, N = <paramref name="length"/>).</summary>
    public Column(string name, ColumnType type, int length) : this(name, type)
    {
        Length = length;
    }

    /// <summary>The column's name ([A-Za-z_][A-Za-z0-9_]*, up to 64 bytes).</summary>
    public string Name { get; init; }

    /// <summary>The column's type.</summary>
    public ColumnType Type { get; init; }

    /// <summary>N of a bytes:N column (1..65535); 0 for other types.</summary>
    public int Length { get; init; }

    /// <summary>Unique and not null (at most one column; not f32/f64).</summary>
    public bool PrimaryKey { get; init; }

    /// <summary>No two live rows have the same non-null value.</summary>
    public bool Unique { get; init; }

    /// <summary>Whether the column takes null: true unless set, false for a primary key.</summary>
    public bool Nullable
    {
        get => _nullable ?? !PrimaryKey;
        init => _nullable = value;
    }

    /// <summary>The value a row that leaves the column out gets (a row value as <see cref="Row"/>
    /// holds them; null: none, i.e. null).</summary>
    public object? Default { get; init; }

    /// <summary>The type as the schema text spells it: "i64", "bytes:8", "timestamp".</summary>
    public string TypeName => TypeText(Type, Length);

    internal static string TypeText(ColumnType type, int length) => type switch
    {
        ColumnType.Fixed => "bytes:" + length,
        ColumnType.String => "string",
        ColumnType.Bytes => "bytes",
        ColumnType.Timestamp => "timestamp",
        ColumnType.Bool => "bool",
        _ => type.ToString().ToLowerInvariant(),
    };

    internal static bool TryParseType(string text, out ColumnType type, out int length)
    {
        length = 0;
        type = default;
        if (text.StartsWith("bytes:", StringComparison.Ordinal))
        {
            type = ColumnType.Fixed;
            return int.TryParse(text.AsSpan(6), System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out length);
        }
        foreach (ColumnType t in Enum.GetValues<ColumnType>())
        {
            if (t != ColumnType.Fixed && TypeText(t, 0) == text)
            {
                type = t;
                return true;
            }
        }
        return false;
    }

    /// <summary>The column in the schema text form, e.g. "id i64 primary key" (for AddColumn).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder(Name).Append(' ').Append(TypeName);
        if (PrimaryKey) sb.Append(" primary key");
        if (Unique) sb.Append(" unique");
        if (_nullable == false && !PrimaryKey) sb.Append(" not null");
        if (Default is not null) sb.Append(" default ").Append(TableValues.Literal(Default, Name));
        return sb.ToString();
    }

    /// <summary>Writes the JSON object form of table.h (fields left at their default are left out).</summary>
    internal void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("name", Name);
        w.WriteString("type", TypeName);
        if (_nullable is bool n) w.WriteBoolean("nullable", n);
        if (PrimaryKey) w.WriteBoolean("primary_key", true);
        if (Unique) w.WriteBoolean("unique", true);
        if (Default is not null)
        {
            w.WritePropertyName("default");
            TableValues.WriteValue(w, Default, Name, Type);
        }
        w.WriteEndObject();
    }

    /// <summary>A column from the JSON object form the core gives (cairn_table_schema with json).</summary>
    internal static Column FromJson(JsonObject o)
    {
        string name = (string)o["name"]!;
        string typeText = (string)o["type"]!;
        if (!TryParseType(typeText, out ColumnType type, out int length))
            throw new FormatException($"unknown column type '{typeText}'");
        object? dflt = o["default"] is JsonNode d ? TableValues.FromNode(d, type, name) : null;
        return new Column(name, type, length)
        {
            PrimaryKey = o["primary_key"] is JsonNode pk && (bool)pk,
            Unique = o["unique"] is JsonNode u && (bool)u,
            Nullable = o["nullable"] is not JsonNode nl || (bool)nl,
            Default = dflt,
        };
    }
}

/// <summary>
/// A schema for <see cref="TableOptions.Schema"/>: the text form
/// (<c>"id i64 primary key, name string, score f64 null"</c>, converted implicitly from a string) or a
/// list of <see cref="Column"/>s (an array, a List, or a collection expression
/// <c>[new Column("id", ColumnType.I64) { PrimaryKey = true }, new Column("name", ColumnType.String)]</c>).
/// </summary>
public sealed class TableSchema : IEnumerable<Column>
{
    private readonly List<Column>? _columns;

    /// <summary>An empty list of columns (add them with <see cref="Add"/> or a collection initializer).</summary>
    public TableSchema() => _columns = new List<Column>();

    /// <summary>The schema text form.</summary>
    public TableSchema(string text) => Text = text;

    /// <summary>A list of columns.</summary>
    public TableSchema(IEnumerable<Column> columns) => _columns = new List<Column>(columns);

    /// <summary>The text form, or null for a list of columns.</summary>
    public string? Text { get; }

    /// <summary>The columns (empty for the text form).</summary>
    public IReadOnlyList<Column> Columns => (IReadOnlyList<Column>?)_columns ?? Array.Empty<Column>();

    /// <summary>Appends a column (a list schema only).</summary>
    public void Add(Column column)
    {
        if (_columns is null) throw new InvalidOperationException("a schema given as text takes no columns");
        _columns.Add(column ?? throw new ArgumentNullException(nameof(column)));
    }

    /// <summary>The schema text form.</summary>
    public static implicit operator TableSchema(string text) => new(text);

    /// <summary>A list of columns.</summary>
    public static implicit operator TableSchema(Column[] columns) => new(columns);

    /// <summary>A list of columns.</summary>
    public static implicit operator TableSchema(List<Column> columns) => new(columns);

    /// <inheritdoc />
    public IEnumerator<Column> GetEnumerator() => Columns.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>What the core takes: the text as it is, or the JSON array form of the columns.</summary>
    internal string ToNative()
    {
        if (Text is not null) return Text;
        var buf = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buf, TableValues.WriterOptions))
        {
            w.WriteStartArray();
            foreach (Column c in _columns!)
            {
                if (c is null) throw new TableValueException(CairnErrorCode.Invalid, "a column is null");
                c.WriteJson(w);
            }
            w.WriteEndArray();
        }
        return Encoding.UTF8.GetString(buf.WrittenSpan);
    }

    /// <inheritdoc />
    public override string ToString() => Text ?? string.Join(", ", Columns);
}
