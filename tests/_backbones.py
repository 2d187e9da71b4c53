"""A tiny ViT exported as a backbone file in pretrained/ (``random-init`` then copies its architecture), and the
arguments of a short fine-tuning run that several end-to-end tests make."""

from __future__ import annotations

from pathlib import Path

KWARGS = {"depth": 2, "embed_dim": 32, "num_heads": 2}


def export_tiny_backbone(name: str = "tiny-vit", *, size: int = 32, seed: int = 0, nan: bool = False) -> Path:
    """A 2-block, 32-dim ViT at ``size`` px, weights drawn with ``seed``, saved as ``pretrained/<name>.safetensors``.

    ``nan``: every weight of the first block's MLP is NaN (a diverged model: its outputs are NaN).
    """
    import torch

    from ecamp_bench.models.backbone import build_backbone
    from ecamp_bench.models.checkpoints import BackboneMeta, save_backbone_file
    from ecamp_bench.paths import pretrained_dir
    from ecamp_bench.specs import BackboneSpec

    torch.manual_seed(seed)
    vit = build_backbone(BackboneSpec(name="t", arch="vit_tiny_patch16_224", input_size=size, model_kwargs=KWARGS),
                         None).encoder
    meta = BackboneMeta(arch="vit_tiny_patch16_224", model_kwargs={**KWARGS, "img_size": size}, img_size=size,
                        embed_dim=32, depth=2, origin="test")
    if nan:
        with torch.no_grad():
            for param in vit.blocks[0].mlp.parameters():
                param.fill_(float("nan"))
    path = pretrained_dir() / f"{name}.safetensors"
    save_backbone_file(path, vit.state_dict(), meta)
    return path


def finetune_eval_args(data_root, *, preset: str = "tiny") -> list[str]:
    """``ecamp-bench eval`` arguments: protocol finetune on rsna-cls at 100 % of the labels from ``data_root``,
    4 steps evaluated every 2, no bootstrap (the default backbone; add ``--device`` etc. after them)."""
    return ["eval", "--task", "rsna-cls", "--protocol", "finetune", "--fraction", "1", "--data-root", str(data_root),
            "--preset", preset, "--set", "protocol.steps=4", "--set", "protocol.eval_every=2",
            "--set", "eval.n_bootstrap=0"]
