using Xunit;

namespace Cairn.Tests;

/// <summary>Table queries, aggregates, group by, joins and the fluent builder (TableQuery.cs,
/// QueryBuilder.cs): what the .NET layer adds over the core (value types, the WHERE forms written from
/// .NET values, the builder's combination of conditions, errors as responses).</summary>
public class TableQueryTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private Table Open(TableSchema schema, string name = "t") =>
        Table.Open(new TableOptions { Path = _tmp.Path(name), Schema = schema, CheckpointRows = 4 }).ThrowIfFailed();

    private static readonly DateTime T0 = new(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);

    /// <summary>name, score, cat, at, tag, big over 10 rows (4 per checkpoint: segments and a tail).</summary>
    private Table Scores()
    {
        var t = Open("name string, score f64, cat i32, at timestamp, tag bytes, big u64");
        var rows = new List<Row>();
        for (int i = 0; i < 10; i++)
            rows.Add(new Row
            {
                ["name"] = "n" + i, ["score"] = i == 7 ? null : 85.0 + i, ["cat"] = i % 3,
                ["at"] = T0.AddSeconds(i), ["tag"] = new[] { (byte)i }, ["big"] = ulong.MaxValue - (ulong)i,
            });
        t.InsertMany(rows).ThrowIfFailed();
        return t;
    }

    private static List<string?> Names(QueryResult r) => r.Select(row => row.GetString("name")).ToList();

    [Fact]
    public void BuilderFiltersOrdersAndPages()
    {
        using var t = Scores();
        QueryResult r = t.From().Where("score > ?", 90.0).OrderBy("score", descending: true).Limit(3).Execute().ThrowIfFailed();
        Assert.Equal(new[] { "n9", "n8", "n6" }, Names(r)); // n7's null score never matches
        Assert.Equal(new[] { "_id", "name", "score", "cat", "at", "tag", "big" }, r.Columns.Select(c => c.Name));
        Assert.Equal(new[] { "u64", "string", "f64", "i32", "timestamp", "bytes", "u64" }, r.Columns.Select(c => c.Type));

        Assert.Equal(3UL, t.From().Where("score > ?", 90.0).Count().ThrowIfFailed()); // 91, 93, 94 (n7 is null)
        Assert.Equal("n8", t.From().Where("score > ?", 90.0).OrderBy("score", descending: true).Offset(1).First().ThrowIfFailed()!["name"]);
        Assert.Null(t.From().Where("score > ?", 1000.0).First().ThrowIfFailed());

        // Two text conditions AND together, their params in order; ThenBy adds a key.
        r = t.From().Where("cat = ?", 1).Where("score >= ?", 86.0).OrderBy("cat").ThenByDescending("score").Execute().ThrowIfFailed();
        Assert.Equal(new[] { "n4", "n1" }, Names(r)); // cat 1: n1, n4, n7 (null score)

        // Slice: rows 2..4 in id order; Ids answers the ids in the query's order.
        Assert.Equal(new ulong[] { 3, 4, 5 }, t.From().Slice(2, 5).Ids().ThrowIfFailed());
        Assert.Equal(new ulong[] { 10, 9 }, t.From().OrderByDescending("_id").Limit(2).Ids().ThrowIfFailed());

        // The builder is immutable: a kept prefix is not changed by later steps.
        QueryBuilder cat0 = t.From().WhereEquals("cat", 0);
        Assert.Equal(1UL, cat0.Where("score < ?", 86.0).Count().Result);
        Assert.Equal(4UL, cat0.Count().Result);
        Assert.Equal("{\"where\":{\"$and\":[\"(a > ?) AND (b < ?)\",[\"c\",\"=\",3]]},\"params\":[1,2.5]}",
            t.From().Where("a > ?", 1).Where(("c", "=", 3)).Where("b < ?", 2.5).ToJson());
    }

    [Fact]
    public void ResultValuesTakeTheirColumnsDotNetTypes()
    {
        using var t = Scores();
        Row row = t.From().WhereEquals("name", "n2").First().ThrowIfFailed()!;
        Assert.Equal(3UL, row["_id"]);
        Assert.Equal(87.0, row["score"]);
        Assert.Equal(2, row["cat"]);
        Assert.Equal(T0.AddSeconds(2), row["at"]);
        Assert.Equal(DateTimeKind.Utc, row.GetDateTime("at").Kind);
        Assert.Equal(new byte[] { 2 }, row["tag"]);
        Assert.Equal(ulong.MaxValue - 2, row["big"]);

        // A ulong parameter beyond long's range compares exactly; a DateTimeOffset is a timestamp too.
        Assert.Equal(new ulong[] { 1, 2 }, t.From().Where("big >= ?", ulong.MaxValue - 1).Ids().Result);
        Assert.Equal(new ulong[] { 1, 2 }, t.From().Where(("at", "<", new DateTimeOffset(T0.AddSeconds(2)))).Ids().Result);
        Assert.Equal(new ulong[] { 4 }, t.From().Where(("tag", "=", new byte[] { 3 })).Ids().Result);
        Assert.Equal(new ulong[] { 2, 3 }, t.From().Where(("at", "between", new[] { T0.AddSeconds(1), T0.AddSeconds(2) })).Ids().Result);
        Assert.Equal(new ulong[] { 2 }, t.From().Where(new Dictionary<string, object?>
        {
            ["at"] = new Dictionary<string, object?> { ["gt"] = T0, ["lt"] = new DateTimeOffset(T0.AddSeconds(2)) },
        }).Ids().Result);

        // As in rows, a date is only for a timestamp column and a timestamp column takes only dates, in
        // triples and shorthands (a text's params are checked by the core against their column's type).
        var r = t.From().Where(("cat", "=", T0)).Execute();
        Assert.Equal(CairnErrorCode.Type, r.ErrorCode);
        Assert.Contains("cat", r.Message);
        Assert.Equal(CairnErrorCode.Type, t.From().Where(("at", ">", 5L)).Count().ErrorCode);
        Assert.Equal(CairnErrorCode.Type, t.From().Where(("at", "in", new object[] { T0, 5L })).Count().ErrorCode);
        Assert.Equal(CairnErrorCode.Type, t.From().Where(new Dictionary<string, object?>
        {
            ["$or"] = new object[] { ("name", "=", "n1"), new Dictionary<string, object?> { ["score"] = T0 } },
        }).Count().ErrorCode);
        Assert.Equal(CairnErrorCode.Type, t.CountWhere(new Dictionary<string, object?>
        {
            ["$not"] = new Dictionary<string, object?> { ["at"] = new Dictionary<string, object?> { ["ge"] = 1 } },
        }).ErrorCode);
        Assert.Equal(1UL, t.CountWhere(("at", "=", T0)).Result);
        Assert.Equal(CairnErrorCode.Schema, t.CountWhere(("nope", "=", T0)).ErrorCode); // unknown: the core answers
    }

    [Fact]
    public void EveryWhereForm()
    {
        using var t = Scores();
        var expected = new ulong[] { 2, 5 };
        Assert.Equal(expected, t.Select("cat = ? AND score < ?", new object?[] { 1, 90.0 }, columns: new[] { "_id" })
            .ThrowIfFailed().Select(r => (ulong)r["_id"]!));
        Assert.Equal(expected, t.From().Where(("cat", "=", 1)).Where(("score", "<", 90.0)).Ids().Result);
        // A text with two string params is a text, never taken for a (column, op, value) triple.
        Assert.Equal(new ulong[] { 2, 5 }, t.From().Where("name = ? OR name = ?", "n1", "n4").Ids().Result);
        Assert.Equal(expected, t.From().Where(new Dictionary<string, object?>
        {
            ["cat"] = 1, ["score"] = new Dictionary<string, object?> { ["lt"] = 90.0 },
        }).Ids().Result);
        Assert.Equal(expected, t.From().WhereAny(new object[] { ("cat", "=", 1), new[] { "score", "<", (object)90.0 } }).Ids().Result);
        Assert.Equal(new ulong[] { 8 }, t.From().Where(("score", "is null", null)).Ids().Result);
        Assert.Equal(new ulong[] { 1, 2, 4 }, t.From().Where(("cat", "in", new[] { 0, 1 })).Where("_id <= 4").Ids().Result);
        Assert.Equal(new ulong[] { 1, 10 }, t.From().WhereAny(new Dictionary<string, object?>
        {
            ["$or"] = new object[] { ("name", "=", "n0"), ("name", "=", "n9") },
        }).Ids().Result);

        // A lone null param is one null value (C# passes it as a null array): it never matches.
        Assert.Equal(0UL, t.From().Where("score = ?", null).Count().ThrowIfFailed());
        Assert.Equal(0UL, t.CountWhere("score = ?", null).ThrowIfFailed());
        Assert.Null(t.Aggregate(Aggregate.Sum("score"), "cat = ?", null).ThrowIfFailed());

        // count_where over the same forms.
        Assert.Equal(2UL, t.CountWhere("cat = ? AND score < ?", 1, 90.0).Result);
        Assert.Equal(10UL, t.CountWhere().Result);
        Assert.Equal(10UL, t.CountWhere(("name", "starts with", "n")).Result);
    }

    [Fact]
    public void AggregatesAndGroups()
    {
        using var t = Scores();
        Assert.Equal(10UL, t.Aggregate(Aggregate.Count()).Result);
        Assert.Equal(9UL, t.Aggregate(Aggregate.Count("score")).Result);
        Assert.Equal(3UL, t.Aggregate(Aggregate.CountDistinct("cat")).Result);
        Assert.Equal(9L, t.Aggregate(Aggregate.Sum("cat")).Result);           // i32 sums are exact longs
        Assert.Equal(85.0 * 9 + 45 - 7, t.Aggregate(Aggregate.Sum("score")).Result);
        Assert.Equal((85.0 * 9 + 45 - 7) / 9, t.Aggregate(Aggregate.Avg("score")).Result);
        Assert.Equal(T0, t.Aggregate(Aggregate.Min("at")).Result);
        Assert.Equal("n9", t.Aggregate(Aggregate.Max("name")).Result);
        Assert.Equal(94.0, t.Aggregate(Aggregate.Max("score"), "cat = ?", 0).Result);
        Assert.Null(t.Aggregate(Aggregate.Sum("score"), "cat > 5").Result);    // over no values: null
        // u64 sums leave the range: Range, as a response.
        var overflow = t.Aggregate(Aggregate.Sum("big"));
        Assert.Equal(CairnErrorCode.Range, overflow.ErrorCode);
        Assert.Contains("big", overflow.Message);

        QueryResult g = t.GroupBy("cat", Aggregate.Count(alias: "n"), Aggregate.Max("score")).ThrowIfFailed();
        Assert.Equal(new[] { "cat", "n", "max(score)" }, g.Columns.Select(c => c.Name));
        Assert.Equal(new[] { "i32", "u64", "f64" }, g.Columns.Select(c => c.Type));
        Assert.Equal(new object?[] { 0, 1, 2 }, g.Select(r => r["cat"]));
        Assert.Equal(new object?[] { 4UL, 3UL, 3UL }, g.Select(r => r["n"]));
        Assert.Equal(new object?[] { 94.0, 89.0, 93.0 }, g.Select(r => r["max(score)"]));

        // The builder's form, ordered by an aggregate, one group.
        Row top = t.From().Where("score IS NOT NULL").GroupBy("cat").Aggregate(Aggregate.Sum("score", "s")).OrderBy("s", descending: true)
            .First().ThrowIfFailed()!;
        Assert.Equal(0, top["cat"]);
        Assert.Equal(85.0 + 88 + 91 + 94, top["s"]);
    }

    [Fact]
    public void ColumnsFormatGivesTheSameResult()
    {
        using var t = Scores();
        QueryBuilder q = t.From().Where("cat = ?", 2).Select("name", "score", "at");
        QueryResult byRow = q.Execute().ThrowIfFailed(), byCol = q.ToColumns().ThrowIfFailed();
        Assert.False(byRow.IsColumnar);
        Assert.True(byCol.IsColumnar);
        Assert.Equal(3, byCol.Count);
        Assert.Equal(new object?[] { "n2", "n5", "n8" }, byCol.Column("name"));
        Assert.Equal(new object?[] { T0.AddSeconds(2), T0.AddSeconds(5), T0.AddSeconds(8) }, byCol.Data["at"]);
        Assert.Equal(byRow.Columns, byCol.Columns);
        for (int i = 0; i < 3; i++) Assert.Equal(byRow[i], byCol[i]); // rows made from the columns
        Assert.Equal(byCol.Data["score"], byRow.Data["score"]);        // columns made from the rows

        // Typed columns, converted as Row.Get converts.
        Assert.Equal(new double?[] { 87.0, 90.0, 93.0 }, byCol.Column<double?>("score"));
        Assert.Equal(new long[] { 87, 90, 93 }, byCol.Column<long>("score"));
        Assert.Equal(new[] { new DateTimeOffset(T0.AddSeconds(2)), new DateTimeOffset(T0.AddSeconds(5)), new DateTimeOffset(T0.AddSeconds(8)) },
            byRow.Column<DateTimeOffset>("at"));
        Assert.Throws<InvalidCastException>(() => byCol.Column<int>("name"));
        Assert.Throws<InvalidCastException>(() => t.From().Select("score").ToColumns().Result!.Column<double>("score")); // n7's null
        Assert.Equal(new ulong?[] { 8, 9, 10 }, t.From().Where("_id > 7").Select("_id").ToColumns().Result!.Column<ulong?>("_id"));

        // The C API's object as a dictionary, "format" included.
        QueryResult raw = t.Query(new Dictionary<string, object?>
        {
            ["where"] = new object[] { "cat", "=", 2 }, ["columns"] = new[] { "name" }, ["format"] = "columns",
        }).ThrowIfFailed();
        Assert.True(raw.IsColumnar);
        Assert.Equal(new object?[] { "n2", "n5", "n8" }, raw.Column("name"));
    }

    [Fact]
    public void InnerAndLeftJoins()
    {
        using var emp = Open("name string, dept i32", "emp");
        using var dept = Open("id i64, title string, active bool", "dept");
        emp.InsertMany(new[]
        {
            new Row { ["name"] = "ann", ["dept"] = 10 }, new Row { ["name"] = "bob", ["dept"] = 20 },
            new Row { ["name"] = "cy", ["dept"] = null }, new Row { ["name"] = "dee", ["dept"] = 30 },
        }).ThrowIfFailed();
        dept.InsertMany(new[]
        {
            new Row { ["id"] = 10L, ["title"] = "eng", ["active"] = true }, new Row { ["id"] = 20L, ["title"] = "ops", ["active"] = false },
        }).ThrowIfFailed();

        QueryResult inner = emp.Join(dept, "dept", "id").ThrowIfFailed();
        Assert.Equal(new[] { "left.name", "left.dept", "right.id", "right.title", "right.active" },
            inner.Columns.Select(c => c.Name));
        Assert.Equal(new object?[] { "ann", "bob" }, inner.Select(r => r["left.name"]));
        Assert.Equal(new object?[] { 10L, 20L }, inner.Select(r => r["right.id"]));

        QueryResult left = emp.Join(dept, new JoinQuery
        {
            On = new[] { ("dept", "id") }, Type = JoinType.Left, RightWhere = ("active", "=", true),
            Columns = new[] { "left.name", "right.title" }, Order = new[] { "-left.name" },
        }).ThrowIfFailed();
        Assert.Equal(new object?[] { "dee", "cy", "bob", "ann" }, left.Select(r => r["left.name"]));
        Assert.Equal(new object?[] { null, null, null, "eng" }, left.Select(r => r["right.title"]));

        QueryResult cols = emp.JoinColumns(dept, new JoinQuery { On = new[] { ("dept", "id") }, Where = "name != ?", Params = new object?[] { "ann" } })
            .ThrowIfFailed();
        Assert.Equal(new object?[] { "ops" }, cols.Column("right.title"));

        Assert.Equal(CairnErrorCode.Schema, emp.Join(dept, "nope", "id").ErrorCode);
        Assert.Equal(CairnErrorCode.Type, emp.Join(dept, "name", "id").ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, emp.Join(dept, new JoinQuery()).ErrorCode); // no "on"
        dept.Dispose();
        Assert.Equal(CairnErrorCode.Closed, emp.Join(dept, "dept", "id").ErrorCode);
        emp.Dispose();
        Assert.Equal(CairnErrorCode.Closed, emp.Join(emp, "dept", "dept").ErrorCode);
    }

    [Fact]
    public void BadInputIsAResponseNeverAnException()
    {
        using var t = Scores();
        var r = t.From().Where("nope = 1").Execute();
        Assert.Equal(CairnErrorCode.Schema, r.ErrorCode);
        Assert.Contains("nope", r.Message);
        r = t.From().Where("score > 1 name").Execute();
        Assert.Equal(CairnErrorCode.Invalid, r.ErrorCode);
        Assert.Contains("position 10", r.Message);
        Assert.Equal(CairnErrorCode.Invalid, t.From().Where("name LIKE ?", "n%").Execute().ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, t.From().Where(("cat", "like", 1)).Count().ErrorCode);
        Assert.Equal(CairnErrorCode.Type, t.From().Where("cat > ?", "x").Execute().ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, t.From().Where("cat > ?").Count().ErrorCode);          // a ? without its param
        Assert.Equal(CairnErrorCode.Invalid, t.From().Limit(-1).Execute().ErrorCode);
        Assert.Equal(CairnErrorCode.Schema, t.From().OrderBy("nope").Execute().ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, t.Aggregate(new Aggregate("median", "score")).ErrorCode);
        Assert.Equal(CairnErrorCode.Type, t.Aggregate(Aggregate.Sum("name")).ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, t.Query(new Dictionary<string, object?> { ["bogus"] = 1 }).ErrorCode);
        // Values the binding cannot write: refused before the core.
        Assert.Equal(CairnErrorCode.Type, t.From().Where("cat = ?", new object()).Execute().ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, t.From().Where("name = ?", "\ud800").Count().ErrorCode);
        Assert.Equal(CairnErrorCode.Invalid, t.Query((Dictionary<string, object?>)null!).ErrorCode);

        t.Dispose();
        Assert.Equal(CairnErrorCode.Closed, t.From().Execute().ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, t.From().Count().ErrorCode);
        Assert.Equal(CairnErrorCode.Closed, t.Aggregate(Aggregate.Count()).ErrorCode);
    }

    [Fact]
    public void QueriesSeeTheOpenTransactionAndDeletes()
    {
        using var t = Scores();
        t.Begin().ThrowIfFailed();
        t.Delete(1).ThrowIfFailed();
        t.Insert(new Row { ["name"] = "new", ["cat"] = 0 }).ThrowIfFailed();
        Assert.Equal(new ulong[] { 4, 7, 10, 11 }, t.From().WhereEquals("cat", 0).Ids().Result);
        t.Rollback().ThrowIfFailed();
        Assert.Equal(new ulong[] { 1, 4, 7, 10 }, t.From().WhereEquals("cat", 0).Ids().Result);
    }
}
