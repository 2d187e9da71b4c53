"""Measurement helpers shared by the throughput benchmarks; torch only (no ecamp_bench import), so that the
authors'-code worker (``authors_step.py``), which runs in the authors' own environment, can use them too."""

from __future__ import annotations

import re
import resource
import time
from pathlib import Path

import torch


class PeakMemory:
    """Peak memory of one timed block in GiB: CUDA's max allocated on a GPU; on a CPU the process's peak
    resident set size (Linux: the high-water mark is reset before each block through /proc/self/clear_refs)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.resettable = device.type == "cuda" or self._reset_rss()

    @staticmethod
    def _reset_rss() -> bool:
        try:
            Path("/proc/self/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def start(self) -> None:
        """Reset the high-water mark (after a synchronisation on CUDA)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.resettable:
            self._reset_rss()

    def peak_gib(self) -> float:
        """The high-water mark since :meth:`start`."""
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**30
        if self.resettable:
            match = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
            if match:
                return int(match.group(1)) / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_tflops(device: torch.device, dtype: torch.dtype, size: int | None = None, reps: int = 20) -> float:
    """The measured dense matrix-product rate in TFLOP/s: the median of ``reps`` products of two random
    ``size``×``size`` matrices (8192 on CUDA, 1024 on CPU), after a warm-up; 2·size³ FLOPs each. Random data,
    never zeros (a product of zeros can run faster than real data)."""
    size = size or (8192 if device.type == "cuda" else 1024)
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, dtype=dtype, generator=gen)
    b = torch.randn(size, size, device=device, dtype=dtype, generator=gen)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(reps):
        synchronize(device)
        started = time.perf_counter()
        a @ b
        synchronize(device)
        times.append(time.perf_counter() - started)
    times.sort()
    return 2 * size**3 / times[len(times) // 2] / 1e12
