"""A built wheel of ecamp-bench carries everything read at run time, and works installed non-editable.

The wheel is built from a copy of the working tree (git's tracked and untracked-not-ignored files) with the
same throw-away build environment as mmcv (scripts/wheel_build.sh), then installed into a fresh venv whose
only other packages are the ones of this interpreter, seen through a .pth file (ecamp-bench's own editable
install hidden), so no dependency is downloaded or copied and no OpenMMLab stack is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OWN = ("ecamp_bench", "__editable__.ecamp_bench", "__editable___ecamp_bench")


def _source_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    return [f for f in listed if (REPO / f).is_file()]


def _site_packages_without_ecamp_bench(into: Path, hidden: tuple[str, ...] = OWN) -> list[Path]:
    """One folder per site-packages folder of this interpreter, of links to all its entries but ecamp-bench's
    (and those whose names start with another of ``hidden``)."""
    folders = []
    for i, entry in enumerate(p for p in dict.fromkeys(sys.path) if Path(p).name in ("site-packages", "dist-packages")):
        view = into / f"deps{i}"
        view.mkdir(parents=True)
        for item in Path(entry).iterdir():
            if not item.name.startswith(hidden):
                (view / item.name).symlink_to(item)
        folders.append(view)
    return folders


def copy_of_the_tree(src: Path) -> Path:
    """``src`` holding a copy of every file of :func:`_source_files`."""
    for name in _source_files():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes((REPO / name).read_bytes())
    return src


def venv_seeing_this_interpreter(root: Path, hidden: tuple[str, ...] = OWN) -> tuple[Path, Path]:
    """(python, purelib) of a fresh venv without pip at ``root/venv`` whose ``_test_deps.pth`` shows this
    interpreter's packages but ``hidden`` (see :func:`_site_packages_without_ecamp_bench`)."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (purelib / "_test_deps.pth").write_text("".join(f"{d}\n" for d in _site_packages_without_ecamp_bench(root, hidden)))
    return venv / "bin" / "python", purelib


def pip_install_offline(python: Path, *args: str, timeout: float,
                        env: dict | None = None) -> subprocess.CompletedProcess:
    """``pip install --no-index ARGS`` into the venv of ``python``, with this interpreter's pip (output captured)."""
    return subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def build_and_install_wheel(root: Path) -> tuple[Path, Path, Path]:
    """(the wheel, the venv's bin folder, the venv's purelib) after a non-editable install of the built wheel."""
    src = copy_of_the_tree(root / "src")
    work = root / "work"
    build = subprocess.run(
        [
            "bash", "-c",
            'set -euo pipefail; source "$REPO/scripts/wheel_build.sh"; '
            'wheel_build ecamp-bench "$PY" "$WORK" "$WORK/build.log" "$SRC"',
        ],
        env={**os.environ, "REPO": str(REPO), "PY": sys.executable, "WORK": str(work), "SRC": str(src)},
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (work / "dist").glob("ecamp_bench-*.whl")

    python, purelib = venv_seeing_this_interpreter(root)
    install = pip_install_offline(python, "--no-deps", "--quiet", str(wheel), timeout=300)
    assert install.returncode == 0, install.stderr
    return wheel, python.parent, purelib


def check_the_wheel_carries_every_module_and_config_of_the_tree(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    tree = _source_files()
    expected = {f.replace("plugins/", "ecamp_bench_plugins/", 1) for f in tree
                if f.startswith("plugins/") and f.endswith(".py")}
    expected |= {f for f in tree if f.startswith("ecamp_bench/") and f.endswith(".py")}
    expected |= {f.replace("configs/", "ecamp_bench_configs/", 1) for f in tree
                 if f.startswith("configs/") and f.endswith((".yaml", ".py"))}
    assert any(n.startswith("ecamp_bench_configs/pretrain/") for n in expected)
    assert sorted(expected - names) == []
    assert "ecamp_bench_startup.pth" in names


def _run(bin_dir: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "ECAMP_BENCH_DATA": str(tmp_path / "data")}
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


def check_the_installed_wheel_reads_its_own_configs_and_plugins(bin_dir: Path, purelib: Path, tmp_path: Path) -> None:
    probe = ("import ecamp_bench, ecamp_bench_plugins\n"
             "from ecamp_bench.config import shipped_configs, list_configs\n"
             "root = shipped_configs()\n"
             "print(ecamp_bench.__file__, ecamp_bench_plugins.__file__, root, list_configs('pretrain'),"
             " sorted(p.relative_to(root).as_posix() for p in root.rglob('*.yaml')), sep='\\n')\n")
    done = _run(bin_dir, tmp_path, "python", "-c", probe)
    assert done.returncode == 0, done.stderr
    module, plugins, configs, pretrain, yaml_files = done.stdout.splitlines()
    for path in (module, plugins, configs):
        assert Path(path).is_relative_to(purelib), path
    assert eval(pretrain) == sorted(p.stem for p in (REPO / "configs" / "pretrain").glob("*.yaml")) != []
    assert eval(yaml_files) == sorted(p.relative_to(REPO / "configs").as_posix()
                                      for p in (REPO / "configs").rglob("*.yaml"))

    listed = _run(bin_dir, tmp_path, "ecamp-bench", "list", "plugins")
    assert listed.returncode == 0, listed.stderr
    assert "task-chexpert-cls" in listed.stdout and str(REPO / "plugins") not in listed.stdout


def check_the_installed_wheel_runs_a_pretraining_dry_run_and_imports_timm_first(bin_dir: Path, tmp_path: Path) -> None:
    dry = _run(bin_dir, tmp_path, "ecamp-bench", "pretrain", "--dry-run")
    assert dry.returncode == 0, dry.stdout[-2000:] + dry.stderr[-2000:]
    assert "one step on 2 images: loss" in dry.stdout
    timm_first = _run(bin_dir, tmp_path, "python", "-c", "import timm, torchvision.transforms; print('ok')")
    assert timm_first.returncode == 0, timm_first.stderr[-2000:]


def test_a_built_wheel_carries_what_runs_read_and_works_installed_non_editable(tmp_path):
    """One test, so that the wheel is built once whichever xdist worker runs it (about a minute in all)."""
    wheel, bin_dir, purelib = build_and_install_wheel(tmp_path / "wheel-install")
    check_the_wheel_carries_every_module_and_config_of_the_tree(wheel)
    check_the_installed_wheel_reads_its_own_configs_and_plugins(bin_dir, purelib, tmp_path)
    check_the_installed_wheel_runs_a_pretraining_dry_run_and_imports_timm_first(bin_dir, tmp_path)
