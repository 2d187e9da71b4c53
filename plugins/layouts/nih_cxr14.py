"""NIH ChestX-ray14 in one module: the reader of the layout the NIH Clinical Center released (Wang et al., CVPR
2017), its synthetic writer and its spec.

The release holds ``Data_Entry_2017_v2020.csv`` (or the original ``Data_Entry_2017.csv``) with one row per
image: ``Image Index`` (``00000001_000.png``), ``Finding Labels`` (the text-mined labels joined by ``|``, or
``No Finding``), ``Follow-up #``, ``Patient ID``, ``Patient Age``, ``Patient Gender``, ``View Position``,
``OriginalImage[Width,Height]`` (two CSV columns: ``OriginalImage[Width`` and ``Height]``) and the pixel
spacing; the 2017 file ends every line with a comma (an empty extra column). Images are PNGs spread over
``images_001/images/`` … ``images_012/images/``. ``train_val_list.txt`` and ``test_list.txt`` give the official
patient-wise split (one image name per line); ``BBox_List_2017.csv`` holds 984 boxes
(``Image Index, Finding Label, Bbox [x, y, w, h]``, in pixels of the 1024 × 1024 PNG; its label for
infiltration is spelled ``Infiltrate``).

One sample per CSV row: labels are the 14 findings as 1.0/0.0 (``No Finding`` = all 0), ``split`` is
``train_val`` or ``test`` from the official lists, boxes (if any) are ``(x1, y1, x2, y2)`` with their labels in
``meta["box_labels"]``.

:func:`write_synthetic` writes the same layout. Its labels come from what was drawn (the synthetic truth), mapped
onto the 14 NIH findings: consolidation by severity → ``Infiltration`` (mild), ``Pneumonia`` (moderate),
``Consolidation`` (severe); effusion → ``Pleural_Thickening`` (mild) or ``Effusion``; nodule → ``Mass`` (masses)
or ``Nodule``; atelectasis, edema, cardiomegaly and pneumothorax → their namesakes. The generator cannot draw
emphysema, fibrosis or hernia: these three labels are assigned at random (10 % each) so the label space and file
format are complete; they carry no pixel evidence, so their AUC is chance by construction. About a quarter of the
patients form ``test_list.txt``; ``BBox_List_2017.csv`` holds the opacity boxes of test images labelled
``Infiltrate`` or ``Pneumonia``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ecamp_bench.api import LayoutSpec, hookimpl
from ecamp_bench.data.layout_kit.csv_rows import Problems, SeenIds, line_of, parse_float, read_csv
from ecamp_bench.data.layout_kit.image_files import check_image
from ecamp_bench.data.layout_kit.scan import read_table, validate_tree
from ecamp_bench.specs import Problem

if TYPE_CHECKING:  # imported by the functions that read or write, so that registering stays cheap
    from ecamp_bench.data.image_check import CheckOptions, ImageChecks
    from ecamp_bench.data.samples import Sample, SampleTable
    from ecamp_bench.data.synth.case import HardFinding
    from ecamp_bench.data.synth.parallel import Progress

NAME = "nih-cxr14"
SUBDIR = "nih-chestxray14"
ENTRY_FILES = ("Data_Entry_2017_v2020.csv", "Data_Entry_2017.csv")
TRAIN_VAL_LIST = "train_val_list.txt"
TEST_LIST = "test_list.txt"
BBOX_FILE = "BBox_List_2017.csv"
IMAGE_FOLDERS = tuple(f"images_{k:03d}" for k in range(1, 13))
NO_FINDING = "No Finding"
# The 14 findings in CheXNet's order, which is MRM's and ECAMP's CLASS_NAMES order (MRM-pytorch
# NIH_ChestX-ray/train.py, ECAMP Fine-tuning/Classification/train.py): the order of the 14 values in MRM's NIH lists.
LABELS = ("Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax",
          "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia")
BOX_LABEL_NAMES = {"Infiltrate": "Infiltration"}  # BBox_List_2017.csv spelling → Data_Entry spelling
REQUIRED = ("Image Index", "Finding Labels", "Patient ID")
BBOX_REQUIRED = ("Image Index", "Finding Label", "Bbox [x", "y", "w", "h]")
SPLITS = {TRAIN_VAL_LIST: "train_val", TEST_LIST: "test"}


def entry_file(root: Path) -> Path:
    """The Data_Entry CSV of ``root`` (the 2020 revision when both are present)."""
    root = Path(root)
    return next((root / name for name in ENTRY_FILES if (root / name).is_file()), root / ENTRY_FILES[0])


def detect(root: Path) -> bool:
    """Whether ``root`` holds a ``Data_Entry_2017*.csv``."""
    return entry_file(root).is_file()


def index_images(root: Path) -> dict[str, Path]:
    """Map image name → path for every PNG under ``images_NNN/images/`` (or ``images_NNN/`` directly)."""
    found: dict[str, Path] = {}
    for folder in IMAGE_FOLDERS:
        for base in (Path(root) / folder / "images", Path(root) / folder):
            if base.is_dir():
                found.update({p.name: p for p in sorted(base.glob("*.png"))})
    return found


def parse_findings(text: str) -> list[str]:
    """``"Effusion|Mass"`` → ``["Effusion", "Mass"]``; ``"No Finding"`` → ``[]``. Names are not checked here."""
    names = [name.strip() for name in text.split("|") if name.strip()]
    return [] if names == [NO_FINDING] else names


def _official_lists(root: Path, problems: Problems) -> dict[str, tuple[str, int, Path]]:
    """Image name → (split, line, list file); an image in both lists is a problem (kept in the first)."""
    where: dict[str, tuple[str, int, Path]] = {}
    for file_name, split in SPLITS.items():
        path = Path(root) / file_name
        if not path.is_file():
            problems.add(path, "required file is missing", code="missing-file")
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
            name = line.strip()
            if not name:
                continue
            if name in where:
                first = where[name]
                problems.add(path, f"image {name} is also listed in {first[2].name} (line {first[1]})", row=number,
                             code="image-in-both-lists")
                continue
            where[name] = (split, number, path)
    return where


def _patients_in_both_lists(rows: list[dict], lists: dict[str, tuple[str, int, Path]], problems: Problems) -> None:
    """The official split is patient-wise: a patient with images in both lists is a problem, listed once."""
    splits: dict[str, dict[str, tuple[int, Path, str]]] = {}
    for row in rows:
        entry = lists.get(row["Image Index"])
        if entry is not None:
            splits.setdefault(row["Patient ID"], {}).setdefault(entry[0], (entry[1], entry[2], row["Image Index"]))
    for patient, seen in splits.items():
        if len(seen) > 1:
            (line, path, image) = seen["test"]
            other = seen["train_val"]
            problems.add(path, f"patient {patient} has images in both official lists ({image} here, {other[2]} in "
                         f"{other[1].name} line {other[0]}); the official split is by patient", row=line,
                         code="patient-in-both-lists")


def _boxes(root: Path, problems: Problems, known: set[str]) -> dict[str, list[tuple[tuple[float, ...], str]]]:
    path = Path(root) / BBOX_FILE
    if not path.is_file():
        return {}
    frame = read_csv(path, BBOX_REQUIRED, problems)
    if frame is None:
        return {}
    boxes: dict[str, list] = {}
    box_labels = set(LABELS) | set(BOX_LABEL_NAMES)
    for index, row in enumerate(frame.to_dict("records")):
        line, image = line_of(index), row["Image Index"]
        if row["Finding Label"] not in box_labels:
            problems.add(path, f"unknown finding label {row['Finding Label']!r}", row=line, key="Finding Label",
                         code="unknown-label")
            continue
        try:
            x, y, w, h = (parse_float(row[c]) for c in ("Bbox [x", "y", "w", "h]"))
        except ValueError:
            problems.add(path, "box fields are not numbers", row=line, key="Bbox [x")
            continue
        if not (w > 0 and h > 0):
            problems.add(path, f"invalid box x={x}, y={y}, w={w}, h={h}", row=line, key="w")
            continue
        if image not in known:
            problems.add(path, f"image {image} is not in the Data_Entry file", row=line, key="Image Index",
                         code="unknown-image")
            continue
        label = BOX_LABEL_NAMES.get(row["Finding Label"], row["Finding Label"])
        boxes.setdefault(image, []).append(((x, y, x + w, y + h), label))
    return boxes


def _scan(root: Path, problems: Problems, images: ImageChecks | None) -> list[Sample]:
    from ecamp_bench.data.samples import Sample

    root = Path(root)
    path = entry_file(root)
    frame = read_csv(path, REQUIRED, problems)
    lists = _official_lists(root, problems)
    if frame is None:
        return []
    rows = frame.to_dict("records")
    _patients_in_both_lists(rows, lists, problems)
    boxes = _boxes(root, problems, {r["Image Index"] for r in rows})
    on_disk = index_images(root)
    samples = []
    seen = SeenIds("Image Index")
    for index, row in enumerate(rows):
        line, name = line_of(index), row["Image Index"]
        if seen.repeated(name, path, line, problems):
            continue
        findings = parse_findings(row["Finding Labels"])
        unknown = [f for f in findings if f not in LABELS]
        if unknown or not row["Finding Labels"]:
            problems.add(path, f"unknown finding {', '.join(map(repr, unknown or ['']))} (valid: {', '.join(LABELS)}, "
                         f"or {NO_FINDING!r})", row=line, key="Finding Labels", code="unknown-label")
            continue
        if not row["Patient ID"]:
            problems.add(path, "empty Patient ID", row=line, key="Patient ID")
            continue
        image = on_disk.get(name, root / IMAGE_FOLDERS[0] / "images" / name)
        if not check_image(image, path, line, "Image Index", problems, images):
            continue
        if name not in lists and (root / TRAIN_VAL_LIST).is_file() and (root / TEST_LIST).is_file():
            problems.add(path, f"image {name} is in neither {TRAIN_VAL_LIST} nor {TEST_LIST}", row=line,
                         key="Image Index", code="missing-split")
            continue
        own = boxes.get(name, [])
        samples.append(Sample(image_id=name, image_path=image, patient_id=row["Patient ID"],
                              view=row.get("View Position") or None,
                              labels={label: float(label in findings) for label in LABELS},
                              boxes=tuple(b for b, _ in own),
                              split=lists[name][0] if name in lists else None,
                              meta={"box_labels": tuple(lab for _, lab in own), "follow_up": row.get("Follow-up #"),
                                    "age": row.get("Patient Age"), "sex": row.get("Patient Gender"),
                                    "original_size": _original_size(row)}))
    listed_only = set(lists) - {r["Image Index"] for r in rows}
    for name in sorted(listed_only, key=lambda n: (lists[n][2].name, lists[n][1])):
        problems.add(lists[name][2], f"image {name} is not in {path.name}", row=lists[name][1], code="unknown-image")
    return samples


def _original_size(row: dict) -> tuple[int | None, int | None]:
    try:
        return int(float(row["OriginalImage[Width"])), int(float(row["Height]"]))
    except (KeyError, ValueError):
        return None, None


def read(root: Path) -> SampleTable:
    """One sample per Data_Entry row with its 14 labels, official split and boxes; the first problem raises."""
    return read_table(NAME, root, _scan)


def validate(root: Path, options: CheckOptions | None = None) -> list[Problem]:
    """Every problem of the tree (files, columns, unknown findings, missing images, list conflicts, boxes)."""
    return validate_tree(root, _scan, options)


# ---- synthetic writer ---------------------------------------------------------------------------------------

#: Images per synthetic size (see the package docstring).
SYNTHETIC_COUNTS = {"tiny": 80, "small": 500, "demo": 2400, "gpu-demo": 2400, "medium": 8000}

ENTRY_COLUMNS = ("Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age", "Patient Gender",
                 "View Position", "OriginalImage[Width", "Height]", "OriginalImagePixelSpacing[x", "y]")
UNDRAWN = ("Emphysema", "Fibrosis", "Hernia")
UNDRAWN_RATE = 0.1
TEST_SHARE = 0.25


def nih_findings(records: list[dict]) -> set[str]:
    """The NIH finding names of a case's drawn truth records (see the module docstring)."""
    names: set[str] = set()
    for record in records:
        kind, severity = record["kind"], record.get("severity")
        if kind == "consolidation":
            names.add({"mild": "Infiltration", "moderate": "Pneumonia"}.get(severity, "Consolidation"))
        elif kind == "effusion":
            names.add("Pleural_Thickening" if severity == "mild" else "Effusion")
        elif kind == "nodule":
            names.add("Mass" if record.get("mass") else "Nodule")
        elif kind in ("atelectasis", "edema", "cardiomegaly", "pneumothorax"):
            names.add(kind.capitalize())
    return names


def _render(item: tuple) -> dict:
    from PIL import Image

    from ecamp_bench.data.synth.case import make_case

    root, seed, index, n, size, patient, follow_up, split, undrawn, hard, conspicuity = item
    case = make_case(seed, "nih", index, size, hard=hard, conspicuity=conspicuity)
    name = f"{patient:08d}_{follow_up:03d}.png"
    folder = Path(root) / IMAGE_FOLDERS[index * len(IMAGE_FOLDERS) // n] / "images"  # filled in order, as released
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(case.frontal, mode="L").save(folder / name, format="PNG", compress_level=1)
    findings = sorted(nih_findings(case.truth.records) | set(undrawn))
    boxes = []
    if split == "test":
        for record in case.truth.records:
            if record["kind"] == "consolidation" and record["severity"] in ("mild", "moderate"):
                x1, y1, x2, y2 = record["box"]
                label = "Infiltrate" if record["severity"] == "mild" else "Pneumonia"
                boxes.append((name, label, x1, y1, x2 - x1, y2 - y1))
    row = (name, "|".join(findings) or NO_FINDING, follow_up, patient, case.age, case.sex[0], case.view, size, size,
           0.143, 0.143)
    return {"row": row, "split": split, "boxes": boxes, "truth": {"image_id": name, **case.truth_record()}}


def write_synthetic(root: Path, n: int, seed: int, *, size: int = 224, workers: int = 1,
                    progress: Progress | None = None, hard: HardFinding | None = None, conspicuity: float = 1.0) -> int:
    """Write ``n`` synthetic images (1-3 per patient, a quarter of the patients in the test list); returns ``n``.
    ``hard``, ``conspicuity``: see :func:`~ecamp_bench.data.synth.case.make_case`."""
    import numpy as np

    from ecamp_bench.data.synth.parallel import render_cases
    from ecamp_bench.data.synth.writers import atomic_write_bytes, write_csv

    root = Path(root)
    rng = np.random.default_rng([seed, 105])
    items, patient = [], 0
    while len(items) < n:
        patient += 1
        split = "test" if rng.random() < TEST_SHARE else "train_val"
        for follow_up in range(min(int(rng.integers(1, 4)), n - len(items))):
            undrawn = tuple(label for label in UNDRAWN if rng.random() < UNDRAWN_RATE)
            items.append((str(root), seed, len(items), n, size, patient, follow_up, split, undrawn, hard, conspicuity))
    rows = render_cases(_render, items, root, label="nih-cxr14", workers=workers, progress=progress)
    write_csv(root / BBOX_FILE, BBOX_REQUIRED, [b for row in rows for b in row["boxes"]])
    for file_name, split in SPLITS.items():
        names = sorted(row["row"][0] for row in rows if row["split"] == split)
        atomic_write_bytes(root / file_name, "".join(f"{name}\n" for name in names).encode("utf-8"))
    write_csv(root / ENTRY_FILES[0], ENTRY_COLUMNS, [row["row"] for row in rows])
    return len(rows)


# ---- spec ---------------------------------------------------------------------------------------------------

@hookimpl
def ecamp_bench_layouts() -> list[LayoutSpec]:
    """NIH ChestX-ray14."""
    return [LayoutSpec(name=NAME, description="NIH ChestX-ray14 (Data_Entry_2017[_v2020].csv, images_NNN/images/*.png, "
                                              "official train_val/test lists)",
                       citation="Wang et al., ChestX-ray8, CVPR 2017", detect=detect, read=read, validate=validate,
                       write_synthetic=write_synthetic, subdir=SUBDIR, synthetic_counts=SYNTHETIC_COUNTS)]
