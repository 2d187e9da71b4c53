"""Generate the whole synthetic default: the six official layouts under one folder, plus a completion marker."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ecamp_bench.atomic import default_mode
from ecamp_bench.data.synth.case import HardFinding
from ecamp_bench.data.synth.parallel import Progress, default_workers
from ecamp_bench.errors import UnknownNameError

# 2: NIH ChestX-ray14 and COVIDx joined the default; 3: the harder world (pose, habitus, exposure, varied findings)
GENERATOR_VERSION = 3
MARKER = "SYNTHETIC.json"
# The marker key holding the synthetic size's name. It keeps the name "preset" it had before the option became
# `--size`: the marker's "size" already holds the image side in px, and trees and the result records that copy
# the marker (``dataset.synthetic_marker``) read the same in every version.
MARKER_SIZE_KEY = "preset"

# The synthetic sizes (`ecamp-bench data synth --size NAME`) and the image side (px) of each; 128 px is all the
# 64-px CPU pre-training configs read, 448 px (`gpu-demo`) is the ViT-S/16's SR target. The number of cases per
# layout is declared by each layout (LayoutSpec.synthetic_counts), so a layout plugin joins the default alone.
SIZES: dict[str, int] = {"tiny": 128, "small": 224, "demo": 128, "gpu-demo": 448, "medium": 256}


def synthetic_layouts() -> dict[str, Any]:
    """The layouts of the synthetic default: every ``LayoutSpec`` of the catalog with ``synthetic_counts``."""
    from ecamp_bench.plugins import get_catalog

    catalog = get_catalog()
    return {name: catalog.layout(name) for name in catalog.names("layout") if catalog.layout(name).synthetic_counts}


class _Derived(Mapping):
    """A read-only mapping computed from the catalog on each access (kept for callers of the old constants)."""

    def __init__(self, build) -> None:
        self._build = build

    def __getitem__(self, key):
        return self._build()[key]

    def __iter__(self):
        return iter(self._build())

    def __len__(self) -> int:
        return len(self._build())


#: layout name → ``(sub-folder, writer)``; ``writer.write(root, n, seed, size=..., ...)`` is the layout's writer.
LAYOUTS: Mapping[str, tuple[str, Any]] = _Derived(
    lambda: {name: (spec.subdir, SimpleNamespace(write=spec.write_synthetic))
             for name, spec in synthetic_layouts().items()}
)
#: synthetic size → ``{layout: cases, ..., "size": px}``.
SIZE_PARAMS: Mapping[str, dict[str, int]] = _Derived(lambda: {name: synthetic_size(name) for name in SIZES})
PRESETS = SIZE_PARAMS  # the name before synthetic sizes were called sizes; kept for callers of older versions


def hard_finding_layouts() -> tuple[str, ...]:
    """The layouts whose synthetic writer takes the ``hard`` knob (a keyword ``hard``: those that write
    demographics in their official columns), in catalog order; derived from the writers, not listed here."""
    import inspect

    return tuple(name for name, spec in synthetic_layouts().items()
                 if "hard" in inspect.signature(spec.write_synthetic).parameters)


def synthetic_size(name: str) -> dict[str, int]:
    """The parameters of synthetic size ``name``: cases per layout and ``size`` (the image side in px).

    A layout that declares no count for ``name`` is left out of that size. Raises :class:`UnknownNameError`
    ("unknown synthetic size 'x'; known: ...") for a name not in :data:`SIZES`."""
    if name not in SIZES:
        raise UnknownNameError("synthetic size", name, SIZES)
    counts = {layout: spec.synthetic_counts[name] for layout, spec in synthetic_layouts().items()
              if name in spec.synthetic_counts}
    return {**counts, "size": SIZES[name]}


def marker_size(marker: Mapping[str, Any]) -> str | None:
    """The synthetic size a tree's marker (or a record's copy of it) names, ``None`` when it names none."""
    return marker.get(MARKER_SIZE_KEY)


def read_marker(out: Path) -> dict | None:
    """The completion marker of a generated tree, or ``None`` when absent or unreadable (tree incomplete)."""
    try:
        return json.loads((Path(out) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def generate(out: Path, size: str = "small", seed: int = 0, progress: Progress | None = None,
             workers: int | None = None, hard: HardFinding | None = None) -> dict[str, int]:
    """Write every synthetic layout of the catalog under ``out/<subdir>``, deterministically from ``seed``.

    Returns the number of images per layout.

    The marker ``out/SYNTHETIC.json`` (synthetic size, seed, counts, generator version) is written last, so a
    tree without it is incomplete (:data:`MARKER_SIZE_KEY` names the key of the size's name).
    ``progress(layout, done, total)`` is called as cases are written. ``hard`` (a
    :class:`~ecamp_bench.data.synth.case.HardFinding`, off by default) goes to the layouts whose writers take it
    (:func:`hard_finding_layouts`: those with demographics) and into the marker.
    """
    params = synthetic_size(size)
    out = Path(out)
    (out / MARKER).unlink(missing_ok=True)
    workers = default_workers() if workers is None else workers
    counts = {}
    layouts = {name: spec for name, spec in synthetic_layouts().items() if name in params}
    with_hard = hard_finding_layouts() if hard is not None else ()
    for name, spec in layouts.items():
        options = dict(spec.synthetic_options.get(size, {}))
        if name in with_hard:
            options["hard"] = hard
        counts[name] = spec.write_synthetic(out / spec.subdir, params[name], seed, size=params["size"], workers=workers,
                                            progress=progress, **options)
    marker = {"generator_version": GENERATOR_VERSION, MARKER_SIZE_KEY: size, "seed": seed, "size": params["size"],
              "counts": counts, "layouts": expected_layouts(size)}
    if hard is not None:
        marker["hard_finding"] = {"kind": hard.kind, "sex": hard.sex, "contrast": hard.contrast,
                                  "layouts": list(with_hard)}
    (out / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return counts


def expected_layouts(size: str) -> dict[str, str]:
    """``{layout: sub-folder}`` a tree of synthetic size ``size`` holds (its marker's ``layouts``)."""
    params = synthetic_size(size)
    return {name: spec.subdir for name, spec in synthetic_layouts().items() if name in params}


def ensure_synthetic_default(size: str | None = None, progress: Progress | None = None) -> Path:
    """``paths.synthetic_root(size)``, generated first (seed 0) if its marker is missing.

    ``size`` (a synthetic size) defaults to ``paths.synthetic_default_size()`` (``$ECAMP_BENCH_SYNTHETIC`` or
    ``small``).

    Generation goes to a temporary sibling folder that is renamed into place, so a crash never leaves a
    tree that looks complete.
    """
    from ecamp_bench.paths import synthetic_default_size, synthetic_root

    size = size or synthetic_default_size()
    synthetic_size(size)
    root = synthetic_root(size)
    marker = read_marker(root)
    if (marker is not None and marker.get("generator_version") == GENERATOR_VERSION
            and marker.get("layouts") == expected_layouts(size)):
        return root  # complete, and no layout plugin joined or left since
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    staging.chmod(default_mode(directory=True))  # mkdtemp's 0700 would hide the data from colleagues
    try:
        generate(staging, size=size, seed=0, progress=progress)
        if root.exists():
            shutil.rmtree(root)
        os.replace(staging, root)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return root
