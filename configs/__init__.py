"""The named configs shipped with ecamp-bench (``pretrain/``, ``protocols/``, ``reference/`` YAML files).

Installed as the package ``ecamp_bench_configs`` (see pyproject.toml) so that a wheel carries them; read
through :func:`ecamp_bench.config.shipped_configs`. This folder holds no code.
"""
