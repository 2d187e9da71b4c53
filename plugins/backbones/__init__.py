"""Backbone plugins (random-init, timm, file:PATH, and importers of published checkpoints)."""
