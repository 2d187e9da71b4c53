"""Time the authors' own ECAMP pre-training step (their ``Pre-training/`` code, unchanged) in its own process.

    python benchmarks/authors_step.py --repo /tmp/ECAMP --device cpu --batch-size 2   # then type: step / flops / quit

``benchmarks/pretrain_throughput.py --authors-repo PATH`` starts this script (with ``--authors-python``, e.g. a
throw-away venv holding the authors' pinned timm 0.4.12 and transformers 4.42.4) and drives it over stdin, so
its steps interleave with ours. Commands, one per line: ``step`` (one timed optimizer step), ``flops`` (one
step under ``FlopCounterMode``, counting), ``quit``. Each answer is one stdout line ``@@authors {json}``; the
first announces the model (parameters, versions). Everything else the authors' code prints is passed through.

What runs is theirs: ``module.model_ecamp.ecamp()`` (ViT-B/16 at 224 → SR 448, their 6-layer BERT with the
context fusion layer, MIM + SR + MLM losses, MLM logits and loss at all ``--text-length`` positions) and their
``util.misc.NativeScalerWithGradNormCount`` (GradScaler, unscale, gradient norm, step) on ``torch.optim.AdamW``
with their optimizer settings (betas 0.9/0.95, weight decay 0.05 except 1-D parameters and biases). One step
here = forward + backward + optimizer update of one batch, like the benchmark's own step (their loop updates
every ``accum_iter`` batches; the update is a small share of the step). Inputs are random images (their
``Resize(224)`` of the 448 px batch included) and random token ids with their fixed padding length.

Runtime shims only, nothing in their checkout is edited: a stub ``ipdb`` module, ``torch._six`` (removed from
torch 2, imported by timm 0.4.12 and their ``util/misc.py``), ecamp-bench's torchvision import guard (a CUDA
torchvision next to a CPU torch), and on a CPU device ``Tensor.cuda`` → ``Tensor.to(device)`` (their forward
moves its inputs and masks to the GPU with that method), and ``np.float`` (removed in NumPy 1.24, used by
their ``util/pos_embed.py``). Autocast: ``torch.autocast`` with ``--amp`` (they run fp16 under
``torch.cuda.amp.autocast`` with a GradScaler).
"""

from __future__ import annotations

import argparse
import collections.abc
import contextlib
import importlib.util
import json
import math
import sys
import time
import types
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import PeakMemory, synchronize  # noqa: E402

HERE = Path(__file__).resolve().parent


def pretraining_dir(repo: Path) -> Path:
    """The authors' ``Pre-training`` folder inside ``repo`` (their repository root, its ``ECAMP/`` folder, or the
    folder itself)."""
    for candidate in (repo, repo / "Pre-training", repo / "ECAMP" / "Pre-training"):
        if (candidate / "module" / "model_ecamp.py").is_file():
            return candidate
    raise SystemExit(f"{repo}: no Pre-training/module/model_ecamp.py below it (a checkout of ToniChopp/ECAMP?)")


def install_shims(device: torch.device) -> None:
    """The runtime shims of the module docstring."""
    stub = types.ModuleType("ipdb")
    stub.set_trace = lambda *a, **k: None
    sys.modules.setdefault("ipdb", stub)
    try:
        importlib.import_module("torch._six")
    except ImportError:
        six = types.ModuleType("torch._six")
        six.inf, six.container_abcs, six.string_classes, six.int_classes = math.inf, collections.abc, (str, bytes), int
        sys.modules["torch._six"] = six
        torch._six = six
    import numpy as np

    if "float" not in np.__dict__:  # their pos_embed.py uses np.float (removed in NumPy 1.24)
        np.float = float
    guard_file = HERE.parent / "ecamp_bench" / "_torchvision_compat.py"
    if guard_file.is_file():
        spec = importlib.util.spec_from_file_location("_ecamp_torchvision_guard", guard_file)
        guard = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(guard)
        guard.install()
    if device.type != "cuda":
        torch.Tensor.cuda = lambda self, *args, **kwargs: self.to(device)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Their optimizer groups (timm's ``add_weight_decay``): no decay on 1-D parameters and biases."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def main() -> None:
    """Build their model, then answer ``step`` / ``flops`` / ``quit`` on stdin."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--amp", default="off", choices=["off", "bf16", "fp16"])
    parser.add_argument("--text-length", type=int, default=256, help="their max_caption_length (padding)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--encoder", default=None, help="JSON overrides of their ViT sizes (embed_dim, depth, "
                        "num_heads, decoder_embed_dim, decoder_depth, decoder_num_heads) for small CPU runs; "
                        "default: their ecamp() (ViT-B/16)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    install_shims(device)
    sys.path.insert(0, str(pretraining_dir(args.repo.resolve())))
    import module.model_ecamp as model_ecamp  # their code
    import util.misc as misc  # their GradScaler wrapper

    torch.manual_seed(0)
    if args.encoder:
        sizes = json.loads(args.encoder)
        model = model_ecamp.ECAMP(patch_size=16, in_chans=3, mlp_ratio=4,
                                  norm_layer=partial(nn.LayerNorm, eps=1e-6), **sizes)
    else:
        model = model_ecamp.ecamp()
    model = model.to(device).train()
    optimizer = torch.optim.AdamW(param_groups(model, 0.05), lr=1.5e-4, betas=(0.9, 0.95))
    scaler = misc.NativeScalerWithGradNormCount()
    if device.type != "cuda" or args.amp != "fp16":
        scaler._scaler = torch.amp.GradScaler(device.type, enabled=args.amp == "fp16")
    vocab = model.bert_encoder.model.config.vocab_size
    n, length = args.batch_size, args.text_length
    gen = torch.Generator().manual_seed(1)
    lengths = torch.randint(length // 4, length // 2, (n,), generator=gen)  # their reports, then padding
    attention = (torch.arange(length)[None, :] < lengths[:, None]).long()
    ids = torch.randint(5, vocab, (n, length), generator=gen) * attention
    batch = {"image": torch.randn(n, 3, 448, 448, generator=gen), "labels": ids, "ids": ids.clone(),
             "attention_mask": attention, "type_ids": torch.zeros(n, length, dtype=torch.long),
             "weights": torch.ones(n, length), "column": torch.randint(0, 3, (n,), generator=gen),
             "row": torch.randint(0, 3, (n,), generator=gen)}
    memory = PeakMemory(device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp)

    def step(counter: FlopCounterMode | None = None) -> dict:
        memory.start()
        started = time.perf_counter()
        with counter if counter is not None else contextlib.nullcontext():
            with torch.autocast(device_type=device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                mim, res, mlm = model(batch)
                loss = mim + res + mlm
                values = [mim.item(), res.item(), mlm.item()]  # their loop logs all three every step
                scaler(loss, optimizer, parameters=model.parameters(), update_grad=True)
            optimizer.zero_grad()
        synchronize(device)
        return {"seconds": time.perf_counter() - started, "peak_gib": memory.peak_gib(), "losses": values}

    def answer(payload: dict) -> None:
        print("@@authors " + json.dumps(payload), flush=True)

    import timm
    import transformers

    answer({"params": sum(p.numel() for p in model.parameters()), "text_length": length, "batch_size": n,
            "versions": {"torch": torch.__version__, "timm": timm.__version__,
                         "transformers": transformers.__version__}, "amp": args.amp, "device": str(device)})
    for line in sys.stdin:
        command = line.strip()
        if command == "step":
            answer(step())
        elif command == "flops":
            counter = FlopCounterMode(display=False)
            result = step(counter)
            answer({**result, "flops": counter.get_total_flops()})
        elif command == "quit":
            break


if __name__ == "__main__":
    main()
