"""A test set too small for a meaningful metric is flagged, with the reasons."""

from __future__ import annotations

from ecamp_bench.cli.eval import record_notes
from ecamp_bench.evaluation.sample_size import small_test_set_reasons


def test_small_test_sets_are_flagged_with_reasons():
    assert small_test_set_reasons(3, {"Pneumonia": 1}) == [
        "3 test images (< 30)", "Pneumonia: 1 positive / 2 negative test images (< 5 of each)"]
    assert small_test_set_reasons(300, {"Pneumonia": 40}) == []
    assert (small_test_set_reasons(300, {"A": 40, "B": 297})
            == ["B: 297 positive / 3 negative test images (< 5 of each)"])


def test_the_run_output_warns_about_a_flagged_record():
    from types import SimpleNamespace

    record = SimpleNamespace(dataset={"small_test_set": ["3 test images (< 30)"]},
                             split=SimpleNamespace(published=None))
    ((level, text),) = record_notes(record)
    assert level == "warning" and "too small for a meaningful metric (3 test images (< 30))" in text
