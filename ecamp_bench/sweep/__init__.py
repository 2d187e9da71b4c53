"""Sweeps: expand a grid of (task, protocol, backbone, fraction, seed) cells, shard it, run it resumably."""
