#!/usr/bin/env python3
"""Tests of the conformance harness itself (driver.py and lint.py): it must catch what it claims to.

    python3 selftest.py            (ctest: conformance.selftest)

A fake testee (this file run with --fake-testee) keeps a dict per handle and misbehaves on demand:
key "hang" never answers, "die" exits, "garbage" writes a non-JSON line, "wrong" answers a wrong
value. Each test writes a few case files into a temporary folder and runs driver.py on them.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "driver.py")
LINT = os.path.join(HERE, "lint.py")


def fake_testee():
    handles = {}
    clock = [0]
    for line in sys.stdin:
        req = json.loads(line)
        op, args = req["op"], req.get("args", {})
        key = args.get("key")
        if key == "hang":
            time.sleep(3600)
        if key == "die":
            os._exit(3)
        if key == "garbage":
            print("this is not json", flush=True)
            continue
        if op == "clock.set":
            clock[0] = args["ms"]
            out = {"ok": None}
        elif op == "kv.get" and key == "clock":
            out = {"ok": clock[0]}
        elif op == "reset":
            handles.clear()
            out = {"ok": None}
        elif op == "kv.open":
            handles[args["handle"]] = handles.get("@" + args["path"], {})
            handles["@" + args["path"]] = handles[args["handle"]]
            out = {"ok": None}
        elif op == "kv.put":
            handles[args["handle"]][json.dumps(key)] = args["value"]
            out = {"ok": None}
        elif op == "kv.get":
            v = handles[args["handle"]].get(json.dumps(key))
            if key == "wrong":
                v = "not what was put"
            if isinstance(v, dict) and "$repeat" in v:
                v = {"$bytes": (v["$repeat"]["hex"] * v["$repeat"]["count"]).upper()}  # upper: canon must fix it
            out = {"ok": v}
        elif op == "kv.count":
            out = {"ok": len(handles[args["handle"]])}
        elif op == "kv.stats":
            out = {"ok": {"keys": len(handles[args["handle"]]), "in_txn": 0, "disk_bytes": 100}}
        elif op == "kv.keys":
            out = {"ok": [{"$bytes": "61"}, "b"]}
        elif op == "kv.delete":
            out = {"error": "CAIRN_NOTFOUND", "message": "nope"}
        elif op == "proc.fork":  # echo the child steps' arguments, as the testee received them
            out = {"ok": [st["args"] for st in args["steps"]]}
        else:
            out = {"error": "CAIRN_UNSUPPORTED", "message": op}
        print(json.dumps(out), flush=True)
    sys.exit(int(os.environ.get("FAKE_EXIT", "0")))


def step(op, expect="__none__", save=None, **args):
    s = {"op": op, "args": args}
    if expect != "__none__":
        s["expect"] = expect
    if save:
        s["save"] = save
    return s


def kv(op, expect="__none__", save=None, **args):
    args.setdefault("handle", "db")
    return step("kv." + op, expect, save, **args)


OPEN = step("kv.open", handle="db", path="$DIR/db")


class Harness(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="conf-selftest-")
        self.root = self.tmp.name
        self.xfail = os.path.join(self.root, "xfail.txt")
        open(self.xfail, "w").close()

    def tearDown(self):
        self.tmp.cleanup()

    def config(self, names=("fake",), env=None):
        testees = {n: {"command": [sys.executable, os.path.abspath(__file__), "--fake-testee"], "env": env or {},
                       "xfail": self.xfail} for n in names}
        path = os.path.join(self.root, "testees.json")
        with open(path, "w") as f:
            json.dump({"testees": testees}, f)
        return path

    def cases(self, engine, cases):
        d = os.path.join(self.root, "cases", engine)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "t.json"), "w") as f:
            json.dump({"cases": cases}, f)

    def run_driver(self, *extra, names=("fake",), env=None):
        cfg = self.config(names, env)
        p = subprocess.run([sys.executable, DRIVER, "--config", cfg, "--cases", os.path.join(self.root, "cases", "*", "*.json"),
                            "--timeout", "2"] + list(extra), capture_output=True, text=True, timeout=120)
        lines = p.stdout.strip().splitlines()
        return p.returncode, lines, p.stdout

    def case(self, cid, steps, desc="a case of the harness self-test"):
        return {"id": cid, "description": desc, "steps": steps}

    def test_pass_and_summary(self):
        self.cases("kv", [self.case("kv.t.ok", [OPEN, kv("put", key="a", value="v"), kv("get", "v", key="a"),
                                                kv("get", None, key="zz"), kv("delete", {"error": "CAIRN_NOTFOUND"}, key="a")])])
        rc, lines, out = self.run_driver()
        self.assertEqual(lines[-1], "1 passed, 0 failed", out)
        self.assertEqual(rc, 0)

    def test_wrong_value_is_reported(self):
        self.cases("kv", [self.case("kv.t.wrong", [OPEN, kv("put", key="wrong", value="v"), kv("get", "v", key="wrong")])])
        rc, lines, out = self.run_driver()
        self.assertEqual(rc, 1)
        fail = [x for x in lines if x.startswith("FAIL kv.t.wrong")]
        self.assertEqual(len(fail), 1, out)
        for part in ("step 2", "kv.get", '"v"', "not what was put"):
            self.assertIn(part, fail[0])
        self.assertEqual(lines[-1], "0 passed, 1 failed")

    def test_error_expected_but_success_and_vice_versa(self):
        self.cases("kv", [self.case("kv.t.e1", [OPEN, kv("put", {"error": "CAIRN_TYPE"}, key="a", value="v")]),
                          self.case("kv.t.e2", [OPEN, kv("delete", key="a")]),
                          self.case("kv.t.e3", [OPEN, kv("delete", {"error": "CAIRN_INVALID"}, key="a")])])
        rc, lines, out = self.run_driver()
        self.assertEqual(lines[-1], "0 passed, 3 failed", out)

    def test_timeout_restarts_and_goes_on(self):
        self.cases("kv", [self.case("kv.t.a_hang", [OPEN, kv("get", None, key="hang")]),
                          self.case("kv.t.b_after", [OPEN, kv("put", key="a", value="v"), kv("get", "v", key="a")])])
        t0 = time.monotonic()
        rc, lines, out = self.run_driver()
        self.assertLess(time.monotonic() - t0, 60)
        self.assertTrue(any("kv.t.a_hang" in x and "timeout" in x for x in lines), out)
        self.assertIn("1 testee restarts", out)
        self.assertEqual(lines[-1], "1 passed, 1 failed")

    def test_crash_and_garbage(self):
        self.cases("kv", [self.case("kv.t.a_die", [OPEN, kv("get", None, key="die")]),
                          self.case("kv.t.b_garbage", [OPEN, kv("get", None, key="garbage")]),
                          self.case("kv.t.c_fine", [OPEN, kv("count", 0)])])
        rc, lines, out = self.run_driver()
        self.assertTrue(any("kv.t.a_die" in x and "died" in x for x in lines), out)
        self.assertTrue(any("kv.t.b_garbage" in x and "not JSON" in x for x in lines), out)
        self.assertEqual(lines[-1], "1 passed, 2 failed")

    def test_nonzero_exit_at_end_fails(self):
        self.cases("kv", [self.case("kv.t.ok", [OPEN, kv("count", 0)])])
        rc, lines, out = self.run_driver(env={"FAKE_EXIT": "7"})
        self.assertEqual(rc, 1)
        self.assertTrue(any("exited with status 7" in x for x in lines), out)

    def test_xfail_expected_and_stale(self):
        self.cases("kv", [self.case("kv.t.fails", [OPEN, kv("get", "v", key="wrong")]),
                          self.case("kv.t.passes", [OPEN, kv("count", 0)])])
        with open(self.xfail, "w") as f:
            f.write("# comment\nkv.t.fails   # known\n")
        rc, lines, out = self.run_driver()
        self.assertEqual((rc, lines[-1]), (0, "1 passed, 0 failed"), out)
        with open(self.xfail, "a") as f:
            f.write("kv.t.passes\n")
        rc, lines, out = self.run_driver()
        self.assertEqual(rc, 1)
        self.assertTrue(any(x.startswith("STALE kv.t.passes") for x in lines), out)

    def test_matchers_and_canon(self):
        self.cases("kv", [self.case("kv.t.m", [
            OPEN, kv("put", key="r", value={"$repeat": {"hex": "ab", "count": 3}}),
            kv("get", {"$bytes": "ababab"}, key="r"), kv("get", {"$repeat": {"hex": "ab", "count": 3}}, key="r"),
            kv("stats", {"$subset": {"keys": 1, "disk_bytes": {"$gt": 50}}}, save="s"),
            kv("count", {"$var": "s.keys"}), kv("count", {"$one_of": [7, 1]}), kv("count", {"$le": {"$var": "s.keys", "add": -0}}),
            kv("keys", ["a", {"$bytes": "62"}])]),
            self.case("kv.t.bool_is_not_int", [OPEN, kv("stats", {"$subset": {"in_txn": False}})]),
            self.case("kv.t.subset_missing_field", [OPEN, kv("stats", {"$subset": {"nope": 1}})]),
            self.case("kv.t.gt_fails", [OPEN, kv("count", {"$gt": 0})])])
        rc, lines, out = self.run_driver("-v")
        self.assertIn("PASS kv.t.m", out)
        self.assertEqual(lines[-1], "1 passed, 3 failed", out)

    def test_regex_and_ne_on_strings(self):
        d = "0123456789abcdef" * 4
        self.cases("kv", [self.case("kv.t.rx", [
            OPEN, kv("put", key="d", value=d), kv("get", {"$regex": "^[0-9a-f]{64}$"}, key="d", save="g"),
            kv("get", {"$ne": "other"}, key="d"), kv("get", {"$var": "g"}, key="d")]),
            self.case("kv.t.rx_fails", [OPEN, kv("put", key="d", value=d.upper()), kv("get", {"$regex": "^[0-9a-f]{64}$"}, key="d")]),
            self.case("kv.t.ne_fails", [OPEN, kv("put", key="d", value=d), kv("get", d, key="d", save="g"),
                                        kv("get", {"$ne": {"$var": "g"}}, key="d")])])
        rc, lines, out = self.run_driver("-v")
        self.assertIn("PASS kv.t.rx", out)
        self.assertEqual(lines[-1], "1 passed, 2 failed", out)

    def test_fs_ops(self):
        self.cases("kv", [self.case("kv.t.fs", [
            step("fs.mkdir", path="$DIR/d"), step("fs.write_file", path="$DIR/d/001.data", hex="00010203"),
            step("fs.write_file", path="$DIR/d/002.data", hex="0a0b"), step("fs.list", ["001.data", "002.data"], path="$DIR/d"),
            step("fs.flip", path="$DIR/d/*.data", pick="first", offset=-1), step("fs.truncate", path="$DIR/d/*.data", pick="last", size=-1),
            step("fs.size", 1, path="$DIR/d/002.data"), step("fs.size", 4, save="sz", path="$DIR/d/001.data"),
            step("fs.write", path="$DIR/d/001.data", offset={"$var": "sz"}, hex="ff"), step("fs.size", 5, path="$DIR/d/001.data"),
            step("fs.copy", **{"from": "$DIR/d", "to": "$DIR/e"}), step("fs.remove", path="$DIR/d/*.data"),
            step("fs.list", [], path="$DIR/d"), step("fs.list", ["001.data", "002.data"], path="$DIR/e"),
            step("fs.symlink", path="$DIR/s", target="$DIR/e"), step("fs.list", ["001.data", "002.data"], path="$DIR/s"),
            step("fs.link", **{"from": "$DIR/e/002.data", "to": "$DIR/h"}), step("fs.size", 1, path="$DIR/h")]),
            self.case("kv.t.fs_ambiguous", [step("fs.write_file", path="$DIR/a1", hex=""), step("fs.write_file", path="$DIR/a2", hex=""),
                                            step("fs.size", 0, path="$DIR/a*")])])
        rc, lines, out = self.run_driver()
        self.assertTrue(any("kv.t.fs_ambiguous" in x and "2 files match" in x for x in lines), out)
        self.assertEqual(lines[-1], "1 passed, 1 failed", out)

    def test_clock_is_reset_after_a_case(self):
        # the first case sets a fake time (and fails); the next case must see the real clock (0 here)
        self.cases("kv", [
            self.case("kv.t.c1", [OPEN, step("clock.set", ms=5), kv("get", 7, key="clock")]),
            self.case("kv.t.c2", [OPEN, kv("get", 0, key="clock")])])
        rc, lines, out = self.run_driver("-v")
        self.assertIn("PASS kv.t.c2", out)
        self.assertEqual(lines[-1], "1 passed, 1 failed", out)

    def test_invalid_file_is_a_failure(self):
        self.cases("kv", [{"id": "kv.t.bad", "description": "short", "steps": []}])
        rc, lines, out = self.run_driver()
        self.assertEqual(rc, 1)
        self.assertTrue(any(x.startswith("INVALID") for x in lines), out)

    def test_lint_rules(self):
        self.cases("kv", [self.case("blob.t.wrong_folder", [OPEN]),
                          self.case("kv.t.dup", [OPEN]), self.case("kv.t.dup", [OPEN]),
                          self.case("kv.t.args", [kv("get", key="a", bogus=1), kv("count", {"$var": "never_saved"}),
                                                  step("kv.open", handle="db", path="/abs/path"),
                                                  kv("put", key={"$bytes": "ABC"}, value={"$native": "banana"})])])
        p = subprocess.run([sys.executable, LINT, os.path.join(self.root, "cases", "kv", "t.json")],
                           capture_output=True, text=True, timeout=60)
        out = p.stdout
        self.assertEqual(p.returncode, 1)
        for needle in ("its folder", "duplicate id", "missing argument 'handle'" if False else "unknown argument 'bogus'",
                       "not saved", "must live under $DIR", "$bytes must be lowercase hex", "$native must be one of"):
            self.assertIn(needle, out)

    def test_lint_fork_rules(self):
        child = [kv("put", key="a", value="v"), step("fs.size", path="$DIR/x"), {"op": "kv.get", "args": {"handle": "db"}},
                 {"op": "kv.count", "args": {"handle": "db"}, "expect": 1}, step("proc.fork", steps=[kv("count")])]
        self.cases("kv", [self.case("kv.t.fork", [OPEN, step("proc.fork", [{"error": "nope"}], steps=child)]),
                          self.case("kv.t.fork_ok", [OPEN, step("proc.fork", [{"error": "CAIRN_FORKED"}, 0],
                                                                steps=[kv("put", key="a", value="v"), kv("count")])])])
        p = subprocess.run([sys.executable, LINT, os.path.join(self.root, "cases", "kv", "t.json")],
                           capture_output=True, text=True, timeout=60)
        out = p.stdout
        self.assertEqual(p.returncode, 1)
        for needle in ("child step 1 (fs.size): not an op a child can run", "child step 2 (kv.get): missing argument 'key'",
                       "child step 3: unknown field(s) ['expect']", "child step 4 (proc.fork): not an op",
                       "expect lists 1 outcomes for 5 child steps", "expect[0]: error must be a CAIRN_NAME"):
            self.assertIn(needle, out)
        self.assertNotIn("kv.t.fork_ok", out)
        self.assertIn("2 cases, 6 problems", out)

    def test_fork_op_goes_to_the_testee_with_dir_and_vars_resolved(self):
        self.cases("kv", [self.case("kv.t.fork", [
            OPEN, kv("count", save="n"),
            step("proc.fork", {"$len": 2}, steps=[step("kv.open", handle="x", path="$DIR/y"),
                                                   kv("put", key={"$repeat": {"hex": "61", "count": 2}}, value={"$var": "n"})])])])
        rc, lines, out = self.run_driver("-vv")
        self.assertEqual(lines[-1], "1 passed, 0 failed", out)
        echo = [x for x in lines if "proc.fork ->" in x]
        self.assertEqual(len(echo), 1, out)
        self.assertNotIn("$DIR", echo[0])
        self.assertIn('/y"', echo[0])
        self.assertIn('"key": {"$bytes": "6161"}', echo[0])  # a $repeat key travels as $bytes
        self.assertIn('"value": 0', echo[0])  # the saved count

    def test_matrix_grid(self):
        self.cases("xlang", [{"id": "xlang.t.rw", "description": "written by one, read by the other",
                              "write": [OPEN, kv("put", key="a", value="v")],
                              "read": [OPEN, kv("get", None, key="a")]}])
        rc, lines, out = self.run_driver("--matrix", names=("one", "two"))
        # The fake keeps data in memory only: nothing crosses a process (or a reset), so every cell passes
        # with null; what is checked here is the 2x2 grid and the counting.
        self.assertIn("matrix xlang.t.rw", out)
        self.assertEqual(lines[-1], "4 passed, 0 failed", out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--fake-testee":
        fake_testee()
    else:
        unittest.main(verbosity=1)
