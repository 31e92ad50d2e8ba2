#!/usr/bin/env python3
"""The conformance driver (Python 3 standard library only). Spec: PROTOCOL.md next to this file.

    python3 driver.py --config BUILD/tests/conformance/testees.json --testee c [-v]
    python3 driver.py --config ... --testee python --filter kv.txn
    python3 driver.py --config ... --matrix            # cross-language: every testee writes, every reads
    python3 driver.py --config ... --testee c --wrap 'valgrind -q --error-exitcode=9' --timeout 120

Loads every case file (checked by lint.py's validator first), starts each testee ONCE, and runs every
case in a fresh directory ($DIR): `fs.*` steps are done here, every other step is sent to
the testee as one JSON line (`clock.set` too: after a case that set the clock the driver sends
`clock.set {"ms": 0}` before `reset`, and restarts a testee that does not take it, so no case
leaks a fake time). A step that does not answer within --timeout seconds kills and restarts
the testee and fails the case. After each case the driver sends `reset`. Cases listed in the testee's
xfail file are expected to fail; a listed case that passes fails the run (the list went stale).
The last line of output is exactly `N passed, N failed`; exit status 0 only when nothing failed.
"""
import argparse
import fnmatch
import glob
import json
import os
import queue
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lint  # noqa: E402  (the one case-file validator)

MISSING = object()


# ---- canonical form and matching ------------------------------------------------------------

def expand_repeat(r):
    return r["hex"].lower() * r["count"]


def canon(v):
    """Canonical form of a typed value: $repeat -> $bytes, hex lowercase."""
    if isinstance(v, dict):
        if len(v) == 1 and "$repeat" in v and isinstance(v["$repeat"], dict):
            return {"$bytes": expand_repeat(v["$repeat"])}
        if len(v) == 1 and "$bytes" in v and isinstance(v["$bytes"], str):
            return {"$bytes": v["$bytes"].lower()}
        if len(v) == 1 and "$json" in v:
            return v  # a document: compared literally
        return {k: canon(x) for k, x in v.items()}
    if isinstance(v, list):
        return [canon(x) for x in v]
    return v


def canon_key(k):
    """A key in a result: a string when its bytes are valid UTF-8, else $bytes."""
    k = canon(k)
    if isinstance(k, dict) and "$bytes" in k:
        try:
            return bytes.fromhex(k["$bytes"]).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return k
    return k


def is_num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def json_equal(a, b):
    """Deep JSON equality: numbers by value (1 == 1.0), but a bool is never a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_num(a) and is_num(b):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) == type(b) and a == b


class Mismatch(Exception):
    pass


def resolve_var(spec, saved):
    path = spec["$var"].split(".")
    if path[0] not in saved:
        raise Mismatch("$var %s: nothing saved under %r" % (spec["$var"], path[0]))
    v = saved[path[0]]
    for p in path[1:]:
        if isinstance(v, list) and p.isdigit() and int(p) < len(v):
            v = v[int(p)]
        elif isinstance(v, dict) and p in v:
            v = v[p]
        else:
            raise Mismatch("$var %s: no field %r in %s" % (spec["$var"], p, short(v)))
    if "mul" in spec or "add" in spec:
        if not is_num(v):
            raise Mismatch("$var %s is not a number" % spec["$var"])
        v = v * spec.get("mul", 1) + spec.get("add", 0)
    return v


def operand(x, saved):
    return resolve_var(x, saved) if isinstance(x, dict) and "$var" in x else x


CMP = {"$gt": lambda a, b: a > b, "$ge": lambda a, b: a >= b, "$lt": lambda a, b: a < b,
       "$le": lambda a, b: a <= b, "$ne": lambda a, b: a != b}


def match(expect, actual, saved):
    """True if `actual` (a result in canonical form) satisfies `expect`."""
    if isinstance(expect, dict):
        if "$var" in expect:
            return json_equal(canon(resolve_var(expect, saved)), actual)
        if len(expect) == 1:
            (k, v), = expect.items()
            if k in ("$bytes", "$repeat"):
                return isinstance(actual, dict) and json_equal(canon(expect), actual)
            if k == "$json":
                return isinstance(actual, dict) and set(actual) == {"$json"} and json_equal(v, actual["$json"])
            if k == "$subset":
                return isinstance(actual, dict) and all(f in actual and match(e, actual[f], saved)
                                                        for f, e in v.items())
            if k == "$ne" and not is_num(operand(v, saved)):  # any other JSON value (a digest)
                return not json_equal(canon(operand(v, saved)), actual)
            if k in CMP:
                b = operand(v, saved)
                return is_num(actual) and is_num(b) and CMP[k](actual, b)
            if k == "$regex":
                return isinstance(actual, str) and re.search(v, actual) is not None
            if k == "$any":
                return True
            if k == "$len":
                return isinstance(actual, (list, str, dict)) and len(actual) == v
            if k == "$one_of":
                return any(match(alt, actual, saved) for alt in v)
        return isinstance(actual, dict) and actual.keys() == expect.keys() and all(
            match(expect[k], actual[k], saved) for k in expect)
    if isinstance(expect, list):
        return isinstance(actual, list) and len(actual) == len(expect) and all(
            match(e, a, saved) for e, a in zip(expect, actual))
    return json_equal(expect, actual)


def check_response(expect, resp, saved, op):
    """None if the response satisfies the step's expectation, else a reason."""
    if isinstance(expect, dict) and set(expect) == {"$one_of"}:
        reasons = [check_response(alt, resp, saved, op) for alt in expect["$one_of"]]
        return None if any(r is None for r in reasons) else "none of the alternatives matched"
    if isinstance(expect, dict) and set(expect) == {"error"}:
        if "error" in resp and resp["error"] == expect["error"]:
            return None
        return "wrong outcome"
    if "error" in resp:
        return "unexpected error"
    if expect is MISSING:
        return None
    actual = resp["ok"]
    if op in ("kv.keys", "repo.keys"):  # keys compare as bytes: "a" and {"$bytes": "61"} are the same key
        if isinstance(expect, list):
            expect = [canon_key(k) if isinstance(k, str) or (isinstance(k, dict) and k.keys() <= {"$bytes", "$repeat"})
                      else k for k in expect]
        if isinstance(actual, list):
            actual = [canon_key(k) for k in actual]
    try:
        return None if match(expect, canon(actual), saved) else "wrong result"
    except Mismatch as e:
        return str(e)


def clip(s, limit=300):
    return s if len(s) <= limit else s[:limit] + "...(%d chars)" % len(s)


def short(v, limit=300):
    """A value as JSON (so "1" and 1, or "null" and null, stay apart), clipped."""
    return clip(json.dumps(v, ensure_ascii=False, sort_keys=True), limit)


def describe(resp):
    if resp is None:
        return "<no answer>"
    if "error" in resp:
        return "error %s (%s)" % (resp["error"], clip(str(resp.get("message", "")), 160))
    return short(resp.get("ok"))


def describe_expect(expect):
    if expect is MISSING:
        return "success"
    if isinstance(expect, dict) and set(expect) == {"error"}:
        return "error " + expect["error"]
    return short(expect)


# ---- the driver's own ops: fs.* ---------------------------------------------------------------

class FsError(Exception):
    pass


def confined(path, root):
    real = os.path.realpath(path)
    rootr = os.path.realpath(root)
    if real != rootr and not real.startswith(rootr + os.sep):
        raise FsError("path %r leaves the case directory" % path)
    return path


def pick_one(args, root):
    pattern = args["path"]
    matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
    how = args.get("pick")
    if glob.has_magic(pattern):
        if not matches:
            raise FsError("no file matches %s" % os.path.relpath(pattern, root))
        if how == "first":
            matches = matches[:1]
        elif how == "last":
            matches = matches[-1:]
        elif len(matches) != 1:
            raise FsError("%d files match %s (say pick: first|last)" % (len(matches), os.path.relpath(pattern, root)))
    return confined(matches[0], root)


def offset_in(path, off):
    size = os.path.getsize(path)
    pos = size + off if off < 0 else off
    if pos < 0 or pos >= size:
        raise FsError("offset %d outside %s (%d bytes)" % (off, os.path.basename(path), size))
    return pos


def fs_op(op, args, root):
    """Run a driver-side op; returns its result. Raises FsError."""
    try:
        if op == "fs.truncate":
            p = pick_one(args, root)
            size = args["size"]
            if size < 0:
                size = max(0, os.path.getsize(p) + size)
            os.truncate(p, size)
            return None
        if op == "fs.flip":
            p = pick_one(args, root)
            pos = offset_in(p, args["offset"])
            with open(p, "r+b") as f:
                f.seek(pos)
                b = f.read(1)
                f.seek(pos)
                f.write(bytes([b[0] ^ 0xFF]))
            return None
        if op == "fs.write":
            p = pick_one(args, root)
            off = args["offset"]
            if off < 0:
                off = os.path.getsize(p) + off
            with open(p, "r+b") as f:
                f.seek(off)
                f.write(bytes.fromhex(args["hex"]))
            return None
        if op == "fs.size":
            return os.path.getsize(pick_one(args, root))
        if op == "fs.list":
            p = pick_one(args, root)
            return sorted(os.listdir(p))
        if op == "fs.remove":
            pattern = args["path"]
            targets = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            for t in targets:
                confined(t, root)
                if os.path.isdir(t) and not os.path.islink(t):
                    shutil.rmtree(t)
                elif os.path.lexists(t):
                    os.unlink(t)
            return None
        if op == "fs.mkdir":
            os.makedirs(confined(args["path"], root), exist_ok=True)
            return None
        if op == "fs.write_file":
            with open(confined(args["path"], root), "wb") as f:
                f.write(bytes.fromhex(args["hex"]))
            return None
        if op == "fs.copy":
            src, dst = confined(args["from"], root), confined(args["to"], root)
            if os.path.isdir(src):
                shutil.copytree(src, dst)
            else:
                shutil.copyfile(src, dst)
            return None
        if op == "fs.symlink":
            target, path = confined(args["target"], root), confined(args["path"], root)
            os.symlink(target, path)
            return None
        if op == "fs.link":
            src, dst = confined(args["from"], root), confined(args["to"], root)
            os.link(src, dst)
            return None
    except FsError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise FsError("%s: %s" % (op, e))
    raise FsError("unknown driver op %s" % op)


def substitute(v, d):
    """Replace $DIR in every string; expand $repeat in key arguments (keys travel as $bytes)."""
    if isinstance(v, str):
        return v.replace("$DIR", d)
    if isinstance(v, list):
        return [substitute(x, d) for x in v]
    if isinstance(v, dict):
        if len(v) == 1 and "$json" in v:
            return v
        return {k: substitute(x, d) for k, x in v.items()}
    return v


def bind_vars(v, saved):
    """Replace {"$var": ...} in arguments by the saved value (e.g. a key a create returned)."""
    if isinstance(v, list):
        return [bind_vars(x, saved) for x in v]
    if isinstance(v, dict):
        if "$var" in v:
            return resolve_var(v, saved)
        if len(v) == 1 and "$json" in v:
            return v
        return {k: bind_vars(x, saved) for k, x in v.items()}
    return v


def prepare_args(op, args, d, saved):
    args = bind_vars(substitute(args, d), saved)
    canon_keys(op, args)
    return args


def canon_keys(op, args):
    """Keys travel as $bytes; proc.fork's child steps are prepared the same way."""
    if op.startswith("kv.") or op.startswith("repo."):
        for k in ("key", "prefix"):
            if isinstance(args.get(k), dict) and "$repeat" in args[k]:
                args[k] = canon(args[k])
        if op == "repo.put_many" and isinstance(args.get("records"), list):
            for rec in args["records"]:
                if isinstance(rec, list) and rec and isinstance(rec[0], dict) and "$repeat" in rec[0]:
                    rec[0] = canon(rec[0])
    elif op == "proc.fork" and isinstance(args.get("steps"), list):
        for st in args["steps"]:
            if isinstance(st, dict) and isinstance(st.get("op"), str) and isinstance(st.get("args"), dict):
                canon_keys(st["op"], st["args"])


# ---- testees ---------------------------------------------------------------------------------

class Testee:
    """One long-lived testee process speaking JSON lines."""

    def __init__(self, name, spec, timeout, verbose):
        self.name = name
        self.command = spec["command"]
        self.env = dict(os.environ)
        self.env.update(spec.get("env", {}))
        self.cwd = spec.get("cwd") or None
        self.timeout = timeout
        self.verbose = verbose
        self.proc = None
        self.lines = None
        self.errlog = None
        self.starts = 0

    def start(self):
        self.errlog = tempfile.TemporaryFile()
        self.starts += 1
        try:
            self.proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self.errlog, env=self.env, cwd=self.cwd)
        except OSError as e:
            self.proc = None
            raise RuntimeError("cannot start testee %s (%s): %s" % (self.name, " ".join(self.command), e))
        self.lines = queue.Queue()
        t = threading.Thread(target=self._reader, args=(self.proc.stdout, self.lines), daemon=True)
        t.start()

    @staticmethod
    def _reader(stream, q):
        for line in iter(stream.readline, b""):
            q.put(line)
        q.put(None)

    def stderr_tail(self, n=15):
        if not self.errlog:
            return ""
        try:
            self.errlog.seek(0)
            lines = self.errlog.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return "\n".join("    | " + x for x in lines[-n:])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def request(self, op, args):
        """Send one request. Returns (response dict or None, problem string or None)."""
        if not self.alive():
            return None, "testee is not running"
        line = json.dumps({"op": op, "args": args}, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            self.proc.stdin.write(line.encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            return None, "testee died (write: %s)" % e
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                raw = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None, "timeout after %gs" % self.timeout
            if raw is None:
                time.sleep(0.05)
                rc = self.proc.poll()
                return None, "testee died (exit status %s)" % rc
            text = raw.decode("utf-8", "replace").strip()
            if not text:
                continue
            try:
                resp = json.loads(text)
            except ValueError:
                return None, "testee wrote a line that is not JSON: %s" % clip(text, 200)
            if not isinstance(resp, dict) or not (("ok" in resp) ^ ("error" in resp)):
                return None, "malformed response: %s" % clip(text, 200)
            return resp, None

    def stop(self, grace=10.0):
        """End of input: the testee must close everything and exit 0. Returns a problem or None."""
        if self.proc is None:
            return None
        problem = None
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout=grace)
            if rc != 0:
                problem = "testee %s exited with status %s at end of input\n%s" % (self.name, rc, self.stderr_tail())
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            problem = "testee %s did not exit within %gs at end of input" % (self.name, grace)
        self.proc = None
        return problem

    def kill(self):
        if self.proc is not None:
            try:
                self.proc.kill()
            except OSError:
                pass
            self.proc.wait()
            self.proc = None

    def restart(self):
        self.kill()
        self.start()


# ---- running cases ---------------------------------------------------------------------------

class Runner:
    def __init__(self, testees, verbose, keep, tmp_root):
        self.testees = testees
        self.verbose = verbose
        self.keep = keep
        self.tmp_root = tmp_root

    def run(self, case, writer, reader):
        """Run one case (writer == reader outside the matrix). Returns None or a failure line."""
        d = tempfile.mkdtemp(prefix="case-", dir=self.tmp_root)
        saved = {}
        if "steps" in case:
            plan = [(writer, i, s) for i, s in enumerate(case["steps"])]
        else:
            n = len(case["write"])
            plan = [(writer, i, s) for i, s in enumerate(case["write"])] + \
                   [("reset:" + writer.name, n, None)] + \
                   [(reader, n + 1 + i, s) for i, s in enumerate(case["read"])]
        failure = None
        used = {writer.name: writer, reader.name: reader}
        clocked = {}  # testees sent a clock.set in this case
        for who, idx, step in plan:
            if step is None:  # between the write and the read half: the writer closes everything
                resp, problem = writer.request("reset", {})
                if problem or "error" in resp:
                    failure = "step %d reset (%s): %s" % (idx, writer.name, problem or describe(resp))
                    if problem:
                        self._revive(writer)
                    break
                continue
            op = step["op"]
            try:
                args = prepare_args(op, step.get("args", {}), d, saved)
            except Mismatch as e:
                failure = "step %d %s [%s]: %s" % (idx, op, who.name, e)
                break
            expect = step.get("expect", MISSING)
            if op.startswith("fs."):
                try:
                    resp = {"ok": fs_op(op, args, d)}
                except FsError as e:
                    resp = {"error": "FS_ERROR", "message": str(e)}
                problem = None
            else:
                if op == "clock.set":
                    clocked[who.name] = who  # reset it at the end even if this step fails
                resp, problem = who.request(op, args)
            if problem:
                tail = who.stderr_tail()
                failure = "step %d %s [%s]: expected %s, got %s%s" % (
                    idx, op, who.name, describe_expect(expect), problem, ("\n" + tail) if tail else "")
                self._revive(who)
                break
            reason = check_response(expect, resp, saved, op)
            if reason:
                failure = "step %d %s [%s]: expected %s, got %s" % (
                    idx, op, who.name, describe_expect(expect), describe(resp))
                break
            if "save" in step and "ok" in resp:
                saved[step["save"]] = canon(resp["ok"])
            if self.verbose > 1:
                print("    step %d %s -> %s" % (idx, op, describe(resp)))
        for t in clocked.values():
            if t.alive():
                resp, problem = t.request("clock.set", {"ms": 0})
                if not problem and resp.get("error") == "CAIRN_UNSUPPORTED":
                    continue  # a testee without a clock cannot have set one
                if problem or "error" in resp:
                    # the fake time might outlive this case: a fresh process starts on the real clock
                    failure = failure or "clock.set 0 [%s]: %s" % (t.name, problem or describe(resp))
                    self._revive(t)
        for t in used.values():
            if t.alive():
                resp, problem = t.request("reset", {})
                if problem:
                    self._revive(t)
                    failure = failure or "reset [%s]: %s" % (t.name, problem)
                elif "error" in resp:
                    failure = failure or "reset [%s]: %s" % (t.name, describe(resp))
            else:
                self._revive(t)
        if not self.keep:
            shutil.rmtree(d, ignore_errors=True)
        return failure

    def _revive(self, t):
        try:
            t.restart()
        except RuntimeError as e:
            print("  cannot restart %s: %s" % (t.name, e))


def load_xfail(path):
    ids = set()
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line:
                    ids.add(line.split()[0])
    return ids


def select_cases(cases, args):
    out = []
    for c in cases:
        if args.filter and not any(re.search(f, c["id"]) for f in args.filter):
            continue
        out.append(c)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Cairn conformance driver")
    ap.add_argument("--config", default=os.environ.get("CAIRN_TESTEES"),
                    help="testees.json generated by CMake (or $CAIRN_TESTEES)")
    ap.add_argument("--testee", action="append", default=[], help="testee name (repeatable; default: all)")
    ap.add_argument("--cases", action="append", default=[],
                    help="case files or globs (default: cases/*/*.json next to this script)")
    ap.add_argument("--filter", action="append", default=[], help="regular expression on case ids (repeatable)")
    ap.add_argument("--matrix", action="store_true", help="cross-language: every testee writes, every reads")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per step (default 30)")
    ap.add_argument("--keep", action="store_true", help="keep the case directories")
    ap.add_argument("--wrap", default="", help="prefix every testee command, e.g. 'valgrind -q --error-exitcode=9'")
    ap.add_argument("-v", "--verbose", action="count", default=0)
    args = ap.parse_args(argv)

    if not args.config:
        ap.error("--config is required (BUILD/tests/conformance/testees.json)")
    with open(args.config, encoding="utf-8") as f:
        config = json.load(f)["testees"]
    names = args.testee or sorted(config)
    for n in names:
        if n not in config:
            ap.error("no testee %r in %s (have: %s)" % (n, args.config, ", ".join(sorted(config)) or "none"))
    if not names:
        ap.error("no testees registered in %s" % args.config)

    schema = lint.load_schema()
    if args.cases:
        files = sorted({f for g in args.cases for f in (glob.glob(g) or [g])})
    else:
        files = lint.default_files()
    cases, problems, _ = lint.load_suite(files, schema)
    failed = passed = 0
    for p in problems:
        print("INVALID %s" % p)
        failed += 1
    cases = select_cases(cases, args)
    if args.matrix:
        cases = [c for c in cases if "write" in c]

    tmp_root = tempfile.mkdtemp(prefix="cairn-conformance-")
    testees = {}
    try:
        for n in names:
            spec = dict(config[n])
            if args.wrap:
                spec["command"] = shlex.split(args.wrap) + list(spec["command"])
            testees[n] = Testee(n, spec, args.timeout, args.verbose)
            testees[n].start()
    except RuntimeError as e:
        print("FAIL %s" % e)
        for t in testees.values():
            t.kill()
        print("%d passed, %d failed" % (passed, failed + len(cases)))
        return 1
    runner = Runner(testees, args.verbose, args.keep, tmp_root)
    xfails = {n: load_xfail(config[n].get("xfail")) for n in names}
    n_xfail = stale = 0
    started = time.monotonic()

    def record(label, cid, expected_fail, failure, secs):
        nonlocal passed, failed, n_xfail, stale
        if failure is None and not expected_fail:
            passed += 1
            if args.verbose:
                print("PASS %s%s (%.2fs)" % (cid, label, secs))
        elif failure is None and expected_fail:
            failed += 1
            stale += 1
            print("STALE %s%s: listed as an expected failure but passes (remove it from the xfail file)" % (cid, label))
        elif expected_fail:
            n_xfail += 1
            if args.verbose:
                print("XFAIL %s%s: %s" % (cid, label, failure))
        else:
            failed += 1
            print("FAIL %s%s %s" % (cid, label, failure))
        return "ok" if failure is None else ("xfail" if expected_fail else "FAIL")

    try:
        if not args.matrix:
            for n in names:
                t = testees[n]
                label = " [%s]" % n if len(names) > 1 else ""
                for c in cases:
                    t0 = time.monotonic()
                    failure = runner.run(c, t, t)
                    record(label, c["id"], c["id"] in xfails[n], failure, time.monotonic() - t0)
                # Entries for cases that do not exist are stale too (only when the whole suite ran).
                if not args.filter and not args.cases:
                    known = {c["id"] for c in cases}
                    for cid in sorted(xfails[n] - known):
                        if "[" in cid:
                            continue  # a matrix cell id
                        failed += 1
                        stale += 1
                        print("STALE %s [%s]: xfail entry for a case that does not exist" % (cid, n))
        else:
            for c in cases:
                grid = {}
                for w in names:
                    for r in names:
                        cell = "%s[%s->%s]" % (c["id"], w, r)
                        expected = cell in xfails[w] or cell in xfails[r] or (w == r and c["id"] in xfails[w])
                        t0 = time.monotonic()
                        failure = runner.run(c, testees[w], testees[r])
                        grid[w, r] = record(" [%s->%s]" % (w, r), c["id"], expected, failure, time.monotonic() - t0)
                width = max(len(n) for n in names) + 2
                print("matrix %s (rows write, columns read):" % c["id"])
                print("  " + "".ljust(width) + "".join(n.ljust(width) for n in names))
                for w in names:
                    print("  " + w.ljust(width) + "".join(grid[w, r].ljust(width) for r in names))
    finally:
        for t in testees.values():
            problem = t.stop()
            if problem:
                failed += 1
                print("FAIL %s" % problem)
        if args.keep:
            print("case directories kept under %s" % tmp_root)
        else:
            shutil.rmtree(tmp_root, ignore_errors=True)

    restarts = sum(t.starts - 1 for t in testees.values())
    print("%d expected failures (xfail), %d stale xfail entries, %d testee restarts, %.1fs" % (
        n_xfail, stale, restarts, time.monotonic() - started))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
