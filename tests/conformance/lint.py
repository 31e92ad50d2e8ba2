#!/usr/bin/env python3
"""Lint the conformance case files (Python 3 standard library only).

    python3 lint.py [--schema cases.schema.json] [FILE_OR_GLOB ...]

Checks every case file against cases.schema.json with a small validator of the JSON Schema subset
the schema uses (there is no jsonschema package here), then what a schema cannot say:
ids unique across the suite and prefixed by their engine folder, every op's arguments (x-ops),
paths confined to $DIR, well-formed typed values ($bytes, $repeat, $json, $native, and the table's
$ts and $f64) and matchers,
every $var defined by an earlier `save`, and the minimum number of cases per engine.
Exit 0 when clean; one line per problem otherwise, then `N files, N cases, N problems`.

driver.py imports load_suite() from here, so a run never starts on a malformed file.
"""
import argparse
import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_PATH = os.path.join(HERE, "cases.schema.json")
HEX_RE = re.compile(r"^(?:[0-9a-f]{2})*$")
TYPED = ("$bytes", "$repeat", "$json", "$native", "$ts", "$f64")
F64_SPECIALS = ("nan", "inf", "-inf")


# ---- a small JSON Schema validator (the subset cases.schema.json uses) -----------------------

def _type_ok(value, name):
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "null":
        return value is None
    raise ValueError("schema uses unknown type %r" % name)


def _resolve(root, ref):
    if not ref.startswith("#/"):
        raise ValueError("only local $ref are supported: %r" % ref)
    node = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def validate(value, schema, root=None, path="$"):
    """Return a list of 'path: problem' strings (empty when valid)."""
    root = root if root is not None else schema
    errs = []
    if "$ref" in schema:
        return validate(value, _resolve(root, schema["$ref"]), root, path)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, t) for t in types):
            return ["%s: expected %s, got %s" % (path, "/".join(types), type(value).__name__)]
    if "const" in schema and value != schema["const"]:
        errs.append("%s: must be %r" % (path, schema["const"]))
    if "enum" in schema and value not in schema["enum"]:
        errs.append("%s: %r is not one of %r" % (path, value, schema["enum"]))
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errs.append("%s: shorter than %d characters" % (path, schema["minLength"]))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errs.append("%s: %r does not match %s" % (path, value, schema["pattern"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append("%s: below %r" % (path, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errs.append("%s: above %r" % (path, schema["maximum"]))
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errs.append("%s: fewer than %d items" % (path, schema["minItems"]))
        if "items" in schema:
            for i, item in enumerate(value):
                errs += validate(item, schema["items"], root, "%s[%d]" % (path, i))
    if isinstance(value, dict):
        for req in schema.get("required", []):
            if req not in value:
                errs.append("%s: missing required field %r" % (path, req))
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                errs += validate(v, props[k], root, "%s.%s" % (path, k))
            elif schema.get("additionalProperties") is False:
                errs.append("%s: unknown field %r" % (path, k))
            elif isinstance(schema.get("additionalProperties"), dict):
                errs += validate(v, schema["additionalProperties"], root, "%s.%s" % (path, k))
    if "oneOf" in schema:
        n = sum(1 for s in schema["oneOf"] if not validate(value, s, root, path))
        if n != 1:
            errs.append("%s: must match exactly one alternative of oneOf (matches %d)" % (path, n))
    if "anyOf" in schema:
        if not any(not validate(value, s, root, path) for s in schema["anyOf"]):
            errs.append("%s: matches no alternative of anyOf" % path)
    if "not" in schema and not validate(value, schema["not"], root, path):
        errs.append("%s: matches a forbidden form" % path)
    return errs


# ---- semantic checks -----------------------------------------------------------------------

def _walk_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _walk_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_strings(v)


def check_typed(value, where, problems, native_names, in_expect=False, saved=None):
    """Typed values and matchers must be well formed wherever they appear."""
    if isinstance(value, list):
        for i, v in enumerate(value):
            check_typed(v, "%s[%d]" % (where, i), problems, native_names, in_expect, saved)
        return
    if not isinstance(value, dict):
        return
    dollar = [k for k in value if k.startswith("$")]
    if not dollar:
        for k, v in value.items():
            check_typed(v, "%s.%s" % (where, k), problems, native_names, in_expect, saved)
        return
    k = dollar[0]
    if k == "$var":
        extra = set(value) - {"$var", "add", "mul"}
        if extra:
            problems.append("%s: $var takes only add/mul, not %s" % (where, sorted(extra)))
        name = value["$var"].split(".")[0] if isinstance(value["$var"], str) else None
        if name is None or (saved is not None and name not in saved):
            problems.append("%s: $var %r is not saved by an earlier step" % (where, value["$var"]))
        return
    if len(value) != 1:
        problems.append("%s: a %s object must have no other fields" % (where, k))
        return
    v = value[k]
    if k == "$bytes":
        if not isinstance(v, str) or not HEX_RE.match(v):
            problems.append("%s: $bytes must be lowercase hex of even length" % where)
    elif k == "$repeat":
        if (not isinstance(v, dict) or set(v) != {"hex", "count"} or not isinstance(v["hex"], str)
                or not HEX_RE.match(v["hex"]) or not v["hex"] or not isinstance(v["count"], int)
                or v["count"] < 0):
            problems.append("%s: $repeat must be {hex (non-empty, lowercase), count >= 0}" % where)
    elif k == "$json":
        pass  # any JSON document, literally (no matchers inside)
    elif k == "$ts":
        # a table timestamp: microseconds since the Unix epoch (an int64)
        if not isinstance(v, int) or isinstance(v, bool) or not -2**63 <= v < 2**63:
            problems.append("%s: $ts takes an integer (microseconds since the Unix epoch, int64)" % where)
    elif k == "$f64":
        if v not in F64_SPECIALS:
            problems.append("%s: $f64 must be one of %s" % (where, list(F64_SPECIALS)))
    elif k == "$native":
        if v not in native_names:
            problems.append("%s: $native must be one of %s" % (where, native_names))
        if in_expect:
            problems.append("%s: $native cannot be a result" % where)
    elif in_expect and k in ("$subset",):
        if not isinstance(v, dict):
            problems.append("%s: $subset takes an object" % where)
        else:
            check_typed(v, where, problems, native_names, in_expect, saved)
    elif in_expect and k in ("$gt", "$ge", "$lt", "$le", "$ne"):
        if not (isinstance(v, (int, float)) and not isinstance(v, bool)) and not (
                isinstance(v, dict) and "$var" in v) and not (k == "$ne" and isinstance(v, str)):
            problems.append("%s: %s takes a number or a $var%s" % (where, k, " (or a string)" if k == "$ne" else ""))
        check_typed(v, where, problems, native_names, in_expect, saved)
    elif in_expect and k == "$regex":
        try:
            if not isinstance(v, str):
                raise re.error("not a string")
            re.compile(v)
        except re.error as e:
            problems.append("%s: $regex takes a regular expression (Python re syntax): %s" % (where, e))
    elif in_expect and k == "$any":
        pass
    elif in_expect and k == "$len":
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            problems.append("%s: $len takes an integer >= 0" % where)
    elif in_expect and k == "$one_of":
        if not isinstance(v, list) or len(v) < 2:
            problems.append("%s: $one_of takes a list of two or more" % where)
        else:
            check_typed(v, where, problems, native_names, in_expect, saved)
    elif in_expect and k == "error":
        pass
    elif not in_expect and k in ("$and", "$or", "$not"):
        # the WHERE operators of a table.query / table.count_where query
        check_typed(v, where, problems, native_names, in_expect, saved)
    else:
        problems.append("%s: unknown tag %s" % (where, k))


def check_expect(expect, where, problems, native_names, saved):
    if isinstance(expect, dict) and set(expect) == {"error"}:
        if not isinstance(expect["error"], str) or not re.match(r"^CAIRN_[A-Z]+$", expect["error"]):
            problems.append("%s: error must be a CAIRN_NAME" % where)
        return
    if isinstance(expect, dict) and set(expect) == {"$one_of"} and isinstance(expect["$one_of"], list):
        for i, alt in enumerate(expect["$one_of"]):
            check_expect(alt, "%s.$one_of[%d]" % (where, i), problems, native_names, saved)
        if len(expect["$one_of"]) < 2:
            problems.append("%s: $one_of takes a list of two or more" % where)
        return
    check_typed(expect, where, problems, native_names, True, saved)


def check_args(op, args, at, ops, problems):
    """An op's arguments against x-ops (required and optional names, paths under $DIR)."""
    spec = ops[op]
    for r in spec["required"]:
        if r not in args:
            problems.append("%s: missing argument %r" % (at, r))
    for a in args:
        if a not in spec["required"] and a not in spec["optional"]:
            problems.append("%s: unknown argument %r" % (at, a))
    for pa in ("path", "from", "to", "target") if op.startswith("fs.") else ("path",):  # repo.diff's from/to are digests
        p = args.get(pa)
        if isinstance(p, str) and (not p.startswith("$DIR") or ".." in p.split("/")):
            problems.append("%s: %s must live under $DIR (%r)" % (at, pa, p[:60]))


def check_fork(args, expect, at, schema, problems):
    """proc.fork: args.steps are run by the forked child (kv.* and blob.* ops only, no expect or save
    of their own); the result is one outcome per child step, so a list expect has that length."""
    spec = schema.get("x-fork-steps", {})
    fields = set(spec.get("fields", ["op", "args", "note"]))
    pattern = spec.get("op-pattern", r"^(kv|blob)\.[a-z_]+$")
    steps = args.get("steps")
    if not isinstance(steps, list) or not steps:
        problems.append("%s: steps must be a non-empty list" % at)
        return
    for j, st in enumerate(steps):
        where = "%s child step %d" % (at, j)
        if not isinstance(st, dict):
            problems.append("%s: must be an object" % where)
            continue
        extra = set(st) - fields
        if extra:
            problems.append("%s: unknown field(s) %s (the parent's expect holds the outcomes)" % (where, sorted(extra)))
        op = st.get("op")
        where += " (%s)" % op
        if not isinstance(op, str) or not re.match(pattern, op) or op not in schema["x-ops"]:
            problems.append("%s: not an op a child can run (kv.* or blob.* of x-ops)" % where)
            continue
        a = st.get("args", {})
        if not isinstance(a, dict):
            problems.append("%s: args must be an object" % where)
            continue
        check_args(op, a, where, schema["x-ops"], problems)
    if isinstance(expect, list) and len(expect) != len(steps):
        problems.append("%s: expect lists %d outcomes for %d child steps" % (at, len(expect), len(steps)))
    if isinstance(expect, list):
        for j, e in enumerate(expect):
            if isinstance(e, dict) and set(e) == {"error"} and (
                    not isinstance(e["error"], str) or not re.match(r"^CAIRN_[A-Z]+$", e["error"])):
                problems.append("%s expect[%d]: error must be a CAIRN_NAME" % (at, j))


def check_steps(steps, where, schema, problems, saved):
    ops = schema["x-ops"]
    native_names = schema["x-native"]
    for i, step in enumerate(steps):
        at = "%s step %d (%s)" % (where, i, step.get("op"))
        op = step.get("op")
        if op not in ops:
            problems.append("%s: unknown op" % at)
            continue
        args = step.get("args", {})
        check_args(op, args, at, ops, problems)
        if op == "proc.fork":
            check_fork(args, step.get("expect"), at, schema, problems)
        check_typed(args, at + " args", problems, native_names, False, saved)
        if op == "clock.set" and (not isinstance(args.get("ms"), int) or isinstance(args.get("ms"), bool)
                                  or args["ms"] < 0):
            problems.append("%s: ms must be an integer >= 0 (Unix ms; 0 = the real clock)" % at)
        if (op.startswith("fs.") or op == "clock.set") and isinstance(step.get("expect"), dict) \
                and set(step["expect"]) == {"error"} and not step["expect"]["error"].startswith("CAIRN_"):
            problems.append("%s: bad error name" % at)
        if "expect" in step:
            check_expect(step["expect"], at + " expect", problems, native_names, saved)
        if "save" in step:
            saved.add(step["save"])


def load_schema(path=SCHEMA_PATH):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def engine_of(path):
    return os.path.basename(os.path.dirname(os.path.abspath(path)))


def load_suite(files, schema):
    """Load and check case files. Returns (cases, problems, counts); each case gets `_file`."""
    cases, problems, counts, seen = [], [], {}, {}
    for path in files:
        rel = os.path.relpath(path, HERE)
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            problems.append("%s: cannot load: %s" % (rel, e))
            continue
        errs = validate(doc, schema)
        if errs:
            problems += ["%s: %s" % (rel, e) for e in errs]
            continue
        engine = engine_of(path)
        for case in doc["cases"]:
            cid = case["id"]
            where = "%s: %s" % (rel, cid)
            if not cid.startswith(engine + "."):
                problems.append("%s: id must start with %r (its folder)" % (where, engine + "."))
            if cid in seen:
                problems.append("%s: duplicate id (also in %s)" % (where, seen[cid]))
            seen[cid] = rel
            saved = set()
            if "steps" in case:
                check_steps(case["steps"], where, schema, problems, saved)
            else:
                check_steps(case["write"], where + " write", schema, problems, saved)
                check_steps(case["read"], where + " read", schema, problems, saved)
            case["_file"] = rel
            cases.append(case)
            counts[engine] = counts.get(engine, 0) + 1
    return cases, problems, counts


def default_files():
    return sorted(glob.glob(os.path.join(HERE, "cases", "*", "*.json")))


def main(argv=None):
    ap = argparse.ArgumentParser(description="lint the conformance case files")
    ap.add_argument("--schema", default=SCHEMA_PATH)
    ap.add_argument("files", nargs="*", help="case files or globs (default: cases/*/*.json)")
    opts = ap.parse_args(argv)
    schema = load_schema(opts.schema)
    # The schema must itself be well formed: every x-ops entry has required/optional lists.
    problems = []
    for op, spec in schema["x-ops"].items():
        if set(spec) != {"required", "optional"}:
            problems.append("schema: x-ops.%s needs exactly required and optional" % op)
    if opts.files:
        files = sorted({f for g in opts.files for f in (glob.glob(g) or [g])})
    else:
        files = default_files()
    cases, more, counts = load_suite(files, schema)
    problems += more
    if not opts.files:
        for engine, minimum in schema.get("x-minimum-cases", {}).items():
            if counts.get(engine, 0) < minimum:
                problems.append("suite: %d %s cases, at least %d required" % (counts.get(engine, 0), engine, minimum))
    for p in problems:
        print(p)
    print("cases per engine: " + ", ".join("%s %d" % kv for kv in sorted(counts.items())))
    print("%d files, %d cases, %d problems" % (len(files), len(cases), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
