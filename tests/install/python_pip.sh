#!/usr/bin/env bash
# What a Python user does (docs/python.md, "Install"): a fresh venv of their own, `pip install` of
# bindings/python from the checkout (offline: no package index is consulted, PIP_NO_INDEX=1 proves
# it), then the guide's first example, run in a project directory outside the repository.
# The venv is a plain one (no --system-site-packages): the build backend needs only the standard
# library, SWIG and a C compiler.
# Usage: python_pip.sh SOURCE_DIR PYTHON
set -euo pipefail
src=$1 python=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for tool in "$python" swig cc; do
  [[ $tool == swig ]] && { command -v swig4.0 >/dev/null || command -v swig >/dev/null; } && continue
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (scripts/setup.sh installs what the Python install needs)"; exit 1; }
done
python=$("$python" -c 'import sys; print(sys.executable)')  # the interpreter, not a launcher script
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL
# No pip configuration of this machine: a fresh one has none.
export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

# The guide, with path/to/cairn being the checkout.
"$python" -m venv "$tmp/myapp/.venv"
# shellcheck disable=SC1091
. "$tmp/myapp/.venv/bin/activate"
pip install "$src/bindings/python"

"$here/first_example.sh" "$src/docs/python.md" python > "$tmp/myapp/first.py"
cd "$tmp/myapp"
python - <<'PY'
import os, sys, cairn
where = os.path.realpath(cairn.__file__)
assert where.startswith(os.path.realpath(sys.prefix)), "cairn imported from " + where + ", not the venv"
print("cairn", cairn.__version__, "from", os.path.relpath(where, os.path.realpath(sys.prefix)), "in the venv")
PY
python first.py
test -d app.db || { echo "the first example did not create app.db"; exit 1; }
echo "installed Python package: pip install into a fresh venv, the guide's first example ran"
