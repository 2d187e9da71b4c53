"""Task plugins (chexpert-cls, rsna-cls, siim-seg, rsna-det)."""
