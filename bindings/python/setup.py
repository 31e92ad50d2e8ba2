"""Build the self-contained `cairn` package: the SWIG module (from core/cairn.i) with the whole C
core compiled in, plus the thin idiomatic package and its type stubs.

Offline install (no build isolation: setuptools and wheel come from the system):

    pip install --no-build-isolation ./bindings/python

The C core is found at ../../core relative to this file (the package is built from the source
tree; CAIRN_CORE_DIR overrides). SWIG 4 is needed: `swig4.0` or `swig` on PATH, or $SWIG.
"""
import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
CORE = os.path.abspath(os.environ.get("CAIRN_CORE_DIR", os.path.join(HERE, "..", "..", "core")))


def core_sources():
    srcs = sorted(glob.glob(os.path.join(CORE, "src", "**", "*.c"), recursive=True))
    if not srcs:
        sys.exit("cairn: no C core sources under %s (set CAIRN_CORE_DIR)" % CORE)
    return srcs  # absolute: object files then stay inside build_temp


def find_swig():
    for cand in (os.environ.get("SWIG"), "swig4.0", "swig"):
        if cand and shutil.which(cand):
            return shutil.which(cand)
    sys.exit("cairn: SWIG 4 is required to build the Python binding (apt-get install swig)")


class BuildExt(build_ext):
    """Run SWIG first: the wrapper C joins the extension's sources and cairn_swig.py goes straight
    into the built package (so build_py's order does not matter)."""

    def run(self):
        swig = find_swig()
        gen = os.path.join(self.build_temp, "swig")
        os.makedirs(gen, exist_ok=True)
        pkg_out = os.path.join(self.build_lib, "cairn")
        os.makedirs(pkg_out, exist_ok=True)
        wrap = os.path.join(gen, "cairn_python_wrap.c")
        cmd = [swig, "-python", "-threads", "-O", "-I" + os.path.join(CORE, "include"),
               "-I" + CORE, "-outdir", pkg_out, "-o", wrap, os.path.join(CORE, "cairn.i")]
        self.announce(" ".join(cmd), level=2)
        subprocess.check_call(cmd)
        if self.inplace:  # develop mode: the .py belongs next to the sources
            shutil.copy(os.path.join(pkg_out, "cairn_swig.py"), os.path.join(HERE, "cairn"))
        for ext in self.extensions:
            if ext.name == "cairn._cairn_swig":
                ext.sources = [wrap] + [s for s in ext.sources if not s.endswith(".i")]
        super().run()

    def build_extension(self, ext):
        # One extension of ~20 C files: compile them in parallel (distutils does one at a time).
        compiler = self.compiler
        serial = compiler.compile

        def compile_parallel(sources, *args, **kwargs):
            if len(sources) < 2:
                return serial(sources, *args, **kwargs)
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
                done = list(pool.map(lambda src: serial([src], *args, **kwargs), sources))
            return [obj for objs in done for obj in objs]

        compiler.compile = compile_parallel
        try:
            super().build_extension(ext)
        finally:
            compiler.compile = serial


ext = Extension(
    "cairn._cairn_swig",
    sources=core_sources(),
    include_dirs=[os.path.join(CORE, "include"), os.path.join(CORE, "src"), os.path.join(CORE, "src", "util")],
    define_macros=[("_POSIX_C_SOURCE", "200809L"), ("_DEFAULT_SOURCE", None)],
    extra_compile_args=["-std=c99", "-fvisibility=hidden", "-Wno-unused-parameter",
                        "-Wno-missing-field-initializers"],
    libraries=["pthread", "m"],
)

setup(
    name="cairn",
    version="0.1.0",
    description="Cairn: embedded storage (log-structured KV store, blob store) - Python binding",
    long_description=open(os.path.join(HERE, "README.md")).read() if os.path.exists(os.path.join(HERE, "README.md")) else "",
    long_description_content_type="text/markdown",
    packages=["cairn"],
    package_dir={"cairn": "cairn"},
    package_data={"cairn": ["py.typed", "__init__.pyi"]},
    ext_modules=[ext],
    cmdclass={"build_ext": BuildExt},
    python_requires=">=3.8",
    zip_safe=False,
)
