"""Datasets: the layout toolkit, image loading, splits and the synthetic generator (each data set's reader and
synthetic writer are a plugin: ``plugins/layouts/<data set>.py``)."""
