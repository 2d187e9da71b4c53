"""Datasets: official layouts, image loading, splits and the synthetic generator."""
