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


def _detect(*markers: str) -> Callable[[Path], bool]:
    def detect(root: Path) -> bool:
        return all((Path(root) / m).exists() for m in markers)

    return detect


def _spec(name: str, module: str, subdir: str, description: str, citation: str, detect: Callable | None = None) -> LayoutSpec:
    return LayoutSpec(name=name, description=description, citation=citation, subdir=subdir,
                      detect=detect or _lazy(module, "detect"), read=_lazy(module, "read"),
                      validate=_lazy(module, "validate"), write_synthetic=_lazy(module, "write_synthetic"))


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
