"""The example plugin works *installed*: pip-install it into a folder, then run the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ecamp_bench  # noqa: F401  (torchvision hook before timm)

EXAMPLE = Path(__file__).parents[2] / "examples" / "third_party_plugin"
CLI = "import sys; from ecamp_bench.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """``pip install --target`` of the example (a wheel build, not an in-tree path)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    source = shutil.copytree(EXAMPLE, build / "source", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(source)],
        check=True, capture_output=True, text=True, cwd=build, env={**os.environ, "PIP_NO_CACHE_DIR": "1"},
    )
    return target


def run_cli(site: Path, *args: str) -> subprocess.CompletedProcess:
    """``ecamp-bench ARGS`` with the installed example on the path and plugin autoload on."""
    env = {**os.environ, "PYTHONPATH": str(site), "ECAMP_BENCH_DISABLE_PLUGIN_AUTOLOAD": "0", "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, env=env, cwd=site.parent)


def test_installed_example_is_listed_with_its_distribution(site):
    assert (site / "ecamp_bench_example" / "plugin.py").is_file()
    assert list(site.glob("ecamp_bench_example_plugin-0.1.0.dist-info"))
    done = run_cli(site, "list")
    assert done.returncode == 0, done.stderr
    assert "ecamp-bench-example-plugin-0.1.0" in done.stdout
    rows = [line for line in done.stdout.splitlines() if "example-vit-tiny" in line]
    assert rows and "example_vit_tiny.pth (missing)" in rows[0]
    assert str(site / "ecamp_bench_example" / "plugin.py") in done.stdout  # the installed copy, not the source tree
    assert any("example-rsna-ap" in line and "rsna-pneumonia" in line for line in done.stdout.splitlines())


def test_installed_example_evaluates_end_to_end(site, tmp_path, synthetic_tiny):
    import timm

    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=32)
    checkpoint = {"encoder." + k: v for k, v in vit.state_dict().items()}
    checkpoint["projector.0.weight"] = torch.randn(16, vit.embed_dim)
    weights = tmp_path / "my_vit_tiny.pth"
    torch.save({"model": checkpoint, "epoch": 10}, weights)
    done = run_cli(
        site, "eval", "--task", "example-rsna-ap", "--fraction", "0.1", "--backbone", "example-vit-tiny", "--weights",
        str(weights), "--data-root", str(synthetic_tiny), "--preset", "tiny", "--set", "backbone.input_size=32",
        "--set", "eval.n_bootstrap=100",
    )
    assert done.returncode == 0, done.stderr
    assert "example-rsna-ap 10% linear example-vit-tiny seed 0: ap " in done.stdout
    record = json.loads(next((tmp_path / "results").rglob("*.json")).read_text())
    assert record["status"] == "ok"
    assert record["plugins"]["task"] == record["plugins"]["backbone"] == "ecamp-bench-example-plugin==0.1.0"
    names = [m["name"] for m in record["metrics"]]
    assert names[0] == "ap" and set(names[1:]) == {"ece", "brier"}  # every classification record gets calibration
    ap = record["metrics"][0]["value"]
    assert ap is not None and 0.0 < ap <= 1.0
