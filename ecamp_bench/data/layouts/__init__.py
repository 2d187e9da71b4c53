"""Adapters for the official on-disk layouts of MIMIC-CXR-JPG, CheXpert, RSNA Pneumonia and SIIM-ACR."""
