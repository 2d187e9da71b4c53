"""The built-in data set layouts, one plugin module each: MIMIC-CXR-JPG (``mimic_cxr``), CheXpert-v1.0-small
(``chexpert``), RSNA Pneumonia (``rsna``), SIIM-ACR (``siim``), NIH ChestX-ray14 (``nih_cxr14``), COVIDx CXR
(``covidx``).

Each module holds its data set's reader (``detect``/``read``/``validate`` of the official layout), its synthetic
writer (``write_synthetic``), its synthetic counts and its ``LayoutSpec`` (hook ``ecamp_bench_layouts``), and is
listed in ``ecamp_bench.plugins.BUILTIN_PLUGINS``. They build on the layout toolkit (``ecamp_bench.data.layout_kit``)
and the synthetic world (``ecamp_bench.data.synth``), and import pandas, numpy, pydicom and PIL only inside the
functions that read or write, so registering them stays cheap.

``SYNTHETIC_COUNTS`` of each module is its number of cases per synthetic size (MIMIC-CXR and CheXpert count
studies; some studies add a lateral image). ``demo`` (what ``make demo`` uses) is sized for statistical power, not
looks: every task's test set holds at least 500 images (RSNA/SIIM test = 20 % of 2,600; CheXpert's valid = 15 % of
its patients' studies) and the 5 % training fraction at least 20 positives of every label. ``gpu-demo`` (``make
demo`` on a GPU) adds pre-training studies (448 px, for the ViT-S/16's 448-px SR target).
"""
