"""Adapters for the official on-disk layouts: MIMIC-CXR-JPG, CheXpert, RSNA, SIIM-ACR, NIH ChestX-ray14, COVIDx."""
