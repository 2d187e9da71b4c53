"""Every protocol runs with both backbone families: a ViT (a backbone file) and a ResNet-50 (MGCA's published layout).

The ResNet is the ResNet-50 layout shrunk to one bottleneck per stage (same names, same stage widths),
saved as MGCA's Lightning checkpoint and imported by the ``mgca-r50`` importer; ``eval`` is called exactly as a
user would (``--backbone mgca-r50 --weights PATH``). The OpenMMLab protocols skip where the stack is missing.
"""

from __future__ import annotations

import json

import pytest
import torch

import ecamp_bench  # noqa: F401
from ecamp_bench.cli import main

from _resnet_layouts import encoder_state, mgca_r50, save, torchvision_resnet

R50_SMALL = "backbone.model_kwargs={layers: [1, 1, 1, 1], base_width: 16}"
PROTOCOLS = [  # (task, protocol, needs OpenMMLab)
    ("chexpert-cls", "linear", False),
    ("rsna-cls", "finetune", False),
    ("siim-seg", "frozen-seg", True),
    ("siim-seg", "finetune-seg", True),
    ("rsna-det", "frozen-det", True),
    ("rsna-det", "det", True),
]


def _have_mm() -> bool:
    try:
        import mmcv.ops  # noqa: F401
        import mmdet  # noqa: F401
        import mmseg  # noqa: F401
    except ImportError:
        return False
    return True


def mgca_file(tmp_path):
    torch.manual_seed(0)
    return save(mgca_r50(encoder_state(torchvision_resnet())), tmp_path / "download" / "MGCA-resnet50.ckpt")


def family_args(family: str, tmp_path) -> list[str]:
    if family == "resnet":
        return ["--backbone", "mgca-r50", "--weights", str(mgca_file(tmp_path)), "--set", R50_SMALL,
                "--set", "backbone.input_size=64"]
    from _backbones import export_tiny_backbone

    return ["--backbone", f"file:{export_tiny_backbone(size=64)}"]


def run_eval(args: list[str], capsys) -> dict:
    rc = main(["eval", *args, "--preset", "tiny", "--set", "eval.n_bootstrap=20"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    from ecamp_bench.paths import results_dir

    records = [r for r in (json.loads(p.read_text()) for p in results_dir().rglob("*.json")) if "run_key" in r]
    assert len(records) == 1, records
    return records[0]


@pytest.mark.slow
@pytest.mark.parametrize("family", ["vit", "resnet"])
@pytest.mark.parametrize(("task", "protocol", "mm"), PROTOCOLS, ids=[p[1] for p in PROTOCOLS])
def test_every_protocol_runs_with_both_families(tmp_path, synthetic_tiny, capsys, family, task, protocol, mm):
    if mm and not _have_mm():
        pytest.skip("the OpenMMLab stack (mmcv ops, mmdet, mmseg) is not installed")
    extra = ["--set", "protocol.image_size=64"] if mm else []
    if protocol in ("frozen-det", "det", "finetune-seg"):
        extra += ["--set", "protocol.max_epochs=1"] if "det" in protocol else ["--set", "protocol.iters=8"]
    record = run_eval(["--task", task, "--fraction", "1.0", "--protocol", protocol, "--data-root", str(synthetic_tiny),
                       *family_args(family, tmp_path), *extra], capsys)
    assert record["status"] == "ok" and record["protocol"]["name"] == protocol
    arch = record["config"]["resolved"]["backbone"]["arch"]
    assert arch == ("resnet50" if family == "resnet" else "vit_tiny_patch16_224")
    primary = next(m for m in record["metrics"] if m["name"] == record["primary_metric"])
    assert primary["value"] is None or 0.0 <= primary["value"] <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize(("task", "protocol", "mm"), [("chexpert-cls", "linear", False),
                                                      ("siim-seg", "frozen-seg", True),
                                                      ("rsna-det", "frozen-det", True)],
                         ids=["chexpert-cls", "siim-seg", "rsna-det"])
def test_mgca_r50_release_file_at_one_percent(tmp_path, synthetic_tiny, capsys, task, protocol, mm):
    """The issue's 'done means': ``eval --task T --fraction 0.01 --protocol P --backbone mgca-r50 --weights PATH``."""
    if mm and not _have_mm():
        pytest.skip("the OpenMMLab stack (mmcv ops, mmdet, mmseg) is not installed")
    extra = ["--set", "protocol.image_size=64"] if mm else []
    record = run_eval(["--task", task, "--fraction", "0.01", "--protocol", protocol, "--data-root", str(synthetic_tiny),
                       *family_args("resnet", tmp_path), *extra], capsys)
    assert record["status"] == "ok" and record["backbone"]["name"] == "mgca-r50"
    assert record["backbone"]["weights_ref"].endswith("MGCA-resnet50.ckpt")
    resolved = record["config"]["resolved"]["backbone"]
    assert resolved["adapt_state_dict"] == "ecamp_bench_plugins.backbones.resnet50:adapt_mgca_r50"
    assert (resolved["mean"], resolved["std"]) == ([0.5] * 3, [0.5] * 3)
