"""Probe which parts of the OpenMMLab stack (mmcv ops, mmdet, mmseg) work on this CPU, and how fast.

Builds tiny models from the configs that ship inside the mmdet/mmseg wheels (``<package>/.mim/configs``),
swaps their ResNet/Darknet for a small convolutional pyramid (:class:`ProbeBackbone`, strides 4/8/16/32),
runs one training step (loss + backward) and one inference (predict, with NMS for detectors) on CPU and
records wall-clock timings. Also checks the compiled ops against hand-computed values and how a custom
backbone is found through the mmdet/mmseg ``MODELS`` registries.

Run: ``.venv/bin/python benchmarks/openmmlab_probe.py [--json PATH]``; ``tests/mm/test_stack.py`` runs
the same probes as tests.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import ecamp_bench  # noqa: F401  (makes the CUDA-built torchvision importable before mmcv/mmdet import it)
import numpy as np
import torch
from torch import nn

IMAGE_SIZE = 224
# YOLOv3's COCO anchors (416 px) scaled to 224 px, deepest scale first as mmdet expects.
YOLO_ANCHORS_224 = [
    [(62, 48), (84, 107), (201, 176)],
    [(16, 33), (33, 24), (32, 64)],
    [(5, 7), (9, 16), (18, 12)],
]


class ProbeBackbone(nn.Module):
    """A tiny convolutional pyramid standing in for ecamp-bench's backbone: features at strides 4/8/16/32."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 128), out_indices: tuple[int, ...] = (0, 1, 2, 3)):
        super().__init__()
        self.out_indices = tuple(out_indices)
        self.stem = nn.Sequential(nn.Conv2d(3, channels[0], 3, stride=4, padding=1), nn.ReLU())
        stages, previous = [], channels[0]
        for width in channels[1:]:
            stages.append(nn.Sequential(nn.Conv2d(previous, width, 3, stride=2, padding=1), nn.ReLU()))
            previous = width
        self.stages = nn.ModuleList(stages)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """images [B, 3, H, W] -> the selected levels of [B, C_i, H / 2^(i+2), W / 2^(i+2)]."""
        features = [self.stem(images)]
        for stage in self.stages:
            features.append(stage(features[-1]))
        return tuple(features[i] for i in self.out_indices)

    def init_weights(self) -> None:
        """mmengine calls this on every sub-module; the default PyTorch init is kept."""


def packaged_config(package: str, relative: str):
    """Load a config file shipped inside an OpenMMLab wheel (``<package>/.mim/configs/<relative>``)."""
    from mmengine.config import Config

    root = Path(importlib.import_module(package).__file__).parent / ".mim" / "configs"
    return Config.fromfile(str(root / relative))


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, round(time.perf_counter() - start, 4)


def stack_versions() -> dict[str, str]:
    """Versions of everything the stack depends on, as imported."""
    import cv2
    import mmcv
    import mmdet
    import mmengine
    import mmseg
    import scipy
    import shapely
    import torchvision

    return {
        "torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": np.__version__,
        "mmengine": mmengine.__version__, "mmcv": mmcv.__version__, "mmdet": mmdet.__version__,
        "mmseg": mmseg.__version__, "opencv": cv2.__version__, "scipy": scipy.__version__,
        "shapely": shapely.__version__,
    }


def probe_ops() -> dict[str, Any]:
    """Run mmcv's compiled NMS, RoIAlign and bbox_overlaps on CPU against hand-computed expectations."""
    from mmcv.ops import RoIAlign, bbox_overlaps, nms

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7])
    (kept, keep_idx), nms_s = _timed(lambda: nms(boxes, scores, iou_threshold=0.5))
    # Boxes 0 and 1 overlap with IoU 81/119 = 0.68 > 0.5, so box 1 is suppressed.
    assert keep_idx.tolist() == [0, 2], keep_idx
    assert torch.allclose(kept[:, 4], torch.tensor([0.9, 0.7]))

    # A horizontal ramp f(y, x) = x: RoIAlign's bin averages equal the x coordinates of the bin centres.
    ramp = torch.arange(32, dtype=torch.float32).repeat(32, 1)[None, None]  # [1, 1, 32, 32]
    rois = torch.tensor([[0, 4.0, 4.0, 12.0, 12.0]])  # (batch index, x1, y1, x2, y2)
    align = RoIAlign(output_size=(2, 2), spatial_scale=1.0, sampling_ratio=2, aligned=True)
    pooled, roi_s = _timed(lambda: align(ramp, rois))  # [1, 1, 2, 2]
    expected = torch.tensor([[5.5, 9.5], [5.5, 9.5]])  # aligned=True shifts pixel centres by -0.5
    assert torch.allclose(pooled[0, 0], expected, atol=1e-4), pooled

    ious, iou_s = _timed(lambda: bbox_overlaps(boxes[:2], boxes[:2]))
    assert abs(ious[0, 1].item() - 81 / 119) < 1e-5, ious
    return {"nms_s": nms_s, "roi_align_s": roi_s, "bbox_overlaps_s": iou_s}


def probe_image_io() -> dict[str, Any]:
    """mmcv's cv2-based image I/O and resize (used by the data pipelines) round-trip a PNG exactly."""
    import cv2
    import mmcv

    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)  # [H, W, 3] BGR
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    decoded, decode_s = _timed(lambda: mmcv.imfrombytes(encoded.tobytes(), flag="color"))
    assert np.array_equal(decoded, image)
    resized, resize_s = _timed(lambda: mmcv.imresize(decoded, (32, 24)))  # (w, h)
    assert resized.shape == (24, 32, 3), resized.shape
    return {"imfrombytes_s": decode_s, "imresize_s": resize_s}


def probe_checkpoint_loading() -> dict[str, bool]:
    """Whether mmengine's load_checkpoint reads a plain and a Runner-style checkpoint under torch's
    ``weights_only=True`` default (Runner checkpoints pickle MessageHub HistoryBuffers and numpy scalars)."""
    import tempfile

    from mmengine.logging import MessageHub
    from mmengine.runner.checkpoint import load_checkpoint

    model = nn.Linear(2, 2)
    hub = MessageHub.get_instance("openmmlab_probe")
    hub.update_scalar("train/loss", 1.0)
    contents = {
        "plain_state_dict": {"state_dict": model.state_dict(), "meta": {"epoch": 1}},
        "runner_checkpoint": {"state_dict": model.state_dict(), "meta": {"epoch": 1},
                              "message_hub": hub.state_dict()},
    }
    loads = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, content in contents.items():
            path = Path(folder) / f"{name}.pth"
            torch.save(content, path)
            try:
                load_checkpoint(model, str(path), map_location="cpu", logger="silent")
                loads[name] = True
            except Exception:  # noqa: BLE001 - recorded, not raised: this is what the probe measures
                loads[name] = False
    return loads


def _det_batch(batch_size: int = 2):
    """uint8 images and DetDataSamples with one box each, as a detector's data_preprocessor expects."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for index in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, IMAGE_SIZE, IMAGE_SIZE), dtype=torch.uint8, generator=generator))
        sample = DetDataSample(metainfo={
            "img_shape": (IMAGE_SIZE, IMAGE_SIZE), "ori_shape": (IMAGE_SIZE, IMAGE_SIZE),
            "scale_factor": (1.0, 1.0), "img_id": index,
        })
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[40.0 + 10 * index, 50.0, 120.0, 160.0]]), labels=torch.tensor([0]))
        samples.append(sample)
    return {"inputs": inputs, "data_samples": samples}


def _tiny_detector_cfg(kind: str) -> dict:
    """mmdet's own model config for ``kind`` with the backbone and widths shrunk to ProbeBackbone's."""
    if kind == "yolov3":
        model = packaged_config("mmdet", "yolo/yolov3_d53_8xb8-320-273e_coco.py").model
        model.backbone = dict(type=ProbeBackbone, out_indices=(1, 2, 3))  # strides 8/16/32: 32/64/128 channels
        model.neck.update(in_channels=[128, 64, 32], out_channels=[64, 32, 16])
        model.bbox_head.update(in_channels=[64, 32, 16], out_channels=[128, 64, 32], num_classes=1)
        model.bbox_head.anchor_generator.base_sizes = YOLO_ANCHORS_224
        model.test_cfg.nms.iou_threshold = 0.5
        return model
    if kind == "retinanet":
        model = packaged_config("mmdet", "_base_/models/retinanet_r50_fpn.py").model
        model.neck.start_level = 1
        model.bbox_head.update(in_channels=32, feat_channels=32, stacked_convs=1, num_classes=1)
    elif kind == "faster_rcnn":
        model = packaged_config("mmdet", "_base_/models/faster-rcnn_r50_fpn.py").model
        model.rpn_head.update(in_channels=32, feat_channels=32)
        model.roi_head.bbox_roi_extractor.out_channels = 32
        model.roi_head.bbox_head.update(in_channels=32, fc_out_channels=64, num_classes=1)
    else:
        raise ValueError(f"unknown detector kind {kind!r}")
    model.backbone = dict(type=ProbeBackbone)
    model.neck.update(in_channels=[16, 32, 64, 128], out_channels=32)
    return model


def probe_detector(kind: str) -> dict[str, Any]:
    """Build a tiny mmdet ``kind`` detector, run loss + backward and predict (with NMS) on CPU."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    torch.manual_seed(0)
    model, build_s = _timed(lambda: MODELS.build(_tiny_detector_cfg(kind)))
    model.train()
    data = model.data_preprocessor(_det_batch(), training=True)

    def train_step() -> float:
        losses = model.loss(data["inputs"], data["data_samples"])  # dict of loss tensors / lists
        total, _ = model.parse_losses(losses)
        total.backward()
        return total.item()

    loss, loss_s = _timed(train_step)
    assert np.isfinite(loss) and loss > 0, loss
    model.eval()
    batch = model.data_preprocessor(_det_batch(), training=False)
    with torch.no_grad():
        predictions, predict_s = _timed(lambda: model.predict(batch["inputs"], batch["data_samples"]))
    boxes = predictions[0].pred_instances.bboxes  # [N, 4] x1, y1, x2, y2 in pixels
    assert boxes.ndim == 2 and boxes.shape[1] == 4, boxes.shape
    return {"build_s": build_s, "loss_backward_s": loss_s, "predict_s": predict_s,
            "loss": round(loss, 4), "n_predicted_boxes": int(boxes.shape[0])}


def _tiny_segmentor_cfg() -> dict:
    """mmseg's UPerNet config (UPerHead + auxiliary FCNHead) on ProbeBackbone, BN, Focal + Dice losses.

    The focal loss is our ``LabelMapFocalLoss`` (``ecamp_bench.mm.seg_losses``): mmseg 1.2.2's own
    ``FocalLoss`` fails on CPU with a class-index target (docs/openmmlab.md).
    """
    model = packaged_config("mmseg", "_base_/models/upernet_r50.py").model
    norm = dict(type="BN", requires_grad=True)
    model.pretrained = None
    model.backbone = dict(type=ProbeBackbone)
    model.data_preprocessor.update(size=(IMAGE_SIZE, IMAGE_SIZE))
    model.decode_head.update(
        in_channels=[16, 32, 64, 128], channels=32, num_classes=2, norm_cfg=norm,
        loss_decode=[dict(type="LabelMapFocalLoss", use_sigmoid=True, loss_weight=1.0),
                     dict(type="DiceLoss", loss_weight=1.0)])
    model.auxiliary_head.update(in_channels=64, channels=16, num_classes=2, norm_cfg=norm)
    return model


def _seg_batch(batch_size: int = 2):
    """uint8 images and SegDataSamples with a square foreground mask each."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, IMAGE_SIZE, IMAGE_SIZE), dtype=torch.uint8, generator=generator))
        mask = torch.zeros(1, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.long)
        mask[:, 60:140, 80:170] = 1
        sample = SegDataSample(metainfo={"img_shape": (IMAGE_SIZE, IMAGE_SIZE), "ori_shape": (IMAGE_SIZE, IMAGE_SIZE)})
        sample.gt_sem_seg = PixelData(data=mask)
        samples.append(sample)
    return {"inputs": inputs, "data_samples": samples}


def probe_segmentor() -> dict[str, Any]:
    """Build a tiny mmseg EncoderDecoder (UPerHead + FCNHead), run loss + backward and predict on CPU."""
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    import ecamp_bench.mm.seg_losses  # noqa: F401  (registers LabelMapFocalLoss)

    register_all_modules(init_default_scope=True)
    torch.manual_seed(0)
    model, build_s = _timed(lambda: MODELS.build(_tiny_segmentor_cfg()))
    model.train()
    data = model.data_preprocessor(_seg_batch(), training=True)

    def train_step() -> tuple[float, list[str]]:
        losses = model.loss(data["inputs"], data["data_samples"])
        total, _ = model.parse_losses(losses)
        total.backward()
        return total.item(), sorted(name for name in losses if "loss" in name)

    (loss, names), loss_s = _timed(train_step)
    assert np.isfinite(loss) and loss > 0, loss
    model.eval()
    batch = model.data_preprocessor(_seg_batch(), training=False)
    with torch.no_grad():
        predictions, predict_s = _timed(lambda: model.predict(batch["inputs"], batch["data_samples"]))
    mask = predictions[0].pred_sem_seg.data  # [1, H, W] class indices
    assert tuple(mask.shape) == (1, IMAGE_SIZE, IMAGE_SIZE), mask.shape
    return {"build_s": build_s, "loss_backward_s": loss_s, "predict_s": predict_s,
            "loss": round(loss, 4), "loss_terms": names}


def probe_registry() -> dict[str, bool]:
    """How a backbone registered outside mmdet/mmseg is found by their MODELS registries."""
    from mmdet.registry import MODELS as DET_MODELS
    from mmengine.registry import MODELS as ROOT_MODELS
    from mmseg.registry import MODELS as SEG_MODELS

    class RootProbeBackbone(ProbeBackbone):
        """Registered in mmengine's root registry."""

    class DetOnlyProbeBackbone(ProbeBackbone):
        """Registered in mmdet's registry only."""

    ROOT_MODELS.register_module(module=RootProbeBackbone, force=True)
    DET_MODELS.register_module(module=DetOnlyProbeBackbone, force=True)

    def builds(registry, cfg: dict) -> bool:
        try:
            return isinstance(registry.build(cfg), ProbeBackbone)
        except KeyError:
            return False

    from mmengine.registry import DefaultScope

    results = {}
    for scope in ("mmdet", "mmseg"):
        # Building inside a scope is what a Runner does (default_scope='mmdet' / 'mmseg').
        with DefaultScope.overwrite_default_scope(scope):
            results[f"{scope}: root-registered name via parent lookup"] = (
                builds(DET_MODELS, dict(type="RootProbeBackbone"))
                and builds(SEG_MODELS, dict(type="RootProbeBackbone")))
            results[f"{scope}: class object as type"] = (
                builds(DET_MODELS, dict(type=ProbeBackbone)) and builds(SEG_MODELS, dict(type=ProbeBackbone)))
            results[f"{scope}: mmdet-registered name from mmseg registry"] = builds(
                SEG_MODELS, dict(type="DetOnlyProbeBackbone"))
            results[f"{scope}: mmdet-registered name with 'mmdet.' prefix from mmseg registry"] = builds(
                SEG_MODELS, dict(type="mmdet.DetOnlyProbeBackbone"))
    return results


PROBES: dict[str, Callable[[], Any]] = {
    "versions": stack_versions,
    "ops": probe_ops,
    "image_io": probe_image_io,
    "checkpoint_loading": probe_checkpoint_loading,
    "yolov3": lambda: probe_detector("yolov3"),
    "retinanet": lambda: probe_detector("retinanet"),
    "faster_rcnn": lambda: probe_detector("faster_rcnn"),
    "upernet_fcn": probe_segmentor,
    "registry": probe_registry,
}


def run_all() -> dict[str, Any]:
    """Run every probe; a failing probe is recorded as its error message instead of stopping the others."""
    report: dict[str, Any] = {"torch_threads": torch.get_num_threads()}
    for name, probe in PROBES.items():
        try:
            report[name] = probe()
        except Exception as error:  # noqa: BLE001 - the point of a probe is to report what fails
            report[name] = {"error": f"{type(error).__name__}: {error}"}
    return report


def main(argv: list[str] | None = None) -> int:
    """Print the probe report as JSON (and write it to --json PATH); exit 1 if any probe failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    report = run_all()
    text = json.dumps(report, indent=2, default=str)
    sys.stdout.write(text + "\n")
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    failed = any(isinstance(value, dict) and "error" in value for value in report.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
