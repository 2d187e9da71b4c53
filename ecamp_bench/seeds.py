"""The range every seed must lie in, checked where a seed enters (CLI options, configs, run requests).

Seeds feed numpy's and torch's generators, mmengine's ``set_random_seed`` and DataLoader workers; numpy's legacy
seeding (used by mmengine and scikit-learn) accepts only ``0 <= seed < 2**32``, so that is the range for every
task and command: a seed outside it is refused at once with one line, before anything is written.
"""

from __future__ import annotations

from ecamp_bench.errors import ConfigError

SEED_LIMIT = 2**32  # seeds are 0 .. 2**32 - 1


def check_seed(seed: object, option: str = "--seed") -> int:
    """``seed`` as an int when it is an integer in ``[0, 2**32)``; otherwise :class:`ConfigError` naming ``option``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise ConfigError(f"{option} {seed!r}: a seed must be an integer from 0 to {SEED_LIMIT - 1} (2**32 - 1)")
    return int(seed)


__all__ = ["SEED_LIMIT", "check_seed"]
