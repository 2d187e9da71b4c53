"""Our side of the parity harness (benchmarks/parity), tested without the authors' code."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

PARITY = Path(__file__).resolve().parents[2] / "benchmarks" / "parity"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"parity_{name}", PARITY / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def conventions():
    return _load("metric_conventions")


@pytest.fixture(scope="module")
def common():
    return _load("_common")


@pytest.fixture(scope="module")
def shim():
    return _load("authors_shim")


def test_mgca_batch_mean_dice_differs_from_per_image_with_a_short_last_batch(conventions):
    # Per-image Dice 1, 1, 0: per image 2/3; MGCA's mean of batch means at batch 2: (1 + 0) / 2.
    truth = np.zeros((3, 4, 4), dtype=bool)
    truth[:, :2, :2] = True
    prob = np.full((3, 4, 4), 0.1, dtype=np.float32)
    prob[:2, :2, :2] = 0.9
    case = conventions.SegCase(truth, prob)
    assert conventions.ours_dice(case)["dice_per_image"] == pytest.approx(2 / 3)
    assert conventions.mgca_batch_mean_dice(case, 2) == pytest.approx(0.5)
    assert conventions.mgca_batch_mean_dice(case, 3) == pytest.approx(2 / 3)


def test_segmentation_case_exercises_every_dice_branch_and_survives_the_logit_round_trip(conventions):
    case = conventions.segmentation_case(0, n=60, size=32)
    pred = case.probabilities > 0.5
    positive = case.truth.reshape(60, -1).any(1)
    predicted = pred.reshape(60, -1).any(1)
    assert {(t, p) for t, p in zip(positive, predicted)} == {(True, True), (True, False), (False, True), (False, False)}
    assert np.abs(case.probabilities.astype(np.float64) - 0.5).min() >= 1e-3 - 1e-7
    assert np.array_equal(conventions.segmentation_case(0, n=60, size=32).probabilities, case.probabilities)


def test_detection_case_keeps_what_the_authors_nms_and_threshold_keep(conventions):
    from ecamp_bench.evaluation.det_metrics import box_iou, mgca_subset

    case = conventions.detection_case(1, n=80)
    for im in case.images:
        assert ((im.scores >= 0.5) & (im.scores < 1.0)).all()
        if len(im.boxes) > 1:
            iou = box_iou(im.boxes, im.boxes)
            assert iou[~np.eye(len(im.boxes), dtype=bool)].max() < 0.45
    kept = set(mgca_subset(case.images))
    # Images MGCA/ECAMP drop: negatives (some with false positives) and positives without a prediction.
    assert any(len(im.gt) == 0 and len(im.scores) > 0 for im in case.images)
    assert any(len(im.gt) > 0 and len(im.scores) == 0 for i, im in enumerate(case.images) if i not in kept)
    arrays = case.arrays()
    assert arrays["gt_offsets"][-1] == sum(len(im.gt) for im in case.images)
    assert len(arrays["pred_scores"]) == arrays["pred_offsets"][-1]


def test_map_on_all_images_is_below_the_authors_subset_when_they_drop_missed_positives(conventions):
    values = conventions.ours_map(conventions.detection_case(2))
    assert values["map_40_75"] < values["map_40_75_mgca"]


def test_within_noise(common):
    assert common.within_noise([0.5, 0.6, 0.7], [0.5, 0.6, 0.7]) == (0.0, pytest.approx(0.1), True)
    diff, noise, ok = common.within_noise([0.70, 0.72, 0.71], [0.60, 0.61, 0.62])
    assert diff == pytest.approx(0.1) and not ok
    assert common.within_noise([0.60, 0.70, 0.65], [0.66, 0.62, 0.70])[2]


def test_identify_repos_tells_checkouts_apart_and_names_an_unknown_folder(common, tmp_path):
    ecamp, mgca, other = tmp_path / "e", tmp_path / "m", tmp_path / "x"
    for root, marker in ((ecamp, common.MARKERS["ecamp"]), (mgca, common.MARKERS["mgca"])):
        (root / marker).parent.mkdir(parents=True)
        (root / marker).write_text("")
    other.mkdir()
    assert common.identify_repos([mgca, ecamp]) == {"ecamp": ecamp.resolve(), "mgca": mgca.resolve()}
    with pytest.raises(SystemExit, match=str(other)):
        common.identify_repos([other])


def test_script_function_compiles_only_the_named_definitions(shim, tmp_path):
    script = tmp_path / "train.py"
    script.write_text("import not_installed_anywhere\n\ndef get_dice(x):\n    return x + 1\n\nclass Meter:\n    pass\n")
    namespace = shim.script_function(script, ("get_dice",), {})
    assert namespace["get_dice"](1) == 2 and "Meter" not in namespace
    with pytest.raises(KeyError, match="missing_fn"):
        shim.script_function(script, ("missing_fn",), {})


def test_stub_finder_serves_only_listed_modules(shim, monkeypatch):
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    shim.install_stubs()
    with pytest.raises(ModuleNotFoundError):
        import parity_probe_not_listed  # noqa: F401
    from apex import amp  # listed: served as a stub whatever it is asked for

    assert amp is not None


def test_write_lists_writes_their_format_and_refuses_labels_it_cannot_hold(tmp_path):
    from types import SimpleNamespace

    from PIL import Image

    finetune = _load("finetune")
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(image)
    table = SimpleNamespace(samples=[SimpleNamespace(image_path=str(image))])
    finetune.write_lists(tmp_path / "out", "RSNA", {"train": table}, {"train": np.array([[1.0, 0.0]])})
    assert (tmp_path / "out/datasets/RSNA/train_list.txt").read_text() == f"{image.resolve()} 1 0\n"
    with pytest.raises(ValueError, match="train"):
        finetune.write_lists(tmp_path / "out", "RSNA", {"train": table}, {"train": np.array([[-1.0, 0.0]])})
