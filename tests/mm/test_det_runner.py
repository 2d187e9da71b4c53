"""rsna-det end to end through the runner (both protocols, tiny synthetic set): record, metrics, predictions file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ecamp_bench  # noqa: F401

pytestmark = pytest.mark.mm

try:
    import mmcv.ops  # noqa: F401
    import mmdet  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the machine
    pytest.skip(f"mmcv ops / mmdet not installed ({error})", allow_module_level=True)

from ecamp_bench.evaluation.det_metrics import detection_metrics, images_from_predictions  # noqa: E402
from ecamp_bench.evaluation.predictions import load_predictions  # noqa: E402
from ecamp_bench.evaluation.runner import RunRequest, run_evaluation  # noqa: E402
from ecamp_bench.plugins import get_catalog  # noqa: E402

BACKBONE = [
    "backbone.arch=vit_tiny_patch16_224", "backbone.input_size=64",
    "backbone.model_kwargs={depth: 1, embed_dim: 16, num_heads: 2, patch_size: 8}",
]


@pytest.fixture(scope="module")
def rsna_root(tmp_path_factory):
    from ecamp_bench_plugins.layouts import rsna
    from ecamp_bench.data.synth.generate import LAYOUTS

    root = tmp_path_factory.mktemp("rsna-det-e2e")
    rsna.write_synthetic(root / LAYOUTS["rsna-pneumonia"][0], 40, 3, size=64, workers=1)
    return root


@pytest.mark.parametrize(("protocol", "extra"), [("frozen-det", []), ("det", []), ("det", ["protocol.frozen=true"])])
def test_rsna_det_runs_end_to_end(rsna_root, protocol, extra):
    torch.set_num_threads(1)
    request = RunRequest(task="rsna-det", protocol=protocol, fraction=1.0, backbone="random-init", data_root=rsna_root,
                         preset="tiny", overrides=[*BACKBONE, "protocol.image_size=64", "protocol.max_epochs=1",
                                                   "eval.n_bootstrap=20", *extra])
    outcome = run_evaluation(request, get_catalog())
    record = outcome.record.to_json()
    assert record["status"] == "ok" and record["protocol"]["name"] == protocol
    names = [m["name"] for m in record["metrics"]]
    assert names == ["map_40_75", "map_40_75_mgca", "map_50", "kaggle_rsna"] and record["primary_metric"] == "map_40_75"
    predictions = load_predictions(outcome.path.parent / record["predictions_file"])
    images = images_from_predictions(predictions)
    assert len(images) == record["split"]["n_test"]
    # Stored truth (stored-image pixels) matches the test samples; rescoring the file gives the record's values.
    assert sum(len(im.gt) for im in images) > 0
    np.testing.assert_array_equal(predictions.targets[:, 0], [float(len(im.gt) > 0) for im in images])
    rescored = {m.name: m.value for m in detection_metrics(images, n_bootstrap=0)}
    for metric in record["metrics"]:
        expected, value = metric["value"], rescored[metric["name"]]
        assert value is None if expected is None else value == pytest.approx(expected)
    again = run_evaluation(request, get_catalog())
    assert again.skipped
