"""The plugin contract of ecamp-bench. These docstrings are the reference documentation.

A plugin is a plain module with functions decorated by ``ecamp_bench.api.hookimpl`` whose names match
the hooks below. It is registered through the entry-point group ``ecamp_bench`` in its distribution's
``pyproject.toml``::

    [project.entry-points.ecamp_bench]
    my-baseline = "my_package.plugin"

The in-tree plugins under ``plugins/`` (import name ``ecamp_bench_plugins``) are listed in code instead
(``ecamp_bench.plugins.BUILTIN_PLUGINS``), so adding one needs no reinstall.

Rules for every catalog hook:

- It takes no arguments and returns a list of frozen specs (see :mod:`ecamp_bench.specs`).
- It must be cheap: import torch, timm, mmdet or mmseg only inside the functions a spec references.
- Names are unique across all installed plugins; a duplicate is an error naming both providers.
- Results are flattened and sorted by name, so registration order never matters.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ecamp_bench.results.record import ResultRecord
    from ecamp_bench.specs import BackboneSpec, LayoutSpec, ProtocolSpec, TaskSpec

PROJECT = "ecamp_bench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def ecamp_bench_layouts() -> list[LayoutSpec]:
    """Return the dataset layouts this plugin can read (and write synthetically).

    A layout reads one official on-disk format (file tree, CSV columns, DICOM, RLE) into uniform samples.
    Tasks refer to a layout by name. Example: ``LayoutSpec(name="rsna-pneumonia", ...)``.
    """


@hookspec
def ecamp_bench_tasks() -> list[TaskSpec]:
    """Return the downstream tasks this plugin provides.

    Every ``TaskSpec.layout`` must name a registered layout, and every entry of ``TaskSpec.protocols``
    a registered protocol that supports ``TaskSpec.kind``; this is checked when plugins load.

    ``TaskSpec.implementation`` (``"module:attr"``) is the object that owns the task's ground truth
    (:class:`ecamp_bench.evaluation.context.TaskImplementation`):

    - ``prepare(spec, table) -> PreparedTask``: filter/relabel the layout's samples, fixed test ids, strata;
    - ``targets(spec, table) -> [N, C]``: image-level targets (stratification, classification training);
    - ``mask(spec, sample, (H, W)) -> bool [H, W]`` (segmentation) / ``boxes(spec, sample) -> [G, 4]``
      (detection, x1 y1 x2 y2 in stored pixels): the truth protocols train on, through ``ctx.mask`` /
      ``ctx.boxes`` (so a new segmentation or detection task needs no edit under ``ecamp_bench/mm``);
    - ``truth(spec, test_table, predictions) -> Predictions`` (optional): the protocol's predictions with
      the task's ground truth attached (default: ``targets``); saved next to the record;
    - ``score(spec, predictions, *, n_bootstrap, seed) -> list[MetricValue]``: the metrics, primary first.

    Each ``MetricSpec`` says how two runs are compared on it (``paired_test``, ``value_fn``); both are
    copied into the records, so the leaderboard works from a results folder alone.
    """


@hookspec
def ecamp_bench_protocols() -> list[ProtocolSpec]:
    """Return the evaluation protocols this plugin provides (e.g. ``linear``, ``finetune``, ``frozen-det``).

    A protocol trains whatever its recipe trains on the train split, selects on the val split and
    returns predictions on the test split *without* ground truth (``targets=None``); the task attaches its
    truth and scores them. ``ProtocolSpec.run`` receives a :class:`~ecamp_bench.evaluation.context.RunContext`:
    ``task`` (spec with ``labels``), ``labels``, ``fraction`` (the requested label fraction), ``params``,
    ``backbone``/``weights_path``/``build_backbone()``, ``train``/``val``/``test``/``pool`` tables, ``seed``,
    ``device``, ``work_dir``, ``cache_dir``, ``num_workers``, ``progress``, ``dist``, and the task's truth
    through ``ctx.targets(table)``, ``ctx.mask(sample, shape)`` and ``ctx.boxes(sample)``; it never reads
    labels, masks or boxes from the samples itself and names no dataset or label. Under ``torchrun`` every rank calls
    it with ``ctx.dist`` set; it may shard its work with :mod:`ecamp_bench.distributed` (``wrap_ddp``,
    ``shard_indices``, ``gather_rows``) and must return the same predictions on every rank. A
    protocol that ignores ``ctx.dist`` still gives a correct result (each rank does all the work).
    """


@hookspec
def ecamp_bench_backbones() -> list[BackboneSpec]:
    """Return the backbones (image encoders with a weight source) this plugin provides."""


@hookspec(firstresult=True)
def ecamp_bench_resolve_weights(ref: str) -> Path | None:
    """Turn a weight reference (e.g. ``"my-store:model-7"``) into a local file path, or return ``None``.

    The first plugin that returns a path wins. The built-in fallback treats ``ref`` as a local path,
    relative paths being looked up under ``pretrained/``. Nothing is ever downloaded by ecamp-bench
    itself; a plugin that fetches weights does so on its own responsibility.
    """


@hookspec
def ecamp_bench_run_finished(record: ResultRecord) -> None:
    """Observe a finished run (e.g. to log it to an experiment tracker).

    ``record`` is the typed, frozen :class:`~ecamp_bench.results.record.ResultRecord` exactly as written to
    ``results/runs/`` (``record.to_json()`` gives the JSON form).
    """
