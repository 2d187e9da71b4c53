"""The resolved eval config's sha256 (part of every run key) of the backbones whose records must keep their keys:
random-init, ``timm:ARCH --weights``, ``file:`` (our own exports) and a registered ``timm``-file backbone.

A refactor that moves code (a protocol's ``run``, a checkpoint adapter) must leave these values alone: a changed
sha256 means every existing record of that backbone is no longer found by ``eval``/``sweep`` (they rerun). The
expected values were measured on commit d287bcc, before the protocols' ``run`` and the release adapters moved
into their plugin modules; they are not computed from the code under test.
"""

from __future__ import annotations

import pytest

import ecamp_bench  # noqa: F401  (torchvision hook before timm)
from _backbones import export_tiny_backbone
from ecamp_bench.evaluation.runner import RunRequest, prepare_run
from ecamp_bench.plugins import load_catalog

# measured on d287bcc (this test run against that commit's code); random-init copies tiny-vit's architecture and
# has no adapter, so its config equals file:tiny-vit's
EXPECTED = {
    ("linear", "file:tiny-vit"): "91eb8a7efe81e84d18a488d0a12240b48e9357b5bb75817ddb2397a58c55cb21",
    ("linear", "random-init"): "91eb8a7efe81e84d18a488d0a12240b48e9357b5bb75817ddb2397a58c55cb21",
    ("linear", "timm:vit_tiny_patch16_224"): "0c2a6696f8f0ddf8928e06e327ac11e4e5e5bea63d7aca5c1a36b50cc211f70f",
    ("finetune", "file:tiny-vit"): "f8d5e6e8baa4b6bf01fe6435ad7d579cd78ab70cff5ff921389269ded7bb5fc4",
    ("frozen-seg", "file:tiny-vit"): "a4cb8adc8912eefd10f2a3b6e98e96d99508969c149aa12c4e8d762b523015ff",
}


def _timm_file(tmp_path):
    """A local timm ``vit_tiny_patch16_224`` state dict (random weights; only the config is compared)."""
    import timm
    import torch

    path = tmp_path / "vit_tiny.pth"
    torch.save(timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0).state_dict(), path)
    return path


@pytest.mark.parametrize(("protocol", "backbone"), list(EXPECTED))
def test_config_sha256_of_timm_file_and_random_init_backbones_is_unchanged(protocol, backbone, synthetic_tiny,
                                                                           tmp_path):
    exported = export_tiny_backbone()  # file:tiny-vit, and the architecture random-init copies
    ref = f"file:{exported}" if backbone == "file:tiny-vit" else backbone
    weights = _timm_file(tmp_path) if backbone.startswith("timm:") else None
    task = "siim-seg" if protocol.endswith("-seg") else "rsna-cls"
    request = RunRequest(task=task, fraction=0.1, seed=0, protocol=protocol, backbone=ref, weights=weights,
                         data_root=synthetic_tiny, preset="tiny")
    plan = prepare_run(request, load_catalog())
    assert plan.config_sha256 == EXPECTED[(protocol, backbone)], (protocol, backbone, plan.config_sha256)


# sha256 of the backbone part of the hashed config (``eval_config.BACKBONE_CONFIG_FIELDS``) of the registered
# backbones that use a shared adapter (or none), measured on d287bcc; the release backbones
# (published.py, resnet50.py) are left out: moving their adapters into those modules changed their values.
BACKBONE_PART = {
    "biomedclip": "9123e9e05f284c5fcb9d1d86450b4164b73f3b5683d309e339e46cbdbcd23bf4",
    "chexzero": "9e25a909764c6a79bce92a16c196f236651a1c27009329d7fac3e1a00f4e29cb",
    "imagenet-r50": "4f855123e91e1029f963bbeec61ca12875aa0ab85affa87d1e88e125f66a09dc",
    "imagenet-swin-t": "12d3adfe7ad5af537537eb2d549799dd1c112ea6acb15c0164dbb14995249d58",
    "imagenet-vit-b16": "92d05cb15688236c6e0b68571ee61e8db111b5963826254f0c54b0578043a882",
    "rad-dino": "9e7815e66aa458b5ffe5645889a057ba4de3c4724e2ad896734f9274c9457de0",
    "random-init": "0ad958d0553ba708138b89faf811c9d78df388eceed9f9d78f31b70bd0b8f3fd",
    "random-r50": "aba0b943d1e89bd5aa5fe8430a793abfc1e2ef88ea0d231cf6f6debf3a846b50",
}


def _backbone_config_fields() -> tuple[str, ...]:
    """The spec fields the eval config hashes."""
    from ecamp_bench.evaluation.eval_config import BACKBONE_CONFIG_FIELDS

    return tuple(BACKBONE_CONFIG_FIELDS)


@pytest.mark.parametrize("name", list(BACKBONE_PART))
def test_hashed_backbone_config_of_shared_adapter_backbones_is_unchanged(name):
    from ecamp_bench.config import config_sha256
    from ecamp_bench.specs import backbone_to_data

    spec = load_catalog().backbone(name)
    hashed = config_sha256(backbone_to_data(spec, _backbone_config_fields()))
    assert hashed == BACKBONE_PART[name], spec.adapt_state_dict
