"""The PEP 517 build backend of the `cairn` Python package (in-tree: pyproject.toml names it with
backend-path, so pip needs nothing from an index to build it).

Why not setuptools: a fresh venv has no `wheel`, and with build isolation pip would download
setuptools and wheel from the package index. This backend needs only the standard library, SWIG 4
and the C compiler Python was built with, so `pip install ./bindings/python` works offline.

build_wheel: runs SWIG on core/cairn.i (with cairn_python.i), compiles the wrapper together with
every C source of the core into cairn/_cairn_swig<EXT_SUFFIX> (no libcairn needed at run time), and
writes a wheel holding the package cairn/ (the idiomatic layer, its stubs, cairn_swig.py and the
extension).
build_sdist: a source archive that carries the C core it builds from (under vendor/), so it builds
anywhere, outside the repository too.

Where the C core is: $CAIRN_CORE_DIR, else vendor/core (an sdist), else ../../core (the repository).
SWIG: $SWIG, else `swig4.0` or `swig` on PATH. Compiler: $CC (default: the one Python was built
with), plus $CFLAGS / $LDFLAGS. Compiles run in parallel ($CAIRN_BUILD_JOBS, default: CPU count).
"""
import base64
import glob
import hashlib
import io
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor

NAME = "cairn"
VERSION = "0.1.0"
SUMMARY = "Cairn: embedded storage (log-structured KV store, blob store) - Python binding"
REQUIRES_PYTHON = ">=3.8"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bindings/python
PKG_FILES = ("__init__.py", "__init__.pyi", "py.typed")
# What an sdist holds besides the vendored core (paths relative to bindings/python).
SDIST_FILES = ("pyproject.toml", "README.md", "cairn_python.i", "build_backend/cairn_build.py") + \
    tuple("cairn/" + f for f in PKG_FILES)


def _log(msg):
    print("cairn-build: " + msg, file=sys.stderr, flush=True)


def _fail(msg):
    raise SystemExit("cairn-build: " + msg)


def _core_dir():
    env = os.environ.get("CAIRN_CORE_DIR")
    cands = [env] if env else [os.path.join(HERE, "vendor", "core"), os.path.join(HERE, "..", "..", "core")]
    for c in cands:
        if os.path.isfile(os.path.join(c, "include", "cairn.h")) and os.path.isfile(os.path.join(c, "cairn.i")):
            return os.path.abspath(c)
    _fail("the C core of Cairn is not at %s (set CAIRN_CORE_DIR)" % " or ".join(os.path.abspath(c) for c in cands))


def _swig():
    for cand in (os.environ.get("SWIG"), "swig4.0", "swig"):
        if cand and shutil.which(cand):
            return shutil.which(cand)
    _fail("SWIG 4 is needed to build the Python binding (Debian: apt-get install swig)")


def _run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.stdout.strip():
        sys.stderr.write(r.stdout)
    if r.returncode != 0:
        _fail("failed (%d): %s" % (r.returncode, " ".join(cmd)))


def _wheel_tag():
    ver = "%d%d" % sys.version_info[:2]
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    if sys.implementation.name == "cpython":
        return "cp%s-cp%s%s-%s" % (ver, ver, getattr(sys, "abiflags", ""), plat)
    soabi = (sysconfig.get_config_var("SOABI") or sys.implementation.name).replace("-", "_").replace(".", "_")
    return "%s%s-%s-%s" % (sys.implementation.name[:2], ver, soabi, plat)


def _build_extension(tmp):
    """SWIG + compile + link into tmp/pkg/cairn; returns that package directory."""
    core = _core_dir()
    sources = sorted(glob.glob(os.path.join(core, "src", "**", "*.c"), recursive=True))
    if not sources:
        _fail("no C sources under %s" % os.path.join(core, "src"))
    pkg = os.path.join(tmp, "pkg", NAME)
    os.makedirs(pkg)
    objdir = os.path.join(tmp, "obj")
    os.makedirs(objdir)
    wrap = os.path.join(tmp, "cairn_python_wrap.c")
    _log("SWIG: core/cairn.i -> cairn_swig.py")
    _run([_swig(), "-python", "-threads", "-O", "-I" + os.path.join(core, "include"), "-I" + core,
          "-outdir", pkg, "-o", wrap, os.path.join(core, "cairn.i")])

    cv = sysconfig.get_config_var
    cc = shlex.split(os.environ.get("CC") or cv("CC") or "cc")
    cflags = shlex.split(cv("CFLAGS") or "") + shlex.split(cv("CCSHARED") or "-fPIC") + \
        shlex.split(os.environ.get("CFLAGS", ""))
    paths = sysconfig.get_paths()
    incs = ["-I" + os.path.join(core, "include"), "-I" + os.path.join(core, "src"),
            "-I" + os.path.join(core, "src", "util"), "-I" + paths["include"]]
    if paths.get("platinclude") and paths["platinclude"] != paths["include"]:
        incs.append("-I" + paths["platinclude"])
    ours = ["-std=c99", "-D_POSIX_C_SOURCE=200809L", "-D_DEFAULT_SOURCE", "-fvisibility=hidden",
            "-Wno-unused-parameter", "-Wno-missing-field-initializers"]

    def compile_one(i_src):
        i, src = i_src
        obj = os.path.join(objdir, "%03d_%s.o" % (i, os.path.splitext(os.path.basename(src))[0]))
        _run(cc + cflags + ours + incs + ["-c", src, "-o", obj])
        return obj

    units = [wrap] + sources
    jobs = int(os.environ.get("CAIRN_BUILD_JOBS") or os.cpu_count() or 2)
    _log("compiling %d C files (%d at a time) with %s" % (len(units), jobs, " ".join(cc)))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        objs = list(pool.map(compile_one, enumerate(units)))

    ldshared = shlex.split(os.environ.get("LDSHARED") or cv("LDSHARED") or (" ".join(cc) + " -shared"))
    if os.environ.get("CC") and not os.environ.get("LDSHARED"):  # keep Python's link flags, swap the driver
        ldshared = cc + ldshared[1:]
    ext = os.path.join(pkg, "_cairn_swig" + (cv("EXT_SUFFIX") or ".so"))
    _log("linking cairn/" + os.path.basename(ext))
    _run(ldshared + shlex.split(os.environ.get("LDFLAGS", "")) + objs + ["-o", ext, "-lpthread", "-lm", "-lcrypto"])

    for f in PKG_FILES:
        shutil.copy(os.path.join(HERE, "cairn", f), os.path.join(pkg, f))
    return pkg


def _metadata():
    readme = os.path.join(HERE, "README.md")
    body = open(readme, encoding="utf-8").read() if os.path.exists(readme) else ""
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\nLicense: MIT\n"
            "Requires-Python: %s\nDescription-Content-Type: text/markdown\n\n%s"
            % (NAME, VERSION, SUMMARY, REQUIRES_PYTHON, body))


def _dist_info_files(tag):
    return {
        "METADATA": _metadata(),
        "WHEEL": "Wheel-Version: 1.0\nGenerator: cairn_build %s\nRoot-Is-Purelib: false\nTag: %s\n" % (VERSION, tag),
        "top_level.txt": NAME + "\n",
    }


# --- PEP 517 hooks ---------------------------------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    di = "%s-%s.dist-info" % (NAME, VERSION)
    os.makedirs(os.path.join(metadata_directory, di), exist_ok=True)
    for name, text in _dist_info_files(_wheel_tag()).items():
        with open(os.path.join(metadata_directory, di, name), "w", encoding="utf-8") as f:
            f.write(text)
    return di


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    tag = _wheel_tag()
    whl_name = "%s-%s-%s.whl" % (NAME, VERSION, tag)
    di = "%s-%s.dist-info" % (NAME, VERSION)
    tmp = tempfile.mkdtemp(prefix="cairn-build-")
    try:
        pkg = _build_extension(tmp)
        entries = []  # (arcname, bytes)
        for f in sorted(os.listdir(pkg)):
            with open(os.path.join(pkg, f), "rb") as fh:
                entries.append(("%s/%s" % (NAME, f), fh.read()))
        for name, text in _dist_info_files(tag).items():
            entries.append(("%s/%s" % (di, name), text.encode("utf-8")))
        record = io.StringIO()
        for arc, data in entries:
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.write("%s,sha256=%s,%d\n" % (arc, digest, len(data)))
        record.write("%s/RECORD,,\n" % di)
        entries.append(("%s/RECORD" % di, record.getvalue().encode("utf-8")))
        os.makedirs(wheel_directory, exist_ok=True)
        with zipfile.ZipFile(os.path.join(wheel_directory, whl_name), "w", zipfile.ZIP_DEFLATED) as z:
            for arc, data in entries:
                info = zipfile.ZipInfo(arc, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if arc.endswith(".so") else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
        _log("built " + whl_name)
        return whl_name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_sdist(sdist_directory, config_settings=None):
    """cairn-VERSION.tar.gz: this directory's sources plus the C core under vendor/ (laid out as in
    the repository, so that core/cairn.i finds ../bindings/python/cairn_python.i)."""
    core = _core_dir()
    base = "%s-%s" % (NAME, VERSION)
    name = base + ".tar.gz"
    os.makedirs(sdist_directory, exist_ok=True)
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz", format=tarfile.PAX_FORMAT) as t:
        def add(path, arc):
            t.add(path, arcname=base + "/" + arc, recursive=False)
        for f in SDIST_FILES:
            add(os.path.join(HERE, f), f)
        for d, _, files in os.walk(core):
            for f in sorted(files):
                if f.endswith((".c", ".h", ".def", ".i")):
                    p = os.path.join(d, f)
                    add(p, "vendor/core/" + os.path.relpath(p, core))
        add(os.path.join(HERE, "cairn_python.i"), "vendor/bindings/python/cairn_python.i")
        info = _metadata().encode("utf-8")
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size, ti.mode = len(info), 0o644
        t.addfile(ti, io.BytesIO(info))
    _log("built " + name)
    return name
