"""Protocol plugins (linear, finetune, frozen-seg, frozen-det, ...)."""
