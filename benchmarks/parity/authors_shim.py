"""The authors' side of the parity runs: their own code, loaded from a checkout, with runtime shims only.

Run in a separate process (``python authors_shim.py KIND --authors-repo PATH --inputs IN.npz --out OUT.json``)
by the comparison scripts of this folder, usually with the interpreter of a throw-away venv that holds the
authors' pinned extras (torchmetrics 0.8.2, pytorch-lightning 1.x). Nothing of their code is copied or edited:
functions and classes are read from their files as they are, and what they need that is absent here is
supplied in this process only:

- modules their files import but these runs never use (``apex``, ``ipdb``, ``cv2``, ``terminaltables``, ...)
  become empty stub modules (:class:`_StubFinder`);
- a function defined inside a script that cannot be imported as a whole (ECAMP's ``train.py`` imports apex,
  tensorboard and its model files at module level) is compiled from that file's source on its own
  (:func:`script_function`) into a namespace that holds what it references;
- the network is a stand-in that returns the predictions under test, so their evaluation loop, NMS,
  torchmetrics object and aggregation run on exactly the predictions our side scores.

Kinds: ``dice-ecamp`` (ECAMP ``Fine-tuning/Segmentation/train.py:test`` with ``get_dice``), ``dice-mgca``
(MGCA ``SSLSegmenter.test_step`` + ``test_epoch_end``), ``map-ecamp`` (ECAMP
``Fine-tuning/Detection/train.py:test``), ``map-mgca`` (MGCA ``SSLDetector.shared_step`` + ``test_epoch_end``).
Input arrays: see each ``run_*`` function. Output: JSON ``{"value": float, ...}``.
"""

from __future__ import annotations

import argparse
import ast
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import sys
import types
from pathlib import Path

import numpy as np
import torch

STUBBED = ("apex", "ipdb", "cv2", "terminaltables", "wandb", "segmentation_models_pytorch", "nltk", "pydicom",
           "ml_collections")


class _Anything:
    """Stands in for any attribute of a stub module: callable, subclassable, indexable."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Anything()

    def __getattr__(self, name):
        return _Anything()


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves an empty module for ``STUBBED`` names (and their submodules) that are not installed."""

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] not in STUBBED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def install_stubs() -> None:
    """Append the stub finder (real installed modules still win) and restore the NumPy 1 aliases that
    pytorch-lightning 1.x still uses (``np.Inf``, ``np.NaN``; NumPy 2 removed them)."""
    for alias, value in (("Inf", np.inf), ("NaN", np.nan)):
        if alias not in np.__dict__:
            setattr(np, alias, value)
    if not any(isinstance(f, _StubFinder) for f in sys.meta_path):
        sys.meta_path.append(_StubFinder())


def load_file(path: Path, name: str) -> types.ModuleType:
    """Import one of their files as a module named ``name`` (its own imports resolved normally)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def script_function(path: Path, names: tuple[str, ...], namespace: dict) -> dict:
    """Compile the top-level definitions ``names`` of the script ``path`` into ``namespace``, unchanged."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names]
    missing = set(names) - {node.name for node in found}
    if missing:
        raise KeyError(f"{path}: no top-level definition of {sorted(missing)}")
    exec(compile(ast.Module(body=found, type_ignores=[]), str(path), "exec"), namespace)  # their code, as written
    return namespace


class _CaptureLog(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def _logger() -> tuple[logging.Logger, _CaptureLog]:
    logger = logging.getLogger("authors_shim")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    capture = _CaptureLog()
    logger.handlers = [capture]
    return logger, capture


def _logged_value(lines: list[str], prefix: str) -> float:
    for line in reversed(lines):
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    raise RuntimeError(f"their code logged no '{prefix}' line")


# ----------------------------------------------------------------------------- segmentation Dice


class _FixedOutputs(torch.nn.Module):
    """Returns the next batch's stored outputs, whatever the input (stands in for the trained network)."""

    def __init__(self, outputs):
        super().__init__()
        self.outputs = list(outputs)
        self.calls = 0

    def forward(self, x):
        out = self.outputs[self.calls]
        self.calls += 1
        return out


def _seg_batches(inputs: dict, batch_size: int):
    """Their segmentation batches ``(x [B,3,H,W], y [B,H,W])`` and the logits ``[B,1,H,W]`` of our probabilities."""
    prob = torch.from_numpy(inputs["probabilities"]).double()  # [N, H, W]
    truth = torch.from_numpy(inputs["truth"].astype(np.float32))  # [N, H, W]
    logits = torch.log(prob / (1 - prob)).float().unsqueeze(1)  # sigmoid(logits) == prob
    n, h, w = truth.shape
    batches, outputs = [], []
    for start in range(0, n, batch_size):
        y = truth[start : start + batch_size]
        batches.append((torch.zeros(len(y), 3, h, w), y))
        outputs.append(logits[start : start + batch_size])
    return batches, outputs


def run_dice_ecamp(repo: Path, inputs: dict, batch_size: int) -> dict:
    """ECAMP ``Fine-tuning/Segmentation/train.py``: its ``test`` loop and ``get_dice``, Test Dice as logged."""
    folder = repo / "ECAMP" / "Fine-tuning" / "Segmentation"
    sys.path.insert(0, str(folder))
    seg_loss = load_file(folder / "utils" / "segmentation_loss.py", "ecamp_seg_loss")
    from tqdm import tqdm

    logger, capture = _logger()
    namespace = {"torch": torch, "np": np, "tqdm": tqdm, "logger": logger, "MixedLoss": seg_loss.MixedLoss}
    script_function(folder / "train.py", ("AverageMeter", "get_dice", "test"), namespace)
    batches, outputs = _seg_batches(inputs, batch_size)
    args = types.SimpleNamespace(local_rank=-1, device=torch.device("cpu"))
    per_image = []
    get_dice = namespace["get_dice"]
    namespace["get_dice"] = lambda *a, **k: per_image.append(get_dice(*a, **k)) or per_image[-1]
    namespace["test"](args, _FixedOutputs(outputs), batches)
    exact = float(np.concatenate(per_image).mean())
    return {"value": exact, "logged": _logged_value(capture.lines, "Test Dice: "), "batch_size": batch_size}


def run_dice_mgca(repo: Path, inputs: dict, batch_size: int) -> dict:
    """MGCA ``SSLSegmenter``: ``test_step`` per batch, then ``test_epoch_end`` (the mean of the batch means)."""
    sys.path.insert(0, str(repo))
    from mgca.models.ssl_segmenter import SSLSegmenter

    batches, outputs = _seg_batches(inputs, batch_size)
    module = SSLSegmenter(_FixedOutputs(outputs))
    logged = {}
    module.log = lambda name, value, **kwargs: logged.__setitem__(name, value)
    module.eval()
    with torch.no_grad():
        step_outputs = [module.test_step(batch, i) for i, batch in enumerate(batches)]
    module.test_epoch_end(step_outputs)
    return {"value": float(logged["test_dice"]), "batch_size": batch_size}


# ----------------------------------------------------------------------------- detection mAP


class _DecodedYolo:
    """Stands in for their ``YOLOLoss``: with targets a zero loss, without them the decoded predictions.

    The stored network output of scale 0 *is* the decoded tensor ``[B, P, 6]`` (cx, cy, w, h, objectness,
    class probability); the other scales contribute no rows.
    """

    def __init__(self, anchors=None, num_classes=1, img_size=(224, 224), scale=0):
        self.scale = scale

    def __call__(self, output, targets=None):
        if targets is not None:
            return [torch.zeros(())] * 7
        return output if self.scale == 0 else output.new_zeros(output.shape[0], 0, 6)


class _DetNet(_FixedOutputs):
    """Returns the next batch's decoded predictions as scale 0 and empty scales 1 and 2."""

    anchors = [None, None, None]
    classes = 1

    def forward(self, x):
        out = super().forward(x)
        empty = out.new_zeros(out.shape[0], 0, 6)
        return out, empty, empty


def _det_batches(inputs: dict, batch_size: int, size: int):
    """Batches in their layout: images ``[B,3,S,S]``, labels ``[B, G, 5]`` (class, cx, cy, w, h in 0..1, zero
    padded) and the decoded predictions ``[B, P, 6]`` (zero rows: objectness 0, dropped by their threshold)."""
    gt, gt_off = inputs["gt_boxes"], inputs["gt_offsets"]
    pb, ps, p_off = inputs["pred_boxes"], inputs["pred_scores"], inputs["pred_offsets"]
    n = len(gt_off) - 1
    g_max = max(1, int(np.diff(gt_off).max()))
    p_max = max(1, int(np.diff(p_off).max()))
    labels = torch.zeros(n, g_max, 5)
    decoded = torch.zeros(n, p_max, 6)
    for i in range(n):
        boxes = torch.from_numpy(gt[gt_off[i] : gt_off[i + 1]]).float() / size  # xyxy in 0..1
        labels[i, : len(boxes), 1] = (boxes[:, 0] + boxes[:, 2]) / 2
        labels[i, : len(boxes), 2] = (boxes[:, 1] + boxes[:, 3]) / 2
        labels[i, : len(boxes), 3] = boxes[:, 2] - boxes[:, 0]
        labels[i, : len(boxes), 4] = boxes[:, 3] - boxes[:, 1]
        boxes = torch.from_numpy(pb[p_off[i] : p_off[i + 1]]).float()  # xyxy pixels
        k = len(boxes)
        decoded[i, :k, 0] = (boxes[:, 0] + boxes[:, 2]) / 2
        decoded[i, :k, 1] = (boxes[:, 1] + boxes[:, 3]) / 2
        decoded[i, :k, 2] = boxes[:, 2] - boxes[:, 0]
        decoded[i, :k, 3] = boxes[:, 3] - boxes[:, 1]
        decoded[i, :k, 4] = torch.from_numpy(ps[p_off[i] : p_off[i + 1]]).float()
        decoded[i, :k, 5] = 1.0
    batches, outputs = [], []
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        batches.append({"imgs": torch.zeros(stop - start, 3, size, size), "labels": labels[start:stop]})
        outputs.append(decoded[start:stop])
    return batches, outputs


def run_map_ecamp(repo: Path, inputs: dict, batch_size: int, size: int) -> dict:
    """ECAMP ``Fine-tuning/Detection/train.py``: its ``test`` loop (NMS, skips, torchmetrics), Test mAP."""
    from torchmetrics.detection import MeanAveragePrecision
    from tqdm import tqdm

    folder = repo / "ECAMP" / "Fine-tuning" / "Detection"
    sys.path.insert(0, str(folder))
    utils = load_file(folder / "utils" / "detection_utils.py", "ecamp_detection_utils")
    logger, capture = _logger()
    kept = []

    def nms(*args, **kwargs):
        out = utils.non_max_suppression(*args, **kwargs)
        kept.extend(0 if o is None else len(o) for o in out)
        return out

    scales = iter(range(3))
    computed = []

    class RecordingMAP(MeanAveragePrecision):  # their metric object, its exact result kept besides the log line
        def compute(self):
            result = super().compute()
            computed.append(float(result["map"]))
            return result

    namespace = {
        "torch": torch, "np": np, "tqdm": tqdm, "logger": logger, "MeanAveragePrecision": RecordingMAP,
        "non_max_suppression": nms, "YOLOLoss": lambda *a: _DecodedYolo(scale=next(scales) % 3),
    }
    script_function(folder / "train.py", ("AverageMeter", "test"), namespace)
    batches, outputs = _det_batches(inputs, batch_size, size)
    loader = [{"imgs": b["imgs"], "labels": b["labels"]} for b in batches]
    args = types.SimpleNamespace(local_rank=-1, device=torch.device("cpu"), img_size=size)
    namespace["test"](args, _DetNet(outputs), loader)
    return {
        "value": computed[-1],
        "logged": _logged_value(capture.lines, "Test mAP: "),
        "kept_after_nms": int(sum(kept)),
        "batch_size": batch_size,
    }


def run_map_mgca(repo: Path, inputs: dict, batch_size: int, size: int) -> dict:
    """MGCA ``SSLDetector``: ``shared_step(..., "test")`` per batch, then ``test_epoch_end``."""
    from torchmetrics.detection.mean_ap import MeanAveragePrecision

    sys.path.insert(0, str(repo))
    install_stubs()
    from mgca.models.ssl_detector import SSLDetector

    batches, outputs = _det_batches(inputs, batch_size, size)
    defaults = SSLDetector.__init__.__defaults__  # (learning_rate, weight_decay, imsize, conf, iou, nms)
    names = SSLDetector.__init__.__code__.co_varnames[2 : 2 + len(defaults)]
    hparams = dict(zip(names, defaults))
    logged = {}
    fake = types.SimpleNamespace(
        model=_DetNet(outputs),
        yolo_losses=[_DecodedYolo(scale=i) for i in range(3)],
        hparams=types.SimpleNamespace(**hparams),
        test_map=MeanAveragePrecision(iou_thresholds=hparams["iou_thres"]),
        log=lambda name, value, **kwargs: logged.__setitem__(name, value),
    )
    with torch.no_grad():
        for i, batch in enumerate(batches):
            SSLDetector.shared_step(fake, batch, i, "test")
        SSLDetector.test_epoch_end(fake, [])
    return {
        "value": float(logged["test_mAP"]),
        "iou_thresholds": [float(t) for t in hparams["iou_thres"]],
        "conf_thres": hparams["conf_thres"],
        "nms_thres": hparams["nms_thres"],
        "batch_size": batch_size,
    }


# ----------------------------------------------------------------------------- linear probe


class _GlobalFeatures(torch.nn.Module):
    """MGCA's image encoders return ``(global feature, local features)``; wraps a module with ``forward_global``."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x):
        return self.encoder.forward_global(x), None


def run_linear_mgca(repo: Path, inputs: dict, batch_size: int, backbone: Path, lr: float, weight_decay: float,
                    max_epochs: int, patience: int, seed: int, drop_last: bool = True) -> dict:
    """MGCA's ``SSLFineTuner`` under pytorch-lightning's ``Trainer`` with the callbacks of ``mgca_finetuner.py``
    (checkpoint and early stopping on val loss, ``min_delta`` 0) and its ``DataModule``'s loader settings
    (train and val ``shuffle``/``drop_last`` as there); test with the best checkpoint, ``test_auc``/``test_acc``."""
    import tempfile

    from pytorch_lightning import Trainer, seed_everything
    from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
    from torch.utils.data import DataLoader, TensorDataset

    sys.path.insert(0, str(repo))
    from mgca.models.ssl_finetuner import SSLFineTuner

    seed_everything(seed)
    encoder = torch.load(backbone, weights_only=False)
    single = bool(inputs["single_label"])

    def loader(split, shuffle, drop_last):
        x = torch.from_numpy(inputs[f"x_{split}"])
        y = torch.from_numpy(inputs[f"y_{split}"])
        y = y.argmax(dim=1, keepdim=True) if single else y  # MGCA's COVIDx targets: class index [B, 1]
        return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last)

    n_classes = inputs["y_train"].shape[1]
    tuner = SSLFineTuner(
        backbone=_GlobalFeatures(encoder), in_features=int(inputs["n_features"]), num_classes=n_classes,
        learning_rate=lr, weight_decay=weight_decay, multilabel=not single,
    )
    with tempfile.TemporaryDirectory() as ckpt_dir:
        callbacks = [
            ModelCheckpoint(monitor="val_loss", dirpath=ckpt_dir, save_last=True, mode="min", save_top_k=1),
            EarlyStopping(monitor="val_loss", min_delta=0.0, patience=patience, verbose=False, mode="min"),
        ]
        trainer = Trainer(max_epochs=max_epochs, deterministic=True, callbacks=callbacks, logger=False,
                          accelerator="cpu", devices=1, enable_progress_bar=False,
                          enable_model_summary=False)
        trainer.fit(tuner, loader("train", True, drop_last), loader("val", False, drop_last))
        result = trainer.test(tuner, loader("test", False, False), ckpt_path="best", verbose=False)[0]
        epochs = trainer.current_epoch
    key = "test_acc" if single else "test_auc"
    return {"value": float(result[key]), "metric": key, "epochs": int(epochs), "test_loss": float(result["test_loss"])}


# ----------------------------------------------------------------------------- classification fine-tuning


def _no_workers_loader(loader_class):
    """Their ``DataLoader`` with ``num_workers=16`` and ``pin_memory`` as given becomes an in-process loader."""

    def make(*args, **kwargs):
        kwargs.update(num_workers=0, pin_memory=False)
        return loader_class(*args, **kwargs)

    return make


class _ResizeBeforeCrop:
    """``torchvision.transforms`` as their ``get_loader`` sees it, except that ``RandomResizedCrop`` first resizes
    the whole image to ``size`` x ``size`` (what our protocol does: crop the already resized image)."""

    def __init__(self, transforms, size: int):
        self._transforms, self._size = transforms, size

    def __getattr__(self, name):
        return getattr(self._transforms, name)

    def RandomResizedCrop(self, *args, **kwargs):  # noqa: N802 (torchvision's name)
        t = self._transforms
        return t.Compose([t.Resize((self._size, self._size)), t.RandomResizedCrop(*args, **kwargs)])


def run_finetune_ecamp(repo: Path, inputs: dict, batch_size: int, options: dict) -> dict:
    """ECAMP ``Fine-tuning/Classification/train.py``: its ``setup``, ``train`` and ``test`` on CPU, fp32.

    ``options``: ``task`` (their ``--task``), ``num_classes``, ``lists`` (folder holding ``datasets/<task>/``
    ``train_list.txt``/``val_list.txt``/``test_list.txt``, their format: path then 0/1 labels), ``checkpoint``
    (``{"model": state_dict}``), the ViT's ``img_size``/``embed_dim``/``depth``/``num_heads``, ``steps``,
    ``warmup_steps``, ``lr``, ``weight_decay``, ``eval_batch_size``, ``seed``. Shims: the encoder is their
    ``models_vit.VisionTransformer`` at the given size under a new name (their file names only ViT-B/L, and a
    448-px ViT-T); its ``forward`` is timm 0.3.2's (``head(forward_features(x))``, the timm MAE/MRM/ECAMP pin:
    newer timm pools the already pooled feature again); loaders run in-process; apex, tensorboard are stubs and
    ``--fp16`` is off.
    """
    import os
    from functools import partial

    folder = repo / "ECAMP" / "Fine-tuning" / "Classification"
    sys.path.insert(0, str(folder))
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        board = types.ModuleType("torch.utils.tensorboard")
        board.SummaryWriter = _Anything
        sys.modules["torch.utils.tensorboard"] = board
    os.chdir(options["lists"])  # their XRAY reads ./datasets/<task>/*.txt
    train_module = load_file(folder / "train.py", "ecamp_cls_train")
    data_utils = sys.modules["utils.data_utils"]
    data_utils.DataLoader = _no_workers_loader(data_utils.DataLoader)
    if options.get("resize_before_crop"):  # diagnostic: crop the image already resized to the input size, as ours does
        data_utils.transforms = _ResizeBeforeCrop(data_utils.transforms, options["img_size"])
    models_vit = train_module.models_vit
    models_vit.VisionTransformer.forward = lambda self, x: self.head(self.forward_features(x))
    models_vit.__dict__["vit_parity"] = lambda **kwargs: models_vit.VisionTransformer(
        img_size=options["img_size"], patch_size=16, embed_dim=options["embed_dim"], depth=options["depth"],
        num_heads=options["num_heads"], mlp_ratio=4, qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        **kwargs,
    )
    aurocs = []
    auc = train_module.auc
    train_module.auc = lambda *a: aurocs.append(auc(*a)) or aurocs[-1]
    steps = []
    schedule = train_module.WarmupCosineSchedule

    class CountingSchedule(schedule):  # their schedule; counts the optimiser steps actually taken
        def step(self, *a, **k):
            steps.append(1)
            return super().step(*a, **k)

    train_module.WarmupCosineSchedule = CountingSchedule
    out_dir = Path(options["lists"]) / "output"
    args = argparse.Namespace(
        model="vit_parity", name="parity", stage="train", task=options["task"], num_classes=options["num_classes"],
        pretrained_path=options["checkpoint"], output_dir=str(out_dir), img_size=options["img_size"],
        train_batch_size=batch_size, eval_batch_size=options["eval_batch_size"], eval_every=100,
        learning_rate=options["lr"], weight_decay=options["weight_decay"], num_steps=options["steps"],
        data_volume="100", decay_type="cosine", warmup_steps=options["warmup_steps"], max_grad_norm=1.0,
        local_rank=-1, seed=options["seed"], gradient_accumulation_steps=1, fp16=False, fp16_opt_level="O2",
        loss_scale=0, dataset_path="/", ratio=1.0, mode="Finetune", n_gpu=0, device=torch.device("cpu"),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    train_module.set_seed(args)
    args, model = train_module.setup(args)
    train_module.train(args, model)
    n_val = len(aurocs)
    train_module.test(args)
    # LambdaLR steps once on construction, hence the - 1.
    return {"value": float(np.mean(aurocs[-1])), "metric": "auc", "optimizer_steps": len(steps) - 1,
            "evaluations": n_val}


KINDS = {"dice-ecamp": run_dice_ecamp, "dice-mgca": run_dice_mgca, "map-ecamp": run_map_ecamp, "map-mgca": run_map_mgca,
         "linear-mgca": run_linear_mgca, "finetune-ecamp": run_finetune_ecamp}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--authors-repo", type=Path, required=True)
    parser.add_argument("--inputs", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--no-drop-last", action="store_true", help="diagnostic: MGCA's loaders keep every image")
    parser.add_argument("--options", type=json.loads, default={}, help="JSON of further options (finetune)")
    parser.add_argument("--backbone", type=Path, help="a torch.save'd encoder module with forward_global")
    for name in ("lr", "weight_decay"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float)
    for name in ("max_epochs", "patience", "seed"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int)
    args = parser.parse_args(argv)
    install_stubs()
    torch.set_num_threads(1)
    inputs = dict(np.load(args.inputs))
    kwargs = {"batch_size": args.batch_size}
    if args.kind.startswith("map"):
        kwargs["size"] = args.size
    if args.kind == "finetune-ecamp":
        kwargs["options"] = args.options
    if args.kind == "linear-mgca":
        kwargs.update(backbone=args.backbone, lr=args.lr, weight_decay=args.weight_decay,
                      max_epochs=args.max_epochs, patience=args.patience, seed=args.seed,
                      drop_last=not args.no_drop_last)
    result = KINDS[args.kind](args.authors_repo.resolve(), inputs, **kwargs)
    result["torchmetrics"] = _version("torchmetrics")
    result["pytorch_lightning"] = _version("pytorch_lightning")
    args.out.write_text(json.dumps(result, indent=1))


def _version(name: str) -> str | None:
    try:
        return importlib.import_module(name).__version__
    except ImportError:
        return None


if __name__ == "__main__":
    main()
