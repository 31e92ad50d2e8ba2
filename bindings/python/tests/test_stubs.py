"""The type stubs (cairn/__init__.pyi) parse and cover the public API of the package."""
import ast
import inspect
import os
import unittest

import cairn


class Stubs(unittest.TestCase):
    def test_stub_covers_public_api(self):
        pkg = os.path.dirname(cairn.__file__)
        self.assertTrue(os.path.exists(os.path.join(pkg, "py.typed")))
        with open(os.path.join(pkg, "__init__.pyi"), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        top = {}
        for node in tree.body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                top[node.name] = node
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    top[getattr(t, "id", None)] = node
            elif isinstance(node, ast.AnnAssign):
                top[node.target.id] = node
        missing = [n for n in cairn.__all__ if n not in top]
        self.assertEqual(missing, [])
        for cls in (cairn.KV, cairn.BlobStore, cairn.Table, cairn.Repo):
            stub = top[cls.__name__]
            stub_classes, todo = [], [stub]
            while todo:  # the stub class and its stub bases, transitively
                c = todo.pop()
                stub_classes.append(c)
                todo += [top[b.id] for b in c.bases if isinstance(b, ast.Name) and b.id in top]
            stub_methods = {n.name for c in stub_classes for n in c.body if isinstance(n, ast.FunctionDef)}
            public = {n for klass in cls.__mro__ if klass.__module__ == "cairn" for n, v in vars(klass).items()
                      if not n.startswith("_")
                      and (inspect.isfunction(v) or isinstance(v, (property, staticmethod, classmethod)))}
            self.assertEqual(sorted(public - stub_methods), [], cls.__name__)


if __name__ == "__main__":
    unittest.main()
