"""ctest python.pip_install: `pip install` the binding offline into a throw-away venv and use it.

usage: pip_install_check.py <bindings/python source dir> <scratch dir>

The source dir is copied to the scratch dir first, so the build leaves nothing in the source tree
(CAIRN_CORE_DIR points the copy back at the core). The venv uses --system-site-packages so that
setuptools is the system's; `wheel` is taken from the system if it has it, else from Debian's
python3-wheel-whl (offline). Exit 77 (skipped) when no wheel package can be found offline.
"""
import glob
import os
import shutil
import subprocess
import sys
import venv

src, scratch = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
core = os.path.abspath(os.path.join(src, "..", "..", "core"))
shutil.rmtree(scratch, ignore_errors=True)
os.makedirs(scratch)
pkg = os.path.join(scratch, "src")
shutil.copytree(src, pkg, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests",
                                                        "cairn_swig.py", "*.so"))
env_dir = os.path.join(scratch, "venv")
# No ensurepip when it can be helped (slow): pip >= 22.3 drives another interpreter (--python).
try:
    import pip as _pip
    outer_pip = tuple(int(x) for x in _pip.__version__.split(".")[:2]) >= (22, 3)
except (ImportError, ValueError):
    outer_pip = False
venv.EnvBuilder(system_site_packages=True, with_pip=not outer_pip, symlinks=True).create(env_dir)
py = os.path.join(env_dir, "bin", "python")
pip = [sys.executable, "-m", "pip", "--python", py] if outer_pip else [py, "-m", "pip"]
env = dict(os.environ, CAIRN_CORE_DIR=core, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
env.pop("PYTHONPATH", None)


def run(*args):
    print("+", " ".join(args), flush=True)
    subprocess.check_call(list(args), env=env, cwd=scratch)


if subprocess.call([py, "-c", "import wheel"], env=env, stderr=subprocess.DEVNULL) != 0:
    wheels = sorted(glob.glob(os.path.join(os.environ.get("CAIRN_WHEEL_DIR", "/usr/share/python-wheels"),
                                           "wheel-*.whl")))
    if not wheels:
        print("SKIP: no 'wheel' package available offline (apt-get install python3-wheel-whl)")
        sys.exit(77)
    run(*pip, "install", "--no-index", "-q", wheels[-1])

run(*pip, "install", "--no-index", "--no-build-isolation", "-q", pkg)
check = r"""
import os, sys, tempfile, cairn
assert os.path.dirname(cairn.__file__).startswith(sys.prefix), cairn.__file__
here = os.path.dirname(cairn.__file__)
assert os.path.exists(os.path.join(here, "py.typed")) and os.path.exists(os.path.join(here, "__init__.pyi"))
with tempfile.TemporaryDirectory() as d:
    with cairn.KV(os.path.join(d, "db"), sync="none") as db:
        db["k"] = {"a": 1}
        assert db["k"] == {"a": 1}
    with cairn.KV(os.path.join(d, "db")) as db:
        assert db["k"] == {"a": 1}
    with cairn.Table(os.path.join(d, "t"), schema="id i64 primary key, name string", sync="none") as t:
        assert t.insert({"id": 1, "name": "a"}) == 1 and t[1] == {"id": 1, "name": "a"}
print("installed cairn", cairn.__version__, "OK")
"""
run(py, "-c", check)
shutil.rmtree(scratch, ignore_errors=True)
