"""Published split lists (MRM, ECAMP, BenchX) as first-class splits: find, match, check and describe them.

The lists are not ours to ship; the user points at a folder holding them (``--splits-root`` or the
``ECAMP_BENCH_SPLITS`` environment variable) laid out as the projects publish them:

==========  ==================================================  ====================================================
name        folder below the splits root, per task              files
==========  ==================================================  ====================================================
``mrm``     ``MRM/{CheXpert,NIH_ChestX-ray,RSNA_Pneumonia,``    ``train_list``/``train_1``/``train_10``,
            ``SIIM-ACR_Pneumothorax}``                          ``val_list``, ``test_list`` (``.txt``, labels in
                                                                the line)
``ecamp``   ``ECAMP/Classification/{CheXpert,COVIDx,RSNA}``,    ``train_list[_1|_10]``, ``val_list``,
            ``ECAMP/Detection/RSNA``,                           ``test_list`` (``.txt`` with labels; ``.csv``
            ``ECAMP/Segmentation/SIIM``                         with ``bbox`` or ``EncodedPixels``)
``benchx``  ``BenchX/{RSNA,SIIM}``                              ``train``/``train_1``/``train_10``, ``val``,
                                                                ``test`` (``.txt``, bare ids)
==========  ==================================================  ====================================================

The folders are the projects' own folder names: MRM's ``DatasetsSplits/<name>/`` (RL4M/MRM-pytorch), ECAMP's
``Fine-tuning/<Classification|Detection|Segmentation>/datasets/<name>/`` (ToniChopp/ECAMP).

The numbers after the image in a ``.txt`` line are its labels (:func:`line_labels`): one value per task label,
in the task's label order (MRM's ChestX-ray14 lists: 14 values in the order of MRM's
``NIH_ChestX-ray/train.py`` ``CLASS_NAMES``, which is the ``nih-cxr14-cls`` order), or, for a single-label
task, one class index: the position of the image's class in the task's labels (ECAMP's COVIDx lists,
``train/<file> 2``: 0 normal, 1 pneumonia, 2 COVID-19, COVID-Net's mapping and the ``covidx-cls`` order).

A ``--split PATH`` is any folder with files named that way. Files are assigned by name: ``train[_list]`` is the
full train list, ``train[_list]_N`` the train list of the N % label fraction, ``val[_list]`` and ``test[_list]``
(``test_list_600``, CheXpert's hidden test set, is ignored).

:func:`resolve_published_split` matches every entry against the layout's samples (by image id, shared path
suffix or file stem, see :mod:`~ecamp_bench.data.split_lists`) and returns a :class:`PublishedSplit`:

- images the layout's CSV does not hold but that lie in one of the layout's extra folders (RSNA's
  ``stage_2_test_images``, the 3,000 images MRM's and ECAMP's test lists name) become extra samples whose label
  is the one in the list line;
- labels in list lines override the CSV's (``label_source`` says which part got labels from where, with the
  number of images where the two disagree);
- lists that share images (MRM SIIM: train∩test 494) or a validation list equal to the test list (ECAMP CheXpert)
  are refused, naming the counts, unless ``allow_overlap``; the counts are kept for the record;
- a list whose entries do not match the data set raises :class:`DataError` naming the release it belongs to
  (e.g. BenchX's SIIM PNG re-release) and how many of its entries matched.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from ecamp_bench.data.samples import Sample, SampleTable
from ecamp_bench.data.split_lists import ListEntry, _Matcher, read_list_entries
from ecamp_bench.errors import ConfigError, DataError, UnknownNameError

SPLITS_ENV = "ECAMP_BENCH_SPLITS"
PARTS = ("train", "val", "test")


def builtin_splits() -> dict[str, dict[str, str]]:
    """Published split name → task → folder below the splits root, from the tasks' ``published_splits``."""
    from ecamp_bench.plugins import get_catalog

    catalog = get_catalog()
    out: dict[str, dict[str, str]] = {}
    for name in catalog.names("task"):
        for split, folder in catalog.task(name).published_splits.items():
            out.setdefault(split, {})[name] = folder
    return out


def extra_image_folders(layout: str) -> tuple[str, ...]:
    """Folders (below ``layout``'s root) of official images its CSV does not label (``LayoutSpec``)."""
    from ecamp_bench.plugins import get_catalog

    catalog = get_catalog()
    return catalog.layout(layout).extra_image_folders if layout in catalog.names("layout") else ()


_FILE_NAME = re.compile(r"^(?:(train)(?:_list)?(?:_(\d+))?|(val|test)(?:_list)?)$")
_SIIM_PNG_ID = re.compile(r"^\d+_(train|test)_[01]_$")
_SHOWN = 5


@dataclass(frozen=True)
class ListFile:
    """A split list file: its ``part`` (train/val/test), the label ``fraction`` of a train subset list (None for
    a full list), ``path`` and the ``sha256`` of its bytes."""

    part: str
    fraction: float | None
    path: Path
    sha256: str

    @property
    def role(self) -> str:
        """``train``, ``val``, ``test`` or ``train@0.01``."""
        return self.part if self.fraction is None else f"{self.part}@{self.fraction:g}"


@dataclass(frozen=True)
class PublishedSplit:
    """A published split matched against a data set (see the module docstring).

    ``train``/``val``/``test`` are image ids in list order (``train`` is the list of the requested fraction when
    the folder has one, else the full train list); ``fraction_list`` says which. ``extra_samples`` are the
    images the lists name outside the layout's CSV (labels from the lists); ``labels`` maps image id → the
    label values of its list line (task label order). ``overlaps`` counts images shared by two parts
    (``"train&test": 494``); ``val_is_test`` says the two lists are identical.
    """

    name: str
    folder: Path
    files: tuple[ListFile, ...]
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    fraction_list: float | None
    extra_samples: tuple[Sample, ...] = ()
    labels: dict[str, tuple[float, ...]] = field(default_factory=dict)
    label_source: dict[str, dict[str, Any]] = field(default_factory=dict)
    overlaps: dict[str, int] = field(default_factory=dict)
    val_is_test: bool = False
    overlap_allowed: bool = False
    notes: tuple[str, ...] = ()

    def part(self, name: str) -> tuple[str, ...]:
        """The ids of part ``name`` (train, val or test)."""
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def to_record(self) -> dict[str, Any]:
        """The JSON-able description result records carry (files with sha256, labels, overlaps, notes)."""
        return {
            "name": self.name,
            "folder": str(self.folder),
            "files": [{"role": f.role, "path": str(f.path), "sha256": f.sha256} for f in self.files],
            "fraction_list": self.fraction_list,
            "label_source": self.label_source,
            "overlaps": dict(self.overlaps),
            "val_is_test": self.val_is_test,
            "overlap_allowed": self.overlap_allowed,
            "notes": list(self.notes),
        }


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def splits_root(explicit: Path | None = None) -> Path | None:
    """The folder holding published lists: ``explicit``, else ``$ECAMP_BENCH_SPLITS``, else None."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(SPLITS_ENV)
    return Path(env) if env else None


def locate(split: str, task: str, root: Path | None) -> tuple[str, Path]:
    """``(name, folder)`` of ``split``: a built-in name (``mrm``, ``ecamp``, ``benchx``) or a folder path."""
    builtin = builtin_splits()
    if split.lower() in builtin:
        name = split.lower()
        folders = builtin[name]
        if task not in folders:
            raise ConfigError(f"the {name} split lists cover {', '.join(sorted(folders))}, not task '{task}'")
        if root is None:
            raise ConfigError(f"--split {name} needs the folder holding the published lists: pass --splits-root DIR "
                              f"or set {SPLITS_ENV} (it should contain {folders[task]}/)")
        folder = Path(root) / folders[task]
        if not folder.is_dir():
            raise DataError(f"the {name} lists of {task} are not there (expected the folder {folders[task]}/ of the "
                            f"{name.upper()} release below the splits root)", path=folder)
        return name, folder
    folder = Path(split)
    if folder.is_dir():
        return str(folder), folder
    raise UnknownNameError("split", split, builtin)


def list_files(folder: Path) -> tuple[ListFile, ...]:
    """The split lists of ``folder`` by file name (module docstring); :class:`DataError` if there is none."""
    found = []
    for path in sorted(Path(folder).iterdir()):
        match = _FILE_NAME.match(path.stem) if path.suffix.lower() in (".txt", ".csv") else None
        if match:
            fraction = int(match.group(2)) / 100 if match.group(2) else None
            found.append(ListFile(match.group(1) or match.group(3), fraction, path, file_sha256(path)))
    if not any(f.part == "test" for f in found):
        raise DataError("no test list (test.txt, test_list.txt or .csv) in the split folder", path=folder)
    return tuple(found)


def choose_files(files: Sequence[ListFile], fraction: float, folder: Path) -> tuple[dict[str, ListFile], bool]:
    """The list of each part for a run at ``fraction``, and whether train is a fraction list."""
    by_role = {f.role: f for f in files}
    chosen: dict[str, ListFile] = {}
    fraction_file = next((f for f in files if f.part == "train" and f.fraction is not None
                          and abs(f.fraction - fraction) < 1e-9), None)
    train = fraction_file or by_role.get("train")
    if train is None:
        have = ", ".join(sorted(f.path.name for f in files if f.part == "train")) or "none"
        raise DataError(f"no train list for fraction {fraction:g}: the folder has no full train list and no list of "
                        f"that fraction (train lists present: {have})", path=folder)
    chosen["train"] = train
    for part in ("val", "test"):
        if part in by_role:
            chosen[part] = by_role[part]
    if "val" not in chosen:
        raise DataError("no validation list (val.txt or val_list.txt) in the split folder", path=folder)
    return chosen, fraction_file is not None


_IMAGE_SUFFIXES = (".dcm", ".dicom", ".png", ".jpg", ".jpeg")


def _key(entry: str) -> str:
    """The image an entry names, without folder or image suffix (SIIM UIDs keep their dotted parts)."""
    name = PurePosixPath(entry.replace("\\", "/")).name
    return name[: -len(PurePosixPath(name).suffix)] if PurePosixPath(name).suffix.lower() in _IMAGE_SUFFIXES else name


def describe_release(entries: Sequence[ListEntry]) -> str:
    """What the entries of a list that does not match look like they name."""
    names = [e.entry for e in entries]
    if names and sum(bool(_SIIM_PNG_ID.match(n)) for n in names) > len(names) / 2:
        return ("the SIIM-ACR PNG re-release (ids such as '1898_train_0_' number its PNG files, as BenchX uses; "
                "they are not the official DICOM SOPInstanceUIDs)")
    if names and sum(n.startswith("test/") for n in names) > len(names) / 2:
        return "the CheXpert test set (test/...), which the CheXpert-v1.0-small release does not contain"
    folders = sorted({str(PurePosixPath(n).parent) for n in names if "/" in n})
    suffixes = sorted({PurePosixPath(n).suffix for n in names if PurePosixPath(n).suffix})
    if folders or suffixes:
        return (f"files of another release or data set ({', '.join(folders[:3]) or 'no folder'}; "
                f"{', '.join(suffixes) or 'no suffix'})")
    return "ids of another release or data set"


def line_labels(values: Sequence[float], labels: Sequence[str], *, single_label: bool, path: Path,
                line: int) -> tuple[float, ...]:
    """The label values, in the order of ``labels``, that the numbers of a list line stand for (module docstring).

    ``len(labels)`` numbers are the values themselves (MRM ChestX-ray14: ``00011997_004.png 0 1 1 1 0 ...``). For a
    ``single_label`` task one number may instead be a class index, the position of the image's class in
    ``labels`` (ECAMP COVIDx: ``test/<file> 2`` = COVID-19); it comes back one-hot. Any other count, and an
    index that is not a whole number naming one of the classes, raises :class:`DataError` naming file and line.
    """
    values = tuple(float(v) for v in values)
    if single_label and len(labels) > 1 and len(values) == 1:
        index = values[0]
        if not index.is_integer() or not 0 <= index < len(labels):
            classes = ", ".join(f"{i} {name}" for i, name in enumerate(labels))
            raise DataError(f"unknown class index {index:g} (the task's classes: {classes})", path=path, row=line)
        return tuple(float(i == int(index)) for i in range(len(labels)))
    if len(values) != len(labels):
        expected = f"{len(labels)} ({', '.join(labels)})" + (" or 1 class index" if single_label else "")
        raise DataError(f"the line carries {len(values)} label values, the task takes {expected}", path=path,
                        row=line)
    return values


def _extra_index(layout: str, root: Path) -> dict[str, Path]:
    index = {}
    for folder in extra_image_folders(layout):
        if (Path(root) / folder).is_dir():
            index.update({p.stem: p for p in sorted((Path(root) / folder).iterdir()) if p.is_file()})
    return index


def _overlaps(parts: dict[str, list[str]], entries: dict[str, list[ListEntry]]) -> tuple[dict[str, int], bool]:
    """Images shared by two parts (matched ids), and whether the val and test lists are the same list."""
    keys = {part: set(ids) for part, ids in parts.items()}
    counts = {}
    for i, a in enumerate(PARTS):
        for b in PARTS[i + 1:]:
            if a in keys and b in keys:
                counts[f"{a}&{b}"] = len(keys[a] & keys[b])
    same = "val" in entries and "test" in entries and \
        [e.entry for e in entries["val"]] == [e.entry for e in entries["test"]]
    return counts, same


def resolve_published_split(split: str, *, task: str, labels: Sequence[str], table: SampleTable, fraction: float,
                            root: Path | None = None, allow_overlap: bool = False,
                            single_label: bool = False) -> PublishedSplit:
    """Find the lists of ``split`` for ``task``, match them against ``table`` and check them (module docstring).

    ``labels`` are the task's label names, the order of the numbers in list lines; ``single_label`` tasks also
    read a line's one number as a class index (:func:`line_labels`). ``root`` is the splits root
    (``None``: ``$ECAMP_BENCH_SPLITS``). Raises :class:`ConfigError` for an unusable name and
    :class:`DataError` (naming the file) for lists that do not fit the data.
    """
    name, folder = locate(split, task, splits_root(root))
    chosen, is_fraction = choose_files(list_files(folder), fraction, folder)
    entries = {part: read_list_entries(f.path) for part, f in chosen.items()}
    matcher = _Matcher(table)
    extras_index = _extra_index(table.layout, table.root)
    by_id = {s.image_id: s for s in table}
    extra: dict[str, Sample] = {}
    list_labels: dict[str, tuple[float, ...]] = {}
    parts: dict[str, list[str]] = {}
    label_source: dict[str, dict[str, Any]] = {}
    notes = []
    for part, items in entries.items():
        path = chosen[part].path
        ids, unmatched = [], []
        from_list = disagree = 0
        for item in items:
            image_id = matcher.match(item.entry)
            if image_id is None and _key(item.entry) in extras_index:
                image_id = _key(item.entry)
                if image_id not in extra:
                    if item.labels is None:
                        raise DataError(f"'{item.entry}' is not in the {table.layout} CSV and its line carries "
                                        "no label", path=path, row=item.line)
                    extra[image_id] = Sample(image_id=image_id, image_path=extras_index[image_id], patient_id=image_id,
                                             split=f"published-{part}", meta={"label_source": path.name})
            if image_id is None:
                unmatched.append(item)
                continue
            if item.labels is not None:
                values = line_labels(item.labels, labels, single_label=single_label, path=path, line=item.line)
                list_labels[image_id] = values
                if image_id in extra:
                    from_list += 1
                else:
                    sample = by_id[image_id]
                    if sample.labels and not set(labels) & set(sample.labels):
                        raise DataError(f"the line labels '{item.entry}' with {', '.join(labels)}, but the "
                                        f"{table.layout} data set labels it with {', '.join(sample.labels)}: the "
                                        "lists belong to a release with other classes", path=path, row=item.line)
                    known = [sample.label(n) for n in labels]
                    disagree += any(k in (0.0, 1.0) and k != v for k, v in zip(known, values))
            ids.append(image_id)
        if unmatched:
            shown = "; ".join(f"line {u.line} '{u.entry}'" for u in unmatched[:_SHOWN])
            raise DataError(
                f"{len(items) - len(unmatched)} of {len(items)} entries match the {table.layout} data set at "
                f"{table.root}: the list names {describe_release(unmatched)}. Unmatched: {shown}"
                + (" ..." if len(unmatched) > _SHOWN else ""), path=path)
        with_labels = sum(item.labels is not None for item in items)
        label_source[part] = {
            "source": "list" if with_labels == len(items) and items else ("csv" if not with_labels else "csv+list"),
            "images_only_in_list": from_list, "disagree_with_csv": disagree,
        }
        pngs = sum(PurePosixPath(i.entry).suffix.lower() == ".png" for i in items)
        if pngs and table.layout in ("rsna-pneumonia",):
            notes.append(f"{path.name} names {pngs} PNG files (a PNG conversion of the DICOMs): matched to the "
                         "DICOMs by patientId")
        parts[part] = list(dict.fromkeys(ids))
    overlaps, val_is_test = _overlaps(parts, entries)
    shared = {k: v for k, v in overlaps.items() if v}
    if (shared or val_is_test) and not allow_overlap:
        what = ", ".join(f"{k.replace('&', '∩')} {v} images" for k, v in shared.items())
        if val_is_test:
            what = "the validation list is identical to the test list" + (f"; {what}" if what else "")
        raise DataError(f"the {name} lists of {task} overlap: {what}. Selecting on the test images or training on them "
                        "inflates the result; pass --allow-split-overlap to evaluate on them anyway (the record then "
                        "carries these counts)", path=folder)
    extra_samples = tuple(replace(s, labels=dict(zip(labels, list_labels[s.image_id]))) for s in extra.values())
    return PublishedSplit(
        name=name, folder=folder, files=tuple(chosen[p] for p in PARTS if p in chosen), train=tuple(parts["train"]),
        val=tuple(parts.get("val", ())), test=tuple(parts["test"]), fraction_list=fraction if is_fraction else None,
        extra_samples=extra_samples, labels=list_labels, label_source=label_source, overlaps=overlaps,
        val_is_test=val_is_test, overlap_allowed=bool(allow_overlap), notes=tuple(notes),
    )


def apply_to_table(published: PublishedSplit, table: SampleTable, labels: Sequence[str]) -> SampleTable:
    """``table`` plus the split's extra samples, with the labels of list lines written over the CSV's."""
    def relabel(sample: Sample) -> Sample:
        values = published.labels.get(sample.image_id)
        return sample if values is None else sample.with_labels({**sample.labels, **dict(zip(labels, values))})

    return SampleTable(table.layout, table.root, tuple(relabel(s) for s in (*table.samples, *published.extra_samples)))
