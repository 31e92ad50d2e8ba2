// The fluent query of a table: table.From().Where("score > ?", 90).OrderBy("score", descending: true)
// .Limit(10).Execute(), then First(), Count(), Ids(), ToColumns(). A builder is immutable: every step
// returns a new one, so a partial query can be kept and extended in several ways. Conditions AND
// together: text conditions are joined into one text (each in parentheses, their params in order); the
// other forms (tuples, dictionaries) go beside it in {"$and": [...]}.
using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Text.Json;

namespace Cairn;

/// <summary>A query of a table built step by step (<see cref="Table.From"/>); immutable.</summary>
public sealed class QueryBuilder
{
    private readonly Table _table;
    private ImmutableList<string> _texts = ImmutableList<string>.Empty;
    private ImmutableList<object?> _params = ImmutableList<object?>.Empty;
    private ImmutableList<object> _conds = ImmutableList<object>.Empty;
    private ImmutableList<string>? _columns;
    private ImmutableList<string>? _order;
    private long? _limit, _offset;
    private ImmutableList<string>? _groupBy;
    private ImmutableList<Aggregate>? _aggregates;

    internal QueryBuilder(Table table) => _table = table;

    private QueryBuilder With(Action<QueryBuilder> change)
    {
        var q = (QueryBuilder)MemberwiseClone();
        change(q);
        return q;
    }

    // ---- conditions ------------------------------------------------------------------------------------

    /// <summary>ANDs a text condition with the values of its <c>?</c>: <c>Where("age &gt;= ? AND city = ?", 21, "oslo")</c>.</summary>
    public QueryBuilder Where(string condition, params object?[]? @params)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return With(q =>
        {
            q._texts = _texts.Add(condition);
            if (Table.ParamList(@params) is object?[] ps) q._params = _params.AddRange(ps);
        });
    }

    // No Where(column, op, value) overload: Where("a = ? OR b = ?", "x", "y") would bind to it.

    /// <summary>ANDs one comparison given as a tuple: <c>Where(("cat", "=", 3))</c>,
    /// <c>Where(("cat", "in", new[] { 1, 2 }))</c>, <c>Where(("tag", "is null", null))</c> (the triple
    /// operators of docs/queries.md).</summary>
    public QueryBuilder Where((string Column, string Op, object? Value) triple)
    {
        ArgumentNullException.ThrowIfNull(triple.Column);
        ArgumentNullException.ThrowIfNull(triple.Op);
        // "is null" / "is not null" take no value.
        object cond = triple.Op.Trim().ToLowerInvariant() is "is null" or "is not null"
            ? new object?[] { triple.Column, triple.Op }
            : new object?[] { triple.Column, triple.Op, triple.Value };
        return With(q => q._conds = _conds.Add(cond));
    }

    /// <summary>ANDs the shorthand object: column -&gt; value (equality) or column -&gt; operators
    /// (<c>new Dictionary&lt;string, object?&gt; { ["gte"] = 21, ["lt"] = 30 }</c>), or a $and/$or/$not
    /// object.</summary>
    public QueryBuilder Where(IReadOnlyDictionary<string, object?> condition)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return With(q => q._conds = _conds.Add(condition));
    }

    /// <summary>ANDs the equality of a column with a value: <c>WhereEquals("city", "oslo")</c>.</summary>
    public QueryBuilder WhereEquals(string column, object? value) => Where((column, "=", value));

    /// <summary>ANDs any WHERE form (text without params, tuple, list, dictionary, JSON).</summary>
    public QueryBuilder WhereAny(object condition)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return condition is string s ? Where(s) : With(q => q._conds = _conds.Add(condition));
    }

    // ---- shape -------------------------------------------------------------------------------------------

    /// <summary>Projects on these columns ("_id" is the row id); none: every column.</summary>
    public QueryBuilder Select(params string[] columns) =>
        With(q => q._columns = columns is { Length: > 0 } ? ImmutableList.CreateRange(columns) : null);

    /// <summary>Orders by this key, replacing an earlier order (ties go by id).</summary>
    public QueryBuilder OrderBy(string column, bool descending = false)
    {
        ArgumentNullException.ThrowIfNull(column);
        return With(q => q._order = ImmutableList.Create(Key(column, descending)));
    }

    /// <summary>Orders by this key, descending, replacing an earlier order.</summary>
    public QueryBuilder OrderByDescending(string column) => OrderBy(column, descending: true);

    /// <summary>Adds a key after the earlier ones.</summary>
    public QueryBuilder ThenBy(string column, bool descending = false)
    {
        ArgumentNullException.ThrowIfNull(column);
        return With(q => q._order = (_order ?? ImmutableList<string>.Empty).Add(Key(column, descending)));
    }

    /// <summary>Adds a descending key after the earlier ones.</summary>
    public QueryBuilder ThenByDescending(string column) => ThenBy(column, descending: true);

    private static string Key(string column, bool descending) => descending ? "-" + column : column;

    /// <summary>At most <paramref name="n"/> rows (a negative n is the core's Invalid).</summary>
    public QueryBuilder Limit(long n) => With(q => q._limit = n);

    /// <summary>Skips <paramref name="n"/> rows after ordering.</summary>
    public QueryBuilder Offset(long n) => With(q => q._offset = n);

    /// <summary>Rows <paramref name="start"/> .. <paramref name="stop"/>-1 of the result (stop null: to the end).</summary>
    public QueryBuilder Slice(long start, long? stop = null) => With(q =>
    {
        q._offset = start == 0 ? null : start;
        q._limit = stop is long s ? Math.Max(0, s - start) : null;
    });

    /// <summary>Groups by these columns (with aggregates: one row per group).</summary>
    public QueryBuilder GroupBy(params string[] columns) =>
        With(q => q._groupBy = columns is { Length: > 0 } ? ImmutableList.CreateRange(columns) : null);

    /// <summary>Adds aggregates: <c>Aggregate(Cairn.Aggregate.Count(alias: "n"), Cairn.Aggregate.Avg("score"))</c>.</summary>
    public QueryBuilder Aggregate(params Aggregate[] aggregates)
    {
        ArgumentNullException.ThrowIfNull(aggregates);
        return With(q => q._aggregates = (_aggregates ?? ImmutableList<Aggregate>.Empty).AddRange(aggregates));
    }

    // ---- the query -----------------------------------------------------------------------------------

    private object? WhereObject()
    {
        var parts = new List<object>(_conds.Count + 1);
        if (_texts.Count == 1) parts.Add(_texts[0]);
        else if (_texts.Count > 1) parts.Add("(" + string.Join(") AND (", _texts) + ")");
        parts.AddRange(_conds);
        if (parts.Count == 0) return null;
        return parts.Count == 1 ? parts[0] : new Dictionary<string, object?> { ["$and"] = parts };
    }

    /// <summary>The query this builds, as a <see cref="TableQuery"/>.</summary>
    public TableQuery ToQuery() => new()
    {
        Where = WhereObject(),
        Params = _params.Count > 0 ? _params : null,
        Columns = _columns,
        Order = _order,
        Limit = _limit,
        Offset = _offset,
        GroupBy = _groupBy,
        Aggregates = _aggregates,
    };

    /// <summary>The query object as the core reads it (for logs and tests); a value no column takes
    /// throws <see cref="CairnException"/>.</summary>
    public string ToJson()
    {
        try
        {
            TableQuery q = ToQuery();
            return QueryJson.Build(w => q.Write(w, columnar: false));
        }
        catch (TableValueException e)
        {
            throw new CairnException(e.Code, e.Message);
        }
    }

    // ---- running -----------------------------------------------------------------------------------------

    /// <summary>Runs the query: the rows (a <see cref="QueryResult"/>, a list of <see cref="Row"/>).</summary>
    public ExecResponse<QueryResult> Execute() => _table.Query(ToQuery());

    /// <summary>Runs the query answered by column (<see cref="QueryResult.Data"/>).</summary>
    public ExecResponse<QueryResult> ToColumns() => _table.QueryColumns(ToQuery());

    /// <summary>The first row of the result, or null when there is none.</summary>
    public ExecResponse<Row?> First()
    {
        TableQuery q = ToQuery();
        q.Limit = _limit is long l ? Math.Min(l, 1) : 1;
        ExecResponse<QueryResult> r = _table.Query(q);
        if (!r.Success) return ExecResponse<Row?>.From(r);
        return ExecResponse<Row?>.Ok(r.Result!.Count > 0 ? r.Result[0] : null);
    }

    /// <summary>The number of live rows matching the conditions (order, limit and offset do not apply).</summary>
    public ExecResponse<ulong> Count() =>
        _table.CountWhere(new TableQuery { Where = WhereObject(), Params = _params.Count > 0 ? _params : null });

    /// <summary>The ids of the matching rows, in the query's order.</summary>
    public ExecResponse<IReadOnlyList<ulong>> Ids()
    {
        TableQuery q = ToQuery();
        q.Columns = new[] { "_id" };
        ExecResponse<QueryResult> r = _table.Query(q);
        if (!r.Success) return ExecResponse<IReadOnlyList<ulong>>.From(r);
        var ids = new List<ulong>(r.Result!.Count);
        foreach (Row row in r.Result) ids.Add((ulong)row["_id"]!);
        return ExecResponse<IReadOnlyList<ulong>>.Ok(ids);
    }

    /// <inheritdoc />
    public override string ToString()
    {
        try { return ToJson(); }
        catch (CairnException e) { return e.Message; }
    }
}

public sealed partial class Table
{
    /// <summary>A query of this table to build by chaining: <c>table.From().Where("score &gt; ?", 90)
    /// .OrderBy("score", descending: true).Limit(10).Execute()</c>.</summary>
    public QueryBuilder From() => new(this);
}
