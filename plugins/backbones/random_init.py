"""Backbones ``random-init`` and ``random-r50``: random weights (seeded by the run seed), the "no pre-training" rows.

``random-r50`` is a ResNet-50 (ImageNet mean/std, 224 px), the random row of the MGCA lineage's tables.

Its architecture follows the newest backbone file in ``pretrained/`` when there is one (see
``ecamp_bench.models.backbone_refs``), so it is compared against the same network; the spec below (a
ViT-Small/16 at 224 px, mean/std 0.5) is the fallback. The paper's ViT-B/16:
``--set backbone.arch=vit_base_patch16_224 --set 'backbone.model_kwargs={}' --set backbone.input_size=224``.
``file:PATH`` and ``timm:ARCH`` backbones are resolved by the runner from the argument itself (they need
no registration).
"""

from __future__ import annotations

from ecamp_bench.api import BackboneSpec, hookimpl


@hookimpl
def ecamp_bench_backbones() -> list[BackboneSpec]:
    """The random-initialisation baselines (same architecture as the pretrained file; ResNet-50)."""
    return [
        BackboneSpec(
            name="random-r50",
            arch="resnet50",
            weights=None,
            mean=(0.485, 0.456, 0.406),
            std=(0.229, 0.224, 0.225),
            input_size=224,
            global_pool="avg",
            description="random initialisation of a ResNet-50 (the 'Random init (R50)' row of MGCA's tables)",
        ),
        BackboneSpec(
            name="random-init",
            arch="vit_small_patch16_224",
            weights=None,
            input_size=224,
            global_pool="avg",
            description="random initialisation (architecture of the newest pretrained/ file, else ViT-S/16)",
        )
    ]
