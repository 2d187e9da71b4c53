"""Each kind of extension is one new module and no edit of an existing file (tests/fixtures/one_file_plugins/):

- ``vindr_cxr_cls.py``: a data set (layout reader + synthetic writer) and its task;
- ``knn_probe.py``: a protocol (spec, params, ``run``);
- ``swin_backbone.py``: a backbone of another family (Swin).

They are loaded the way a user loads a module of their own (``--plugin MODULE``), never registered anywhere else.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _backbones import export_tiny_backbone

from ecamp_bench.cli import main
from ecamp_bench.paths import results_dir
from ecamp_bench.plugins import load_catalog

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "one_file_plugins"
MODULES = ("vindr_cxr_cls", "knn_probe", "swin_backbone")


@pytest.fixture
def one_file_plugins(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    return MODULES


def _records() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results_dir() / "runs").rglob("*.json"))]


def test_each_extension_is_one_module_that_passes_the_contract_kit(one_file_plugins, tmp_path):
    from ecamp_bench.testing import check_backbone, check_layout, check_task

    catalog = load_catalog(autoload=False, extra_plugins=one_file_plugins)
    assert not catalog.failures
    for kind, name, module in (("layout", "vindr-cxr", "vindr_cxr_cls"), ("task", "vindr-cls", "vindr_cxr_cls"),
                               ("protocol", "knn-probe", "knn_probe"), ("backbone", "swin-tiny-test", "swin_backbone")):
        assert Path(catalog.provider(kind, name).path) == FIXTURES / f"{module}.py"
    check_layout(catalog.layout("vindr-cxr"), tmp_path, n=20)
    check_task(catalog.task("vindr-cls"), tmp_path, catalog)
    layout = check_backbone(catalog.backbone("swin-tiny-test"), catalog)
    assert layout.out_channels == (24, 48, 96, 192)


def test_a_swin_loads_a_timm_checkpoint_strictly_at_its_own_size(one_file_plugins, tmp_path):
    import timm
    import torch

    from ecamp_bench.models.backbone import build_backbone
    from ecamp_bench.models.backbone_refs import resolve_backbone

    catalog = load_catalog(autoload=False, extra_plugins=one_file_plugins)
    spec = catalog.backbone("swin-tiny-test")
    source = timm.create_model(spec.arch, pretrained=False, num_classes=5, img_size=56, **spec.model_kwargs).eval()
    torch.save(source.state_dict(), tmp_path / "swin.pth")
    resolved = resolve_backbone(catalog, "swin-tiny-test", tmp_path / "swin.pth")
    backbone = build_backbone(resolved.spec, resolved.weights_path, strict=True).eval()
    x = torch.rand(2, 3, 56, 56)
    with torch.no_grad():
        torch.testing.assert_close(backbone.forward_global(x), source.forward_head(source.forward_features(x),
                                                                                    pre_logits=True))


@pytest.mark.slow
def test_vindr_joins_data_synth_and_evaluates_with_the_knn_protocol_and_the_swin(one_file_plugins, tmp_path, capsys):
    plugins = [arg for module in one_file_plugins for arg in ("--plugin", module)]
    out = tmp_path / "synthetic"
    assert main([*plugins, "data", "synth", "--size", "tiny", "--out", str(out), "--workers", "1"]) == 0
    marker = json.loads((out / "SYNTHETIC.json").read_text())
    assert marker["layouts"]["vindr-cxr"] == "vindr-cxr/1.0.0" and marker["counts"]["vindr-cxr"] == 60
    export_tiny_backbone()
    common = ["eval", "--task", "vindr-cls", "--fraction", "1", "--data-root", str(out), "--preset", "tiny",
              "--set", "eval.n_bootstrap=20"]
    assert main([*plugins, *common]) == 0
    assert main([*plugins, *common, "--protocol", "knn-probe"]) == 0
    assert main([*plugins, *common, "--backbone", "swin-tiny-test"]) == 0
    done = {(r["protocol"]["name"], r["backbone"]["name"], r["status"]) for r in _records()}
    assert done == {("linear", "file:tiny-vit", "ok"), ("knn-probe", "file:tiny-vit", "ok"),
                    ("linear", "swin-tiny-test", "ok")}
    assert {r["split"]["n_test"] for r in _records()} == {12}  # the official test split: every fifth image
    capsys.readouterr()
