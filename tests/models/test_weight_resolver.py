"""The weight resolver: every branch of its precedence either uses the given --weights or refuses with a reason."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from _backbones import KWARGS, export_tiny_backbone

from ecamp_bench.errors import CheckpointError, EcampBenchError, UnknownNameError
from ecamp_bench.models.backbone_refs import canonical_backbone_name, resolve_backbone, timm_arch
from ecamp_bench.plugins import load_catalog


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def catalog():
    return load_catalog(autoload=False)


def timm_pth(tmp_path: Path, name: str = "vit.pth") -> Path:
    """A timm-named ViT checkpoint with its classifier, as a user's own training would save it."""
    import timm
    import torch

    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=3, img_size=32, **KWARGS)
    path = tmp_path / name
    torch.save(model.state_dict(), path)
    return path


def test_file_backbone_with_other_weights_is_refused_naming_both(catalog, tmp_path):
    a = export_tiny_backbone("a")
    b = export_tiny_backbone("b", seed=1)
    with pytest.raises(EcampBenchError,
                       match=r"names its own weights, so --weights .*b\.safetensors would not be used"):
        resolve_backbone(catalog, f"file:{a}", b)
    same = resolve_backbone(catalog, f"file:{a}", a)  # the same file twice is no conflict
    assert same.weights_path == a and same.weights_sha256 == sha256(a)


def test_weights_without_backbone_use_that_file_not_the_newest(catalog, tmp_path):
    b = export_tiny_backbone("b", seed=1)
    export_tiny_backbone("newest", seed=2)  # written later: the old resolver took this one and dropped --weights
    resolved = resolve_backbone(catalog, None, b)
    assert resolved.weights_path == b and resolved.weights_sha256 == sha256(b) and resolved.spec.name == "file:b"


def test_a_missing_weights_file_is_named_as_missing_whatever_the_backbone(catalog, tmp_path):
    a = export_tiny_backbone("a")
    for ref in (None, f"file:{a}", "random-init", "timm:vit_tiny_patch16_224"):
        with pytest.raises(CheckpointError, match=r"--weights .*nope\.pth: weight file not found"):
            resolve_backbone(catalog, ref, tmp_path / "nope.pth")


def test_weights_without_backbone_must_say_their_architecture(catalog, tmp_path):
    export_tiny_backbone("newest")
    with pytest.raises(CheckpointError, match="does not say which network it fills; name one with --backbone"):
        resolve_backbone(catalog, None, timm_pth(tmp_path))


def test_timm_with_weights_uses_them_and_has_one_spelling(catalog, tmp_path):
    pth = timm_pth(tmp_path)
    for spelling in ("timm:vit_tiny_patch16_224", "timm:vit-tiny-patch16-224"):
        resolved = resolve_backbone(catalog, spelling, pth)
        assert resolved.spec.name == "timm:vit-tiny-patch16-224" and resolved.spec.arch == "vit_tiny_patch16_224"
        assert resolved.weights_path == pth and resolved.weights_sha256 == sha256(pth)
    assert canonical_backbone_name("timm:vit_tiny_patch16_224") == "timm:vit-tiny-patch16-224"
    with pytest.raises(CheckpointError, match="needs --weights PATH"):
        resolve_backbone(catalog, "timm:vit_tiny_patch16_224")
    with pytest.raises(CheckpointError, match="Did you mean timm:vit_tiny_patch16_224"):
        timm_arch("vit_tiny_patch16_24")


def test_random_init_with_weights_is_refused(catalog, tmp_path):
    with pytest.raises(EcampBenchError, match="random-init has no weights"):
        resolve_backbone(catalog, "random-init", timm_pth(tmp_path))


def test_registered_backbone_with_weights_uses_them(catalog, tmp_path):
    pth = tmp_path / "MGCA-resnet50.ckpt"
    import torch

    torch.save({"state_dict": {"x": torch.zeros(1)}}, pth)
    resolved = resolve_backbone(catalog, "mgca-r50", pth)
    assert resolved.weights_path == pth and resolved.weights_sha256 == sha256(pth) and resolved.spec.weights == str(pth)
    with pytest.raises(UnknownNameError, match="Did you mean 'mgca-r50'"):
        resolve_backbone(catalog, "mgca-r5", pth)


def test_registered_backbone_without_weights_resolves_its_own_or_says_it_is_missing(catalog):
    with pytest.raises(CheckpointError, match="not found"):
        resolve_backbone(catalog, "mgca-r50")


def test_no_backbone_no_weights_takes_the_newest_file(catalog):
    with pytest.raises(EcampBenchError, match="run `ecamp-bench pretrain`"):
        resolve_backbone(catalog, None)
    path = export_tiny_backbone("only")
    resolved = resolve_backbone(catalog, None)
    assert resolved.weights_path == path and resolved.rule == "newest" and resolved.weights_sha256 == sha256(path)


def test_a_text_file_or_a_pth_under_file_is_refused_before_a_run(catalog, tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights\n")
    with pytest.raises(CheckpointError, match="not a torch checkpoint"):
        resolve_backbone(catalog, "timm:vit_tiny_patch16_224", text)
    with pytest.raises(CheckpointError, match="use --backbone timm:ARCH --weights"):
        resolve_backbone(catalog, f"file:{timm_pth(tmp_path)}")
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x00" * 16)
    with pytest.raises(CheckpointError, match="broken.safetensors"):
        resolve_backbone(catalog, None, bad)


@pytest.mark.slow
def test_eval_records_the_sha256_of_the_given_weights(synthetic_tiny, tmp_path, capsys):
    """``eval --backbone timm:ARCH --weights B`` and ``eval --weights B``: the record's weights_sha256 is B's."""
    from ecamp_bench.cli import main
    from ecamp_bench.paths import results_dir

    export_tiny_backbone("newest")
    b = export_tiny_backbone("mine", seed=3)
    base = ["eval", "--task", "rsna-cls", "--fraction", "1", "--data-root", str(synthetic_tiny), "--preset", "tiny",
            "--set", "eval.n_bootstrap=20"]
    assert main([*base, "--weights", str(b)]) == 0
    pth = timm_pth(tmp_path)
    timm_set = ["--set", "backbone.input_size=32", "--set", "backbone.model_kwargs=" + json.dumps(KWARGS)]
    assert main([*base, "--backbone", "timm:vit_tiny_patch16_224", "--weights", str(pth), *timm_set]) == 0
    records = [json.loads(p.read_text()) for p in (results_dir() / "runs").rglob("*.json")]
    by_name = {r["backbone"]["name"]: r["backbone"]["weights_sha256"] for r in records}
    assert by_name == {"file:mine": sha256(b), "timm:vit-tiny-patch16-224": sha256(pth)}
    # the same mistakes through the CLI: refused, exit 2 or 1, and no record written
    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    assert main([*base, "--backbone", "timm:vit_tiny_patch16_224", "--weights", str(text), "--force"]) != 0
    assert main([*base, "--backbone", f"file:{b}", "--weights", str(pth)]) != 0
    assert main([*base, "--weights", str(b), "--device", "cuda", "--force"]) != 0 or _has_cuda()
    wrong = ["--set", "backbone.input_size=32", "--set", "backbone.model_kwargs=" + json.dumps({**KWARGS, "depth": 3})]
    assert main([*base, "--backbone", "timm:vit_tiny_patch16_224", "--weights", str(pth), *wrong, "--force"]) != 0
    assert "weights do not match backbone 'timm:vit-tiny-patch16-224'" in capsys.readouterr().err.replace("\n", "")
    assert len(list((results_dir() / "runs").rglob("*.json"))) == 2
    assert not list((results_dir() / "runs").rglob(".work-*"))  # every run's scratch folder is gone
    capsys.readouterr()


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.slow
def test_sweep_takes_weights_for_its_timm_backbones_and_refuses_unused_weights(synthetic_tiny, tmp_path, capsys):
    from ecamp_bench.cli import main

    pth = timm_pth(tmp_path)
    common = ["sweep", "--tasks", "rsna-cls", "--fractions", "1", "--seeds", "0", "--data-root", str(synthetic_tiny),
              "--dry-run"]
    assert main([*common, "--backbones", "random-init,timm:vit_tiny_patch16_224", "--weights", str(pth)]) == 0
    out = capsys.readouterr().out
    assert "timm:vit-tiny-patch16-224" in out and "pending" in out
    assert main([*common, "--backbones", "random-init", "--weights", str(pth)]) != 0
    assert "would not be used" in capsys.readouterr().err
    assert main([*common, "--backbones", "timm:vit_tiny_patch16_224"]) != 0  # no file: refused before any run
    assert "needs --weights" in capsys.readouterr().err


def test_the_spec_codec_round_trips_and_names_unknown_keys():
    from ecamp_bench.errors import ConfigError
    from ecamp_bench.specs import BackboneSpec, backbone_from_data, backbone_to_data

    spec = BackboneSpec(name="x", arch="vit_tiny_patch16_224", feature_indices=(0, 1, 1, 1), model_kwargs={"depth": 2})
    data = backbone_to_data(spec)
    assert json.loads(json.dumps(data)) == data and backbone_from_data(data) == spec
    assert backbone_from_data({"input_size": 32, "mean": [0.1, 0.2, 0.3]}, base=spec).mean == (0.1, 0.2, 0.3)
    with pytest.raises(ConfigError, match="unknown backbone spec keys \\['colour'\\]"):
        backbone_from_data({"colour": 1}, base=spec)
