"""Resized copies of a dataset tree (``ecamp-bench data prepare``), found again by the image loader.

MIMIC-CXR-JPG images are ~3000×2500 JPEGs; pre-training needs a 448 crop. Decoding the full image for every
sample is most of a data worker's time. :func:`prepare_tree` writes every JPEG/PNG under a root once, with
its shorter side brought down to ``size`` (never up), into ``<cache>/prepared/<root name>-<hash>/<size>px/``
under the same relative path, with a manifest (``manifest.jsonl``: source, its byte size and mtime, output
size) that makes a rerun skip what is done and redo what changed, and lets the loader refuse a copy whose
source changed or is gone. The copy is registered in
``<cache>/prepared/registry.json``; :func:`prepared_path` then maps an image path under that root to its
copy, for loaders that state the resolution they need (``load_image(path, min_side=...)``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ecamp_bench.atomic import atomic_path, atomic_write_json
from ecamp_bench.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MANIFEST = "manifest.jsonl"


@dataclass(frozen=True)
class PrepareSummary:
    """What a :func:`prepare_tree` run did."""

    out: Path  # the folder of the resized copy
    written: int  # images resized this run
    skipped: int  # images already done (manifest entry matches the source)
    total: int


def registry_path() -> Path:
    """``<cache>/prepared/registry.json``: {absolute source root: {size: folder}}."""
    from ecamp_bench.paths import cache_dir

    return cache_dir() / "prepared" / "registry.json"


def default_out(root: Path, size: int) -> Path:
    """``<cache>/prepared/<root name>-<sha256(absolute root)[:8]>/<size>px``."""
    from ecamp_bench.paths import cache_dir

    root = Path(root).resolve()
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:8]
    return cache_dir() / "prepared" / f"{root.name}-{digest}" / f"{size}px"


def reduced_open(path: Path, min_side: int | None):
    """``PIL.Image.open(path)``; for a JPEG with ``min_side``, decoding at 1/2, 1/4 or 1/8 scale (libjpeg's
    DCT scaling through Pillow's ``draft``) as far as the shorter side stays >= ``min_side``."""
    from PIL import Image

    image = Image.open(path)
    if min_side and image.format == "JPEG":
        w, h = image.size
        short = min(w, h)
        if short > min_side:
            scale = min_side / short
            image.draft(image.mode, (max(1, int(w * scale + 0.999)), max(1, int(h * scale + 0.999))))
    return image


def resize_image_file(src: Path, dst: Path, size: int) -> tuple[int, int]:
    """Write ``src`` with its shorter side brought down to ``size`` (bicubic; never up) to ``dst`` in the
    same format (JPEG quality 95), atomically. Returns the written (width, height)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with reduced_open(src, size) as image:
            image.load()
            from ecamp_bench.data.images import upright

            image = upright(image)  # the copy carries no EXIF: store it upright
            w, h = image.size
            if min(w, h) > size:
                factor = size / min(w, h)
                image = image.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BICUBIC)
            dst.parent.mkdir(parents=True, exist_ok=True)
            is_jpeg = dst.suffix.lower() in (".jpg", ".jpeg")
            with atomic_path(dst, suffix=dst.suffix) as tmp:
                image.save(tmp, format="JPEG" if is_jpeg else "PNG", **({"quality": 95} if is_jpeg else {}))
            return image.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"cannot resize image ({exc})", path=src) from None


def _job(src: str, dst: str, size: int) -> tuple[str, int, int]:
    w, h = resize_image_file(Path(src), Path(dst), size)
    return src, w, h


def _read_manifest(out: Path) -> dict[str, dict]:
    done: dict[str, dict] = {}
    path = out / MANIFEST
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                done[entry["source"]] = entry
            except (json.JSONDecodeError, KeyError):
                continue  # a line cut by an interrupted run: that image is redone
    return done


def prepare_tree(
    root: Path, size: int, out: Path | None = None, workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PrepareSummary:
    """Resize every JPEG/PNG under ``root`` (shorter side → ``size``) into ``out`` (default
    :func:`default_out`), in parallel, resumably, then register the copy. ``progress(done, total)``."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise DataError("dataset folder not found", path=root)
    if size < 1:
        raise DataError(f"--size must be a positive number of pixels, got {size}", path=root)
    out = Path(out).resolve() if out is not None else default_out(root, size)
    out.mkdir(parents=True, exist_ok=True)
    sources = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                     and out not in p.parents)
    done = _read_manifest(out)
    todo, skipped = [], 0
    for src in sources:
        rel = src.relative_to(root).as_posix()
        stat = src.stat()
        entry = done.get(rel)
        if entry and entry.get("bytes") == stat.st_size and entry.get("mtime") == stat.st_mtime_ns \
                and (out / rel).is_file():
            skipped += 1
        else:
            todo.append((src, rel, stat))
    count = skipped
    if progress:
        progress(count, len(sources))
    with (out / MANIFEST).open("a", encoding="utf-8") as manifest, \
            ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        futures = {pool.submit(_job, str(src), str(out / rel), size): (rel, stat) for src, rel, stat in todo}
        for future in as_completed(futures):
            rel, stat = futures[future]
            _, w, h = future.result()
            manifest.write(json.dumps({"source": rel, "bytes": stat.st_size, "mtime": stat.st_mtime_ns,
                                       "width": w, "height": h, "size": size}) + "\n")
            manifest.flush()
            count += 1
            if progress:
                progress(count, len(sources))
    _register(root, size, out)
    return PrepareSummary(out, len(todo), skipped, len(sources))


def _register(root: Path, size: int, out: Path) -> None:
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    registry = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    registry.setdefault(str(root), {})[str(size)] = str(out)
    atomic_write_json(path, registry, indent=1, sort_keys=True)


def _registry() -> dict[str, dict[int, Path]]:
    """The registry, re-read only when the file changed (one stat per call)."""
    path = registry_path()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return {}
    return _read_registry(str(path), mtime)


@lru_cache(maxsize=4)
def _read_registry(path: str, mtime: int) -> dict[str, dict[int, Path]]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return {root: {int(size): Path(folder) for size, folder in sizes.items()} for root, sizes in raw.items()}


def prepared_path(path: Path, min_side: int) -> Path | None:
    """The prepared copy of ``path`` whose shorter side is at least ``min_side`` (the smallest such), or None
    when no registered copy under a parent folder holds it, or when the source itself is gone (the caller then
    reports the missing file). A copy is used only while its manifest entry matches the source's byte size and
    mtime; otherwise :class:`DataError` names the stale copy, its source and the command that refreshes it."""
    path = Path(path).resolve()
    registry = _registry()
    for parent in path.parents:
        sizes = registry.get(str(parent))
        if sizes:
            rel = path.relative_to(parent)
            for size in sorted(s for s in sizes if s >= min_side):
                candidate = sizes[size] / rel
                if candidate.is_file():
                    return _unless_stale(candidate, path, rel.as_posix(), parent, size)
            return None
    return None


def _unless_stale(copy: Path, source: Path, rel: str, root: Path, size: int) -> Path | None:
    """``copy`` when its manifest entry still describes ``source``; None when the source is gone; else DataError."""
    try:
        stat = source.stat()
    except OSError:
        return None  # a deleted source is not loaded from its old copy
    manifest = copy.parents[len(Path(rel).parts) - 1] / MANIFEST
    try:
        entries = _manifest_entries(str(manifest), manifest.stat().st_mtime_ns)
    except OSError:
        entries = {}
    entry = entries.get(rel)
    if entry is None or entry.get("bytes") != stat.st_size or entry.get("mtime") != stat.st_mtime_ns:
        why = "is not in its manifest" if entry is None else "changed since it was prepared (size or mtime)"
        raise DataError(f"stale prepared copy {copy}: its source {why}; refresh it with `ecamp-bench data prepare "
                        f"--root {root} --size {size}`", path=source)
    return copy


@lru_cache(maxsize=4)
def _manifest_entries(path: str, mtime: int) -> dict[str, dict]:
    """``{source: entry}`` of a copy's manifest, re-read only when the file changed (the last line of a source wins)."""
    return _read_manifest(Path(path).parent)
