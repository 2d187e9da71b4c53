"""THE SIGNAL TEST: a linear probe on a backbone that learned something beats random-init on rsna-cls.

A tiny ViT is trained supervised (pneumonia yes/no) for a few hundred steps on the *train* split of the
synthetic RSNA data (never on the test split), exported with ``save_backbone_file`` to ``pretrained/``,
and evaluated through the real runner against ``random-init`` (same architecture, taken from the newest
pretrained file) with the linear protocol (``tiny`` preset) at 10% labels, averaged over two seeds.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ecamp_bench  # noqa: F401
from ecamp_bench.evaluation.features import ImageDataset
from ecamp_bench.evaluation.runner import RunRequest, prepare_run, run_evaluation
from ecamp_bench.models.backbone import build_backbone
from ecamp_bench.models.checkpoints import BackboneMeta, save_backbone_file
from ecamp_bench.paths import pretrained_dir
from ecamp_bench.plugins import get_catalog
from ecamp_bench.specs import BackboneSpec

KWARGS = {"depth": 3, "embed_dim": 64, "num_heads": 2, "patch_size": 8}
SIZE = 32  # input size of the backbone; the images are written at 64 px and resized by the harness
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rsna_root(tmp_path_factory):
    """A larger RSNA-only synthetic tree (240 patients at 64 px) so that 10% and the test set are not tiny."""
    from ecamp_bench.data.synth import rsna
    from ecamp_bench.data.synth.generate import LAYOUTS

    root = tmp_path_factory.mktemp("rsna-signal")
    rsna.write(root / LAYOUTS["rsna-pneumonia"][0], 240, 0, size=64, workers=1)
    return root


def train_supervised(train_table, targets, steps: int = 300) -> nn.Module:
    """A tiny ViT + linear head trained with BCE on ``train_table`` only; returns the ViT."""
    torch.manual_seed(0)
    spec = BackboneSpec(name="signal", arch="vit_tiny_patch16_224", input_size=SIZE, model_kwargs=KWARGS)
    backbone = build_backbone(spec, None)
    data = ImageDataset(train_table.samples, SIZE, spec.mean, spec.std)
    images = torch.stack([data[i][0] for i in range(len(data))])  # [N, 3, S, S], decoded once
    y = torch.as_tensor(targets, dtype=torch.float32)  # [N, 1]
    head = nn.Linear(backbone.num_features, 1)
    optim = torch.optim.AdamW([*backbone.parameters(), *head.parameters()], lr=1e-3, weight_decay=0.01)
    generator = torch.Generator().manual_seed(0)
    backbone.train()
    for _ in range(steps):
        batch = torch.randint(0, len(images), (32,), generator=generator)
        flip = images[batch].flip(-1) if bool(torch.rand(1, generator=generator) < 0.5) else images[batch]
        loss = nn.functional.binary_cross_entropy_with_logits(head(backbone.forward_global(flip)), y[batch])
        optim.zero_grad()
        loss.backward()
        optim.step()
    return backbone.encoder



def test_trained_backbone_beats_random_init(rsna_root):
    catalog = get_catalog()
    plan = prepare_run(RunRequest(task="rsna-cls", fraction=1.0, backbone="random-init", data_root=rsna_root), catalog)
    train = plan.split.train
    assert not set(train.ids) & set(plan.split.test.ids)
    vit = train_supervised(train, plan.impl.targets(plan.task, train))
    meta = BackboneMeta(arch="vit_tiny_patch16_224", model_kwargs={**KWARGS, "img_size": SIZE}, img_size=SIZE,
                        patch_size=8, embed_dim=64, depth=3, origin="signal test (supervised)")  # fmt: skip
    save_backbone_file(pretrained_dir() / "signal.safetensors", vit.state_dict(), meta)

    aucs = {}
    for backbone in ("file:" + str(pretrained_dir() / "signal.safetensors"), "random-init"):
        values = []
        for seed in (0, 1):
            request = RunRequest(task="rsna-cls", fraction=0.1, seed=seed, backbone=backbone, data_root=rsna_root,
                                 preset="tiny", overrides=["eval.n_bootstrap=200"])  # fmt: skip
            outcome = run_evaluation(request, catalog)
            assert outcome.record.ok and outcome.record.backbone.arch == "vit_tiny_patch16_224"
            values.append(outcome.record.metrics[0].value)
        aucs[backbone.split(":")[0]] = sum(values) / len(values)
    assert aucs["file"] > aucs["random-init"] + 0.1, aucs
    assert aucs["file"] > 0.7, aucs
