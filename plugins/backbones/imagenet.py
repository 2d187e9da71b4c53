"""The ImageNet initialisations every table reports, from a **local timm weight file** (nothing is downloaded).

- ``imagenet-r50`` — ``resnet50.tv_in1k.safetensors``: timm's copy of torchvision's ImageNet-1k ResNet-50
  (``timm/resnet50.tv_in1k`` on the Hugging Face hub, its ``model.safetensors`` saved under this name). Any
  timm- or torchvision-named ResNet-50 file loads too (``--weights resnet50-0676ba61.pth``: torchvision's
  ``IMAGENET1K_V1``, which MGCA's "ImageNet init" row used through ``models.resnet50(pretrained=True)``);
  the classifier ``fc.*`` is dropped. ImageNet mean/std, 224 px, average pooling.
- ``imagenet-vit-b16`` — ``vit_base_patch16_224.augreg2_in21k_ft_in1k.safetensors``: timm's ViT-B/16
  (``timm/vit_base_patch16_224.augreg2_in21k_ft_in1k``), classifier ``head.*`` dropped, ``pos_embed``
  resampled if the evaluation grid differs. Mean/std 0.5 (timm's ``pretrained_cfg`` of that tag), CLS-token
  pooling (the pooling it was trained with), 224 px.

Both go through :func:`ecamp_bench.models.importers.adapt_timm`.
"""

from __future__ import annotations

from ecamp_bench.api import BackboneSpec, hookimpl

_ADAPT = "ecamp_bench.models.importers:adapt_timm"


@hookimpl
def ecamp_bench_backbones() -> list[BackboneSpec]:
    """ImageNet-supervised ResNet-50 and ViT-B/16."""
    return [
        BackboneSpec(
            name="imagenet-r50", arch="resnet50", weights="resnet50.tv_in1k.safetensors", adapt_state_dict=_ADAPT,
            mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), input_size=224, global_pool="avg",
            citation="He et al., ResNet, CVPR 2016; torchvision/timm ImageNet-1k weights",
            description="ImageNet-1k ResNet-50 (timm resnet50.tv_in1k = torchvision V1)",
        ),
        BackboneSpec(
            name="imagenet-vit-b16", arch="vit_base_patch16_224",
            weights="vit_base_patch16_224.augreg2_in21k_ft_in1k.safetensors", adapt_state_dict=_ADAPT,
            mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), input_size=224, global_pool="token",
            citation="Dosovitskiy et al., ViT, ICLR 2021; Steiner et al., AugReg, TMLR 2022 (timm weights)",
            description="ImageNet-21k → 1k ViT-B/16 (timm augreg2)",
        ),
    ]
