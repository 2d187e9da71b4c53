"""`make demo` picks its plan by the hardware it finds (the CUDA probe faked here: no GPU on CI)."""

from __future__ import annotations

import json

import pytest

from ecamp_bench import demo


def test_a_gpu_gets_the_vit_s_plan_with_the_no_sr_and_no_mlm_ablations(capsys):
    assert demo.main(["--dry-run"], cuda_available=lambda: True, gpu_name=lambda: "Fake GPU 80GB") == 0
    out = capsys.readouterr().out
    assert "demo on gpu (Fake GPU 80GB): synthetic gpu-demo, pre-training gpu-demo" in out
    assert "ECAMP_BENCH_SYNTHETIC=gpu-demo" in out and "ECAMP_BENCH_SYNTHETIC=demo " not in out
    for variant in ("mae-only", "no-sr", "no-mlm"):
        assert f"--config gpu-demo --variant {variant} --resume" in out
    assert "file:pretrained/ecamp-gpu-demo-*.safetensors" in out


def test_without_cuda_the_cpu_plan_is_today_s_demo(capsys):
    assert demo.main(["--dry-run"], cuda_available=lambda: False) == 0
    out = capsys.readouterr().out
    assert "demo on cpu" in out and "pre-training cpu-demo" in out
    plan = demo.make_plan("cpu")
    assert plan.synthetic == "demo" and plan.variants == ("mae-only",)
    pretrains = [c for c in plan.commands if c[0] == "pretrain"]
    assert pretrains == [("pretrain", "--config", "cpu-demo", "--resume"),
                         ("pretrain", "--config", "cpu-demo", "--variant", "mae-only", "--resume")]
    sweeps = [c for c in plan.commands if c[0] == "sweep"]
    assert len(sweeps) == 3 and plan.commands[-1] == ("leaderboard", "--format", "html")
    assert ("--protocol", "finetune") == sweeps[2][sweeps[2].index("--protocol"):][:2]


def test_forcing_gpu_without_cuda_fails_and_forcing_cpu_on_a_gpu_works(capsys):
    assert demo.main(["--hardware", "gpu"], cuda_available=lambda: False) == 2
    assert demo.main(["--hardware", "gpu", "--dry-run"], cuda_available=lambda: False) == 0  # the plan, shown
    assert "demo on gpu (no GPU here): synthetic gpu-demo" in capsys.readouterr().out
    assert demo.main(["--hardware", "cpu", "--dry-run"], cuda_available=lambda: True, gpu_name=lambda: "X") == 0
    assert "demo on cpu" in capsys.readouterr().out
    with pytest.raises(ValueError, match="hardware"):
        demo.make_plan("tpu")


def test_the_report_header_names_the_hardware_synthetic_size_and_pretraining_config(tmp_path):
    assert demo.header_text(tmp_path) == ""
    plan = demo.make_plan("gpu", "Fake GPU 80GB")
    (tmp_path / demo.DEMO_FILE).write_text(json.dumps(plan.to_json()))
    text = demo.header_text(tmp_path)
    assert text.startswith("Demo run on GPU (Fake GPU 80GB): synthetic size gpu-demo, pre-training config gpu-demo")
    assert "mae-only, no-sr, no-mlm" in text
    from ecamp_bench.leaderboard.html import ReportInputs, to_html
    from ecamp_bench.leaderboard.aggregate import Pivot

    html = to_html(Pivot(tables=[], notes=[]), ReportInputs(run_note=text))
    assert "Demo run on GPU (Fake GPU 80GB)" in html


def test_linear_and_fine_tuning_sweeps_name_the_classification_tasks_and_the_dense_sweep_all_seven():
    from ecamp_bench.plugins import get_catalog

    catalog = get_catalog()
    for hardware in ("cpu", "gpu"):
        sweeps = {c[c.index("--protocol") + 1] if "--protocol" in c else "default": c[c.index("--tasks") + 1]
                  for c in demo.make_plan(hardware).commands if c[0] == "sweep"}
        for protocol in ("linear", "finetune"):
            tasks = sweeps[protocol].split(",")
            assert all(catalog.task(t).kind == "classification" for t in tasks), (protocol, tasks)
        assert set(sweeps["default"].split(",")) == set(demo.TASKS.split(",")) and len(demo.TASKS.split(",")) == 7
        assert {catalog.task(t).kind for t in demo.TASKS.split(",")} == {"classification", "segmentation", "detection"}
