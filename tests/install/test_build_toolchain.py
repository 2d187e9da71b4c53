"""The throw-away build environment of scripts/wheel_build.sh builds a C++ torch extension wheel on this machine.

This is the cheap stand-in for the mmcv build that a fresh machine runs (35 CPU-minutes): the same shell
function, build tools and pip flags (`pip wheel --no-deps --no-build-isolation` with setuptools 69.5.1,
wheel and ninja on PYTHONPATH/PATH), on a one-file extension whose setup.py, like mmcv's, imports
``pkg_resources`` and builds with torch's ``BuildExtension`` (ninja). It fails wherever the mmcv build would
fail for a reason that is not mmcv's source, e.g. "invalid command 'bdist_wheel'" when ``wheel`` is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SETUP_PY = """
import pkg_resources  # noqa: F401  (mmcv's setup.py imports it: needs setuptools < 81)
from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CppExtension

setup(name="tiny_ext", version="0.0.1",
      ext_modules=[CppExtension("tiny_ext", ["tiny_ext.cpp"], extra_compile_args=["-std=c++17"])],
      cmdclass={"build_ext": BuildExtension})
"""

# Plain CPython API plus one light torch header, so the compile takes seconds, not the minute that
# <torch/extension.h> takes; the link step still links torch's libraries as mmcv's does.
EXT_CPP = """
#include <Python.h>
#include <c10/macros/Macros.h>

static PyObject* answer(PyObject*, PyObject*) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, "42"}, {nullptr, nullptr, 0, nullptr}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "tiny_ext", nullptr, -1, methods};
PyMODINIT_FUNC PyInit_tiny_ext(void) { return PyModule_Create(&module); }
"""


def build_tiny_extension(tmp_path: Path, *, tools: str | None = None) -> tuple[subprocess.CompletedProcess, Path]:
    """Run ``wheel_build`` from scripts/wheel_build.sh on the tiny extension; (the bash run, the work folder).

    ``tools`` replaces WHEEL_BUILD_TOOLS (a bash array body), to show the check fails with a broken recipe.
    """
    src = tmp_path / "src"
    src.mkdir()
    (src / "setup.py").write_text(SETUP_PY)
    (src / "tiny_ext.cpp").write_text(EXT_CPP)
    work = tmp_path / "work"
    override = f"WHEEL_BUILD_TOOLS=({tools})" if tools is not None else ""
    script = f'set -euo pipefail; source "$REPO/scripts/wheel_build.sh"; {override}\n' \
             'wheel_build "tiny extension" "$PY" "$WORK" "$WORK/build.log" "$SRC"'
    env = {**os.environ, "REPO": str(REPO), "PY": sys.executable, "WORK": str(work), "SRC": str(src),
           "MAX_JOBS": "1", "WHEEL_BUILD_PROGRESS_S": "5"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=600)
    return done, work


def test_the_throwaway_build_environment_builds_a_torch_extension_wheel(tmp_path):
    done, work = build_tiny_extension(tmp_path)
    log = work / "build.log"
    assert done.returncode == 0, done.stderr + (log.read_text()[-4000:] if log.is_file() else "")
    wheels = sorted((work / "dist").glob("tiny_ext-0.0.1-*.whl"))
    assert len(wheels) == 1, sorted(p.name for p in (work / "dist").iterdir())
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert any(n.startswith("tiny_ext.") and n.endswith(".so") for n in names), names
    assert "[1/1]" in log.read_text(), "the extension was not compiled through ninja, as mmcv's is"
    assert "tiny extension: built in" in done.stderr


def test_a_broken_recipe_fails_with_the_reason_and_the_log_path_only(tmp_path):
    """Today's fresh-machine bug: setuptools 69.5.1 without `wheel` has no bdist_wheel."""
    done, work = build_tiny_extension(tmp_path, tools='"setuptools==69.5.1" "ninja==1.13.2"')
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-2].startswith("[wheel_build] tiny extension: build failed after "), done.stderr
    assert "invalid command 'bdist_wheel'" in lines[-2], done.stderr
    assert lines[-1] == f"[wheel_build] full log: {work / 'build.log'}", done.stderr
    assert "unbound variable" not in done.stderr


def _settings_hash(extra: str = "") -> str:
    script = f'set -euo pipefail; source "$REPO/scripts/wheel_build.sh"; {extra}\nwheel_build_settings_hash'
    done = subprocess.run(["bash", "-c", script], env={**os.environ, "REPO": str(REPO)}, capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stdout.strip()


def test_the_wheel_cache_key_changes_with_the_build_recipe():
    base = _settings_hash('WHEEL_BUILD_ENV=("MMCV_WITH_OPS=1" "FORCE_CUDA=0")')
    assert len(base) == 12 and base == _settings_hash('WHEEL_BUILD_ENV=("MMCV_WITH_OPS=1" "FORCE_CUDA=0")')
    assert base != _settings_hash('WHEEL_BUILD_ENV=("MMCV_WITH_OPS=0" "FORCE_CUDA=0")')
    assert base != _settings_hash('WHEEL_BUILD_ENV=("MMCV_WITH_OPS=1" "FORCE_CUDA=0"); '
                                  'WHEEL_BUILD_TOOLS=("setuptools==70.0.0")')
