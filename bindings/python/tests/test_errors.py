"""The exception hierarchy is generated from the core's error table and matches it exactly."""
import glob
import os
import re
import unittest

import cairn
from cairn import cairn_swig as raw

HERE = os.path.dirname(os.path.abspath(__file__))
ERRORS_DEF = os.path.join(HERE, "..", "..", "..", "core", "include", "cairn_errors.def")


class Hierarchy(unittest.TestCase):
    def table(self):
        rows = []
        with open(ERRORS_DEF, encoding="utf-8") as f:
            for m in re.finditer(r'^X\(\s*(-?\d+),\s*(\w+),\s*"([^"]*)"\)', f.read(), re.M):
                rows.append((int(m.group(1)), m.group(2), m.group(3)))
        self.assertGreater(len(rows), 10)
        return rows

    def test_one_class_per_code(self):
        for code, name, text in self.table():
            if code == 0:
                continue
            cls = cairn.error_class(code)
            self.assertTrue(issubclass(cls, cairn.Error))
            self.assertEqual(cls.code, code)
            self.assertEqual(cls.name, "CAIRN_" + name)
            self.assertIs(cairn.error_class("CAIRN_" + name), cls)
            self.assertIs(cairn.error_class(name), cls)
            self.assertEqual(getattr(raw, "CAIRN_" + name), code)
            self.assertEqual(str(cls()), text)  # default message: the table's text
            if name != "ERROR":
                self.assertIs(getattr(cairn, cls.__name__), cls)
        self.assertIs(cairn.error_class("CAIRN_ERROR"), cairn.Error)

    def test_builtin_bases(self):
        self.assertTrue(issubclass(cairn.NotFoundError, KeyError))
        self.assertTrue(issubclass(cairn.TypeMismatch, TypeError))
        self.assertIs(cairn.TypeError_, cairn.TypeMismatch)
        self.assertTrue(issubclass(cairn.InvalidError, ValueError))
        self.assertTrue(issubclass(cairn.ClosedError, cairn.Error))
        for n in ("LockedError", "CorruptError", "TxnError", "BusyError", "ReadOnlyError"):
            self.assertTrue(issubclass(getattr(cairn, n), cairn.Error), n)

    def test_message_is_plain_even_for_keyerror(self):
        e = cairn.NotFoundError("key 'x' not found")
        self.assertEqual(str(e), "key 'x' not found")
        self.assertEqual(e.message, "key 'x' not found")
        self.assertEqual(e.code, -2)

    def test_raw_layer_raises_registered_classes_with_detail(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            f = os.path.join(d, "file")
            open(f, "w").close()
            with self.assertRaises(cairn.PathError) as cm:
                cairn.KV(f)  # a file where a directory is needed
            self.assertEqual(cm.exception.name, "CAIRN_PATH")
            self.assertTrue(cm.exception.message)

    def test_raw_module_is_one_to_one(self):
        # every function of the C API is reachable from the raw module
        include = os.path.join(HERE, "..", "..", "..", "core", "include")
        parts = [os.path.join(include, "cairn.h")] + sorted(glob.glob(os.path.join(include, "cairn", "*.h")))
        names = set()
        for header in parts:
            with open(header, encoding="utf-8") as f:
                names |= set(re.findall(r"CAIRN_API [^;(]*?\b(cairn_\w+)\s*\(", f.read()))
        self.assertGreater(len(names), 40)
        # what core/cairn.i leaves out on purpose (%ignore, with its reason there), e.g. the table's
        # typed cairn_value functions
        with open(os.path.join(include, "..", "cairn.i"), encoding="utf-8") as f:
            names -= set(re.findall(r"^%ignore (cairn_\w+);", f.read(), re.M))
        missing = sorted(n for n in names if not hasattr(raw, n))
        self.assertEqual(missing, [])


if __name__ == "__main__":
    unittest.main()
