"""Write synthetic images in the COVIDx CXR three-class release layout (``train.txt``/``test.txt``, ``train/``, ``test/``).

Each patient's class is drawn first (normal 35 %, pneumonia 30 %, COVID-19 35 %) and decides what is drawn on
top of the background findings of the ``covidx`` profile: non-COVID pneumonia is one focal consolidation
(unilateral, any zone, moderate or severe); COVID-19 is bilateral lower-zone consolidation with a mild
bilateral haze (ground glass), the typical peripheral-basal pattern; normal adds nothing. Lines follow the
release: ``patient_id filename class data_source``, RSNA-sourced normal/pneumonia images named
``<patientId>.png``, COVID-19 images from ``sirm`` (patient ids with a space: ``COVID 12``) and ``ricord``
(1-3 images per patient). About a fifth of the patients form the test list.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np

from ecamp_bench.data.synth.case import make_case
from ecamp_bench.data.synth.findings import Finding
from ecamp_bench.data.synth.parallel import Progress, map_cases
from ecamp_bench.data.synth.truth import write_truth
from ecamp_bench.data.synth.writers import atomic_write_bytes

CLASSES = ("normal", "pneumonia", "COVID-19")
CLASS_SHARES = (0.35, 0.3, 0.35)
TEST_SHARE = 0.2


def class_findings(name: str, rng: np.random.Generator) -> tuple[Finding, ...]:
    """The findings that make a case of class ``name`` (see the module docstring)."""
    if name == "pneumonia":
        return (Finding("consolidation", str(rng.choice(["right", "left"])), str(rng.choice(["upper", "middle", "lower"])),
                        str(rng.choice(["moderate", "severe"]))),)
    if name == "COVID-19":
        return (Finding("consolidation", "bilateral", "lower", str(rng.choice(["mild", "moderate"]))),
                Finding("edema", "bilateral", None, "mild"))
    return ()


def _render(item: tuple) -> dict:
    from PIL import Image

    root, seed, index, size, split, patient, filename, name, source, extra, conspicuity = item
    case = make_case(seed, "covidx", index, size, extra=extra, conspicuity=conspicuity)
    folder = Path(root) / split
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(case.frontal, mode="L").save(folder / filename, format="PNG", compress_level=1)
    return {"split": split, "line": f"{patient} {filename} {name} {source}",
            "truth": {"image_id": filename, "class": name, **case.truth_record()}}


def write(root: Path, n: int, seed: int, *, size: int = 224, workers: int = 1, progress: Progress | None = None,
          conspicuity: float = 1.0) -> int:
    """Write ``n`` synthetic images as a three-class COVIDx release under ``root``; returns ``n``.
    ``conspicuity``: see :func:`~ecamp_bench.data.synth.case.make_case`."""
    root = Path(root)
    rng = np.random.default_rng([seed, 106])
    items, patient = [], 0
    while len(items) < n:
        patient += 1
        name = CLASSES[int(rng.choice(len(CLASSES), p=CLASS_SHARES))]
        split = "test" if rng.random() < TEST_SHARE else "train"
        if name == "COVID-19":
            source = "sirm" if rng.random() < 0.3 else "ricord"
            patient_id = f"COVID {patient}" if source == "sirm" else f"SITE2-{patient:06d}"
            views = min(int(rng.integers(1, 4)), n - len(items))
        else:
            source, patient_id, views = "rsna", str(uuid.UUID(bytes=rng.bytes(16), version=4)), 1
        for view in range(views):
            if source == "rsna":
                filename = f"{patient_id}.png"
            elif source == "sirm":
                filename = f"COVID({patient}-{view}).png"
            else:
                filename = f"MIDRC-RICORD-1C-{patient_id}-{view:05d}-0.png"
            extra = class_findings(name, rng)
            items.append((str(root), seed, len(items), size, split, patient_id, filename, name, source, extra,
                          conspicuity))
    rows = map_cases(_render, items, label="covidx-cxr", workers=workers, progress=progress)
    write_truth(root, [row["truth"] for row in rows])
    for split in ("test", "train"):
        text = "".join(row["line"] + "\n" for row in rows if row["split"] == split)
        atomic_write_bytes(root / f"{split}.txt", text.encode("utf-8"))
    return len(rows)
