"""Keep ``import torchvision`` (and therefore ``import timm``) working when its C++ ops cannot load.

PyPI only ships CUDA builds of torchvision for Linux. Next to a CPU build of torch their ``_C`` extension
fails to load (it links ``libc10_cuda.so``), and torchvision then crashes at import because it registers
fake kernels for ``torchvision::nms`` / ``torchvision::qnms`` even when those ops were never defined.

:func:`install` adds an import hook that runs just before torchvision is first imported. If the
extension loads, nothing else happens. If it does not, the two op schemas are defined (without kernels) so
that torchvision imports; its compiled ops (``torchvision.ops.nms``, ...) then raise torchvision's own
"Couldn't load custom C++ ops" error. ecamp-bench does not use them. Nothing is done, and torch is not
imported, until something imports torchvision.

``import ecamp_bench`` installs the hook, and so does the start-up file ``ecamp_bench_startup.pth`` that
installing ecamp-bench puts into site-packages (setup.py), so the order of imports does not matter: a notebook
may ``import timm`` first. No torchvision built for the CPU torch can be installed instead: PyPI has CUDA builds
only (torchvision 0.28.0's ``_C.so`` links ``libtorch_cuda.so``/``libcudart``) and no sdist.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

_LIBRARIES: list = []


def _extension_loads(spec: importlib.machinery.ModuleSpec) -> bool:
    import torch

    folder = Path(next(iter(spec.submodule_search_locations or []), ""))
    candidates = sorted(folder.glob("_C.*so")) + sorted(folder.glob("_C.pyd"))
    if not candidates:
        return False
    try:
        torch.ops.load_library(str(candidates[0]))
    except (OSError, ImportError, RuntimeError):
        return False
    return True


def _define_missing_ops() -> None:
    import torch

    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIBRARIES.append(lib)


class _TorchvisionGuard:
    """A meta-path finder that prepares torch's op registry the first time torchvision is imported."""

    done = False

    def find_spec(self, name, path=None, target=None):
        if name != "torchvision" or self.done:
            return None
        self.done = True
        spec = importlib.util.find_spec(name)
        if spec is not None and not _extension_loads(spec):
            _define_missing_ops()
        return spec


def install() -> None:
    """Install the import hook once (idempotent); a no-op if torchvision is already imported."""
    if "torchvision" in sys.modules or any(isinstance(f, _TorchvisionGuard) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _TorchvisionGuard())
