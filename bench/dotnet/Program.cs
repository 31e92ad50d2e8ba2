// The cost of a call from .NET: put and get ops/s of 100-byte values through KvStore, against the
// same loop in C (kv_loop.c), and create / read / update / delete ops/s of blobs through BlobStore,
// each next to the raw P/Invoke layer (the binding's floor: the same native calls without the
// ExecResponse layer) and, for the KV, a Dictionary (the ceiling: no storage at all); and the CPU time
// of reading one f64 column of a table through the Arrow export against JSON queries and rows. With -p:WithBinaryDocumentDb=true and a NuGet source
// that has it, the blob rows are also run against the BinaryDocumentDb package.
//
//   bench/dotnet/run.sh [--n 200000] [--blobs 100000] [--rows 1000000] [--repeat 3]     (builds kv_loop.c and this)
//
// Every store runs with SyncMode.None (no fsync per write). Reported: best of --repeat runs.
using System.Diagnostics;
using System.Text;
using Cairn;
using Cairn.Native;

internal static unsafe class Program
{
    private static int Main(string[] args)
    {
        int n = 200_000, blobs = 100_000, rows = 1_000_000, repeat = 3;
        string? dirArg = null, cLoop = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--n": n = ParseCount(args[++i]); break;
                case "--blobs": blobs = ParseCount(args[++i]); break;
                case "--rows": rows = ParseCount(args[++i]); break;
                case "--repeat": repeat = int.Parse(args[++i]); break;
                case "--dir": dirArg = args[++i]; break;
                case "--c-loop": cLoop = args[++i]; break;
                default:
                    Console.Error.WriteLine("usage: CairnBench [--n 200000] [--blobs 100000] [--rows 1000000] [--repeat 3] [--dir scratch] [--c-loop kv_loop]");
                    return 2;
            }
        }
        string root = Path.Combine(dirArg ?? Path.GetTempPath(), "cairn-dotnet-bench-" + Environment.ProcessId);
        Directory.CreateDirectory(root);
        try
        {
            // Warm up every code path once (tiered JIT), silently, so no row pays for compilation.
            TextWriter stdout = Console.Out;
            Console.SetOut(TextWriter.Null);
            string warm = Path.Combine(root, "warmup");
            Directory.CreateDirectory(warm);
            Kv(warm, 2000, 1, null);
            Blob(warm, 1000, 100, 1);
            TableRead(warm, 5000, 1);
            Console.SetOut(stdout);
            Console.WriteLine($"# .NET {Environment.Version}, Cairn core {CairnLibrary.Version}, {Environment.ProcessorCount} cores, " +
                              $"load average {LoadAverage()}");
            bool ok = Kv(root, n, repeat, cLoop);
            ok &= Blob(root, blobs, 100, repeat);
            ok &= Blob(root, blobs, 4096, repeat);
            ok &= TableRead(root, rows, repeat);
            BinaryDocumentDbRows(root, blobs, repeat);
            return ok ? 0 : 1;
        }
        finally
        {
            try { Directory.Delete(root, true); } catch (IOException) { }
        }
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }

    private static int ParseCount(string s)
    {
        s = s.Trim().ToLowerInvariant();
        int mul = s.EndsWith('k') ? 1000 : s.EndsWith('m') ? 1_000_000 : 1;
        return int.Parse(mul == 1 ? s : s[..^1]) * mul;
    }

    /// <summary>Best wall time of <paramref name="repeat"/> runs of setup + timed body.</summary>
    private static double Best(int repeat, Func<Action> setup)
    {
        double best = double.MaxValue;
        for (int r = 0; r < repeat; r++)
        {
            Action body = setup();
            var sw = Stopwatch.StartNew();
            body();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }

    private static string Rate(int ops, double secs) => $"{ops / secs / 1e6,8:F2} M/s";

    private static void Check(bool cond, string what)
    {
        if (!cond) throw new InvalidOperationException("bench: wrong result: " + what);
    }

    // ---- KV ------------------------------------------------------------------------------------------

    /// <summary>Runs kv_loop.c (the same loop in C) and returns its put and get ops/s.</summary>
    private static (double Put, double Get)? RunCLoop(string exe, string root, int n, int repeat)
    {
        string dir = Path.Combine(root, "c");
        Directory.CreateDirectory(dir);
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true };
        psi.ArgumentList.Add(n.ToString());
        psi.ArgumentList.Add(dir);
        psi.ArgumentList.Add(repeat.ToString());
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        string[] f = output.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (p.ExitCode != 0 || f.Length != 2) return null;
        return (double.Parse(f[0], System.Globalization.CultureInfo.InvariantCulture),
                double.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static bool Kv(string root, int n, int repeat, string? cLoop)
    {
        var keys = new string[n];
        var keyBytes = new byte[n][];
        for (int i = 0; i < n; i++)
        {
            keys[i] = $"key:{i:D10}";
            keyBytes[i] = Encoding.UTF8.GetBytes(keys[i]);
        }
        var val = new byte[100];
        new Random(42).NextBytes(val);
        string text = new string('t', 100);
        int[] order = Enumerable.Range(0, n).ToArray();
        new Random(7).Shuffle(order);
        var opts = new KvOptions { Sync = SyncMode.None };
        int run = 0;
        KvStore Fresh()
        {
            string d = Path.Combine(root, "kv" + run++);
            return KvStore.Open(d, opts).ThrowIfFailed();
        }

        var rows = new List<(string Name, double Put, double Get)>();

        // Idiomatic, string keys (UTF-8 encoded per call on the stack).
        {
            KvStore? db = null;
            double put = Best(repeat, () => { db?.Dispose(); db = Fresh(); return () => { for (int i = 0; i < n; i++) db.Put(keys[i], val); }; });
            double get = Best(repeat, () => () =>
            {
                long sum = 0;
                foreach (int i in order) sum += db!.GetBytes(keys[i]).Result!.Length;
                Check(sum == 100L * n, "KvStore.GetBytes(string)");
            });
            db!.Dispose();
            rows.Add(("KvStore Put/GetBytes (string key)", put, get));
        }
        // Idiomatic, byte[] keys.
        {
            KvStore? db = null;
            double put = Best(repeat, () => { db?.Dispose(); db = Fresh(); return () => { for (int i = 0; i < n; i++) db.Put(keyBytes[i], val); }; });
            double get = Best(repeat, () => () =>
            {
                long sum = 0;
                foreach (int i in order) sum += db!.GetBytes(keyBytes[i]).Result!.Length;
                Check(sum == 100L * n, "KvStore.GetBytes(byte[])");
            });
            db!.Dispose();
            rows.Add(("KvStore Put/GetBytes (byte[] key)", put, get));
        }
        // Idiomatic, Get returning the KvValue (kind + bytes).
        {
            KvStore? db = null;
            double put = Best(repeat, () => { db?.Dispose(); db = Fresh(); return () => { for (int i = 0; i < n; i++) db.Put(keys[i], text); }; });
            double get = Best(repeat, () => () =>
            {
                long sum = 0;
                foreach (int i in order) sum += db!.GetString(keys[i]).Result!.Length;
                Check(sum == 100L * n, "KvStore.GetString");
            });
            db!.Dispose();
            rows.Add(("KvStore Put/GetString (text value)", put, get));
        }
        // The raw layer: the same native calls, no ExecResponse, keys pre-encoded.
        {
            KvStore? db = null;
            KvHandle? h = null;
            double put = Best(repeat, () =>
            {
                db?.Dispose();
                db = Fresh();
                h = RawHandle(db);
                return () =>
                {
                    fixed (byte* vp = val)
                        for (int i = 0; i < n; i++)
                            fixed (byte* kp = keyBytes[i])
                                if (NativeMethods.cairn_kv_put(h, kp, (nuint)keyBytes[i].Length, vp, 100, 0) != 0)
                                    throw new InvalidOperationException("raw put failed");
                };
            });
            double get = Best(repeat, () => () =>
            {
                byte* buf = stackalloc byte[256];
                long sum = 0;
                foreach (int i in order)
                    fixed (byte* kp = keyBytes[i])
                    {
                        if (NativeMethods.cairn_kv_get_into(h!, kp, (nuint)keyBytes[i].Length, buf, 256, out nuint vlen, out _) != 0)
                            throw new InvalidOperationException("raw get failed");
                        sum += new ReadOnlySpan<byte>(buf, (int)vlen).ToArray().Length;
                    }
                Check(sum == 100L * n, "raw get");
            });
            db!.Dispose();
            rows.Add(("raw P/Invoke put/get_into", put, get));
        }
        // The ceiling.
        {
            Dictionary<string, byte[]>? d = null;
            double put = Best(repeat, () => { d = new Dictionary<string, byte[]>(); return () => { for (int i = 0; i < n; i++) d[keys[i]] = val.ToArray(); }; });
            double get = Best(repeat, () => () =>
            {
                long sum = 0;
                foreach (int i in order) sum += d![keys[i]].ToArray().Length;
                Check(sum == 100L * n, "dictionary");
            });
            rows.Add(("Dictionary<string, byte[]> (copying)", put, get));
        }

        // The same loop in C, right after the .NET rows (same machine state).
        (double Put, double Get)? c = cLoop is null ? null : RunCLoop(cLoop, root, n, repeat);
        bool ok = cLoop is null || c is not null;
        if (c is { } cr) rows.Add(("C: the same loop (kv_loop.c, get_into)", n / cr.Put, n / cr.Get));

        Console.WriteLine();
        Console.WriteLine($"## KV: {n} keys of 14 bytes, 100-byte values, sync none, gets in random order (best of {repeat})");
        Console.WriteLine();
        Console.WriteLine("| API | put ops/s | get ops/s | put vs C | get vs C |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (var (name, put, get) in rows)
        {
            string vs(double t, double? cOps) => cOps is double co ? $"{n / t / co:F2}x" : "n/a";
            Console.WriteLine($"| {name} | {Rate(n, put)} | {Rate(n, get)} | {vs(put, c?.Put)} | {vs(get, c?.Get)} |");
        }
        if (cLoop is null) Console.WriteLine("\n(no C loop given: run through bench/dotnet/run.sh, or pass --c-loop <kv_loop>)");
        return ok;
    }

    /// <summary>The store's SafeHandle, for the raw rows.</summary>
    private static KvHandle RawHandle(KvStore db) => (KvHandle)db.Handle;

    private static BlobHandle RawHandle(BlobStore s) => (BlobHandle)s.Handle;

    // ---- blob store ------------------------------------------------------------------------------------

    private static bool Blob(string root, int count, int size, int repeat)
    {
        var data = new byte[size];
        var data2 = new byte[size];
        new Random(1).NextBytes(data);
        new Random(2).NextBytes(data2);
        int run = 0;
        var rows = new List<(string Name, double C, double R, double U, double D)>();

        foreach (bool raw in new[] { false, true })
        {
            double c = double.MaxValue, rd = double.MaxValue, u = double.MaxValue, d = double.MaxValue;
            for (int rep = 0; rep < repeat; rep++)
            {
                string path = Path.Combine(root, $"blob{size}-{run++}.db");
                using var s = BlobStore.Open(new BlobStoreOptions { Path = path, Sync = SyncMode.None }).ThrowIfFailed();
                var keys = new uint[count];
                BlobHandle h = RawHandle(s);
                var sw = Stopwatch.StartNew();
                if (!raw)
                    for (int i = 0; i < count; i++) keys[i] = s.Create(data).Result;
                else
                    fixed (byte* p = data)
                        for (int i = 0; i < count; i++)
                            if (NativeMethods.cairn_blob_create(h, p, (nuint)size, out keys[i]) != 0) throw new InvalidOperationException("create");
                c = Math.Min(c, sw.Elapsed.TotalSeconds);
                Check(s.Count().Result == count, "count after create");

                uint[] shuffled = (uint[])keys.Clone();
                new Random(3).Shuffle(shuffled);
                long sum = 0;
                sw.Restart();
                if (!raw)
                    foreach (uint k in shuffled) sum += s.Read(k).Result!.Length;
                else
                    foreach (uint k in shuffled)
                    {
                        if (NativeMethods.cairn_blob_read(h, k, out byte* p, out nuint len) != 0) throw new InvalidOperationException("read");
                        sum += new ReadOnlySpan<byte>(p, (int)len).ToArray().Length;
                        NativeMethods.cairn_free(p);
                    }
                rd = Math.Min(rd, sw.Elapsed.TotalSeconds);
                Check(sum == (long)size * count, "read sizes");

                sw.Restart();
                if (!raw)
                    foreach (uint k in shuffled) s.Update(k, data2);
                else
                    fixed (byte* p = data2)
                        foreach (uint k in shuffled)
                            if (NativeMethods.cairn_blob_update(h, k, p, (nuint)size) != 0) throw new InvalidOperationException("update");
                u = Math.Min(u, sw.Elapsed.TotalSeconds);
                Check(s.Read(keys[count / 2]).Result!.AsSpan().SequenceEqual(data2), "updated data");

                sw.Restart();
                if (!raw)
                    foreach (uint k in shuffled) s.Delete(k);
                else
                    foreach (uint k in shuffled)
                        if (NativeMethods.cairn_blob_delete(h, k) != 0) throw new InvalidOperationException("delete");
                d = Math.Min(d, sw.Elapsed.TotalSeconds);
                Check(s.Count().Result == 0, "count after delete");
            }
            rows.Add((raw ? "raw P/Invoke" : "BlobStore (ExecResponse)", c, rd, u, d));
        }
        Console.WriteLine();
        Console.WriteLine($"## Blob store: {count} blobs of {size} B, sync none, reads/updates/deletes in random order (best of {repeat})");
        Console.WriteLine();
        Console.WriteLine("| API | create ops/s | read ops/s | update (same size) ops/s | delete ops/s |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (var (name, c, r, u, d) in rows)
            Console.WriteLine($"| {name} | {Rate(count, c)} | {Rate(count, r)} | {Rate(count, u)} | {Rate(count, d)} |");
        return true;
    }

    // ---- table reads ---------------------------------------------------------------------------------

    /// <summary>Best process CPU time (all threads, the GC's included) of <paramref name="repeat"/> runs.</summary>
    private static double BestCpu(int repeat, Func<double> body, double expect, string what)
    {
        double best = double.MaxValue;
        for (int r = 0; r < repeat; r++)
        {
            double c0 = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
            double got = body();
            best = Math.Min(best, Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - c0);
            Check(Math.Abs(got - expect) <= 1e-6 * Math.Abs(expect), what);
        }
        return best;
    }

    /// <summary>Reading one f64 column of every row (summed) out of a checkpointed table: through the
    /// Arrow export (Table.ToArrow into Apache.Arrow batches, Table.ExportColumn's span), through a query
    /// answered as JSON by column, and row by row; a double[] loop is the ceiling.</summary>
    private static bool TableRead(string root, int rows, int repeat)
    {
        string dir = Path.Combine(root, "table-" + rows);
        var rnd = new Random(5);
        double[] score = Enumerable.Range(0, rows).Select(_ => Math.Round(rnd.NextDouble() * 100, 3)).ToArray();
        double expect = 0;
        foreach (double v in score) expect += v;
        using (var t = Table.Open(new TableOptions { Path = dir, Schema = "score f64 not null, cat i32 not null", Sync = SyncMode.None }).ThrowIfFailed())
        {
            t.Load(("score", score), ("cat", Enumerable.Range(0, rows).Select(i => i % 10).ToArray())).ThrowIfFailed();
            t.Sync().ThrowIfFailed();
            var results = new List<(string Name, double Cpu)>
            {
                ("double[] loop (ceiling)", BestCpu(repeat, () => { double s = 0; foreach (double v in score) s += v; return s; }, expect, "array")),
                ("ToArrow({columns: [score]}) + DoubleArray.Values", BestCpu(repeat, () =>
                {
                    using ArrowBatches b = t.ToArrow("{\"columns\": [\"score\"]}").ThrowIfFailed();
                    double s = 0;
                    foreach (Apache.Arrow.RecordBatch rb in b)
                        foreach (double v in ((Apache.Arrow.DoubleArray)rb.Column(0)).Values) s += v;
                    return s;
                }, expect, "ToArrow")),
                ("ExportColumn(score).Values<double>()", BestCpu(repeat, () =>
                {
                    using ArrowColumn c = t.ExportColumn("score").ThrowIfFailed();
                    double s = 0;
                    foreach (double v in c.Values<double>()) s += v;
                    return s;
                }, expect, "ExportColumn")),
                ("QueryColumns({columns: [score]}) (JSON by column)", BestCpu(repeat, () =>
                {
                    QueryResult r = t.QueryColumns(new TableQuery { Columns = new[] { "score" } }).ThrowIfFailed();
                    double s = 0;
                    foreach (object? v in r.Column("score")) s += (double)v!;
                    return s;
                }, expect, "QueryColumns")),
                ("foreach (id, row) in table (JSON rows)", BestCpu(repeat, () =>
                {
                    double s = 0;
                    foreach (var (_, row) in t) s += (double)row["score"]!;
                    return s;
                }, expect, "rows")),
            };
            double arrow = results[1].Cpu;
            Console.WriteLine();
            Console.WriteLine($"## Table read: one f64 column of {rows} rows summed (a checkpointed table, sync none; best of {repeat}, process CPU time)");
            Console.WriteLine();
            Console.WriteLine("| API | CPU ms | M rows/s of CPU | vs ToArrow |");
            Console.WriteLine("| --- | ---: | ---: | ---: |");
            foreach (var (name, cpu) in results)
                Console.WriteLine($"| {name} | {cpu * 1e3,8:F1} | {(cpu > 0 ? $"{rows / cpu / 1e6,8:F1}" : "-")} | {(arrow > 0 ? $"{cpu / arrow:F2}x" : "-")} |");
        }
        return true;
    }

#if BINARYDOCUMENTDB
    // Written from the package's published README (BinaryDocumentDbFactory.Make, BdDbConfig, Create /
    // Read / Update / Delete returning ExecResponse); it could not be compiled here because the NuGet
    // source of this project's machines does not have the package.
    private static void BinaryDocumentDbRows(string root, int count, int repeat)
    {
        foreach (int size in new[] { 100, 4096 })
        {
            var data = new byte[size];
            new Random(1).NextBytes(data);
            double c = double.MaxValue, r = double.MaxValue, u = double.MaxValue, d = double.MaxValue;
            for (int rep = 0; rep < repeat; rep++)
            {
                string path = Path.Combine(root, $"bdd{size}-{rep}.db");
                var db = BinaryDocumentDb.BinaryDocumentDbFactory.Make(new BinaryDocumentDb.BdDbConfig { FilePathAndName = path });
                var keys = new uint[count];
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < count; i++) keys[i] = db.Create(data).Result;
                c = Math.Min(c, sw.Elapsed.TotalSeconds);
                sw.Restart();
                foreach (uint k in keys) _ = db.Read(k).Result.ToArray();
                r = Math.Min(r, sw.Elapsed.TotalSeconds);
                sw.Restart();
                foreach (uint k in keys) db.Update(k, data);
                u = Math.Min(u, sw.Elapsed.TotalSeconds);
                sw.Restart();
                foreach (uint k in keys) db.Delete(k);
                d = Math.Min(d, sw.Elapsed.TotalSeconds);
                (db as IDisposable)?.Dispose();
            }
            Console.WriteLine($"| BinaryDocumentDb 1.1.1 ({size} B) | {Rate(count, c)} | {Rate(count, r)} | {Rate(count, u)} | {Rate(count, d)} |");
        }
    }
#else
    private static void BinaryDocumentDbRows(string root, int count, int repeat)
    {
        Console.WriteLine();
        Console.WriteLine("BinaryDocumentDb: not compared (built without -p:WithBinaryDocumentDb=true; the NuGet source of");
        Console.WriteLine("this project's machines does not have the package: restore reports NU1101).");
    }
#endif
}
