using System;

namespace Cairn;

/// <summary>
/// A transaction as a scope (<c>using var tx = db.BeginTransaction().ThrowIfFailed();</c>): call
/// <see cref="Commit"/>; disposing it while still open rolls it back. The transaction belongs to the
/// store handle (not to a thread), as in the C API.
/// </summary>
public sealed class Transaction : IDisposable
{
    private readonly Func<ExecResponse> _commit;
    private readonly Func<ExecResponse> _rollback;

    internal Transaction(Func<ExecResponse> commit, Func<ExecResponse> rollback)
    {
        _commit = commit;
        _rollback = rollback;
    }

    /// <summary>True until Commit or Rollback succeeded (or the scope was disposed).</summary>
    public bool IsOpen { get; private set; } = true;

    /// <summary>Commits: the writes become durable together. Txn if already finished.</summary>
    public ExecResponse Commit() => Finish(_commit);

    /// <summary>Drops the writes. Txn if already finished.</summary>
    public ExecResponse Rollback() => Finish(_rollback);

    private ExecResponse Finish(Func<ExecResponse> fn)
    {
        if (!IsOpen) return ExecResponse.Fail(CairnErrorCode.Txn, "the transaction is already finished");
        ExecResponse r = fn();
        if (r.Success) IsOpen = false;
        return r;
    }

    /// <summary>Rolls back if neither Commit nor Rollback succeeded (a closed store already rolled back).</summary>
    public void Dispose()
    {
        if (!IsOpen) return;
        IsOpen = false;
        _rollback();
    }
}
