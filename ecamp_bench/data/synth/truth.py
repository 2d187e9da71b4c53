"""The ground-truth side file of a synthetic layout: one JSON line per image with what was drawn."""

from __future__ import annotations

import json
from pathlib import Path

from ecamp_bench.data.synth.writers import atomic_write_bytes

TRUTH_FILE = "synthetic_truth.jsonl"
# Observations implied by each drawn finding kind (CheXpert names).
KIND_OBSERVATIONS = {
    "consolidation": ("Lung Opacity", "Consolidation", "Pneumonia"),
    "pneumothorax": ("Pneumothorax",),
    "effusion": ("Pleural Effusion",),
    "atelectasis": ("Lung Opacity", "Atelectasis"),
    "edema": ("Lung Opacity", "Edema"),
    "cardiomegaly": ("Cardiomegaly", "Enlarged Cardiomediastinum"),
    "nodule": ("Lung Lesion",),
    "devices": ("Support Devices",),
}


def drawn_observations(records: list[dict]) -> set[str]:
    """The CheXpert observations that are truly present in the pixels, from a case's truth records."""
    return {name for record in records for name in KIND_OBSERVATIONS[record["kind"]]}


def write_truth(root: Path, rows: list[dict]) -> None:
    """Write ``root/synthetic_truth.jsonl`` (``image_id`` plus the case's truth record per line)."""
    text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    atomic_write_bytes(root / TRUTH_FILE, text.encode("utf-8"))


def read_truth(root: Path) -> dict[str, dict]:
    """Map image id → truth record, from a synthetic layout root."""
    lines = (root / TRUTH_FILE).read_text(encoding="utf-8").splitlines()
    return {row["image_id"]: row for row in map(json.loads, lines)}
