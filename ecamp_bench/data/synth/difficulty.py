"""How hard the synthetic world is: three reference classifiers on the same train/test images.

- :func:`pixel_probe_auc`: logistic regression on the image average-pooled to 16×16 pixels (standardised;
  the L2 strength chosen on a validation fifth of the training set). If this scores high, the findings are
  close to linear in the pixels and no learned feature is needed.
- :func:`supervised_cnn_auc`: a torchvision ResNet-18 trained from scratch (random init) on the training
  labels. If this scores high, the labels are learnable from the pixels: the world is hard, not noise.
- :func:`feature_probe_auc`: the same logistic regression on the global (average-pooled) feature of a
  randomly initialised encoder (e.g. a ViT). Pre-training has room to matter when this sits near the pixel probe.

Images are ``uint8`` or float arrays ``[N, S, S]``; targets are 0/1 ``[N, C]``; every score is the macro ROC
AUC over the ``C`` labels on the test images (labels without both classes in the test set are skipped).
:func:`world_arrays` renders an in-memory copy of the world (used by the tests and the benchmark script
``benchmarks/synthetic_world.py``, which also reads the written demo size).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# The CheXpert competition labels and the drawn finding kind that makes each one true in the pixels.
CHEXPERT5 = {"Atelectasis": "atelectasis", "Cardiomegaly": "cardiomegaly", "Consolidation": "consolidation",
             "Edema": "edema", "Pleural Effusion": "effusion"}


@dataclass(frozen=True)
class Arrays:
    """Images ``[N, S, S]`` in ``[0, 1]`` (float32) and 0/1 targets ``[N, C]`` named by ``labels``."""

    images: np.ndarray
    targets: np.ndarray
    labels: tuple[str, ...]


def macro_auc(targets: np.ndarray, scores: np.ndarray) -> float:
    """Mean ROC AUC over the columns that hold both classes (``nan`` when none does)."""
    from sklearn.metrics import roc_auc_score

    aucs = [roc_auc_score(targets[:, j], scores[:, j]) for j in range(targets.shape[1])
            if 0 < targets[:, j].sum() < len(targets)]
    return float(np.mean(aucs)) if aucs else float("nan")


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Area-resize ``[N, S, S]`` images to ``[N, size, size]`` float32 in ``[0, 1]`` (uint8 input is scaled)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.asarray(images, dtype=np.float32))
    if np.asarray(images).dtype == np.uint8:
        x = x / 255.0
    if x.shape[-1] != size:
        x = F.interpolate(x[:, None], size=(size, size), mode="area")[:, 0]
    return x.numpy()


def world_arrays(n: int, size: int, *, seed: int = 0, profile: str = "chexpert", render_size: int = 128,
                 labels: dict[str, str] = CHEXPERT5, offset: int = 0) -> Arrays:
    """``n`` frontal images of ``profile`` rendered at ``render_size`` and area-resized to ``size``, labelled by
    what was drawn (the truth, not the report): case indices ``offset .. offset + n - 1`` of ``seed``."""
    from threadpoolctl import threadpool_limits

    from ecamp_bench.data.synth.case import make_case

    images, targets = [], []
    with threadpool_limits(1):  # small matrices: BLAS threads only contend (as in the layout writers)
        for index in range(offset, offset + n):
            case = make_case(seed, profile, index, render_size)
            drawn = {f.kind for f in case.findings}
            images.append(case.frontal)
            targets.append([float(kind in drawn) for kind in labels.values()])
    return Arrays(resize(np.stack(images), size), np.asarray(targets, dtype=np.float32), tuple(labels))


def _logistic_auc(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                  cs: tuple[float, ...] = (0.01, 0.1, 1.0), seed: int = 0) -> float:
    """Per-label standardised logistic regression, C chosen per label on a validation fifth of the training set."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    order = np.random.default_rng(seed).permutation(len(train_x))
    val, fit = order[: len(order) // 5], order[len(order) // 5:]
    scaler = StandardScaler().fit(train_x)
    train_x, test_x = scaler.transform(train_x), scaler.transform(test_x)
    scores = np.zeros(test_y.shape, dtype=np.float64)
    for j in range(train_y.shape[1]):
        y = train_y[:, j]
        if not 0 < y.sum() < len(y):
            continue
        best, best_c = -1.0, cs[0]
        if 0 < y[val].sum() < len(val) and 0 < y[fit].sum() < len(fit):
            for c in cs:
                model = LogisticRegression(C=c, max_iter=2000).fit(train_x[fit], y[fit])
                auc = roc_auc_score(y[val], model.decision_function(train_x[val]))
                best, best_c = (auc, c) if auc > best else (best, best_c)
        scores[:, j] = LogisticRegression(C=best_c, max_iter=2000).fit(train_x, y).decision_function(test_x)
    return macro_auc(test_y, scores)


def pixel_probe_auc(train: Arrays, test: Arrays, pooled: int = 16) -> float:
    """Macro AUC of logistic regression on the images average-pooled to ``pooled × pooled`` pixels."""
    return _logistic_auc(resize(train.images, pooled).reshape(len(train.images), -1), train.targets,
                         resize(test.images, pooled).reshape(len(test.images), -1), test.targets)


def _standardise(images: np.ndarray, mean: float, std: float):
    import torch

    return (torch.from_numpy(np.asarray(images, dtype=np.float32))[:, None] - mean) / std


def supervised_cnn_auc(train: Arrays, test: Arrays, *, epochs: int = 30, batch_size: int = 64, lr: float = 2e-3,
                       seed: int = 0, device: str = "cpu", log: Callable[[str], None] | None = None) -> float:
    """Macro AUC of a ResNet-18 (torchvision, random init, 1-channel stem) trained from scratch with BCE.

    AdamW (weight decay 0.05), one-cycle cosine schedule, random shifts of up to 1/16 of the side as the only
    augmentation; the model after the last epoch is scored (nothing is selected on the test set).
    """
    import torch
    import torch.nn.functional as F
    from torchvision.models import resnet18

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = resnet18(num_classes=train.targets.shape[1])
    model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    model.to(device)
    x, y = _standardise(train.images, 0.5, 0.25), torch.from_numpy(train.targets)
    steps = epochs * -(-len(x) // batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.15)
    pad = max(1, x.shape[-1] // 16)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), batch_size):
            index = order[start: start + batch_size]
            batch = F.pad(x[index], (pad,) * 4, mode="replicate")
            dx, dy = torch.randint(0, 2 * pad + 1, (2,), generator=generator).tolist()
            batch = batch[..., dy: dy + x.shape[-2], dx: dx + x.shape[-1]]
            loss = F.binary_cross_entropy_with_logits(model(batch.to(device)), y[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(index)
        if log:
            log(f"resnet18 epoch {epoch + 1}/{epochs}: train loss {total / len(x):.4f}")
    scores = _predict(model, test.images, device, batch_size)
    if log:
        log("resnet18 test AUC per label: " + ", ".join(
            f"{name} {macro_auc(test.targets[:, [j]], scores[:, [j]]):.3f}" for j, name in enumerate(test.labels)))
    return macro_auc(test.targets, scores)


def _predict(model, images: np.ndarray, device: str, batch_size: int) -> np.ndarray:
    import torch

    model.eval()
    x = _standardise(images, 0.5, 0.25)
    with torch.no_grad():
        return torch.cat([model(x[i: i + batch_size].to(device)).float().cpu()
                          for i in range(0, len(x), batch_size)]).numpy()


def random_vit(arch: str = "cpu-demo", seed: int = 0):
    """A randomly initialised timm ViT with average pooling and no head: ``cpu-demo`` (64 px, patch 8, 96-d,
    4 blocks: the demo's encoder) or any timm name (e.g. ``vit_small_patch16_224``). Returns ``(model, size)``."""
    import timm
    import torch

    torch.manual_seed(seed)
    if arch == "cpu-demo":
        model = timm.create_model("vit_tiny_patch16_224", img_size=64, patch_size=8, embed_dim=96, depth=4,
                                  num_heads=3, in_chans=1, num_classes=0, global_pool="avg")
        return model.eval(), 64
    model = timm.create_model(arch, in_chans=1, num_classes=0, global_pool="avg")
    return model.eval(), int(model.patch_embed.img_size[0])


def feature_probe_auc(encoder, size: int, train: Arrays, test: Arrays, *, device: str = "cpu",
                      batch_size: int = 128) -> float:
    """Macro AUC of logistic regression on ``encoder``'s global features of the images resized to ``size``."""
    encoder = encoder.to(device)
    train_f = _predict(encoder, resize(train.images, size), device, batch_size)
    test_f = _predict(encoder, resize(test.images, size), device, batch_size)
    return _logistic_auc(train_f, train.targets, test_f, test.targets)
