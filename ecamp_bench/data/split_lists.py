"""Import published split lists (``.txt`` image lists, ``.csv`` tables) so a paper's exact split is reproduced.

MRM, ECAMP and BenchX ship their splits as files listing images, one per line or one per CSV row, by image
id or by path (often relative to a different root than ours). An entry matches a sample when it is the
sample's image id, when it and the sample's path share a path suffix (``CheXpert-v1.0-small/train/p1/...``
matches ``train/p1/...`` and vice versa), or when its file stem is an image id (``<id>.dcm``).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from ecamp_bench.data.splits import Split, fraction_order, parse_fraction
from ecamp_bench.errors import ConfigError, DataError

ID_COLUMNS = ("image_id", "ImageId", "dicom_id", "patientId", "Path", "path", "image_path", "image", "filename", "file")
_AMBIGUOUS = ""
_SHOWN = 20


def read_list_file(path: Path, *, column: str | None = None) -> list[tuple[int, str]]:
    """The entries of a split list as ``(line number, entry)``: a ``.txt`` (first token of every non-blank,
    non-``#`` line) or a ``.csv`` (``column``, else the first of :data:`ID_COLUMNS` present, else the first column).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"cannot read the split list: {exc.strerror or exc}", path=path) from exc
    if path.suffix.lower() != ".csv":
        return [(n, line.split()[0]) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.startswith("#")]
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        return []
    header = [h.strip() for h in rows[0]]
    if column is not None and column not in header:
        raise DataError(f"no column '{column}' (columns: {', '.join(header)})", path=path, row=1)
    name = column or next((c for c in ID_COLUMNS if c in header), header[0])
    index = header.index(name)
    return [(n, row[index].strip()) for n, row in enumerate(rows[1:], 2) if len(row) > index and row[index].strip()]


class _Matcher:
    """Finds the sample an entry names, by image id, shared path suffix or file stem."""

    def __init__(self, table) -> None:
        self.ids = set(table.ids)
        self.by_suffix: dict[str, str] = {}
        for sample in table:
            parts = _relative_parts(Path(sample.image_path), Path(table.root))
            for k in range(1, len(parts) + 1):
                key = "/".join(parts[-k:])
                seen = self.by_suffix.get(key)
                self.by_suffix[key] = sample.image_id if seen in (None, sample.image_id) else _AMBIGUOUS

    def match(self, entry: str) -> str | None:
        """The image id ``entry`` names, or ``None``."""
        if entry in self.ids:
            return entry
        parts = [p for p in PurePosixPath(entry.replace("\\", "/")).parts if p not in ("/", ".")]
        for k in range(len(parts), 0, -1):
            hit = self.by_suffix.get("/".join(parts[-k:]))
            if hit:
                return hit
            if hit == _AMBIGUOUS:
                break
        stem = PurePosixPath(entry).stem
        return stem if stem in self.ids else None


def _relative_parts(path: Path, root: Path) -> tuple[str, ...]:
    try:
        return path.relative_to(root).parts
    except ValueError:
        return path.parts[1:] if path.is_absolute() else path.parts


def _resolve(matcher: _Matcher, path: Path, column: str | None) -> list[str]:
    entries = read_list_file(path, column=column)
    ids, unknown = [], []
    for line, entry in entries:
        image_id = matcher.match(entry)
        if image_id is None:
            unknown.append(f"line {line} '{entry}'")
        else:
            ids.append(image_id)
    if unknown:
        shown = "; ".join(unknown[:_SHOWN]) + ("; ..." if len(unknown) > _SHOWN else "")
        raise DataError(f"{len(unknown)} of {len(entries)} entries are not in the data set: {shown}", path=path)
    return list(dict.fromkeys(ids))


def import_split_lists(
    table,
    *,
    train: Path,
    val: Path | None = None,
    test: Path | None = None,
    fractions: Mapping[float | str, Path] | None = None,
    labels: Sequence[str] = (),
    seed: int = 0,
    group_by: str = "patient",
    column: str | None = None,
) -> Split:
    """A :class:`Split` from published list files matched against ``table`` (a ``SampleTable``).

    ``fractions`` maps a fraction (``0.01``, ``"1%"``) to a list of its train images (e.g. ``train_1.txt``);
    other fractions are drawn, nested and stratified by ``labels``, from the train groups with ``seed``.
    Entries that match no sample raise :class:`DataError` naming the file, every bad line and the count.
    """
    if group_by not in ("patient", "image"):
        raise ConfigError(f"unknown split grouping {group_by!r}; valid: patient, image")
    matcher = _Matcher(table)
    files = {"train": train, "val": val, "test": test}
    chosen = {name: (_resolve(matcher, Path(p), column) if p is not None else []) for name, p in files.items()}
    seen: dict[str, str] = {}
    for name, ids in chosen.items():
        for image_id in ids:
            if image_id in seen:
                raise DataError(f"image '{image_id}' is listed in both {seen[image_id]} and {name}", path=files[name])
            seen[image_id] = name
    by_id = {s.image_id: s for s in table}
    group_of = {i: (by_id[i].patient_id if group_by == "patient" else i) for i in seen}
    train_set = set(chosen["train"])
    explicit: dict[float, tuple[str, ...]] = {}
    for fraction, path in (fractions or {}).items():
        ids = _resolve(matcher, Path(path), column)
        outside = [i for i in ids if i not in train_set]
        if outside:
            raise DataError(f"{len(outside)} images of the fraction list are not in the train list, e.g. {outside[:5]}", path=path)
        explicit[parse_fraction(fraction)] = tuple(ids)
    train_groups = [group_of[i] for i in chosen["train"]]
    label_matrix = table.select(chosen["train"]).label_matrix(labels)
    order, min_groups = fraction_order(train_groups, label_matrix, seed)
    group_sets = {name: {group_of[i] for i in ids} for name, ids in chosen.items()}
    shared = len((group_sets["train"] & (group_sets["val"] | group_sets["test"])) | (group_sets["val"] & group_sets["test"]))
    params = {
        "method": "imported",
        "seed": int(seed),
        "group_key": group_by,
        "stratify_labels": [str(n) for n in labels],
        "sources": {name: Path(p).name for name, p in files.items() if p is not None},
        "fraction_sources": {repr(parse_fraction(f)): Path(p).name for f, p in (fractions or {}).items()},
        "groups_in_several_splits": shared,
    }
    return Split(
        train=tuple(chosen["train"]),
        val=tuple(chosen["val"]),
        test=tuple(chosen["test"]),
        train_groups=tuple(train_groups),
        group_order=order,
        min_groups=min_groups,
        explicit_fractions=explicit,
        params=params,
    )
