"""The built-in dataset layouts: MIMIC-CXR-JPG, CheXpert-v1.0-small, RSNA Pneumonia, SIIM-ACR, NIH ChestX-ray14, COVIDx CXR.

Specs are cheap: each function is a thin wrapper that imports its adapter (pandas, pydicom) only when called.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from ecamp_bench.api import hookimpl
from ecamp_bench.specs import LayoutSpec

_PACKAGE = "ecamp_bench.data.layouts"


def _lazy(module: str, attr: str) -> Callable:
    def call(*args, **kwargs):
        return getattr(importlib.import_module(f"{_PACKAGE}.{module}"), attr)(*args, **kwargs)

    call.__name__ = attr
    call.__qualname__ = f"{module}.{attr}"
    call.__doc__ = f"Lazily calls {_PACKAGE}.{module}.{attr}."
    return call


def _synthetic_writer(module: str) -> Callable:
    """The layout's synthetic writer, ``ecamp_bench.data.synth.<module>.write`` (imported when called)."""
    def write(root: Path, n: int, seed: int, **options) -> int:
        return importlib.import_module(f"ecamp_bench.data.synth.{module}").write(Path(root), n, seed, **options)

    write.__qualname__ = f"{module}.write"
    return write


def _detect(*markers: str) -> Callable[[Path], bool]:
    def detect(root: Path) -> bool:
        return all((Path(root) / m).exists() for m in markers)

    return detect


# Cases per layout in each synthetic preset (MIMIC/CheXpert count studies; some studies add a lateral image).
# `demo` (what `make demo` uses) is sized for statistical power, not looks: every task's test set holds at
# least 500 images (RSNA/SIIM test = 20 % of 2,600; CheXpert's valid = 15 % of its patients' studies) and the
# 5 % training fraction at least 20 positives of every label. `gpu-demo` (`make demo` on a GPU) adds pre-training
# studies (448 px, for the ViT-S/16's 448-px SR target).
COUNTS: dict[str, dict[str, int]] = {
    "mimic-cxr": {"tiny": 40, "small": 400, "demo": 3000, "gpu-demo": 12000, "medium": 6000},
    "chexpert": {"tiny": 48, "small": 400, "demo": 4000, "gpu-demo": 4000, "medium": 6000},
    "rsna-pneumonia": {"tiny": 64, "small": 500, "demo": 2600, "gpu-demo": 2600, "medium": 8000},
    "siim-acr": {"tiny": 64, "small": 500, "demo": 2600, "gpu-demo": 2600, "medium": 8000},
    "nih-cxr14": {"tiny": 80, "small": 500, "demo": 2400, "gpu-demo": 2400, "medium": 8000},
    "covidx-cxr": {"tiny": 64, "small": 500, "demo": 2600, "gpu-demo": 2600, "medium": 8000},
}
# Writer keywords that differ from the writer's defaults, per layout and preset.
OPTIONS: dict[str, dict[str, dict]] = {"chexpert": {"demo": {"valid_share": 0.15},
                                                     "gpu-demo": {"valid_share": 0.15}}}
EXTRA_IMAGES: dict[str, tuple[str, ...]] = {"rsna-pneumonia": ("stage_2_test_images",)}


def _spec(name: str, module: str, subdir: str, description: str, citation: str,
          detect: Callable | None = None) -> LayoutSpec:
    return LayoutSpec(name=name, description=description, citation=citation, subdir=subdir,
                      detect=detect or _lazy(module, "detect"), read=_lazy(module, "read"),
                      validate=_lazy(module, "validate"), write_synthetic=_synthetic_writer(module),
                      synthetic_counts=COUNTS[name], synthetic_options=OPTIONS.get(name, {}),
                      extra_image_folders=EXTRA_IMAGES.get(name, ()))


@hookimpl
def ecamp_bench_layouts() -> list[LayoutSpec]:
    """MIMIC-CXR-JPG 2.0.0 (+reports), CheXpert-v1.0-small, RSNA Pneumonia (stage 2), SIIM-ACR (stage 1), NIH, COVIDx."""
    return [
        _spec("mimic-cxr", "mimic_cxr", "mimic-cxr-jpg/2.0.0",
              "MIMIC-CXR-JPG 2.0.0 images + MIMIC-CXR reports (files/pNN/pSUBJECT/sSTUDY)",
              "Johnson et al., MIMIC-CXR-JPG, PhysioNet 2019", _detect("mimic-cxr-2.0.0-metadata.csv.gz")),
        _spec("chexpert", "chexpert", "CheXpert-v1.0-small", "CheXpert-v1.0-small (train.csv / valid.csv, 14 observations)",
              "Irvin et al., CheXpert, AAAI 2019"),
        _spec("rsna-pneumonia", "rsna", "rsna-pneumonia-detection-challenge",
              "RSNA Pneumonia Detection Challenge stage 2 (boxes, DICOM)", "Shih et al., Radiology: AI 2019",
              _detect("stage_2_train_labels.csv")),
        _spec("siim-acr", "siim", "siim-acr-pneumothorax",
              "SIIM-ACR Pneumothorax Segmentation stage 1 (RLE masks, DICOM)", "SIIM-ACR Kaggle challenge 2019",
              _detect("train-rle.csv", "dicom-images-train")),
        _spec("nih-cxr14", "nih_cxr14", "nih-chestxray14",
              "NIH ChestX-ray14 (Data_Entry_2017[_v2020].csv, images_NNN/images/*.png, official train_val/test lists)",
              "Wang et al., ChestX-ray8, CVPR 2017"),
        _spec("covidx-cxr", "covidx", "covidx-cxr",
              "COVIDx CXR release (train/val/test .txt lists 'patient_id filename class data_source', image folders)",
              "Wang, Lin & Wong, COVID-Net, Scientific Reports 2020"),
    ]
