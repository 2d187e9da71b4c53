"""Map this baseline's checkpoint onto timm ViT names (called as ``adapt_state_dict(state_dict, vit)``)."""

from __future__ import annotations

from ecamp_bench.models.importers import log_dropped, resample_pos_embed, strip_prefix


def adapt_state_dict(state_dict, vit):
    """Keep ``encoder.*`` with the prefix stripped, drop the rest (the ``projector.*`` head), fit ``pos_embed``."""
    kept, dropped = strip_prefix(state_dict, "encoder.")
    log_dropped("example-vit-tiny", dropped)
    return resample_pos_embed(kept, vit)
