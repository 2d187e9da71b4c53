"""Glue to the OpenMMLab stack: the Backbone in mmdet/mmseg registries and configs built in Python."""
