"""Generate the whole synthetic default: the six official layouts under one folder, plus a completion marker."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ecamp_bench.data.synth import chexpert, covidx, mimic_cxr, nih_cxr14, rsna, siim
from ecamp_bench.data.synth.parallel import Progress, default_workers
from ecamp_bench.errors import UnknownNameError

GENERATOR_VERSION = 3  # 2: NIH ChestX-ray14 and COVIDx joined; 3: the harder world (pose, habitus, exposure, varied findings)
MARKER = "SYNTHETIC.json"

# layout name -> (sub-folder, writer module)
LAYOUTS: dict[str, tuple[str, Any]] = {
    "mimic-cxr": ("mimic-cxr-jpg/2.0.0", mimic_cxr),
    "chexpert": ("CheXpert-v1.0-small", chexpert),
    "rsna-pneumonia": ("rsna-pneumonia-detection-challenge", rsna),
    "siim-acr": ("siim-acr-pneumothorax", siim),
    "nih-cxr14": ("nih-chestxray14", nih_cxr14),
    "covidx-cxr": ("covidx-cxr", covidx),
}

# Cases per layout (MIMIC/CheXpert count studies; some studies add a lateral image) and the image size.
# `demo` (what `make demo` uses) is sized for statistical power, not looks: every task's test set holds at
# least 500 images (RSNA/SIIM test = 20 % of 2,600; CheXpert's valid = 15 % of its patients' studies) and the
# 5 % training fraction at least 20 positives of every label; 128 px is all the 64-px cpu presets read.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"mimic-cxr": 40, "chexpert": 48, "rsna-pneumonia": 64, "siim-acr": 64, "nih-cxr14": 80, "covidx-cxr": 64,
             "size": 128},
    "small": {"mimic-cxr": 400, "chexpert": 400, "rsna-pneumonia": 500, "siim-acr": 500, "nih-cxr14": 500,
              "covidx-cxr": 500, "size": 224},
    "demo": {"mimic-cxr": 3000, "chexpert": 4000, "rsna-pneumonia": 2600, "siim-acr": 2600, "nih-cxr14": 2400,
             "covidx-cxr": 2600, "size": 128},
    # `gpu-demo` (`make demo` on a GPU): more pre-training studies, 448 px for the ViT-S/16's 448-px SR target.
    "gpu-demo": {"mimic-cxr": 12000, "chexpert": 4000, "rsna-pneumonia": 2600, "siim-acr": 2600, "nih-cxr14": 2400,
                 "covidx-cxr": 2600, "size": 448},
    "medium": {"mimic-cxr": 6000, "chexpert": 6000, "rsna-pneumonia": 8000, "siim-acr": 8000, "nih-cxr14": 8000,
               "covidx-cxr": 8000, "size": 256},
}
# Keyword arguments of a layout writer that differ from its defaults, per preset.
LAYOUT_OPTIONS: dict[str, dict[str, dict]] = {"demo": {"chexpert": {"valid_share": 0.15}},
                                              "gpu-demo": {"chexpert": {"valid_share": 0.15}}}


def preset(name: str) -> dict[str, int]:
    """The parameters of preset ``name`` (an unknown name lists the valid ones)."""
    if name not in PRESETS:
        raise UnknownNameError("preset", name, PRESETS)
    return PRESETS[name]


def read_marker(out: Path) -> dict | None:
    """The completion marker of a generated tree, or ``None`` when absent or unreadable (tree incomplete)."""
    try:
        return json.loads((Path(out) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def generate(out: Path, preset: str = "small", seed: int = 0, progress: Progress | None = None,
             workers: int | None = None) -> dict[str, int]:
    """Write every layout of :data:`LAYOUTS` under ``out/<subdir>`` deterministically from ``seed``; returns images per layout.

    The marker ``out/SYNTHETIC.json`` (preset, seed, counts, generator version) is written last, so a tree
    without it is incomplete. ``progress(layout, done, total)`` is called as cases are written.
    """
    params = globals()["preset"](preset)
    out = Path(out)
    (out / MARKER).unlink(missing_ok=True)
    workers = default_workers() if workers is None else workers
    counts = {}
    for name, (subdir, module) in LAYOUTS.items():
        counts[name] = module.write(out / subdir, params[name], seed, size=params["size"], workers=workers,
                                    progress=progress, **LAYOUT_OPTIONS.get(preset, {}).get(name, {}))
    marker = {"generator_version": GENERATOR_VERSION, "preset": preset, "seed": seed, "size": params["size"],
              "counts": counts, "layouts": {name: subdir for name, (subdir, _) in LAYOUTS.items()}}
    (out / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return counts


def ensure_synthetic_default(preset: str | None = None, progress: Progress | None = None) -> Path:
    """``paths.synthetic_root(preset)``, generated first (seed 0) if its marker is missing.

    ``preset`` defaults to ``paths.synthetic_default_preset()`` (``$ECAMP_BENCH_SYNTHETIC`` or ``small``).

    Generation goes to a temporary sibling folder that is renamed into place, so a crash never leaves a
    tree that looks complete.
    """
    from ecamp_bench.paths import synthetic_default_preset, synthetic_root

    preset = preset or synthetic_default_preset()
    globals()["preset"](preset)
    root = synthetic_root(preset)
    marker = read_marker(root)
    if marker is not None and marker.get("generator_version") == GENERATOR_VERSION:
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        generate(staging, preset=preset, seed=0, progress=progress)
        if root.exists():
            shutil.rmtree(root)
        os.replace(staging, root)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return root
