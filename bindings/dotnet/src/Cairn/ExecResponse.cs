// Results in BinaryDocumentDb's style: every operation returns an ExecResponse instead of throwing for
// a storage error. Exceptions are opt-in through ThrowIfFailed().
using System;

namespace Cairn;

/// <summary>The outcome of an operation without a result value.</summary>
public class ExecResponse
{
    /// <summary>The shared success response of operations without a result (responses are immutable).</summary>
    public static readonly ExecResponse Ok = new(CairnErrorCode.Ok, "");

    /// <summary>Creates a response; <paramref name="message"/> is "" on success.</summary>
    protected internal ExecResponse(CairnErrorCode errorCode, string message)
    {
        ErrorCode = errorCode;
        Message = message;
    }

    /// <summary>True when the operation succeeded.</summary>
    public bool Success => ErrorCode == CairnErrorCode.Ok;

    /// <summary><see cref="CairnErrorCode.Ok"/> on success, else the reason (NotFound for a missing key).</summary>
    public CairnErrorCode ErrorCode { get; }

    /// <summary>One line with detail (file, offset, errno) on failure; "" on success.</summary>
    public string Message { get; }

    /// <summary>The stable name of <see cref="ErrorCode"/>, e.g. "CAIRN_NOTFOUND" ("CAIRN_OK" on success).</summary>
    public string ErrorName => CairnErrors.NameOf(ErrorCode);

    /// <summary>Throws <see cref="CairnException"/> if the operation failed.</summary>
    public void ThrowIfFailed()
    {
        if (!Success) throw new CairnException(ErrorCode, Message);
    }

    /// <summary>A failed response.</summary>
    public static ExecResponse Fail(CairnErrorCode code, string message) => new(code, message);

    /// <inheritdoc />
    public override string ToString() => Success ? "Success" : $"{ErrorName}: {Message}";
}

/// <summary>The outcome of an operation with a result value.</summary>
/// <typeparam name="T">The type of <see cref="Result"/>.</typeparam>
public sealed class ExecResponse<T> : ExecResponse
{
    private readonly T? _result;

    private ExecResponse(CairnErrorCode errorCode, string message, T? result) : base(errorCode, message)
    {
        _result = result;
    }

    /// <summary>The result on success; default(T) on failure.</summary>
    public T? Result => _result;

    /// <summary>Returns <see cref="Result"/>, or throws <see cref="CairnException"/> if the operation failed.</summary>
    public new T ThrowIfFailed()
    {
        if (!Success) throw new CairnException(ErrorCode, Message);
        return _result!;
    }

    /// <summary>A successful response carrying <paramref name="result"/>.</summary>
    public static new ExecResponse<T> Ok(T result) => new(CairnErrorCode.Ok, "", result);

    /// <summary>A failed response.</summary>
    public static new ExecResponse<T> Fail(CairnErrorCode code, string message) => new(code, message, default);

    /// <summary>The same failure carried over to a response of this type.</summary>
    public static ExecResponse<T> From(ExecResponse failed) => new(failed.ErrorCode, failed.Message, default);

    /// <inheritdoc />
    public override string ToString() => Success ? $"Success: {_result}" : base.ToString();
}

/// <summary>Thrown by <see cref="ExecResponse.ThrowIfFailed"/>; carries the code of the failure.</summary>
public sealed class CairnException : Exception
{
    /// <summary>Creates the exception for a failed response.</summary>
    public CairnException(CairnErrorCode errorCode, string message)
        : base(string.IsNullOrEmpty(message) ? CairnErrors.NameOf(errorCode) : message)
    {
        ErrorCode = errorCode;
    }

    /// <summary>The code of the failure.</summary>
    public CairnErrorCode ErrorCode { get; }

    /// <summary>The stable name, e.g. "CAIRN_NOTFOUND".</summary>
    public string ErrorName => CairnErrors.NameOf(ErrorCode);
}
