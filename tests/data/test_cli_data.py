"""``ecamp-bench data check``: exit codes, every problem listed with counts, unknown layouts, missing roots."""

from __future__ import annotations

import shutil

from ecamp_bench.cli import main
from ecamp_bench.data.synth import LAYOUTS


def test_check_clean_tree_from_the_parent_folder(synthetic_tiny, capsys):
    for name in LAYOUTS:
        assert main(["data", "check", "--layout", name, "--root", str(synthetic_tiny)]) == 0
        assert "no problems" in capsys.readouterr().out


def test_check_lists_every_problem_with_counts(synthetic_tiny, tmp_path, capsys):
    root = tmp_path / "rsna"
    shutil.copytree(synthetic_tiny / LAYOUTS["rsna-pneumonia"][0], root)
    images = sorted((root / "stage_2_train_images").glob("*.dcm"))
    for image in images[:3]:
        image.unlink()
    images[3].write_bytes(b"broken")
    rc = main(["data", "check", "--layout", "rsna-pneumonia", "--root", str(root)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "4 problem(s)" in out and "missing-image" in out and "unreadable-image" in out
    for image in images[:4]:
        assert image.stem[:8] in out
    counts = out.split("problems by kind")[1]
    assert "missing-image" in counts and " 3 " in counts and " 1 " in counts


def test_check_unknown_layout_and_wrong_root(tmp_path, capsys):
    assert main(["data", "check", "--layout", "rsna", "--root", str(tmp_path)]) == 2
    assert "rsna-pneumonia" in capsys.readouterr().err
    assert main(["data", "check", "--layout", "siim-acr", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no siim-acr dataset found" in err and "siim-acr-pneumothorax" in err
