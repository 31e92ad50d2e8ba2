// Table queries, aggregates, group by and joins (docs/queries.md): the query is one JSON object the core
// compiles (cairn_table_query_json, cairn_table_count_where_json, cairn_table_join_json). The binding
// writes it from .NET values (System.Text.Json) and reads the result object back into Rows whose values
// are typed by the result's column types, as Get and the iterator type theirs. Three ways in:
//   - TableQuery / JoinQuery: typed properties (Where, Params, Columns, Order, Limit, Offset, Aggregates,
//     GroupBy; On, Type, RightWhere, ...);
//   - a dictionary with the C API's keys as they are ("where", "params", "order", ...), for anything the
//     typed forms do not spell;
//   - the builder of QueryBuilder.cs (table.From().Where(...).OrderBy(...).Limit(...).Execute()).
// A WHERE is a text (with `?` params), a (column, op, value) tuple, a list of them, or a dictionary
// ({"$and": [...]}, {"$or": [...]}, {"$not": ...}, or the shorthand {"column": value / {"gte": 21}}).
// Values take the row forms of Row.cs: integers of any width (ulong exact), double/float (NaN and the
// infinities included), bool, string, byte[], DateTime/DateTimeOffset (timestamps), null.
using System;
using System.Buffers;
using System.Collections;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cairn.Native;

namespace Cairn;

/// <summary>An aggregate of a query: <c>Aggregate.Sum("score")</c>, <c>Aggregate.Count(alias: "n")</c>.
/// <see cref="Fn"/> is count, count_distinct, sum, min, max or avg; <see cref="Column"/> null only for
/// count (count(*)); <see cref="As"/> names the result column (default "fn(column)", "count(*)").</summary>
public sealed record Aggregate(string Fn, string? Column = null, string? As = null)
{
    /// <summary>count(*) without a column, else the column's non-null values.</summary>
    public static Aggregate Count(string? column = null, string? alias = null) => new("count", column, alias);
    /// <summary>The column's distinct non-null values.</summary>
    public static Aggregate CountDistinct(string column, string? alias = null) => new("count_distinct", column, alias);
    /// <summary>The sum (exact i64/u64 for integer columns, f64 for floats; null over no values).</summary>
    public static Aggregate Sum(string column, string? alias = null) => new("sum", column, alias);
    /// <summary>The least value (null over no values).</summary>
    public static Aggregate Min(string column, string? alias = null) => new("min", column, alias);
    /// <summary>The greatest value (null over no values).</summary>
    public static Aggregate Max(string column, string? alias = null) => new("max", column, alias);
    /// <summary>The mean as a double (null over no values).</summary>
    public static Aggregate Avg(string column, string? alias = null) => new("avg", column, alias);
}

/// <summary>The kind of a join.</summary>
public enum JoinType
{
    /// <summary>Only left rows with a matching right row.</summary>
    Inner,
    /// <summary>Every left row; one without a match once, with every right column null.</summary>
    Left,
}

/// <summary>A query of one table (the keys of <c>cairn_table_query_json</c>); every property is
/// optional.</summary>
public sealed class TableQuery
{
    /// <summary>The condition: a text (<c>"score &gt; ? AND cat = ?"</c>, with <see cref="Params"/>), a
    /// (column, op, value) tuple, a list of those (all must hold), or a dictionary ($and/$or/$not, or the
    /// shorthand column -&gt; value). Null: every live row.</summary>
    public object? Where { get; set; }
    /// <summary>The values of the <c>?</c> of a text <see cref="Where"/>, in order.</summary>
    public IEnumerable<object?>? Params { get; set; }
    /// <summary>The result's columns in this order ("_id" is the row id). Null: "_id" then every column.</summary>
    public IEnumerable<string>? Columns { get; set; }
    /// <summary>Order keys: "name" ascending, "-name" descending. Ties (and no order) go by id.</summary>
    public IEnumerable<string>? Order { get; set; }
    /// <summary>At most this many rows (groups with <see cref="GroupBy"/>).</summary>
    public long? Limit { get; set; }
    /// <summary>Rows (groups) skipped after ordering.</summary>
    public long? Offset { get; set; }
    /// <summary>Aggregates: one result row, or one per group with <see cref="GroupBy"/>.</summary>
    public IEnumerable<Aggregate>? Aggregates { get; set; }
    /// <summary>The group columns (with <see cref="Aggregates"/>).</summary>
    public IEnumerable<string>? GroupBy { get; set; }

    internal void Write(Utf8JsonWriter w, bool columnar, Func<string, ColumnInfo?>? lookup = null)
    {
        w.WriteStartObject();
        QueryJson.WriteWhere(w, "where", "params", Where, Params, lookup);
        QueryJson.WriteStrings(w, "columns", Columns);
        QueryJson.WriteStrings(w, "order", Order);
        if (Limit is long l) w.WriteNumber("limit", l);
        if (Offset is long o) w.WriteNumber("offset", o);
        if (Aggregates is not null)
        {
            w.WritePropertyName("aggregates");
            w.WriteStartArray();
            foreach (Aggregate a in Aggregates) QueryJson.WriteAggregate(w, a);
            w.WriteEndArray();
        }
        QueryJson.WriteStrings(w, "group_by", GroupBy);
        if (columnar) w.WriteString("format", "columns");
        w.WriteEndObject();
    }
}

/// <summary>A join of two tables (the keys of <c>cairn_table_join_json</c>); result columns are named
/// "left.x" / "right.y".</summary>
public sealed class JoinQuery
{
    /// <summary>(left column, right column) pairs that must all be equal. Required.</summary>
    public IEnumerable<(string Left, string Right)>? On { get; set; }
    /// <summary>Inner (the default) or Left.</summary>
    public JoinType Type { get; set; } = JoinType.Inner;
    /// <summary>A condition on the left table (the forms of <see cref="TableQuery.Where"/>).</summary>
    public object? Where { get; set; }
    /// <summary>The params of a text <see cref="Where"/>.</summary>
    public IEnumerable<object?>? Params { get; set; }
    /// <summary>A condition on the right table.</summary>
    public object? RightWhere { get; set; }
    /// <summary>The params of a text <see cref="RightWhere"/>.</summary>
    public IEnumerable<object?>? RightParams { get; set; }
    /// <summary>"left.name", "right.score", "left._id", ...; null: every left column, then every right one.</summary>
    public IEnumerable<string>? Columns { get; set; }
    /// <summary>Order keys over the result columns ("-right.score" descends); need not be projected.</summary>
    public IEnumerable<string>? Order { get; set; }
    /// <summary>At most this many rows.</summary>
    public long? Limit { get; set; }
    /// <summary>Rows skipped after ordering.</summary>
    public long? Offset { get; set; }

    internal void Write(Utf8JsonWriter w, bool columnar, Func<string, ColumnInfo?>? left = null, Func<string, ColumnInfo?>? right = null)
    {
        w.WriteStartObject();
        if (On is not null)
        {
            w.WritePropertyName("on");
            w.WriteStartArray();
            foreach (var (lc, rc) in On)
            {
                w.WriteStartArray();
                w.WriteStringValue(lc);
                w.WriteStringValue(rc);
                w.WriteEndArray();
            }
            w.WriteEndArray();
        }
        if (Type == JoinType.Left) w.WriteString("type", "left");
        QueryJson.WriteWhere(w, "where", "params", Where, Params, left);
        QueryJson.WriteWhere(w, "right_where", "right_params", RightWhere, RightParams, right);
        QueryJson.WriteStrings(w, "columns", Columns);
        QueryJson.WriteStrings(w, "order", Order);
        if (Limit is long l) w.WriteNumber("limit", l);
        if (Offset is long o) w.WriteNumber("offset", o);
        if (columnar) w.WriteString("format", "columns");
        w.WriteEndObject();
    }
}

/// <summary>A result column: its name and its type as the schema spells it ("u64", "bytes:8", ...).</summary>
public sealed record ResultColumn(string Name, string Type);

/// <summary>
/// The result of a query or join: <see cref="Columns"/> and the rows (a list of <see cref="Row"/>, each
/// with the result's columns in order, values typed by the column types as <see cref="Table.Get"/> types
/// them). <see cref="Data"/> gives the same result by column. A result asked for in the columns format
/// (<see cref="Table.QueryColumns(TableQuery)"/>, <see cref="QueryBuilder.ToColumns"/>) is read by column
/// and <see cref="IsColumnar"/>; its rows are made on first use, and the other way round.
/// </summary>
public sealed class QueryResult : IReadOnlyList<Row>
{
    private IReadOnlyList<Row>? _rows;
    private IReadOnlyDictionary<string, IReadOnlyList<object?>>? _data;

    internal QueryResult(IReadOnlyList<ResultColumn> columns, IReadOnlyList<Row>? rows,
        IReadOnlyDictionary<string, IReadOnlyList<object?>>? data, int count)
    {
        Columns = columns;
        _rows = rows;
        _data = data;
        Count = count;
        IsColumnar = data is not null;
    }

    /// <summary>The result's columns, in order.</summary>
    public IReadOnlyList<ResultColumn> Columns { get; }

    /// <summary>The number of rows.</summary>
    public int Count { get; }

    /// <summary>True when the core answered in the columns format.</summary>
    public bool IsColumnar { get; }

    /// <summary>The rows, in the result's order.</summary>
    public IReadOnlyList<Row> Rows => _rows ??= MakeRows();

    /// <summary>Column name -> its values, one per row.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<object?>> Data => _data ??= MakeData();

    /// <summary>Row <paramref name="index"/>.</summary>
    public Row this[int index] => Rows[index];

    /// <summary>The values of one column, one per row (KeyNotFoundException for a column not in the result).</summary>
    public IReadOnlyList<object?> Column(string name) => Data[name];

    /// <summary>The values of one column as a <typeparamref name="T"/>[], converted as
    /// <see cref="Row.Get{T}"/> converts (<c>Column&lt;double&gt;("score")</c>, <c>Column&lt;long?&gt;("n")</c>):
    /// numbers where they fit (OverflowException otherwise), a null only into a nullable T
    /// (InvalidCastException otherwise). KeyNotFoundException for a column not in the result.</summary>
    public T[] Column<T>(string name)
    {
        IReadOnlyList<object?> values = Data[name];
        var a = new T[values.Count];
        Type target = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        bool nullable = !typeof(T).IsValueType || target != typeof(T);
        for (int i = 0; i < a.Length; i++)
        {
            object? v = values[i];
            if (v is T t) a[i] = t;
            else if (v is null)
                a[i] = nullable ? default! : throw new InvalidCastException($"column '{name}' has a null at row {i}, not a {typeof(T).Name}");
            else if (v is DateTime dt && target == typeof(DateTimeOffset)) a[i] = (T)(object)new DateTimeOffset(dt);
            else if (v is IConvertible && target.IsPrimitive | target == typeof(decimal) && v is not (bool or string or DateTime))
                a[i] = (T)System.Convert.ChangeType(v, target, System.Globalization.CultureInfo.InvariantCulture);
            else throw new InvalidCastException($"column '{name}' holds a {v.GetType().Name}, not a {typeof(T).Name}");
        }
        return a;
    }

    /// <inheritdoc />
    public IEnumerator<Row> GetEnumerator() => Rows.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private IReadOnlyList<Row> MakeRows()
    {
        var rows = new Row[Count];
        for (int i = 0; i < Count; i++)
        {
            var row = new Row();
            foreach (ResultColumn c in Columns) row[c.Name] = _data![c.Name][i];
            rows[i] = row;
        }
        return rows;
    }

    private IReadOnlyDictionary<string, IReadOnlyList<object?>> MakeData()
    {
        var data = new Dictionary<string, IReadOnlyList<object?>>(StringComparer.Ordinal);
        foreach (ResultColumn c in Columns)
        {
            var values = new object?[Count];
            for (int i = 0; i < Count; i++) values[i] = _rows![i][c.Name];
            data[c.Name] = values;
        }
        return data;
    }

    /// <inheritdoc />
    public override string ToString() => $"{Count} rows of {Columns.Count} columns";
}

/// <summary>Writing the query JSON and reading the result object.</summary>
internal static class QueryJson
{
    public static string Build(Action<Utf8JsonWriter> write)
    {
        var buf = new ArrayBufferWriter<byte>(256);
        try
        {
            using (var w = new Utf8JsonWriter(buf, TableValues.WriterOptions)) write(w);
        }
        catch (ArgumentException e)
        {
            // Utf8JsonWriter refuses text that is not valid UTF-16 (a lone surrogate).
            throw new TableValueException(CairnErrorCode.Invalid, "not valid UTF-16 text (unpaired surrogate): " + e.Message);
        }
        catch (InvalidOperationException e)
        {
            // A name where a value belongs and the like: a malformed query object.
            throw new TableValueException(CairnErrorCode.Invalid, "the query cannot be written as JSON: " + e.Message);
        }
        return Encoding.UTF8.GetString(buf.WrittenSpan);
    }

    public static void WriteStrings(Utf8JsonWriter w, string key, IEnumerable<string>? items)
    {
        if (items is null) return;
        w.WritePropertyName(key);
        w.WriteStartArray();
        foreach (string s in items)
        {
            if (s is null) throw new TableValueException(CairnErrorCode.Invalid, $"{key}: a name is null");
            w.WriteStringValue(s);
        }
        w.WriteEndArray();
    }

    public static void WriteWhere(Utf8JsonWriter w, string key, string paramsKey, object? where, IEnumerable<object?>? ps,
        Func<string, ColumnInfo?>? lookup = null)
    {
        if (where is not null)
        {
            w.WritePropertyName(key);
            WriteCondition(w, where, key, lookup, 0);
        }
        if (ps is not null)
        {
            w.WritePropertyName(paramsKey);
            w.WriteStartArray();
            foreach (object? p in ps) WriteNode(w, p, paramsKey);
            w.WriteEndArray();
        }
    }

    public static void WriteAggregate(Utf8JsonWriter w, Aggregate a)
    {
        if (a is null) throw new TableValueException(CairnErrorCode.Invalid, "an aggregate is null");
        if (a.Fn is null) throw new TableValueException(CairnErrorCode.Invalid, "an aggregate has no function");
        w.WriteStartObject();
        w.WriteString("fn", a.Fn);
        if (a.Column is not null) w.WriteString("column", a.Column);
        if (a.As is not null) w.WriteString("as", a.As);
        w.WriteEndObject();
    }

    private static bool IsScalar(object? v) => v is null or bool or string or byte[] or DateTime or DateTimeOffset
        or ReadOnlyMemory<byte> or Memory<byte> or ArraySegment<byte> or Enum or sbyte or byte or short or ushort or int
        or uint or long or ulong or float or double or decimal or Half or Int128 or UInt128 or System.Numerics.BigInteger;

    private static bool IsMap(object? v) => v is IEnumerable<KeyValuePair<string, object?>> or IDictionary;

    private static IEnumerable<KeyValuePair<string, object?>> Entries(object map, string what)
    {
        if (map is IEnumerable<KeyValuePair<string, object?>> m) return m;
        var list = new List<KeyValuePair<string, object?>>();
        foreach (DictionaryEntry e in (IDictionary)map)
        {
            if (e.Key is not string k) throw new TableValueException(CairnErrorCode.Type, $"{what}: a key is not a string");
            list.Add(new KeyValuePair<string, object?>(k, e.Value));
        }
        return list;
    }

    /// <summary>The items of a tuple or a sequence (not a string or bytes), else null.</summary>
    private static List<object?>? Items(object? v)
    {
        if (v is ITuple t)
        {
            var l = new List<object?>(t.Length);
            for (int i = 0; i < t.Length; i++) l.Add(t[i]);
            return l;
        }
        if (v is IEnumerable seq and not string and not byte[] and not JsonNode && !IsMap(v))
        {
            var l = new List<object?>();
            foreach (object? x in seq) l.Add(x);
            return l;
        }
        return null;
    }

    /// <summary>Writes a WHERE: a text, a (column, op[, value]) triple, a list of conditions, a $and/$or/$not
    /// object or the shorthand object. With <paramref name="lookup"/> (the table's columns), the values of
    /// triples and shorthands are checked against their column as row values are: a date only for a
    /// timestamp column, a timestamp column only a date (Type otherwise).</summary>
    private static void WriteCondition(Utf8JsonWriter w, object? c, string what, Func<string, ColumnInfo?>? lookup, int depth)
    {
        if (depth > 256) throw new TableValueException(CairnErrorCode.Invalid, $"{what}: nested too deeply");
        if (lookup is null || c is string or JsonNode or JsonElement or JsonDocument)
        {
            WriteNode(w, c, what, depth);
            return;
        }
        if (IsMap(c))
        {
            w.WriteStartObject();
            foreach (var (k, x) in Entries(c!, what))
            {
                if (k is null) throw new TableValueException(CairnErrorCode.Invalid, $"{what}: a key is null");
                w.WritePropertyName(k);
                if (k is "$and" or "$or" && Items(x) is List<object?> parts)
                {
                    w.WriteStartArray();
                    foreach (object? p in parts) WriteCondition(w, p, k, lookup, depth + 1);
                    w.WriteEndArray();
                }
                else if (k == "$not") WriteCondition(w, x, k, lookup, depth + 1);
                else if (k.StartsWith('$')) WriteNode(w, x, k, depth + 1);
                else if (IsMap(x))
                {
                    // column -> {op: value, ...}
                    ColumnType? type = TypeOf(k, lookup);
                    w.WriteStartObject();
                    foreach (var (op, v) in Entries(x!, k))
                    {
                        w.WritePropertyName(op);
                        if (op == "is_null") WriteNode(w, v, k, depth + 2);
                        else WriteTyped(w, v, k, type, depth + 2);
                    }
                    w.WriteEndObject();
                }
                else WriteTyped(w, x, k, TypeOf(k, lookup), depth + 1);
            }
            w.WriteEndObject();
            return;
        }
        List<object?>? items = Items(c);
        if (items is null)
        {
            WriteNode(w, c, what, depth);
            return;
        }
        w.WriteStartArray();
        if (items.Count is 2 or 3 && items[0] is string col && items[1] is string)
        {
            w.WriteStringValue(col);
            w.WriteStringValue((string)items[1]!);
            if (items.Count == 3) WriteTyped(w, items[2], col, TypeOf(col, lookup), depth + 1);
        }
        else
        {
            foreach (object? x in items) WriteCondition(w, x, what, lookup, depth + 1);
        }
        w.WriteEndArray();
    }

    private static ColumnType? TypeOf(string column, Func<string, ColumnInfo?> lookup) =>
        column == "_id" ? null : lookup(column)?.Type;

    /// <summary>A value of a condition on a column of <paramref name="type"/>: scalars as row values of
    /// that column, lists (in, between) element by element.</summary>
    private static void WriteTyped(Utf8JsonWriter w, object? v, string column, ColumnType? type, int depth)
    {
        if (IsScalar(v))
        {
            TableValues.WriteValue(w, v, column, type);
            return;
        }
        if (Items(v) is List<object?> items)
        {
            w.WriteStartArray();
            foreach (object? x in items) WriteTyped(w, x, column, type, depth + 1);
            w.WriteEndArray();
            return;
        }
        WriteNode(w, v, column, depth);
    }

    /// <summary>Writes a .NET value as JSON: row values in their row forms (TableValues.WriteValue),
    /// dictionaries as objects, tuples and other sequences as arrays, JSON trees as they are.</summary>
    public static void WriteNode(Utf8JsonWriter w, object? v, string what, int depth = 0)
    {
        if (depth > 256) throw new TableValueException(CairnErrorCode.Invalid, $"{what}: nested too deeply");
        switch (v)
        {
            case null or bool or string or byte[] or DateTime or DateTimeOffset or ReadOnlyMemory<byte> or Memory<byte>
                or ArraySegment<byte> or Enum:
            case sbyte or byte or short or ushort or int or uint or long or ulong or float or double or decimal or Half
                or Int128 or UInt128 or System.Numerics.BigInteger:
                TableValues.WriteValue(w, v, what, null);
                return;
            case JsonNode n:
                n.WriteTo(w);
                return;
            case JsonElement e:
                e.WriteTo(w);
                return;
            case JsonDocument d:
                d.RootElement.WriteTo(w);
                return;
            case Aggregate a:
                WriteAggregate(w, a);
                return;
            case IEnumerable<KeyValuePair<string, object?>> map:
                w.WriteStartObject();
                foreach (var (k, x) in map)
                {
                    if (k is null) throw new TableValueException(CairnErrorCode.Invalid, $"{what}: a key is null");
                    w.WritePropertyName(k);
                    WriteNode(w, x, k, depth + 1);
                }
                w.WriteEndObject();
                return;
            case IDictionary dict:
                w.WriteStartObject();
                foreach (DictionaryEntry e in dict)
                {
                    if (e.Key is not string k) throw new TableValueException(CairnErrorCode.Type, $"{what}: a key is not a string");
                    w.WritePropertyName(k);
                    WriteNode(w, e.Value, k, depth + 1);
                }
                w.WriteEndObject();
                return;
            case ITuple t:
                w.WriteStartArray();
                for (int i = 0; i < t.Length; i++) WriteNode(w, t[i], what, depth + 1);
                w.WriteEndArray();
                return;
            case IEnumerable seq:
                w.WriteStartArray();
                foreach (object? x in seq) WriteNode(w, x, what, depth + 1);
                w.WriteEndArray();
                return;
            default:
                throw new TableValueException(CairnErrorCode.Type,
                    $"{what}: a {v.GetType().FullName} is not a query value (table values, tuples, lists, dictionaries)");
        }
    }

    /// <summary>The result object of the core ({"columns", "rows"} or {"columns", "data", "count"}).</summary>
    public static QueryResult ReadResult(ReadOnlySpan<byte> json)
    {
        var r = new Utf8JsonReader(json);
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject) throw Bad("the result is not an object");
        var columns = new List<ResultColumn>();
        var infos = new Dictionary<string, ColumnInfo?>(StringComparer.Ordinal);
        List<Row>? rows = null;
        Dictionary<string, IReadOnlyList<object?>>? data = null;
        long count = -1;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            string key = r.GetString()!;
            if (!r.Read()) throw Bad("truncated");
            switch (key)
            {
                case "columns":
                    if (r.TokenType != JsonTokenType.StartArray) throw Bad("columns");
                    while (r.Read() && r.TokenType == JsonTokenType.StartObject)
                    {
                        string? name = null, type = null;
                        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                        {
                            string k = r.GetString()!;
                            r.Read();
                            if (k == "name") name = r.GetString();
                            else if (k == "type") type = r.GetString();
                            else r.Skip();
                        }
                        if (name is null || type is null) throw Bad("a column without name or type");
                        columns.Add(new ResultColumn(name, type));
                        infos[name] = Cairn.Column.TryParseType(type, out ColumnType t, out int len)
                            ? new ColumnInfo(name, t, len) : null;
                    }
                    break;
                case "rows":
                {
                    if (r.TokenType != JsonTokenType.StartArray) throw Bad("rows");
                    rows = new List<Row>();
                    // The core writes every row's values in the order of "columns": match the names in
                    // place (no string per value), falling back to a lookup.
                    var order = new ColumnInfo?[columns.Count];
                    for (int i = 0; i < order.Length; i++) order[i] = infos[columns[i].Name];
                    while (r.Read() && r.TokenType == JsonTokenType.StartObject)
                    {
                        var row = new Row(columns.Count);
                        int i = 0;
                        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                        {
                            string name;
                            ColumnInfo? col;
                            if (i < order.Length && r.ValueTextEquals(columns[i].Name))
                            {
                                name = columns[i].Name;
                                col = order[i];
                            }
                            else
                            {
                                name = r.GetString()!;
                                infos.TryGetValue(name, out col);
                            }
                            i++;
                            if (!r.Read()) throw Bad("truncated row");
                            row[name] = TableValues.ReadValue(ref r, col, name);
                        }
                        rows.Add(row);
                    }
                    break;
                }
                case "data":
                    if (r.TokenType != JsonTokenType.StartObject) throw Bad("data");
                    data = new Dictionary<string, IReadOnlyList<object?>>(StringComparer.Ordinal);
                    while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                    {
                        string name = r.GetString()!;
                        if (!r.Read() || r.TokenType != JsonTokenType.StartArray) throw Bad("a data column");
                        infos.TryGetValue(name, out ColumnInfo? col);
                        var values = new List<object?>();
                        while (r.Read() && r.TokenType != JsonTokenType.EndArray) values.Add(TableValues.ReadValue(ref r, col, name));
                        data[name] = values;
                    }
                    break;
                case "count":
                    count = r.GetInt64();
                    break;
                default:
                    r.Skip();
                    break;
            }
        }
        if (data is not null)
        {
            if (count < 0) throw Bad("data without a count");
            return new QueryResult(columns, null, data, (int)count);
        }
        rows ??= new List<Row>();
        return new QueryResult(columns, rows, null, rows.Count);
    }

    private static TableValueException Bad(string what) => new(CairnErrorCode.Internal, "unexpected JSON from the core: " + what);
}

public sealed unsafe partial class Table
{
    // ---- queries -----------------------------------------------------------------------------------------

    /// <summary>The rows matching <paramref name="query"/> (null: every live row, "_id" then every column).
    /// Schema for an unknown column, Type for a value of the wrong type, Invalid for a bad operator, a
    /// syntax error (with its position) or a wrong number of params.</summary>
    public ExecResponse<QueryResult> Query(TableQuery? query = null) =>
        RunQuery(Json(w => (query ?? new TableQuery()).Write(w, columnar: false, Lookup)));

    /// <summary><see cref="Query(TableQuery)"/> answered by column (the core's "columns" format: less
    /// to parse for many rows): read it with <see cref="QueryResult.Data"/>.</summary>
    public ExecResponse<QueryResult> QueryColumns(TableQuery? query = null) =>
        RunQuery(Json(w => (query ?? new TableQuery()).Write(w, columnar: true, Lookup)));

    /// <summary>The query given as the C API's object: a dictionary with its keys as they are ("where",
    /// "params", "columns", "order", "limit", "offset", "aggregates", "group_by", "format"), values as
    /// .NET values (nested dictionaries, lists and tuples for the WHERE forms). Unknown keys are Invalid.</summary>
    public ExecResponse<QueryResult> Query(IEnumerable<KeyValuePair<string, object?>> query) =>
        RunQuery(query is null ? Refused(CairnErrorCode.Invalid, "query is null") : Json(w => QueryJson.WriteNode(w, query, "query")));

    /// <summary>The live rows matching <paramref name="where"/> (any WHERE form; null: every row), with an
    /// optional projection, order ("name", "-name"), limit and offset.</summary>
    public ExecResponse<QueryResult> Select(object? where = null, IEnumerable<object?>? @params = null,
        IEnumerable<string>? columns = null, IEnumerable<string>? order = null, long? limit = null, long? offset = null) =>
        Query(new TableQuery { Where = where, Params = @params, Columns = columns, Order = order, Limit = limit, Offset = offset });

    /// <summary>The number of live rows matching <paramref name="where"/> (any WHERE form, a dictionary
    /// being the shorthand or $and/$or/$not object; null: every live row), the values of its <c>?</c> in
    /// <paramref name="params"/>.</summary>
    public ExecResponse<ulong> CountWhere(object? where = null, params object?[]? @params) =>
        CountWhere(new TableQuery { Where = where, Params = ParamList(@params) });

    /// <summary>The number of live rows matching the query's Where and Params (the rest is ignored).</summary>
    public ExecResponse<ulong> CountWhere(TableQuery query)
    {
        if (query is null) return ExecResponse<ulong>.Fail(CairnErrorCode.Invalid, "query is null");
        return RunCount(Json(w =>
        {
            w.WriteStartObject();
            QueryJson.WriteWhere(w, "where", "params", query.Where, query.Params, Lookup);
            w.WriteEndObject();
        }));
    }

    /// <summary>One aggregate over the live rows matching <paramref name="where"/>: count and
    /// count_distinct as ulong, sum as long (ulong for unsigned columns, double for floats), avg as double,
    /// min and max as the column's type; null over no values. Range when an integer sum leaves its type.</summary>
    public ExecResponse<object?> Aggregate(Aggregate aggregate, object? where = null, params object?[]? @params)
    {
        if (aggregate is null) return ExecResponse<object?>.Fail(CairnErrorCode.Invalid, "aggregate is null");
        ExecResponse<QueryResult> r = Query(new TableQuery
        {
            Where = where, Params = ParamList(@params), Aggregates = new[] { aggregate with { As = "v" } },
        });
        return r.Success ? ExecResponse<object?>.Ok(r.Result![0]["v"]) : ExecResponse<object?>.From(r);
    }

    /// <summary>The aggregates per group of <paramref name="by"/>: one row per group (the group columns,
    /// then the aggregates), ordered by the group columns (nulls last) unless <paramref name="order"/>
    /// names result columns.</summary>
    public ExecResponse<QueryResult> GroupBy(IEnumerable<string> by, IEnumerable<Aggregate> aggregates, object? where = null,
        IEnumerable<object?>? @params = null, IEnumerable<string>? order = null, long? limit = null, long? offset = null) =>
        Query(new TableQuery
        {
            GroupBy = by, Aggregates = aggregates, Where = where, Params = @params, Order = order, Limit = limit, Offset = offset,
        });

    /// <summary>The aggregates per group of one column (see <see cref="GroupBy(IEnumerable{string}, IEnumerable{Cairn.Aggregate}, object?, IEnumerable{object?}?, IEnumerable{string}?, long?, long?)"/>).</summary>
    public ExecResponse<QueryResult> GroupBy(string by, params Aggregate[] aggregates) => GroupBy(new[] { by }, aggregates);

    // ---- joins -------------------------------------------------------------------------------------------

    /// <summary>This table (left) joined with <paramref name="other"/> (right; may be this table) on
    /// equal columns: inner unless <paramref name="type"/> is Left. Columns "left.x" / "right.y".</summary>
    public ExecResponse<QueryResult> Join(Table other, IEnumerable<(string Left, string Right)> on, JoinType type = JoinType.Inner,
        IEnumerable<string>? columns = null, IEnumerable<string>? order = null, long? limit = null, long? offset = null) =>
        Join(other, new JoinQuery { On = on, Type = type, Columns = columns, Order = order, Limit = limit, Offset = offset });

    /// <summary>A join on one pair of columns: <c>emp.Join(dept, "dept_id", "id")</c>.</summary>
    public ExecResponse<QueryResult> Join(Table other, string leftColumn, string rightColumn, JoinType type = JoinType.Inner) =>
        Join(other, new[] { (leftColumn, rightColumn) }, type);

    /// <summary>A join described by <paramref name="query"/> (per-side conditions, projection, order...).</summary>
    public ExecResponse<QueryResult> Join(Table other, JoinQuery query) =>
        RunJoin(other, query is null ? Refused(CairnErrorCode.Invalid, "query is null") : Json(w => query.Write(w, columnar: false, Lookup, other is null ? null : other.Lookup)));

    /// <summary><see cref="Join(Table, JoinQuery)"/> answered by column.</summary>
    public ExecResponse<QueryResult> JoinColumns(Table other, JoinQuery query) =>
        RunJoin(other, query is null ? Refused(CairnErrorCode.Invalid, "query is null") : Json(w => query.Write(w, columnar: true, Lookup, other is null ? null : other.Lookup)));

    /// <summary>A join given as the C API's object: a dictionary with its keys as they are ("on", "type",
    /// "where", "params", "right_where", "right_params", "columns", "order", "limit", "offset", "format").</summary>
    public ExecResponse<QueryResult> Join(Table other, IEnumerable<KeyValuePair<string, object?>> query) =>
        RunJoin(other, query is null ? Refused(CairnErrorCode.Invalid, "query is null") : Json(w => QueryJson.WriteNode(w, query, "query")));

    // ---- plumbing ----------------------------------------------------------------------------------------

    /// <summary>The params of a `params object?[]`: none when empty; a lone null argument (which C# passes
    /// as a null array) is one null value.</summary>
    internal static object?[]? ParamList(object?[]? ps) => ps is null ? new object?[] { null } : ps.Length > 0 ? ps : null;

    /// <summary>The query JSON, or the failure writing it (a value no column takes, bad text).</summary>
    private static (string? Json, ExecResponse? Error) Json(Action<Utf8JsonWriter> write)
    {
        try
        {
            return (QueryJson.Build(write), null);
        }
        catch (TableValueException e)
        {
            return (null, ExecResponse.Fail(e.Code, e.Message));
        }
    }

    private static (string? Json, ExecResponse? Error) Refused(CairnErrorCode code, string message) =>
        (null, ExecResponse.Fail(code, message));

    private ExecResponse<QueryResult> RunQuery((string? Json, ExecResponse? Error) q)
    {
        if (q.Error is not null) return ExecResponse<QueryResult>.From(q.Error);
        var a = (Json: q.Json!, Out: (byte[]?)null);
        int rc = Call(ref a, static (h, ref a) =>
        {
            int rc = NativeMethods.cairn_table_query_json(h, a.Json, out byte* p);
            if (rc == 0) a.Out = TakeOwned(p);
            return rc;
        });
        return rc != 0 ? Fail<QueryResult>(rc) : Parse(a.Out!);
    }

    private ExecResponse<ulong> RunCount((string? Json, ExecResponse? Error) q)
    {
        if (q.Error is not null) return ExecResponse<ulong>.From(q.Error);
        var a = (Json: q.Json!, N: 0UL);
        int rc = Call(ref a, static (h, ref a) => NativeMethods.cairn_table_count_where_json(h, a.Json, out a.N));
        return Result(rc, a.N);
    }

    private ExecResponse<QueryResult> RunJoin(Table other, (string? Json, ExecResponse? Error) q)
    {
        if (other is null) return ExecResponse<QueryResult>.Fail(CairnErrorCode.Invalid, "other is null");
        if (q.Error is not null) return ExecResponse<QueryResult>.From(q.Error);
        if (other.Handle.IsClosed) return other.Fail<QueryResult>(ClosedRc);
        var a = (Json: q.Json!, Right: (TableHandle)other.Handle, Out: (byte[]?)null);
        int rc = Call(ref a, static (h, ref a) =>
        {
            int rc = NativeMethods.cairn_table_join_json(h, a.Right, a.Json, out byte* p);
            if (rc == 0) a.Out = TakeOwned(p);
            return rc;
        });
        // The right handle closed during the call reads as the right table's Closed.
        if (rc == ClosedRc && !Handle.IsClosed && other.Handle.IsClosed) return other.Fail<QueryResult>(rc);
        return rc != 0 ? Fail<QueryResult>(rc) : Parse(a.Out!);
    }

    private static ExecResponse<QueryResult> Parse(byte[] json)
    {
        try
        {
            return ExecResponse<QueryResult>.Ok(QueryJson.ReadResult(json));
        }
        catch (TableValueException e)
        {
            return ExecResponse<QueryResult>.Fail(e.Code, e.Message);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or OverflowException)
        {
            return ExecResponse<QueryResult>.Fail(CairnErrorCode.Internal, "unexpected JSON from the core: " + e.Message);
        }
    }
}
