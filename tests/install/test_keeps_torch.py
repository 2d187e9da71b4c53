"""`pip install .` into a venv that has another torch 2.x (a CUDA build, say) leaves that torch in place.

The venv sees this interpreter's packages through a .pth file, except torch/torchvision (and ecamp-bench), and
holds the metadata of torch 2.11.0 / torchvision 0.26.0 (the GPU check machine's versions) as its own
installed distributions. pip then resolves ecamp-bench's requirements offline (``--no-index``): with the torch
range they are all satisfied and nothing is installed but ecamp-bench; with the old exact pin
(``torch==2.13.0``) pip must replace torch, which the same run shows by failing to find it offline.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from test_wheel_install import OWN, copy_of_the_tree, pip_install_offline, venv_seeing_this_interpreter

pytestmark = pytest.mark.slow

# torch and what comes with it (torchvision, torchgen, its CUDA libraries, triton), and ecamp-bench itself
HIDDEN = (*OWN, "torch", "nvidia", "triton", "functorch")


def _installed_stub(purelib: Path, name: str, version: str) -> None:
    info = purelib / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("test\n")
    (info / "RECORD").write_text(f"{info.name}/METADATA,,\n{info.name}/INSTALLER,,\n{info.name}/RECORD,,\n")


def _pip_install_into_a_venv_with_torch_2_11(root: Path, pyproject_edit=None) -> tuple[subprocess.CompletedProcess,
                                                                                       Path]:
    src = copy_of_the_tree(root / "src")
    if pyproject_edit is not None:
        (src / "pyproject.toml").write_text(pyproject_edit((src / "pyproject.toml").read_text()))
    python, purelib = venv_seeing_this_interpreter(root, HIDDEN)
    _installed_stub(purelib, "torch", "2.11.0")
    _installed_stub(purelib, "torchvision", "0.26.0")
    # Offline, with nothing to install from (no find-links from the environment or pip's config files).
    env = {**{k: v for k, v in os.environ.items() if k != "PIP_FIND_LINKS"}, "PIP_CONFIG_FILE": os.devnull}
    done = pip_install_offline(python, "--no-build-isolation", "--disable-pip-version-check", str(src), timeout=600,
                               env=env)
    return done, purelib


def _versions(purelib: Path) -> dict[str, str]:
    return dict(p.name.removesuffix(".dist-info").rsplit("-", 1) for p in purelib.glob("*.dist-info"))


def test_pip_install_keeps_the_torch_the_venv_has(tmp_path):
    done, purelib = _pip_install_into_a_venv_with_torch_2_11(tmp_path / "range")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    versions = _versions(purelib)
    assert versions["torch"] == "2.11.0" and versions["torchvision"] == "0.26.0", versions
    assert versions.get("ecamp_bench") == "0.1.0", versions
    assert "Successfully installed ecamp-bench-0.1.0" in done.stdout
    assert "torch" not in done.stdout.split("Successfully installed")[-1]

    # The control: the exact pin of before would have to replace that torch (offline, pip cannot find one).
    pinned, purelib = _pip_install_into_a_venv_with_torch_2_11(
        tmp_path / "pin", lambda text: text.replace('"torch>=2.11,<2.14"', '"torch==2.13.0"'))
    assert pinned.returncode != 0 and "torch==2.13.0" in pinned.stdout + pinned.stderr
    assert _versions(purelib)["torch"] == "2.11.0"
