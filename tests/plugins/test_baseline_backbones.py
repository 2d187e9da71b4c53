"""The 2024-2026 baselines, one plugin file each: a file written in the source project's own format loads strictly,
and our backbone's global feature equals the source architecture's on the same input (tiny configs, random weights:
the key mapping and the architecture are what is tested, not the released numbers)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ecamp_bench.models.backbone import build_backbone
from ecamp_bench.plugins import load_catalog


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(autoload=False)


def _randomise(module: torch.nn.Module, seed: int = 0) -> None:
    """Draw every parameter (layer scales, biases, norms included) so that a wrong mapping cannot match."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.2)


# The released microsoft/rad-dino model.safetensors spells the attention keys as transformers 4 did; transformers 5
# saves them as q_proj/k_proj/v_proj/o_proj. Both layouts are read.
_RELEASE_NAMES = {".attention.q_proj.": ".attention.attention.query.",
                  ".attention.k_proj.": ".attention.attention.key.",
                  ".attention.v_proj.": ".attention.attention.value.",
                  ".attention.o_proj.": ".attention.output.dense."}


def _release_layout(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        for new, old in _RELEASE_NAMES.items():
            key = key.replace(new, old)
        out[key] = value
    return out


@pytest.mark.parametrize("layout", ["transformers", "release"])
def test_rad_dino_matches_transformers_dinov2(catalog, tmp_path, layout):
    transformers = pytest.importorskip("transformers")
    from safetensors.torch import save_file

    config = transformers.Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                       intermediate_size=128, image_size=56, patch_size=14)
    source = transformers.Dinov2Model(config).eval()
    _randomise(source)
    path = tmp_path / "rad-dino.safetensors"
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    if layout == "release":
        state = _release_layout(state)
        assert "encoder.layer.0.attention.attention.query.weight" in state
    save_file(state, str(path))  # the release's format: a Dinov2Model state dict in safetensors
    spec = replace(catalog.backbone("rad-dino"), input_size=56, model_kwargs={"embed_dim": 32, "depth": 2,
                                                                              "num_heads": 2})
    ours = build_backbone(spec, path, strict=True).eval()
    x = torch.rand(2, 3, 56, 56)
    with torch.no_grad():
        torch.testing.assert_close(ours.forward_global(x), source(pixel_values=x).pooler_output, atol=1e-5, rtol=1e-4)


def test_biomedclip_matches_open_clip_timm_tower(catalog, tmp_path):
    pytest.importorskip("open_clip")
    from open_clip.timm_model import TimmModel

    # BiomedCLIP's vision_cfg: timm_model_name vit_base_patch16_224, timm_pool "", timm_proj "linear"; the tiny
    # test_vit has the same key layout (patch 16, CLS token, blocks, final norm) at a fraction of the size.
    tower = TimmModel("test_vit", embed_dim=16, image_size=64, pool="", proj="linear").eval()
    _randomise(tower)
    state = {f"visual.{k}": v for k, v in tower.state_dict().items()}
    state.update({"text.transformer.embeddings.word_embeddings.weight": torch.zeros(4, 8),
                  "logit_scale": torch.ones(())})
    path = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(state, path)  # open_clip's checkpoint format: the whole CLIP model's state dict
    trunk = tower.trunk
    kwargs = {"embed_dim": trunk.embed_dim, "depth": len(trunk.blocks), "num_heads": trunk.blocks[0].attn.num_heads,
              "mlp_ratio": trunk.blocks[0].mlp.fc1.out_features / trunk.embed_dim}
    spec = replace(catalog.backbone("biomedclip"), input_size=64, model_kwargs=kwargs)
    ours = build_backbone(spec, path, strict=True).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours.forward_global(x), tower.trunk(x), atol=1e-5, rtol=1e-4)


def test_chexzero_matches_open_clip_openai_vit_b32(catalog, tmp_path):
    pytest.importorskip("open_clip")
    from open_clip.transformer import QuickGELU, VisionTransformer

    visual = VisionTransformer(image_size=64, patch_size=32, width=32, layers=2, heads=2, mlp_ratio=4.0,
                               output_dim=16, act_layer=QuickGELU).eval()
    _randomise(visual)
    state = {f"visual.{k}": v for k, v in visual.state_dict().items()}
    state.update({"token_embedding.weight": torch.zeros(4, 8), "logit_scale": torch.ones(())})
    path = tmp_path / "best_64_5e-05_original_22000_0.864.pt"
    torch.save(state, path)  # CheXzero saves the whole CLIP model's state_dict
    spec = replace(catalog.backbone("chexzero"), input_size=64,
                   model_kwargs={"embed_dim": 32, "depth": 2, "num_heads": 2})
    ours = build_backbone(spec, path, strict=True).eval()
    visual.proj = None  # the image embedding before the projection into the joint space
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours.forward_global(x), visual(x), atol=1e-5, rtol=1e-4)


def test_swin_matches_timm_and_taps_its_stages(catalog, tmp_path):
    import timm

    kwargs = {"embed_dim": 24, "depths": (1, 1, 1, 1), "num_heads": (1, 1, 1, 1)}
    source = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, num_classes=7, img_size=56,
                               **kwargs).eval()
    _randomise(source)
    path = tmp_path / "swin.pth"
    torch.save(source.state_dict(), path)  # timm's format, classifier included
    spec = replace(catalog.backbone("imagenet-swin-t"), input_size=56, model_kwargs=kwargs)
    ours = build_backbone(spec, path, strict=True).eval()
    x = torch.rand(2, 3, 56, 56)
    with torch.no_grad():
        torch.testing.assert_close(ours.forward_global(x), source.forward_head(source.forward_features(x),
                                                                               pre_logits=True))
        assert [m.shape[1:] for m in ours.forward_multiscale(x)] == [(24, 14, 14), (48, 7, 7), (96, 4, 4), (192, 2, 2)]


def test_a_wrong_checkpoint_is_refused_naming_the_layout(catalog, tmp_path):
    from ecamp_bench.errors import CheckpointError

    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    spec = replace(catalog.backbone("chexzero"), input_size=64, model_kwargs={"embed_dim": 32, "depth": 2,
                                                                              "num_heads": 2})
    with pytest.raises(CheckpointError, match="other.pth: weights do not match the model .missing keys: blocks"):
        build_backbone(spec, path)
