"""Whether a test set is large enough for its metric to mean anything.

"AUC 1.000 [1.000, 1.000] (n=3)" is a number, not a result: with a handful of test images, or a label with
only a few positives (or negatives), the bootstrap interval collapses and the point estimate is noise. A run
whose test set is that small still produces its record, with a warning in the run output and the reasons in
the record (``dataset.small_test_set``), so tables can mark or drop it.

The thresholds are conventions, not measurements: at least :data:`MIN_TEST_IMAGES` test images, and for every
label at least :data:`MIN_PER_CLASS` positive and as many negative test images (ROC AUC and Dice on
positives need both classes; the DeLong variance is unusable below a few of each).
"""

from __future__ import annotations

from collections.abc import Mapping

MIN_TEST_IMAGES = 30
MIN_PER_CLASS = 5


def small_test_set_reasons(n_test: int, positives: Mapping[str, int]) -> list[str]:
    """Why a test set of ``n_test`` images with ``positives`` (label → positive test images) is too small;
    empty when it is not."""
    reasons = []
    if n_test < MIN_TEST_IMAGES:
        reasons.append(f"{n_test} test images (< {MIN_TEST_IMAGES})")
    for label, count in positives.items():
        negatives = n_test - int(count)
        if count < MIN_PER_CLASS or negatives < MIN_PER_CLASS:
            reasons.append(f"{label}: {int(count)} positive / {negatives} negative test images "
                           f"(< {MIN_PER_CLASS} of each)")
    return reasons


MIN_TRAIN_POSITIVES = 5


def small_train_set_reasons(n_train: int, positives: Mapping[str, int]) -> list[str]:
    """Why a training subset (a 1 % cell of a small data set, typically) is too small for its fit to mean anything:
    a label with fewer than :data:`MIN_TRAIN_POSITIVES` positive (or negative) training images. Empty when none."""
    reasons = []
    for label, count in positives.items():
        negatives = n_train - int(count)
        if count < MIN_TRAIN_POSITIVES or negatives < MIN_TRAIN_POSITIVES:
            reasons.append(f"{label}: {int(count)} positive / {negatives} negative training images "
                           f"(< {MIN_TRAIN_POSITIVES} of each)")
    if reasons:
        reasons.insert(0, f"{n_train} training images")
    return reasons
