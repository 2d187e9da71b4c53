"""An example ecamp-bench plugin: the ``example-vit-tiny`` backbone and the ``example-rsna-ap`` task."""
