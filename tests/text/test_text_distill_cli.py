"""``ecamp-bench distill`` on the synthetic MIMIC-CXR layout."""

from __future__ import annotations

import json

from ecamp_bench.cli import main
from ecamp_bench.text.distill import load_contexts


def test_distill_cli_rules_then_resume(synthetic_tiny, tmp_path, capsys):
    out = tmp_path / "ctx.jsonl"
    assert main(["distill", "--data-root", str(synthetic_tiny), "--out", str(out)]) == 0
    first = capsys.readouterr().out
    contexts = load_contexts(out)
    assert len(contexts) > 0 and f"{len(contexts)} distilled, 0 skipped, 0 failed" in first
    assert all(c.startswith("Entity context: ") for c in contexts.values())
    assert all(json.loads(line)["backend"] == "rules-v1" for line in out.read_text().splitlines())
    assert main(["distill", "--data-root", str(synthetic_tiny), "--out", str(out)]) == 0
    assert f"0 distilled, {len(contexts)} skipped" in capsys.readouterr().out


def test_distill_cli_errors(synthetic_tiny, tmp_path, capsys):
    assert main(["distill", "--data-root", str(synthetic_tiny), "--backend", "llms", "--out", str(tmp_path / "c")]) == 2
    assert "unknown backend 'llms'. Did you mean 'llm'?" in capsys.readouterr().err
    assert main(["distill", "--data-root", str(synthetic_tiny), "--backend", "import"]) == 2
    assert "--import-csv" in capsys.readouterr().err
    assert main(["distill", "--data-root", str(tmp_path / "nothing-here")]) == 2
    assert "no mimic-cxr dataset found" in capsys.readouterr().err
