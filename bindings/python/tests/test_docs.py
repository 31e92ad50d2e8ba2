"""Run every ```python block of docs/python.md, in order, in one namespace, in a temp directory."""
import os
import re
import shutil
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(os.environ.get("CAIRN_DOCS_DIR") or os.path.join(HERE, "..", "..", "..", "docs"), "python.md")


class DocExamples(unittest.TestCase):
    def test_examples_run(self):
        with open(DOC, encoding="utf-8") as f:
            blocks = re.findall(r"^```python\n(.*?)^```", f.read(), re.S | re.M)
        self.assertGreaterEqual(len(blocks), 4)
        cwd = os.getcwd()
        d = tempfile.mkdtemp(prefix="cairn-docs-")
        ns = {"__name__": "__docs__"}
        try:
            os.chdir(d)
            for i, src in enumerate(blocks):
                with self.subTest(block=i):
                    exec(compile(src, "%s[block %d]" % (DOC, i), "exec"), ns)
        finally:
            os.chdir(cwd)
            import gc
            ns.clear()
            gc.collect()
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
