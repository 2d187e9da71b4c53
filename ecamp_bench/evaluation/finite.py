"""The one finite check: model outputs and metric inputs must hold no NaN or ±inf.

A model whose weights went NaN predicts "background" everywhere or the lowest score for every image, and a
metric that quietly treats NaN as such a prediction gives a good-looking number (Dice on the empty-truth images).
Every metric and the runner call :func:`require_finite` on what they are given, so all refuse the same way:
:class:`~ecamp_bench.errors.NonFiniteError` naming what was checked and how many values were not finite.
"""

from __future__ import annotations

import numpy as np

from ecamp_bench.errors import NonFiniteError


def nonfinite_count(values) -> tuple[int, int]:
    """``(non-finite values, all values)`` of a numeric array-like (torch tensors too); ``(0, n)`` for ints/bools."""
    if hasattr(values, "detach"):  # a torch tensor: count on its device, without copying it to numpy
        import torch

        values = values.detach()
        if not values.is_floating_point():
            return 0, int(values.numel())
        return int((~torch.isfinite(values)).sum()), int(values.numel())
    array = np.asarray(values)
    if array.dtype.kind not in "fc":
        return 0, int(array.size)
    return int((~np.isfinite(array)).sum()), int(array.size)


def require_finite(values, what: str):
    """Return ``values`` unchanged when every value is finite; otherwise raise :class:`NonFiniteError`.

    ``what`` names the input in the message, e.g. ``"auc: scores"`` → ``"auc: scores: 3 of 520 values are not
    finite (NaN or ±inf)"``.
    """
    bad, total = nonfinite_count(values)
    if bad:
        raise NonFiniteError(f"{what}: {bad} of {total} values are not finite (NaN or ±inf)")
    return values


PREDICTION_EXTRAS = ("pred_boxes", "pred_scores")  # model outputs among a detection run's extras


def require_finite_predictions(predictions, *, backbone: str, task: str) -> None:
    """Check a protocol's test predictions (scores or masks, predicted boxes and their scores) before scoring.

    Raises :class:`NonFiniteError`: ``"backbone 'X' on task 'T' predicted N non-finite values of M (scores)"``.
    """
    parts = [("scores", predictions.scores)]
    parts += [(name, predictions.extras[name]) for name in PREDICTION_EXTRAS if name in predictions.extras]
    counts = {name: nonfinite_count(values) for name, values in parts}
    bad = {name: c for name, c in counts.items() if c[0]}
    if bad:
        where = ", ".join(f"{name} {n} of {total}" for name, (n, total) in bad.items())
        raise NonFiniteError(f"backbone '{backbone}' on task '{task}' predicted non-finite values (NaN or ±inf): "
                             f"{where}; no result is recorded")


class OutputWatch:
    """Counts non-finite values in the outputs of some modules while active (forward hooks); see :meth:`check`.

    Used where a model's last outputs cannot carry NaN any more (thresholded boxes, arg-max masks): the
    counts come from the tensors the modules return (a tensor, or a tuple/list/dict of them).
    """

    def __init__(self, modules: dict) -> None:
        self.counts = {name: [0, 0] for name in modules}
        self._handles = [module.register_forward_hook(self._hook(name)) for name, module in modules.items()]

    def _hook(self, name: str):
        def count(_module, _inputs, output) -> None:
            for tensor in _tensors(output):
                bad, total = nonfinite_count(tensor)
                self.counts[name][0] += bad
                self.counts[name][1] += total

        return count

    def close(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def check(self, what: str) -> None:
        """Remove the hooks; raise :class:`NonFiniteError` when any watched output held a non-finite value."""
        self.close()
        bad = {name: c for name, c in self.counts.items() if c[0]}
        if bad:
            where = ", ".join(f"{name} outputs {n} of {total}" for name, (n, total) in bad.items())
            raise NonFiniteError(f"{what}: non-finite values (NaN or ±inf): {where}")


def _tensors(output):
    if hasattr(output, "detach"):
        yield output
    elif isinstance(output, (tuple, list)):
        for item in output:
            yield from _tensors(item)
    elif isinstance(output, dict):
        for item in output.values():
            yield from _tensors(item)


__all__ = ["OutputWatch", "nonfinite_count", "require_finite", "require_finite_predictions"]
