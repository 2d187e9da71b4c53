"""The OpenMMLab stack works on CPU: compiled mmcv ops, tiny mmdet detectors and an mmseg segmentor.

Runs the probes of ``benchmarks/openmmlab_probe.py``; skipped when mmcv's compiled ops are not installed
(install them with ``scripts/install_openmmlab.sh``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import ecamp_bench  # noqa: F401  (torchvision hook before mmcv imports torchvision)

pytestmark = pytest.mark.mm

try:
    import mmcv.ops  # noqa: F401
    import mmdet  # noqa: F401
    import mmseg  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the machine
    pytest.skip(f"OpenMMLab stack with compiled mmcv ops not installed ({error}); "
                "run scripts/install_openmmlab.sh", allow_module_level=True)

_PROBE_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "openmmlab_probe.py"


@pytest.fixture(scope="module")
def probe():
    """The probe module, loaded from its file (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("openmmlab_probe", _PROBE_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_versions_match_the_pinned_stack(probe):
    versions = probe.stack_versions()
    assert versions["mmcv"] == "2.1.0"
    assert versions["mmdet"] == "3.3.0"
    assert versions["mmseg"] == "1.2.2"
    assert versions["torch"].startswith("2.13.0")


def test_compiled_ops_match_hand_computed_values(probe):
    timings = probe.probe_ops()
    assert set(timings) == {"nms_s", "roi_align_s", "bbox_overlaps_s"}


@pytest.mark.parametrize("kind", ["yolov3", "retinanet", "faster_rcnn"])
def test_tiny_detector_trains_and_predicts_on_cpu(probe, kind):
    result = probe.probe_detector(kind)
    assert result["loss"] > 0
    assert 0 <= result["n_predicted_boxes"] <= 100  # max_per_img of every packaged test_cfg


def test_tiny_segmentor_trains_and_predicts_on_cpu(probe):
    result = probe.probe_segmentor()
    assert result["loss_terms"] == ["aux.loss_ce", "decode.loss_dice", "decode.loss_focal"]


def test_custom_backbone_reaches_mmdet_and_mmseg_registries(probe):
    found = probe.probe_registry()
    for scope in ("mmdet", "mmseg"):
        assert found[f"{scope}: root-registered name via parent lookup"]
        assert found[f"{scope}: class object as type"]


def test_mmcv_image_io_round_trips_with_the_installed_opencv(probe):
    assert set(probe.probe_image_io()) == {"imfrombytes_s", "imresize_s"}


def test_plain_checkpoints_load_under_weights_only(probe):
    loads = probe.probe_checkpoint_loading()
    assert loads["plain_state_dict"]
