"""The device-agnostic ECAMP pre-training loop: optimisation, checkpoints, resume, DDP, export."""
