"""The sweep grid: every (task, protocol, backbone, fraction, seed) combination as a sorted list of cells.

``--tasks all`` means every registered task; with ``--protocol P`` the tasks whose kind ``P`` cannot
evaluate are left out of ``all`` (and are an error when named explicitly). Without ``--protocol`` each
task uses its own default protocol (the first of ``TaskSpec.protocols``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ecamp_bench.data.splits import parse_fraction
from ecamp_bench.errors import ConfigError, EcampBenchError
from ecamp_bench.plugins import Catalog
from ecamp_bench.seeds import check_seed


@dataclass(frozen=True, order=True)
class Cell:
    """One run of a sweep. Field order is the sort order (and thus the run and shard order)."""

    task: str
    protocol: str
    backbone: str
    fraction: float
    seed: int

    @property
    def label(self) -> str:
        """Short human label, e.g. ``rsna-cls linear random-init 10% seed 0``."""
        from ecamp_bench.leaderboard.aggregate import format_fraction

        return (f"{self.task} {self.protocol} {short_backbone(self.backbone)} {format_fraction(self.fraction)} "
                f"seed {self.seed}")


def short_backbone(ref: str) -> str:
    """``file:/x/y/ecamp-small.safetensors`` → ``file:ecamp-small``, ``timm:vit_small_patch16_224`` →
    ``timm:vit-small-patch16-224`` (the name its records carry)."""
    from ecamp_bench.models.backbone_refs import canonical_backbone_name

    if ref.endswith(".safetensors") and not ref.startswith("file:"):
        ref = "file:" + ref
    return canonical_backbone_name(ref)


@dataclass(frozen=True)
class SkippedTask:
    """A task that ``--tasks all`` left out because the chosen protocol cannot evaluate its kind."""

    task: str
    reason: str


def split_list(text: str, what: str) -> list[str]:
    """``"a, b,,c"`` → ``["a", "b", "c"]``; an empty list raises ConfigError naming the option."""
    items = [part.strip() for part in str(text).split(",") if part.strip()]
    if not items:
        raise ConfigError(f"--{what}: empty list")
    return items


def parse_fractions(text: str) -> list[float]:
    """``"0.01,10%,1"`` → ``[0.01, 0.1, 1.0]`` (sorted, duplicates removed)."""
    return sorted({parse_fraction(part) for part in split_list(text, "fractions")})


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` → ``[0, 1, 2]``; ranges ``"0-4"`` are accepted too; every seed in ``[0, 2**32)``."""
    seeds: set[int] = set()
    for part in split_list(text, "seeds"):
        span = re.fullmatch(r"(\d+)-(\d+)", part)
        if span:
            seeds.update(range(int(span.group(1)), check_seed(int(span.group(2)), "--seeds") + 1))
        elif re.fullmatch(r"\d+", part):
            seeds.add(int(part))
        else:
            raise ConfigError(f"--seeds: {part!r} is not a non-negative integer or a range like 0-4")
    return [check_seed(s, "--seeds") for s in sorted(seeds)]


def resolve_tasks(catalog: Catalog, tasks: str,
                  protocol: str | None) -> tuple[list[tuple[str, str]], list[SkippedTask]]:
    """``(task, protocol)`` pairs for ``--tasks`` (``all`` or a comma list) and ``--protocol``, plus skipped tasks."""
    if protocol is not None:
        catalog.protocol(protocol)  # unknown name → did-you-mean error
    explicit = tasks.strip() != "all"
    names = split_list(tasks, "tasks") if explicit else catalog.names("task")
    pairs, skipped = [], []
    for name in dict.fromkeys(names):
        spec = catalog.task(name)
        chosen = protocol or spec.protocols[0]
        kinds = catalog.protocol(chosen).kinds
        if spec.kind in kinds:
            pairs.append((name, chosen))
            continue
        reason = f"protocol '{chosen}' evaluates {list(kinds)}, not task kind '{spec.kind}'"
        if explicit:
            raise EcampBenchError(f"task '{name}': {reason}")
        skipped.append(SkippedTask(name, reason))
    if not pairs:
        raise EcampBenchError(f"no task left to sweep with protocol '{protocol}'")
    return pairs, skipped


def expand_backbone_globs(backbones: Sequence[str], option: str = "--backbones") -> list[str]:
    """Expand every ``file:PATTERN`` with glob characters into one ``file:PATH`` per match, sorted by name.

    ``file:pretrained/*.safetensors`` sweeps every pre-trained backbone (e.g. ECAMP and its ablation variants);
    a pattern that matches nothing is a :class:`ConfigError` naming ``option`` (the flag the user gave it
    with). Other references pass through unchanged.
    """
    import glob

    out: list[str] = []
    for ref in backbones:
        pattern = ref[len("file:"):] if ref.startswith("file:") else None
        if pattern is None or not glob.has_magic(pattern):
            out.append(ref)
            continue
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise ConfigError(f"{option} {ref!r}: no file matches (run `ecamp-bench pretrain` first?)")
        out += [f"file:{path}" for path in matches]
    return list(dict.fromkeys(out))  # first occurrence wins


def check_backbones(catalog: Catalog, backbones: Sequence[str], weights: Path | None = None) -> None:
    """Resolve every backbone once before anything runs: an unknown name, a missing or unreadable file, or a
    ``--weights`` no backbone of the grid would use (it fills the ``timm:ARCH`` ones) is an error now."""
    from ecamp_bench.models.backbone_refs import TIMM_PREFIX, resolve_backbone
    from ecamp_bench.sweep.runner import sweep_weights

    if weights is not None and not any(ref.startswith(TIMM_PREFIX) for ref in backbones):
        raise ConfigError(f"--weights {weights} would not be used: a sweep's --weights fills its timm:ARCH backbones "
                          "and --backbones has none (e.g. --backbones random-init,timm:vit_small_patch16_224)")
    for ref in backbones:
        resolve_backbone(catalog, ref, sweep_weights(ref, weights))


def expand_grid(
    task_protocols: Iterable[tuple[str, str]], backbones: Sequence[str], fractions: Sequence[float],
    seeds: Sequence[int]
) -> list[Cell]:
    """The sorted, duplicate-free cartesian product of the grid axes."""
    cells = {
        Cell(task, protocol, backbone, float(fraction), int(seed))
        for task, protocol in task_protocols
        for backbone in backbones
        for fraction in fractions
        for seed in seeds
    }
    return sorted(cells)
