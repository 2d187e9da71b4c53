"""Dense training on CPU is a function of its inputs, not of the machine's thread count (no OpenMMLab needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import torch

from ecamp_bench.mm.runtime import DENSE_CPU_THREADS, reproducible_kernels

TRAIN = """
import hashlib, sys, torch
from types import SimpleNamespace
from ecamp_bench.mm.runtime import reproducible_kernels

@reproducible_kernels
def train(ctx):
    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(32 * 32 * 32, 2))
    optim = torch.optim.AdamW(net.parameters(), 1e-3)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 2, (8,))
    for _ in range(5):
        optim.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        optim.step()
    return hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in net.parameters())).hexdigest()

torch.set_num_threads(int(sys.argv[1]))
print(train(SimpleNamespace(device=torch.device("cpu"))))
"""


def _weights_digest(threads: int) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-c", TRAIN, str(threads)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_a_conv_training_gives_the_same_weights_with_1_2_and_4_process_threads():
    digests = {threads: _weights_digest(threads) for threads in (1, 2, 4)}
    assert len(set(digests.values())) == 1, digests


def test_the_thread_count_is_pinned_on_cpu_and_restored_after():
    before = torch.get_num_threads()
    seen = reproducible_kernels(lambda ctx: torch.get_num_threads())(SimpleNamespace(device=torch.device("cpu")))
    assert seen == DENSE_CPU_THREADS and torch.get_num_threads() == before
