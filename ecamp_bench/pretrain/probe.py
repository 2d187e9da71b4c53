"""A quick linear probe of the encoder during pre-training: does its global feature carry what the images show?

Every ``probe.every`` optimizer steps (and once before the first step) the encoder embeds a held-out set of
synthetic radiographs (generated in memory from the ``probe`` stream of the synthetic generator, never seen in
pre-training), and one logistic regression per finding is fitted on the first half and scored (ROC AUC) on the
second half. The labels are the findings *drawn* into the pixels (``Case.truth``), not the report's words, so
the probe measures what the image encoder sees. The global feature is the one the evaluation protocols use
(``Backbone.forward_global`` with ``global_pool="avg"``): the final-norm patch tokens, averaged, CLS excluded.

Each probe appends one JSON line to ``<run_dir>/probe.jsonl``::

    {"step": 100, "backbone": "file:ecamp-cpu-small-…", "auc": 0.71, "auc_per_label": {...},
     "n_fit": 300, "n_test": 300, "seconds": 1.2}

The probe reads no random state of torch (the encoder runs in eval mode, without masking), so a run with a
probe trains exactly like one without; rows of a resumed run are deduplicated by step when read
(:func:`read_probe_log`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

PROBE_FILE = "probe.jsonl"
# Finding kinds whose labels the probe scores (Finding.kind); each is drawn into the pixels by the generator.
PROBE_LABELS = ("cardiomegaly", "effusion", "consolidation", "pneumothorax", "edema", "atelectasis", "devices")


@dataclass
class ProbeConfig:
    """When and on what the probe runs (``probe.*`` keys of a pre-training config)."""

    every: int = 25  # optimizer steps between probes; 0 turns the probe off
    images: int = 600  # held-out synthetic images: the first half fits the heads, the second half scores them
    seed: int = 0  # seed of the synthetic probe set (independent of the pre-training data)
    image_size: int = 0  # pixels of the generated images before resizing to the encoder; 0 = data.hr_size
    c: float = 1.0  # inverse L2 strength of the logistic regressions (on standardised features); fixed, not tuned


@dataclass(frozen=True)
class ProbeSet:
    """Held-out images ``[N, 1, S, S]`` in ``[0, 1]`` and 0/1 labels ``[N, C]`` named by ``labels``."""

    images: torch.Tensor
    targets: np.ndarray
    labels: tuple[str, ...]


def synthetic_probe_set(n: int, size: int, seed: int = 0, labels: tuple[str, ...] = PROBE_LABELS) -> ProbeSet:
    """``n`` synthetic frontal radiographs of the ``probe`` profile at ``size`` px, labelled by what was drawn."""
    from ecamp_bench.data.synth.case import make_case

    images, targets = [], []
    for index in range(n):
        case = make_case(seed, "probe", index, size)
        drawn = {f.kind for f in case.findings}
        images.append(torch.from_numpy(case.frontal.astype(np.float32) / 255.0))
        targets.append([float(kind in drawn) for kind in labels])
    return ProbeSet(torch.stack(images)[:, None], np.asarray(targets, dtype=np.float32), tuple(labels))


@torch.no_grad()
def global_features(encoder: nn.Module, images: torch.Tensor, input_size: int, mean: float, std: float,
                    batch_size: int = 128) -> np.ndarray:
    """``[N, D]`` mean of the final-norm patch tokens of a timm ViT for ``[N, 1, S, S]`` images in ``[0, 1]``.

    Images are resized like the evaluation does (bilinear, antialiased) and normalised with ``mean``/``std``.
    The encoder's train/eval mode is restored afterwards.
    """
    from ecamp_bench.evaluation.features import to_tensor

    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.stack([to_tensor(img[0].numpy(), input_size) for img in images[start:start + batch_size]])
        tokens = encoder.forward_features(((batch - mean) / std).to(device))  # [B, 1 + L, D], final norm applied
        prefix = getattr(encoder, "num_prefix_tokens", 1)
        out.append(tokens[:, prefix:].mean(dim=1).float().cpu().numpy())
    encoder.train(was_training)
    return np.concatenate(out)


def probe_scores(features: np.ndarray, targets: np.ndarray, labels: tuple[str, ...], c: float = 1.0) -> dict:
    """Fit one logistic regression per label on the first half, ROC AUC on the second half.

    Returns ``{"auc": macro, "auc_per_label": {label: auc}, "n_fit", "n_test"}``; a label with one class only
    in either half is left out of the macro mean (and reported as ``None``).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    half = len(features) // 2
    scaler = StandardScaler().fit(features[:half])
    fit, test = scaler.transform(features[:half]), scaler.transform(features[half:])
    per_label: dict[str, float | None] = {}
    for j, label in enumerate(labels):
        y_fit, y_test = targets[:half, j], targets[half:, j]
        if len(np.unique(y_fit)) < 2 or len(np.unique(y_test)) < 2:
            per_label[label] = None
            continue
        head = LogisticRegression(C=c, max_iter=2000).fit(fit, y_fit)
        per_label[label] = float(roc_auc_score(y_test, head.decision_function(test)))
    scored = [v for v in per_label.values() if v is not None]
    return {"auc": float(np.mean(scored)) if scored else None, "auc_per_label": per_label,
            "n_fit": int(half), "n_test": int(len(features) - half)}


class Probe:
    """Runs the probe on an encoder and appends the result to ``run_dir/probe.jsonl``."""

    def __init__(self, cfg: ProbeConfig, run_dir: Path, *, input_size: int, hr_size: int, mean: float, std: float,
                 backbone: str | None = None):
        self.cfg, self.path = cfg, Path(run_dir) / PROBE_FILE
        self.input_size, self.mean, self.std, self.backbone = input_size, float(mean), float(std), backbone
        self.data = synthetic_probe_set(cfg.images, cfg.image_size or hr_size, cfg.seed)

    def due(self, step: int) -> bool:
        """Whether the probe runs after optimizer step ``step`` (0 = before training)."""
        return self.cfg.every > 0 and step % self.cfg.every == 0

    def __call__(self, encoder: nn.Module, step: int) -> dict:
        """Probe ``encoder`` now (after ``step`` steps), log one line and return it."""
        started = time.perf_counter()
        features = global_features(encoder, self.data.images, self.input_size, self.mean, self.std)
        row = {"step": int(step), "backbone": self.backbone,
               **probe_scores(features, self.data.targets, self.data.labels, self.cfg.c)}
        row["seconds"] = round(time.perf_counter() - started, 3)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
        return row


def read_probe_log(path: Path) -> list[dict]:
    """The rows of a ``probe.jsonl`` sorted by step, the last row of each step kept (a resumed run repeats some)."""
    rows: dict[int, dict] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows[int(row["step"])] = row
        except (ValueError, KeyError, TypeError) as error:
            from ecamp_bench.errors import DataError

            raise DataError(f"line {number} is not a probe row ({error})", path=path) from None
    return [rows[step] for step in sorted(rows)]


def attach_probe(cfg, trainer, backbone: str | None, on_step=None):
    """The ``on_step`` callback of a run with the probe of ``cfg.probe`` added (rank 0; unchanged when off).

    Probes once now (the step the trainer starts from, 0 for a new run) unless the log already has that
    step, then after every ``cfg.probe.every`` optimizer steps and after the last one.
    """
    if cfg.probe.every <= 0 or not trainer.info.is_main:
        return on_step
    probe = Probe(cfg.probe, trainer.run_dir, input_size=cfg.model.img_size, hr_size=cfg.data.hr_size,
                  mean=cfg.data.mean, std=cfg.data.std, backbone=backbone)
    done = {row["step"] for row in read_probe_log(probe.path)} if probe.path.is_file() else set()
    if trainer.step not in done:
        probe(trainer.model.encoder, trainer.step)

    def step_then_probe(info) -> None:
        if on_step is not None:
            on_step(info)
        if probe.due(info.step) or info.step == info.total_steps:
            probe(trainer.model.encoder, info.step)

    return step_then_probe


def probe_metadata(run_dir: Path) -> dict:
    """``{"probe": [{"step", "auc"}, ...]}`` for the export provenance of a run (``{}`` without a probe log)."""
    path = Path(run_dir) / PROBE_FILE
    if not path.is_file():
        return {}
    return {"probe": [{"step": row["step"], "auc": row["auc"]} for row in read_probe_log(path)]}
