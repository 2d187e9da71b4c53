"""torchvision (a CUDA build on PyPI) and timm import next to the CPU torch once ecamp_bench is imported."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import ecamp_bench
assert "torch" not in sys.modules, "importing ecamp_bench must not import torch"
import timm, torchvision.transforms
model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0)
print(model.num_features)
"""


def test_timm_imports_after_ecamp_bench_without_importing_torch_early():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "192"


TIMM_FIRST = """
import sys
import timm, torchvision.transforms
assert "ecamp_bench" in sys.modules, "the start-up hook ecamp_bench_startup.pth did not run"
model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0)
print(model.num_features)
"""


def test_timm_imports_first_through_the_startup_hook_installed_with_the_package(tmp_path):
    """A notebook that imports timm (hence torchvision) before anything of ours still works in our venv."""
    out = subprocess.run([sys.executable, "-c", TIMM_FIRST], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "192"
