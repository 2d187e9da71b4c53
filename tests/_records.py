"""A complete, valid result record for tests, with any top-level field replaced."""

from __future__ import annotations


def fake_record(**over) -> dict:
    """A valid ``schema_version`` 1 record of an ok rsna-cls/linear run; ``over`` replaces top-level fields."""
    base = {
        "schema_version": 1, "run_key": "0123456789abcdef",
        "task": {"name": "rsna-cls", "version": 1}, "protocol": {"name": "linear", "version": 1},
        "fraction": 0.01, "seed": 0,
        "backbone": {"name": "random-init", "arch": "vit", "weights_ref": None, "weights_sha256": None},
        "config": {"resolved": {"preset": "default"}, "sha256": "c" * 64},
        "split": {"manifest": "m.json", "sha256": "s" * 64, "n_train": 1, "n_val": 1, "n_test": 1},
        "dataset": {"layout": "rsna-pneumonia", "synthetic": True, "n_images": 3},
        "metrics": [{"name": "auc", "value": 0.7, "higher_is_better": True, "ci95": [0.6, 0.8], "n": 10}],
        "primary_metric": "auc", "env": {}, "plugins": {},
        "timing": {"started_at": "2025-01-01T00:00:00Z", "finished_at": "2025-01-01T00:00:01Z", "wall_time_s": 1.0},
        "status": "ok", "error": None,
    }
    base.update(over)
    return base
