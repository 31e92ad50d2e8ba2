// A KV value is bytes plus a one-byte kind, so that what one language writes reads back as the same
// thing in every other: byte[] <-> BYTES, string <-> TEXT, JsonNode/JsonElement <-> JSON.
using System;
using System.Buffers;
using System.Collections.Generic;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cairn;

/// <summary>The kind stored with every KV value (cairn_kind).</summary>
public enum CairnKind
{
    /// <summary>Raw bytes (byte[]).</summary>
    Bytes = 0,
    /// <summary>UTF-8 text (string).</summary>
    Text = 1,
    /// <summary>A UTF-8 JSON document (JsonNode / JsonElement).</summary>
    Json = 2,
    /// <summary>Language-native serialization; opt-in only, never produced by default.</summary>
    Native = 3,
}

/// <summary>A stored value: its kind and its bytes (UTF-8 for Text and Json).</summary>
public sealed class KvValue : IEquatable<KvValue>
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // Keep non-ASCII text as UTF-8 (every JSON reader decodes both forms identically).
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    private readonly byte[] _data;

    private KvValue(CairnKind kind, byte[] data)
    {
        Kind = kind;
        _data = data;
    }

    /// <summary>The kind of the value.</summary>
    public CairnKind Kind { get; }

    /// <summary>The stored bytes (for Text and Json: their UTF-8).</summary>
    public ReadOnlySpan<byte> Span => _data;

    /// <summary>The stored bytes as a new array (the value itself stays immutable).</summary>
    public byte[] ToArray() => (byte[])_data.Clone();

    /// <summary>Number of stored bytes.</summary>
    public int Length => _data.Length;

    internal byte[] RawData => _data;

    /// <summary>A BYTES value (the bytes are copied).</summary>
    public static KvValue FromBytes(ReadOnlySpan<byte> data) => new(CairnKind.Bytes, data.ToArray());

    /// <summary>A TEXT value. Throws ArgumentException for a string with an unpaired surrogate.</summary>
    public static KvValue FromString(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            return new(CairnKind.Text, Native.Interop.StrictUtf8.GetBytes(text));
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException("text is not valid UTF-16 (unpaired surrogate)", nameof(text), e);
        }
    }

    /// <summary>A JSON value; a null node is the JSON document <c>null</c>.</summary>
    public static KvValue FromJson(JsonNode? node) => new(CairnKind.Json, SerializeJson(node));

    /// <summary>A JSON value from an element of a JsonDocument.</summary>
    public static KvValue FromJson(JsonElement element)
    {
        var buf = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buf, WriterOptions)) element.WriteTo(w);
        return new(CairnKind.Json, buf.WrittenSpan.ToArray());
    }

    /// <summary>A value of an explicit kind over raw bytes (e.g. Native, or JSON text already encoded).</summary>
    public static KvValue FromRaw(CairnKind kind, ReadOnlySpan<byte> data) => new(kind, data.ToArray());

    internal static KvValue Adopt(CairnKind kind, byte[] data) => new(kind, data);

    /// <summary>A BYTES value (null stays null: the call it is passed to refuses it).</summary>
    [return: System.Diagnostics.CodeAnalysis.NotNullIfNotNull(nameof(data))]
    public static implicit operator KvValue?(byte[]? data) => data is null ? null : FromBytes(data);

    /// <summary>A TEXT value (null stays null). Throws ArgumentException for an unpaired surrogate.</summary>
    [return: System.Diagnostics.CodeAnalysis.NotNullIfNotNull(nameof(text))]
    public static implicit operator KvValue?(string? text) => text is null ? null : FromString(text);

    /// <summary>A JSON value (a null JsonNode stays null: pass <c>KvValue.FromJson(null)</c> for the
    /// document <c>null</c>).</summary>
    [return: System.Diagnostics.CodeAnalysis.NotNullIfNotNull(nameof(node))]
    public static implicit operator KvValue?(JsonNode? node) => node is null ? null : FromJson(node);

    /// <summary>
    /// Maps a value of any static type to a KV value: byte[], ReadOnlyMemory&lt;byte&gt;, Memory&lt;byte&gt;,
    /// ArraySegment&lt;byte&gt; -> Bytes; string -> Text; JsonNode, JsonElement, JsonDocument -> Json;
    /// KvValue as is. Anything else (numbers, bool, null, collections, arbitrary objects) is a
    /// <see cref="CairnErrorCode.Type"/> failure: convert it to a JsonNode explicitly.
    /// </summary>
    public static ExecResponse<KvValue> FromObject(object? value)
    {
        try
        {
            return value switch
            {
                KvValue v => ExecResponse<KvValue>.Ok(v),
                byte[] b => ExecResponse<KvValue>.Ok(FromBytes(b)),
                ReadOnlyMemory<byte> m => ExecResponse<KvValue>.Ok(FromBytes(m.Span)),
                Memory<byte> m => ExecResponse<KvValue>.Ok(FromBytes(m.Span)),
                ArraySegment<byte> s => ExecResponse<KvValue>.Ok(FromBytes(s)),
                string s => ExecResponse<KvValue>.Ok(FromString(s)),
                JsonNode n => ExecResponse<KvValue>.Ok(FromJson(n)),
                JsonElement e => ExecResponse<KvValue>.Ok(FromJson(e)),
                JsonDocument d => ExecResponse<KvValue>.Ok(FromJson(d.RootElement)),
                null => ExecResponse<KvValue>.Fail(CairnErrorCode.Type,
                    "a null value cannot be stored: use a JsonNode for JSON null, or an empty byte[]"),
                _ => ExecResponse<KvValue>.Fail(CairnErrorCode.Type,
                    $"a value of type {value.GetType()} cannot be stored: use byte[], string or JsonNode"),
            };
        }
        catch (ArgumentException e)
        {
            return ExecResponse<KvValue>.Fail(CairnErrorCode.Invalid, e.Message);
        }
    }

    /// <summary>The text of a Text or Json value. Throws InvalidOperationException for other kinds and
    /// DecoderFallbackException for bytes that are not UTF-8.</summary>
    public string AsString()
    {
        if (Kind != CairnKind.Text && Kind != CairnKind.Json)
            throw new InvalidOperationException($"a {Kind} value is not text");
        return Native.Interop.StrictUtf8.GetString(_data); // DecoderFallbackException if not UTF-8
    }

    /// <summary>The document of a Json value (null for the JSON document <c>null</c>).
    /// Throws InvalidOperationException for other kinds, JsonException if it does not parse.</summary>
    public JsonNode? AsJson()
    {
        if (Kind != CairnKind.Json) throw new InvalidOperationException($"a {Kind} value is not JSON");
        return JsonNode.Parse(_data);
    }

    /// <summary>The host value: byte[] for Bytes and Native, string for Text, JsonNode? for Json.</summary>
    public object? ToObject() => Kind switch
    {
        CairnKind.Text => AsString(),
        CairnKind.Json => AsJson(),
        _ => ToArray(),
    };

    internal static byte[] SerializeJson(JsonNode? node)
    {
        if (node is null) return "null"u8.ToArray();
        var buf = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buf, WriterOptions)) node.WriteTo(w);
        return buf.WrittenSpan.ToArray();
    }

    /// <inheritdoc />
    public bool Equals(KvValue? other) =>
        other is not null && other.Kind == Kind && other._data.AsSpan().SequenceEqual(_data);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as KvValue);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Kind);
        h.AddBytes(_data);
        return h.ToHashCode();
    }

    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        CairnKind.Text or CairnKind.Json => $"{Kind}: {Encoding.UTF8.GetString(_data)}",
        _ => $"{Kind}: {Convert.ToHexStringLower(_data)}",
    };
}
