"""One build step that pyproject.toml cannot declare: the start-up hook ``ecamp_bench_startup.pth``.

pip installs the file into site-packages next to the packages (for a wheel and for ``pip install -e``), and
Python runs its one line at every start of that environment: ``import ecamp_bench``, which is cheap (no torch)
and installs :mod:`ecamp_bench._torchvision_compat`'s import hook. So ``import timm`` or ``import torchvision``
works in that venv even when it comes before any import of ecamp_bench (PyPI's torchvision is a CUDA build
whose C++ ops cannot load next to the CPU torch). Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

STARTUP_PTH = "ecamp_bench_startup.pth"
STARTUP_LINE = "import ecamp_bench\n"


class BuildPyWithStartupHook(build_py):
    """build_py that also writes :data:`STARTUP_PTH` at the top of the wheel (purelib)."""

    def _pth_folder(self) -> Path:
        if getattr(self, "editable_mode", False):  # setuptools' editable wheel: straight into the unpacked wheel
            return Path(self.get_finalized_command("install").install_lib)
        return Path(self.build_lib)

    def run(self):
        super().run()
        folder = self._pth_folder()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / STARTUP_PTH).write_text(STARTUP_LINE, encoding="utf-8")

    def get_outputs(self, include_bytecode=True):
        return [*super().get_outputs(include_bytecode), str(self._pth_folder() / STARTUP_PTH)]


setup(cmdclass={"build_py": BuildPyWithStartupHook})
