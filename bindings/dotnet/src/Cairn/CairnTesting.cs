// FOR TESTS ONLY: the core's fake wall clock (cairn_testing_set_clock), so that tests of expiry need not
// sleep. Never use it in production code: it changes the clock of every store in the process.
using System;
using System.Threading;
using Cairn.Native;

namespace Cairn;

/// <summary>FOR TESTS ONLY: hooks into the core meant for tests.</summary>
public static class CairnTesting
{
    private static long s_fakeMs; // 0: the real clock

    /// <summary>FOR TESTS ONLY: makes expiry in this process use <paramref name="now"/> as the current
    /// time (null: the real clock again). A ttl given to <see cref="KvStore.Put(string, string, TimeSpan?, DateTimeOffset?)"/>
    /// counts from this clock too.</summary>
    public static void SetClock(DateTimeOffset? now)
    {
        long ms = now is DateTimeOffset t ? Math.Max(1, t.ToUnixTimeMilliseconds()) : 0;
        NativeMethods.cairn_testing_set_clock(ms);
        Volatile.Write(ref s_fakeMs, ms);
    }

    /// <summary>The clock expiry uses, in Unix ms.</summary>
    internal static long NowMs()
    {
        long fake = Volatile.Read(ref s_fakeMs);
        return fake != 0 ? fake : DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    }
}
