"""The install recipe follows the machine: CPU torch without an NVIDIA driver, a CUDA torch and a CUDA mmcv build
with one (the GPU probe faked through ECAMP_BENCH_GPU_PROBE), and a torch the venv already has is kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SELECT = REPO / "scripts" / "select_torch.py"
PROBE = "ECAMP_BENCH_GPU_PROBE"


def select(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in (PROBE, "TORCH_CUDA", "TORCH_INDEX_URL", "MMCV_CUDA",
                                                               "TORCH_CUDA_ARCH_LIST")}
    return subprocess.run([sys.executable, str(SELECT), *args], env={**clean, **env}, capture_output=True, text=True,
                          timeout=120)


def choice(*args: str, **env: str) -> dict[str, str]:
    done = select("--print", *args, **env)
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in done.stdout.splitlines())


def fake_venv_python(tmp_path: Path, torch_version: str, cuda: str | None) -> Path:
    """A stand-in venv python whose torch is ``torch_version`` (CUDA ``cuda``); anything else runs the real one."""
    path = tmp_path / "python"
    path.write_text(f"""#!/bin/sh
case "$2" in
  *torch.version.cuda*) printf '%s\\n%s\\n' '{torch_version}' '{cuda}';;
  *torch.__version__*) echo '{torch_version}';;
  'import ecamp_bench, mmcv, mmcv.ops, mmdet, mmseg') exit 1;;  # never "already installed" (the real venv may be)
  *) exec {sys.executable} "$@";;
esac
""")
    path.chmod(0o755)
    return path


def test_no_driver_gives_the_cpu_build_from_find_links():
    got = choice(**{PROBE: "none"})
    assert got["TORCH_VARIANT"] == "cpu" and got["TORCH_PIP_ARGS"] == "torch==2.13.0+cpu torchvision==0.28.0"
    assert "cu1" not in got["TORCH_PIP_ARGS"] and "index-url" not in got["TORCH_PIP_ARGS"]


def test_a_driver_gives_the_newest_cuda_build_it_supports_or_the_one_asked_for():
    got = choice(**{PROBE: "nvidia:9.0@13.0"})
    assert got["TORCH_VARIANT"] == "cu130"
    assert got["TORCH_PIP_ARGS"] == ("torch==2.13.0+cu130 torchvision==0.28.0+cu130 "
                                     "--index-url https://download.pytorch.org/whl/cu130")
    assert choice(**{PROBE: "nvidia:8.0@12.8"})["TORCH_VARIANT"] == "cu128"
    assert choice(**{PROBE: "nvidia:8.0@12.8", "TORCH_CUDA": "cu126"})["TORCH_VARIANT"] == "cu126"
    mirror = choice(**{PROBE: "nvidia:9.0", "TORCH_INDEX_URL": "http://mirror/whl/cu130"})
    assert mirror["TORCH_PIP_ARGS"].endswith("--index-url http://mirror/whl/cu130")


def test_bad_settings_are_one_line_errors():
    done = select("--print", **{PROBE: "nvidia:9.0", "TORCH_CUDA": "cu999"})
    assert done.returncode == 2 and done.stderr.startswith("select_torch: TORCH_CUDA=cu999: torch 2.13.0 comes as")
    done = select("--print", **{PROBE: "nvidia:9.0@11.8"})
    assert done.returncode == 2 and "update the driver" in done.stderr
    done = select("--print", **{PROBE: "amd"})
    assert done.returncode == 2 and "expected 'none' or 'nvidia:CAP" in done.stderr


@pytest.mark.parametrize("probe", ["none", "nvidia:9.0@13.0"])
def test_a_torch_the_venv_already_has_is_kept(tmp_path, probe):
    got = choice("--python", sys.executable, **{PROBE: probe})  # this venv's torch (CPU here)
    assert got["TORCH_VARIANT"] == "keep" and got["TORCH_PIP_ARGS"] == ""
    cuda = fake_venv_python(tmp_path, "2.11.0+cu130", "13.0")
    assert choice("--python", str(cuda), **{PROBE: probe})["REASON"] == \
        "the venv already has torch 2.11.0+cu130 (CUDA 13.0 build): kept"


def test_mmcv_gets_cuda_ops_for_the_visible_gpus_only_with_a_cuda_torch(tmp_path):
    cuda = fake_venv_python(tmp_path, "2.13.0+cu128", "12.8")
    done = select("--mmcv-env", "--python", str(cuda), **{PROBE: "nvidia:9.0,8.0@12.8"})
    assert done.stdout.split() == ["MMCV_WITH_OPS=1", "FORCE_CUDA=1", "TORCH_CUDA_ARCH_LIST=8.0;9.0"], done.stderr
    done = select("--mmcv-env", "--python", str(cuda), **{PROBE: "nvidia:9.0", "TORCH_CUDA_ARCH_LIST": "8.6"})
    assert done.stdout.split()[-1] == "TORCH_CUDA_ARCH_LIST=8.6"
    done = select("--mmcv-env", "--python", str(cuda), **{PROBE: "nvidia:9.0", "MMCV_CUDA": "0"})
    assert done.stdout.split() == ["MMCV_WITH_OPS=1", "FORCE_CUDA=0"]
    done = select("--mmcv-env", "--python", str(cuda), **{PROBE: "none"})
    assert done.returncode == 2 and "TORCH_CUDA_ARCH_LIST" in done.stderr
    # A CPU torch keeps today's recipe, whatever GPUs are there.
    done = select("--mmcv-env", "--python", sys.executable, **{PROBE: "nvidia:9.0"})
    assert done.stdout.split() == ["MMCV_WITH_OPS=1", "FORCE_CUDA=0"]


def cache_dir(python: Path | str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / "scripts" / "install_openmmlab.sh"), "--cache-dir", str(python)],
                          env={**os.environ, "ECAMP_BENCH_WHEEL_DIR": "/wheels", **env}, capture_output=True, text=True,
                          timeout=120)


def test_the_mmcv_wheel_cache_key_names_the_cuda_variant_and_the_gpu_architectures(tmp_path):
    cpu = cache_dir(sys.executable, **{PROBE: "nvidia:9.0"})
    assert cpu.returncode == 0, cpu.stderr
    assert cpu.stdout.startswith("/wheels/mmcv-2.1.0/torch-2.13.0+cpu-cp3")
    cuda = fake_venv_python(tmp_path, "2.13.0+cu128", "12.8")
    h100 = cache_dir(cuda, **{PROBE: "nvidia:9.0"})
    a100 = cache_dir(cuda, **{PROBE: "nvidia:8.0"})
    assert h100.stdout.startswith("/wheels/mmcv-2.1.0/torch-2.13.0+cu128-cp3"), h100.stderr
    assert len({cpu.stdout.rsplit("-", 1)[1], h100.stdout.rsplit("-", 1)[1], a100.stdout.rsplit("-", 1)[1]}) == 3


def test_a_cuda_torch_without_nvcc_stops_with_the_reason_before_building(tmp_path):
    cuda = fake_venv_python(tmp_path, "2.13.0+cu128", "12.8")
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("bash", "sha256sum", "cut", "head", "tail", "c++", "dirname"):
        found = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        if found:
            (bare / tool).symlink_to(found)
    done = subprocess.run([str(REPO / "scripts" / "install_openmmlab.sh"), str(cuda)], capture_output=True, text=True,
                          env={**os.environ, PROBE: "nvidia:9.0", "PATH": str(bare), "CUDA_HOME": str(tmp_path / "no"),
                               "ECAMP_BENCH_WHEEL_DIR": str(tmp_path / "wheels")}, timeout=120)
    assert done.returncode == 1 and "no CUDA compiler" in done.stderr and "MMCV_CUDA=0" in done.stderr, done.stderr
    assert not (tmp_path / "wheels").exists()  # stopped before the build started
