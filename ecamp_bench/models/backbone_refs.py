"""Turn a ``--backbone`` argument into a :class:`BackboneSpec` and a weight path.

Accepted forms:

- *(nothing)*: the newest ``*.safetensors`` backbone file in ``pretrained/`` (as ``file:``); an error
  telling the user to run ``ecamp-bench pretrain`` or pass ``--backbone`` when there is none.
- ``file:PATH`` (or a bare path to a ``.safetensors`` file): a backbone weight file; the spec (arch,
  kwargs, image size, mean/std) comes from its metadata. Its name is ``file:<file stem>``.
- ``timm:ARCH`` with ``--weights PATH``: any timm architecture (ViT or CNN), weights from a local timm- (or
  torchvision-) named file (the classifier is dropped, a ViT's ``pos_embed`` resampled); mean/std and input
  size from timm's pretrained config.
- ``random-init``: random weights, seeded by the run seed, **with the architecture of the newest file
  in ``pretrained/``** (arch, kwargs, image size, mean/std) so that "pretrained vs random" rows compare
  the same network; with an empty ``pretrained/`` the registered spec's own architecture is used.
  Override it with ``--set backbone.arch=vit_base_patch16_224 --set 'backbone.model_kwargs={}'``.
- any other name: a backbone registered by a plugin (``--weights`` replaces its weight reference).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from ecamp_bench.errors import CheckpointError, EcampBenchError
from ecamp_bench.models.checkpoints import BackboneMeta, read_backbone_meta
from ecamp_bench.paths import pretrained_dir
from ecamp_bench.plugins import Catalog
from ecamp_bench.specs import BackboneSpec

RANDOM_INIT = "random-init"
TIMM_ADAPTER = "ecamp_bench.models.importers:adapt_timm"


def kebab(text: str) -> str:
    """``text`` as a kebab-case name fragment (lowercase letters, digits and single dashes)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def arch_family(arch: str) -> str:
    """The timm family of an architecture name, from the name alone (no import): ``vit_base_patch16_224`` → ``vit``,
    ``resnet50`` → ``resnet``, ``convnext_tiny`` → ``convnext``."""
    match = re.match(r"[a-z]+", arch.lower())
    return match.group(0) if match else arch


def newest_pretrained(folder: Path | None = None) -> Path | None:
    """The most recently modified ``*.safetensors`` file in ``pretrained/`` (or ``folder``), if any."""
    folder = Path(folder) if folder is not None else pretrained_dir()
    files = [p for p in folder.glob("*.safetensors") if p.is_file()] if folder.is_dir() else []
    return max(files, key=lambda p: (p.stat().st_mtime_ns, p.name)) if files else None


def spec_from_meta(name: str, meta: BackboneMeta, weights: str | None) -> BackboneSpec:
    """A spec that rebuilds the network described by a backbone file's metadata."""
    kwargs = {k: v for k, v in meta.model_kwargs.items() if k not in ("img_size", "global_pool", "num_classes")}
    extra = meta.extra if isinstance(meta.extra, dict) else {}
    pool = meta.model_kwargs.get("global_pool") or extra.get("global_pool", "avg")
    return BackboneSpec(
        name=name,
        arch=meta.arch,
        weights=weights,
        mean=tuple(meta.mean),
        std=tuple(meta.std),
        input_size=int(meta.model_kwargs.get("img_size", meta.img_size)),
        global_pool=pool if pool in ("avg", "token") else "avg",
        model_kwargs=kwargs,
        description=f"backbone file ({meta.origin or 'unknown origin'})",
    )


def spec_from_file(path: Path) -> BackboneSpec:
    """The ``file:`` backbone of a backbone weight file."""
    path = Path(path).expanduser()
    return spec_from_meta(f"file:{kebab(path.stem)}", read_backbone_meta(path), str(path))


def spec_for_timm(arch: str) -> BackboneSpec:
    """The ``timm:ARCH`` backbone (mean/std from timm's pretrained config, input size from the arch)."""
    import timm

    try:
        cfg = timm.models.get_pretrained_cfg(arch)
    except Exception:  # unknown names raise different errors across timm versions
        cfg = None
    if cfg is None and arch not in timm.list_models():
        raise CheckpointError(f"'timm:{arch}': unknown timm architecture")
    mean = tuple(cfg.mean) if cfg is not None else (0.485, 0.456, 0.406)
    std = tuple(cfg.std) if cfg is not None else (0.229, 0.224, 0.225)
    size = int(cfg.input_size[-1]) if cfg is not None else 224
    return BackboneSpec(
        name=f"timm:{kebab(arch)}", arch=arch, mean=mean, std=std, input_size=size, adapt_state_dict=TIMM_ADAPTER
    )


def resolve_backbone(catalog: Catalog, ref: str | None, weights: Path | None = None) -> tuple[BackboneSpec, Path | None]:
    """``(spec, weights path or None)`` for a ``--backbone`` argument (see the module docstring)."""
    if ref is None:
        newest = newest_pretrained()
        if newest is None:
            raise EcampBenchError(
                f"no backbone given and no backbone file in {pretrained_dir()}/; run `ecamp-bench pretrain` "
                "or pass --backbone (e.g. --backbone file:PATH, --backbone random-init)"
            )
        return spec_from_file(newest), newest
    if ref.startswith("file:") or (ref.endswith(".safetensors") and Path(ref).expanduser().is_file()):
        path = Path(ref.removeprefix("file:")).expanduser()
        return spec_from_file(path), path
    if ref.startswith("timm:"):
        if weights is None:
            raise CheckpointError(f"'{ref}' needs --weights PATH (a local timm checkpoint; nothing is downloaded)")
        return spec_for_timm(ref.removeprefix("timm:")), Path(weights).expanduser()
    spec = catalog.backbone(ref)
    if ref == RANDOM_INIT and weights is None:
        newest = newest_pretrained()
        if newest is not None:
            like = spec_from_meta(RANDOM_INIT, read_backbone_meta(newest), None)
            spec = replace(like, citation=spec.citation, description=f"random init, architecture of {newest.name}")
        return spec, None
    if weights is not None:
        return replace(spec, weights=str(weights)), Path(weights).expanduser()
    if spec.weights is None:
        return spec, None
    path = catalog.resolve_weights(spec.weights)
    if path is None or not Path(path).is_file():
        raise CheckpointError(f"backbone '{spec.name}': weight file {path or spec.weights} not found")
    return spec, Path(path)
