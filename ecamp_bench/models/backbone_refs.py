"""The weight resolver: a ``--backbone`` argument and ``--weights`` → one :class:`ResolvedBackbone`.

This module is the one place that decides which network is built and which file fills it (``eval``,
``sweep``, ``list``, dry runs). Like timm's ``pretrained_cfg_overlay=dict(file=...)``, an explicit file
always wins over a default, and a file that would not be used is an error, never a silent drop.

**Precedence** (first matching rule):

1. ``--weights B`` given: B *is* the run's weights, or the run is refused before it starts.

   - ``--backbone timm:ARCH --weights B``: timm's ``ARCH`` filled from B (timm- or torchvision-named keys,
     the classifier dropped, a ViT's ``pos_embed`` resampled).
   - ``--backbone NAME --weights B`` (a registered backbone): NAME's architecture and adapter, B's weights.
   - ``--weights B`` without ``--backbone``: B must be a backbone file (``.safetensors`` with ecamp-bench
     metadata, which names its architecture); it runs as ``file:B``. Any other file is refused: a ``.pth``
     does not say which network it fills (pass ``--backbone timm:ARCH`` or a registered name with it).
   - ``--backbone file:A --weights B``: refused unless A and B are the same file (``file:A`` names its own
     weights; run ``--backbone file:B`` instead).
   - ``--backbone random-init --weights B``: refused (random-init has no weights).
2. No ``--weights``:

   - ``file:PATH`` (or a bare path to a ``.safetensors`` file): a backbone weight file; the spec (arch,
     kwargs, image size, mean/std) comes from its metadata. Its name is ``file:<kebab file stem>``. A file of
     another kind (a ``.pth``) is refused with the ``timm:ARCH --weights`` form to use instead.
   - ``timm:ARCH``: refused (nothing is downloaded; a local file must be given with ``--weights``).
   - ``random-init``: random weights, seeded by the run seed, **with the architecture of the newest file in
     ``pretrained/``** (arch, kwargs, image size, mean/std) so that "pretrained vs random" rows compare the
     same network; with an empty ``pretrained/`` the registered spec's own architecture.
   - any other registered name: its ``weights`` reference through the ``ecamp_bench_resolve_weights`` hook
     (a missing file is an error), or a random init when the spec has none.
   - nothing: the newest ``*.safetensors`` backbone file in ``pretrained/`` (as ``file:``); an error telling
     the user to run ``ecamp-bench pretrain`` or pass ``--backbone`` when there is none.

Every weight file is checked here, before any run: it exists, its format is one the loader reads (a text
file named ``.pth`` is refused now, not half-way through a run), and its sha256 is computed **once** and
carried in :class:`ResolvedBackbone` (into the run key, the record and the run context).

**One spelling per name.** timm architectures are accepted as timm spells them (``vit_small_patch16_224``)
or as records spell them (``vit-small-patch16-224``); the backbone's name is always ``timm:<kebab arch>``.
:func:`canonical_backbone_name` turns any accepted spelling into the recorded name (``compare``, sweeps).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ecamp_bench.errors import CheckpointError, EcampBenchError
from ecamp_bench.models.checkpoints import BackboneMeta, check_weight_file, read_backbone_meta, weights_sha256
from ecamp_bench.paths import pretrained_dir
from ecamp_bench.plugins import Catalog
from ecamp_bench.specs import BackboneSpec

RANDOM_INIT = "random-init"
TIMM_ADAPTER = "ecamp_bench.models.importers:adapt_timm"
FILE_PREFIX = "file:"
TIMM_PREFIX = "timm:"


@dataclass(frozen=True)
class ResolvedBackbone:
    """What a run builds: the spec, the weight file filling it (``None`` = random init) and that file's sha256.

    ``rule`` names the precedence rule that chose it (``"timm+weights"``, ``"file"``, ``"newest"``, ...), for
    messages and tests.
    """

    spec: BackboneSpec
    weights_path: Path | None
    weights_sha256: str | None
    rule: str


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


def file_backbone_name(path: str | Path) -> str:
    """The name a backbone file runs under: ``file:<kebab stem>`` (``pretrained/ECAMP_small.safetensors`` →
    ``file:ecamp-small``)."""
    return FILE_PREFIX + kebab(Path(str(path).removeprefix(FILE_PREFIX)).stem)


def is_file_ref(ref: str) -> bool:
    """Whether ``ref`` names a backbone file (``file:PATH``, or a bare path to an existing ``.safetensors``)."""
    return ref.startswith(FILE_PREFIX) or (ref.endswith(".safetensors") and Path(ref).expanduser().is_file())


def canonical_backbone_name(ref: str) -> str:
    """The name records carry for a backbone argument: ``timm:vit_small_patch16_224`` → ``timm:vit-small-patch16-224``,
    ``file:/x/My_Model.safetensors`` → ``file:my-model``; registered names unchanged."""
    if ref.startswith(TIMM_PREFIX):
        return TIMM_PREFIX + kebab(ref.removeprefix(TIMM_PREFIX))
    if is_file_ref(ref):
        return file_backbone_name(ref)
    return ref


def built_architecture(spec: BackboneSpec) -> str:
    """What building ``spec`` gives, in the leaderboard's words: ``vit_tiny_patch16_224 depth=4 embed_dim=192 64px``."""
    kwargs = spec.model_kwargs or {}
    return " ".join([spec.arch, *(f"{k}={kwargs[k]}" for k in sorted(kwargs)), f"{spec.input_size}px"])


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
    """The ``file:`` backbone of a backbone weight file (its metadata names the architecture)."""
    path = Path(path).expanduser()
    if path.is_file() and path.suffix != ".safetensors":
        raise CheckpointError(
            f"{path}: 'file:' takes an ecamp-bench backbone file (.safetensors whose metadata names the "
            f"architecture); for a timm or torchvision checkpoint use --backbone timm:ARCH --weights {path}"
        )
    return spec_from_meta(file_backbone_name(path), read_backbone_meta(path), str(path))


def timm_arch(name: str) -> str:
    """timm's own spelling of an architecture given as timm spells it or in kebab case; unknown names raise
    :class:`CheckpointError` with a did-you-mean."""
    import timm

    known = timm.list_models()
    if name in known:
        return name
    by_kebab = {kebab(a): a for a in known}
    if kebab(name) in by_kebab:
        return by_kebab[kebab(name)]
    close = difflib.get_close_matches(name.replace("-", "_"), known, n=3)
    hint = f" Did you mean {', '.join('timm:' + c for c in close)}?" if close else ""
    raise CheckpointError(f"'timm:{name}': unknown timm architecture.{hint} (`python -c 'import timm; "
                          f"print(timm.list_models(\"vit_*\"))'` lists them)")


def spec_for_timm(arch: str) -> BackboneSpec:
    """The ``timm:ARCH`` backbone (mean/std from timm's pretrained config, input size from the arch)."""
    import timm

    arch = timm_arch(arch)
    try:
        cfg = timm.models.get_pretrained_cfg(arch)
    except Exception:  # unknown names raise different errors across timm versions
        cfg = None
    mean = tuple(cfg.mean) if cfg is not None else (0.485, 0.456, 0.406)
    std = tuple(cfg.std) if cfg is not None else (0.229, 0.224, 0.225)
    size = int(cfg.input_size[-1]) if cfg is not None else 224
    return BackboneSpec(
        name=TIMM_PREFIX + kebab(arch), arch=arch, mean=mean, std=std, input_size=size, adapt_state_dict=TIMM_ADAPTER
    )


def _checked(spec: BackboneSpec, path: Path | None, rule: str) -> ResolvedBackbone:
    if path is None:
        return ResolvedBackbone(spec, None, None, rule)
    path = Path(path).expanduser()
    check_weight_file(path)
    return ResolvedBackbone(spec, path, weights_sha256(path), rule)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _with_weights(catalog: Catalog, ref: str | None, weights: Path) -> ResolvedBackbone:
    """Rule 1: ``--weights`` given (a missing file is named first, before any advice that would use it)."""
    weights = Path(weights).expanduser()
    if not weights.is_file():
        raise CheckpointError(f"--weights {weights}: weight file not found")
    if ref is None:
        if weights.suffix != ".safetensors":
            raise CheckpointError(
                f"--weights {weights}: this file does not say which network it fills; name one with --backbone "
                "(timm:ARCH, e.g. timm:vit_base_patch16_224, or a registered backbone: `ecamp-bench list backbones`)"
            )
        return _checked(spec_from_file(weights), weights, "weights-file")
    if ref.startswith(TIMM_PREFIX):
        return _checked(spec_for_timm(ref.removeprefix(TIMM_PREFIX)), weights, "timm+weights")
    if is_file_ref(ref):
        own = Path(ref.removeprefix(FILE_PREFIX)).expanduser()
        if not _same_file(own, weights):
            raise EcampBenchError(
                f"--backbone {ref} names its own weights, so --weights {weights} would not be used; "
                f"run --backbone file:{weights} (a backbone file), or --backbone timm:ARCH --weights {weights}"
            )
        return _checked(spec_from_file(own), own, "file")
    if ref == RANDOM_INIT:
        raise EcampBenchError(f"--backbone random-init has no weights, so --weights {weights} would not be used; "
                              "drop --weights, or name the network the file fills (--backbone timm:ARCH)")
    spec = catalog.backbone(ref)
    return _checked(replace(spec, weights=str(weights)), weights, "registered+weights")


def resolve_backbone(catalog: Catalog, ref: str | None, weights: Path | None = None) -> ResolvedBackbone:
    """The :class:`ResolvedBackbone` of a ``--backbone`` argument and ``--weights`` (precedence: module docstring).

    Raises :class:`EcampBenchError` (``CheckpointError`` for file problems, ``UnknownNameError`` with a
    did-you-mean for unknown names) whenever the arguments cannot be honoured as given.
    """
    if weights is not None:
        return _with_weights(catalog, ref, weights)
    if ref is None:
        newest = newest_pretrained()
        if newest is None:
            raise EcampBenchError(
                f"no backbone given and no backbone file in {pretrained_dir()}/; run `ecamp-bench pretrain` "
                "or pass --backbone (e.g. --backbone file:PATH, --backbone random-init)"
            )
        return _checked(spec_from_file(newest), newest, "newest")
    if is_file_ref(ref):
        path = Path(ref.removeprefix(FILE_PREFIX)).expanduser()
        return _checked(spec_from_file(path), path, "file")
    if ref.startswith(TIMM_PREFIX):
        arch = timm_arch(ref.removeprefix(TIMM_PREFIX))
        raise CheckpointError(f"'{ref}' needs --weights PATH (a local checkpoint of {arch}; nothing is downloaded)")
    spec = catalog.backbone(ref)
    if ref == RANDOM_INIT:
        newest = newest_pretrained()
        if newest is not None:
            like = spec_from_meta(RANDOM_INIT, read_backbone_meta(newest), None)
            spec = replace(like, citation=spec.citation, description=f"random init, architecture of {newest.name}")
        return ResolvedBackbone(spec, None, None, "random-init")
    if spec.weights is None:
        return ResolvedBackbone(spec, None, None, "registered-random")
    path = catalog.resolve_weights(spec.weights)
    if path is None or not Path(path).is_file():
        raise CheckpointError(f"backbone '{spec.name}': weight file {path or spec.weights} not found")
    return _checked(spec, Path(path), "registered")
