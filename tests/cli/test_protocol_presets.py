"""A protocol's named presets can be found and a wrong one is named clearly."""

from __future__ import annotations

from ecamp_bench.cli import main
from ecamp_bench.errors import UnknownNameError


def test_list_protocols_shows_each_named_preset_and_its_values(capsys):
    assert main(["list", "protocols", "finetune"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the table wraps
    for fragment in ("preset cpu-demo:", "steps=100", "head_norm=batchnorm", "preset tiny:", "steps=30"):
        assert fragment.replace(" ", "") in out.replace(" ", "").replace("│", ""), fragment


def test_misspelled_preset_and_missing_preset_file_are_named(capsys, tmp_path):
    assert main(["eval", "--task", "rsna-cls", "--protocol", "finetune", "--backbone", "random-init", "--preset",
                 "cpu-dmeo"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'cpu-demo'?" in err and "Valid presets: cpu-demo, default, tiny" in err
    missing = tmp_path / "mine.yaml"
    assert main(["eval", "--task", "rsna-cls", "--protocol", "finetune", "--backbone", "random-init", "--preset",
                 str(missing)]) == 2
    assert f"preset file {missing} does not exist" in " ".join(capsys.readouterr().err.split())


def test_unknown_name_lists_plural_kinds_but_never_pluralises_a_phrase():
    assert "Valid tasks: a, b" in str(UnknownNameError("task", "c", ["a", "b"]))
    assert "Valid list kinds:" in str(UnknownNameError("list kind", "x", ["tasks"]))
    assert "Valid names: tiny" in str(UnknownNameError("preset of protocol 'finetune'", "x", ["tiny"]))
    of = str(UnknownNameError("preset", "x", ["tiny"], owner="of protocol 'finetune'"))
    assert of.startswith("unknown preset 'x' of protocol 'finetune'.") and "Valid presets: tiny" in of


def test_list_protocols_name_shows_every_parameter_with_its_default_and_preset_values(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one table line per parameter, whatever width the worker inherited
    assert main(["list", "protocols", "knn"]) == 0
    out = capsys.readouterr().out
    # the summary's details cell folds at a width that depends on the provider's path: read the column as text
    details = " ".join(line.split("│")[4].strip() for line in out.splitlines() if line.count("│") == 5)
    assert "preset tiny: (no changes)" in details
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in out.splitlines() if line.startswith("│") and line.count("│") == 4}
    assert rows["temperature"] == ["0.07", ""] and rows["ks"] == ["[5, 20, 200]", ""]
    assert main(["list", "protocols", "linear"]) == 0
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in capsys.readouterr().out.splitlines() if line.startswith("│") and line.count("│") == 4}
    assert rows["lr"] == ["0.0005", "0.01"] and rows["betas"] == ["[0.9, 0.999]", ""]
    assert rows["patience"] == ["10", ""]  # tiny restates the default: blank, as the legend says
