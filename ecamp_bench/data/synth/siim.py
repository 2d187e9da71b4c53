"""Write synthetic cases in the SIIM-ACR Pneumothorax Segmentation (stage 1) layout."""

from __future__ import annotations

from pathlib import Path

from scipy import ndimage

from ecamp_bench.data.rle import EMPTY, rle_encode
from ecamp_bench.data.synth.case import make_case
from ecamp_bench.data.synth.parallel import Progress, map_cases
from ecamp_bench.data.synth.truth import write_truth
from ecamp_bench.data.synth.writers import atomic_write_bytes, make_uid, make_uuid, write_dicom

RLE_FILE = "train-rle.csv"
IMAGES = "dicom-images-train"
UID_PREFIX = "1.2.276.0.7230010.3.1."


def _render(item: tuple) -> dict:
    root, seed, index, size, conspicuity = item
    case = make_case(seed, "siim", index, size, conspicuity=conspicuity)
    sop, study, series = (make_uid(seed, "siim", index, part, prefix=UID_PREFIX + f"{k}.") for k, part in
                          ((4, "sop"), (2, "study"), (3, "series")))
    write_dicom(Path(root) / IMAGES / study / series / f"{sop}.dcm", case.frontal, sop_uid=sop, study_uid=study,
                series_uid=series, patient_id=make_uuid(seed, "siim", index, "patient"), view=case.view,
                sex="M" if case.sex == "Male" else "F", age=case.age, description=f"view: {case.view}")
    mask = case.truth.pneumothorax
    rles = [EMPTY]
    if mask is not None and mask.any():
        components, count = ndimage.label(mask)
        rles = [rle_encode(components == k) for k in range(1, count + 1)]
    return {"rows": [(sop, rle) for rle in rles], "truth": {"image_id": sop, **case.truth_record()}}


def write(root: Path, n: int, seed: int, *, size: int = 256, workers: int = 1, progress: Progress | None = None,
          conspicuity: float = 1.0) -> int:
    """Write ``n`` synthetic images (one RLE row per pneumothorax region, ``-1`` when none); returns the image count.
    ``conspicuity``: see :func:`~ecamp_bench.data.synth.case.make_case`."""
    root = Path(root)
    items = [(str(root), seed, i, size, conspicuity) for i in range(n)]
    rows = map_cases(_render, items, label="siim-acr", workers=workers, progress=progress)
    write_truth(root, [row["truth"] for row in rows])
    lines = ["ImageId, EncodedPixels"] + [f"{sop}, {rle}" for row in rows for sop, rle in row["rows"]]
    atomic_write_bytes(root / RLE_FILE, ("\n".join(lines) + "\n").encode("utf-8"))
    return len(rows)
