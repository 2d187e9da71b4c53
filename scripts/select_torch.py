#!/usr/bin/env python3
"""Which torch build an ecamp-bench venv gets, and which mmcv build recipe goes with it.

    scripts/select_torch.py --print [--python VENV_PYTHON]     the choice, as KEY=value lines (nothing installed)
    scripts/select_torch.py --install --python VENV_PYTHON     install it (nothing when the venv's torch is kept)
    scripts/select_torch.py --mmcv-env --python VENV_PYTHON    mmcv's build switches for that venv, one per line

The rules (``make install`` runs ``--install``):

1. The venv already has a torch that imports (a CUDA build or not): **keep** it. A user's own torch is never
   replaced.
2. No NVIDIA driver (no ``/proc/driver/nvidia/version`` and no working ``nvidia-smi``): the **CPU** build
   ``torch==2.13.0+cpu`` with ``torchvision==0.28.0`` from ``PIP_FIND_LINKS``, exactly as before; nothing
   CUDA is ever asked for on a CPU machine.
3. A driver: the **CUDA** build ``torch==2.13.0+<variant>`` from PyTorch's wheel index
   (``https://download.pytorch.org/whl/<variant>``; ``TORCH_INDEX_URL`` replaces it, e.g. a mirror). The variant is
   ``$TORCH_CUDA`` when set (PyTorch's index names: ``cu126``, ``cu128``, ``cu130``), else the newest of
   :data:`CUDA_VARIANTS` that the driver supports (the "CUDA Version" nvidia-smi prints).

mmcv (``--mmcv-env``): a venv whose torch is a CUDA build gets ``FORCE_CUDA=1`` and ``TORCH_CUDA_ARCH_LIST`` from
the visible GPUs' compute capabilities (``$TORCH_CUDA_ARCH_LIST`` when set); a CPU torch gets ``FORCE_CUDA=0``, as
before. ``MMCV_CUDA=0`` forces the CPU recipe.

The GPU probe can be faked for tests and dry runs: ``ECAMP_BENCH_GPU_PROBE=none`` (no driver) or
``ECAMP_BENCH_GPU_PROBE=nvidia:9.0,8.0@12.8`` (a driver with GPUs of compute capability 9.0 and 8.0, supporting
CUDA 12.8; ``@...`` optional). Exit status 2 with a one-line reason on bad input.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

TORCH_VERSION = "2.13.0"
TORCHVISION_VERSION = "0.28.0"  # the torchvision release made for TORCH_VERSION
# PyTorch's CUDA wheel variants for TORCH_VERSION, oldest first, with the CUDA version each needs from the driver.
CUDA_VARIANTS = {"cu126": (12, 6), "cu128": (12, 8), "cu130": (13, 0)}
DEFAULT_INDEX = "https://download.pytorch.org/whl/{variant}"
PROBE_ENV = "ECAMP_BENCH_GPU_PROBE"


class SelectionError(Exception):
    """Bad input (an unknown variant, a malformed probe setting): one line for the user."""


@dataclass(frozen=True)
class Gpus:
    """What the probe saw: a driver or not, the visible GPUs' compute capabilities, the driver's CUDA version."""

    driver: bool
    capabilities: tuple[str, ...] = ()
    cuda: tuple[int, int] | None = None
    source: str = "probe"


@dataclass(frozen=True)
class TorchChoice:
    """The torch build a venv gets: ``variant`` is ``keep``, ``cpu`` or a CUDA variant (``cu128``)."""

    variant: str
    reason: str
    pip_args: tuple[str, ...] = ()
    installed: str | None = None


def _parse_version(text: str) -> tuple[int, int]:
    major, _, minor = text.strip().partition(".")
    return int(major), int(minor or 0)


def probe_gpus(env: dict[str, str] | None = None) -> Gpus:
    """The NVIDIA driver and GPUs of this machine, or the fake of ``$ECAMP_BENCH_GPU_PROBE``."""
    env = os.environ if env is None else env
    fake = env.get(PROBE_ENV, "").strip()
    if fake:
        if fake == "none":
            return Gpus(False, source=f"{PROBE_ENV}=none")
        kind, _, rest = fake.partition(":")
        caps, _, cuda = rest.partition("@")
        if kind != "nvidia" or not caps:
            raise SelectionError(f"{PROBE_ENV}={fake!r}: expected 'none' or 'nvidia:CAP[,CAP...][@CUDA]', "
                                 "e.g. 'nvidia:9.0@13.0'")
        try:
            capabilities = tuple(sorted({f"{_parse_version(c)[0]}.{_parse_version(c)[1]}" for c in caps.split(",")}))
            version = _parse_version(cuda) if cuda else None
        except ValueError:
            raise SelectionError(f"{PROBE_ENV}={fake!r}: capabilities and CUDA version are numbers like 9.0") from None
        return Gpus(True, capabilities, version, source=f"{PROBE_ENV}={fake}")
    has_proc = os.path.exists("/proc/driver/nvidia/version")
    smi = shutil.which("nvidia-smi")
    capabilities: tuple[str, ...] = ()
    version = None
    if smi:
        try:
            caps = subprocess.run([smi, "--query-gpu=compute_cap", "--format=csv,noheader"], capture_output=True,
                                  text=True, timeout=30)
            if caps.returncode == 0:
                capabilities = tuple(sorted({c.strip() for c in caps.stdout.splitlines() if c.strip()}))
            head = subprocess.run([smi], capture_output=True, text=True, timeout=30)
            for token in head.stdout.split("CUDA Version:")[1:2]:
                version = _parse_version(token.split()[0])
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
    return Gpus(has_proc or bool(capabilities), capabilities, version, source="nvidia-smi /proc/driver/nvidia")


def installed_torch(python: str | None) -> tuple[str, str | None] | None:
    """``(torch version, torch.version.cuda)`` of ``python``'s torch, or ``None`` when it does not import."""
    if not python:
        return None
    try:
        done = subprocess.run([python, "-c", "import torch; print(torch.__version__); print(torch.version.cuda)"],
                              capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2:
        return None
    return lines[0], (None if lines[1] == "None" else lines[1])


def cuda_variant(gpus: Gpus, env: dict[str, str]) -> str:
    """``$TORCH_CUDA`` (checked against :data:`CUDA_VARIANTS`), else the newest the driver supports."""
    asked = env.get("TORCH_CUDA", "").strip()
    if asked:
        if asked not in CUDA_VARIANTS:
            raise SelectionError(f"TORCH_CUDA={asked}: torch {TORCH_VERSION} comes as {', '.join(CUDA_VARIANTS)} "
                                 "(PyTorch's wheel index names)")
        return asked
    fitting = [v for v, need in CUDA_VARIANTS.items() if gpus.cuda is None or need <= gpus.cuda]
    if not fitting:
        raise SelectionError(f"the driver supports CUDA {gpus.cuda[0]}.{gpus.cuda[1]}, older than every torch "
                             f"{TORCH_VERSION} build ({', '.join(CUDA_VARIANTS)}): update the driver")
    return fitting[-1]


def select_torch(python: str | None, env: dict[str, str] | None = None, gpus: Gpus | None = None) -> TorchChoice:
    """The torch build for the venv of ``python`` (see the module docstring for the rules)."""
    env = dict(os.environ if env is None else env)
    have = installed_torch(python)
    if have is not None:
        build = f"CUDA {have[1]}" if have[1] else "CPU"
        return TorchChoice("keep", f"the venv already has torch {have[0]} ({build} build): kept", installed=have[0])
    gpus = gpus if gpus is not None else probe_gpus(env)
    if not gpus.driver:
        return TorchChoice("cpu", f"no NVIDIA driver ({gpus.source}): the CPU build from PIP_FIND_LINKS",
                           (f"torch=={TORCH_VERSION}+cpu", f"torchvision=={TORCHVISION_VERSION}"))
    variant = cuda_variant(gpus, env)
    index = env.get("TORCH_INDEX_URL", "").strip() or DEFAULT_INDEX.format(variant=variant)
    seen = f"GPUs of compute capability {', '.join(gpus.capabilities) or '?'}"
    if gpus.cuda:
        seen += f", driver for CUDA {gpus.cuda[0]}.{gpus.cuda[1]}"
    return TorchChoice(variant, f"NVIDIA driver found ({seen}; {gpus.source}): the {variant} build from {index}",
                       (f"torch=={TORCH_VERSION}+{variant}", f"torchvision=={TORCHVISION_VERSION}+{variant}",
                        "--index-url", index))


def mmcv_build_env(python: str, env: dict[str, str] | None = None, gpus: Gpus | None = None) -> list[str]:
    """mmcv's build switches (``VAR=value``) for the venv of ``python``: CUDA ops when its torch is a CUDA build."""
    env = dict(os.environ if env is None else env)
    have = installed_torch(python)
    if have is None:
        raise SelectionError(f"torch does not import with {python}: install it first (make install does)")
    if have[1] is None or env.get("MMCV_CUDA", "").strip() == "0":
        return ["MMCV_WITH_OPS=1", "FORCE_CUDA=0"]
    arch = env.get("TORCH_CUDA_ARCH_LIST", "").strip()
    if not arch:
        gpus = gpus if gpus is not None else probe_gpus(env)
        if not gpus.capabilities:
            raise SelectionError("a CUDA torch but no visible GPU to build mmcv's CUDA ops for: set "
                                 "TORCH_CUDA_ARCH_LIST (e.g. '8.0;9.0'), or MMCV_CUDA=0 for CPU ops only")
        arch = ";".join(gpus.capabilities)
    return ["MMCV_WITH_OPS=1", "FORCE_CUDA=1", f"TORCH_CUDA_ARCH_LIST={arch}"]


def main(argv: list[str] | None = None) -> int:
    """The command line (module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--print", action="store_true", help="print the choice (KEY=value lines); install nothing")
    mode.add_argument("--install", action="store_true", help="install the chosen torch into the venv of --python")
    mode.add_argument("--mmcv-env", action="store_true", help="print mmcv's build switches, one per line")
    parser.add_argument("--python", default=None, help="the venv's python (default: none, i.e. a venv without torch)")
    args = parser.parse_args(argv)
    try:
        if args.mmcv_env:
            print("\n".join(mmcv_build_env(args.python or sys.executable)))
            return 0
        choice = select_torch(args.python)
    except SelectionError as exc:
        print(f"select_torch: {exc}", file=sys.stderr)
        return 2
    if args.print:
        print(f"TORCH_VARIANT={choice.variant}\nTORCH_PIP_ARGS={' '.join(choice.pip_args)}\nREASON={choice.reason}")
        return 0
    print(f"select_torch: {choice.reason}", file=sys.stderr)
    if choice.variant == "keep":
        return 0
    if not args.python:
        print("select_torch: --install needs --python VENV_PYTHON", file=sys.stderr)
        return 2
    done = subprocess.run([args.python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *choice.pip_args])
    if done.returncode != 0:
        where = "PIP_FIND_LINKS" if choice.variant == "cpu" else "the index above"
        print(f"select_torch: pip could not install {' '.join(choice.pip_args[:2])} for this Python from {where}",
              file=sys.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
