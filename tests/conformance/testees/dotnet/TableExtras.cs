// The .NET testee's table index and Arrow export ops (PROTOCOL.md: table.create_index, drop_index,
// indexes, lookup, find, range_find, export), through the public API: Table.CreateIndex & co. and
// Table.ToArrow, whose record batches Apache.Arrow imported from the core's Arrow C stream; the values are
// read back from Apache.Arrow's arrays into the row wire forms. Registered into Program's op table by
// the static constructor below (it runs after Program's field initializers).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Apache.Arrow;
using Apache.Arrow.Arrays;
using Cairn;

namespace CairnConformance;

internal static partial class Program
{
    static Program()
    {
        Ops["table.create_index"] = a => { var t = Tbl(a); return FromResponse(t.CreateIndex(GetString(a, "column"), KindArg(a)), () => null); };
        Ops["table.drop_index"] = a => { var t = Tbl(a); return FromResponse(t.DropIndex(GetString(a, "column"), KindArg(a)), () => null); };
        Ops["table.indexes"] = a =>
        {
            var r = Tbl(a).Indexes();
            return FromResponse(r, () =>
            {
                var arr = new JsonArray();
                foreach (IndexInfo ix in r.Result!)
                {
                    var o = new JsonObject { ["column"] = ix.Column, ["kind"] = ix.Kind == IndexKind.Range ? "range" : "hash" };
                    if (ix.Unique) o["unique"] = true;
                    arr.Add(o);
                }
                return arr;
            });
        };
        Ops["table.lookup"] = a =>
        {
            var t = Tbl(a);
            string col = GetString(a, "column");
            if (!a.TryGetPropertyValue("value", out JsonNode? v)) throw Err(CairnErrorCode.Invalid, "missing argument 'value'");
            return IdsWire(t.Lookup(col, NativeValue(v, col)));
        };
        Ops["table.find"] = a =>
        {
            var t = Tbl(a);
            if (!a.TryGetPropertyValue("conditions", out JsonNode? c)) throw Err(CairnErrorCode.Invalid, "missing argument 'conditions'");
            if (c is not JsonObject) throw Err(CairnErrorCode.Invalid, "conditions must be an object");
            return IdsWire(t.Find(NativeRow(c, "conditions")));
        };
        Ops["table.range_find"] = a =>
        {
            var t = Tbl(a);
            string col = GetString(a, "column");
            bool loOpen = a["lo_open"] is JsonNode lx && GetBool(lx, "lo_open");
            bool hiOpen = a["hi_open"] is JsonNode hx && GetBool(hx, "hi_open");
            return IdsWire(t.RangeFind(col, NativeValue(a["lo"], col), NativeValue(a["hi"], col), loOpen, hiOpen));
        };
        Ops["table.export"] = a =>
        {
            var t = Tbl(a);
            ExecResponse<ArrowBatches> r = a["query"] is null ? t.ToArrow() : t.ToArrow(QueryArg(a));
            if (!r.Success) return Error(r.ErrorCode, r.Message);
            using ArrowBatches batches = r.Result!;
            var o = new JsonObject();
            for (int k = 0; k < batches.Schema.FieldsList.Count; k++)
            {
                var vals = new JsonArray();
                foreach (RecordBatch b in batches)
                {
                    IArrowArray arr = b.Column(k);
                    for (int i = 0; i < b.Length; i++) vals.Add(ArrowWire(arr, i));
                }
                o[batches.Schema.FieldsList[k].Name] = vals;
            }
            return Ok(o);
        };
    }

    /// <summary>"hash" or "range"; any other string is passed on as a kind the core refuses (Invalid).</summary>
    private static IndexKind KindArg(JsonObject a) => GetString(a, "kind") switch
    {
        "hash" => IndexKind.Hash,
        "range" => IndexKind.Range,
        _ => (IndexKind)0,
    };

    private static JsonObject IdsWire(ExecResponse<IReadOnlyList<ulong>> r) => FromResponse(r, () =>
    {
        var arr = new JsonArray();
        foreach (ulong id in r.Result!) arr.Add(id);
        return arr;
    });

    /// <summary>Value i of an Apache.Arrow array in the row wire form (a dictionary array through its
    /// indices; floats of an f32 column to 9 significant digits, as the C testee prints them).</summary>
    private static JsonNode? ArrowWire(IArrowArray a, int i)
    {
        if (a.IsNull(i)) return null;
        switch (a)
        {
            case DictionaryArray d:
            {
                long k = d.Indices switch
                {
                    Int8Array x => x.GetValue(i)!.Value,
                    Int16Array x => x.GetValue(i)!.Value,
                    Int32Array x => x.GetValue(i)!.Value,
                    Int64Array x => x.GetValue(i)!.Value,
                    _ => throw Err(CairnErrorCode.Unsupported, "dictionary indices of " + d.Indices.GetType().Name),
                };
                if (k < 0 || k >= d.Dictionary.Length) throw Err(CairnErrorCode.Corrupt, $"dictionary index {k} out of range");
                return ArrowWire(d.Dictionary, (int)k);
            }
            case Int8Array x: return x.GetValue(i)!.Value;
            case Int16Array x: return x.GetValue(i)!.Value;
            case Int32Array x: return x.GetValue(i)!.Value;
            case Int64Array x: return x.GetValue(i)!.Value;
            case UInt8Array x: return x.GetValue(i)!.Value;
            case UInt16Array x: return x.GetValue(i)!.Value;
            case UInt32Array x: return x.GetValue(i)!.Value;
            case UInt64Array x: return x.GetValue(i)!.Value;
            case FloatArray x:
            {
                float f = x.GetValue(i)!.Value;
                return float.IsFinite(f) ? double.Parse(f.ToString("G9", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : WireValue(f);
            }
            case DoubleArray x: return WireValue(x.GetValue(i)!.Value);
            case BooleanArray x: return x.GetValue(i)!.Value;
            case TimestampArray x: return new JsonObject { ["$ts"] = x.GetValue(i)!.Value }; // microseconds (tsu:UTC)
            case LargeStringArray x: return x.GetString(i);
            case LargeBinaryArray x: return Hex(x.GetBytes(i));
            case FixedSizeBinaryArray x: return Hex(x.GetBytes(i));
            case StringArray x: return x.GetString(i);
            case BinaryArray x: return Hex(x.GetBytes(i));
        }
        throw Err(CairnErrorCode.Unsupported, "Arrow array " + a.GetType().Name);
    }
}
