"""No line of the project's Python files is longer than ruff's ``line-length`` (pyproject.toml, the one source)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("ecamp_bench", "plugins", "tests", "benchmarks", "scripts", "examples")


def line_limit(pyproject: Path) -> int:
    """``[tool.ruff] line-length`` of ``pyproject``."""
    with pyproject.open("rb") as f:
        return int(tomllib.load(f)["tool"]["ruff"]["line-length"])


def python_files(root: Path) -> list[Path]:
    """The ``*.py`` files git knows (tracked, or new and not ignored: what ruff sees); without git or a checkout,
    those under FOLDERS and setup.py."""
    if shutil.which("git") and (root / ".git").exists():
        command = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "*.py"]
        done = subprocess.run(command, cwd=root, capture_output=True, check=False)
        if done.returncode == 0:
            names = [n for n in done.stdout.decode("utf-8").split("\0") if n]
            return sorted({p for p in (root / n for n in names) if p.is_file()})
    found = [p for folder in FOLDERS if (root / folder).is_dir() for p in (root / folder).rglob("*.py")]
    if (root / "setup.py").is_file():
        found.append(root / "setup.py")
    return sorted(found)


def long_lines(path: Path, limit: int, root: Path) -> list[str]:
    """``path:line (N chars)`` for each line of ``path`` longer than ``limit`` characters (not bytes)."""
    with path.open(encoding="utf-8", newline=None) as f:
        lengths = [len(line.rstrip("\n")) for line in f]
    name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    return [f"{name}:{number} ({n} chars)" for number, n in enumerate(lengths, 1) if n > limit]


def test_no_line_is_over_the_ruff_line_length():
    limit = line_limit(ROOT / "pyproject.toml")
    files = python_files(ROOT)
    assert ROOT / "setup.py" in files and Path(__file__).resolve() in files, "the file list misses known files"
    offenders = [entry for path in files for entry in long_lines(path, limit, ROOT)]
    assert not offenders, f"{len(offenders)} line(s) over {limit} characters:\n" + "\n".join(offenders)


def test_long_lines_counts_characters_and_names_each_offender(tmp_path):
    sample = tmp_path / "pkg" / "sample.py"
    sample.parent.mkdir()
    lines = ["x" * 120, "—" * 120, "y" * 121, "", "# " + "é" * 123]
    sample.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert long_lines(sample, 120, tmp_path) == ["pkg/sample.py:3 (121 chars)", "pkg/sample.py:5 (125 chars)"]
    assert long_lines(sample, 125, tmp_path) == []
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 99\n", encoding="utf-8")
    assert line_limit(tmp_path / "pyproject.toml") == 99


def test_python_files_without_git_walks_the_project_folders(tmp_path):
    for name in ("ecamp_bench/a.py", "tests/sub/b.py", "docs/c.py", "setup.py", "ecamp_bench/d.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n", encoding="utf-8")
    assert [p.relative_to(tmp_path).as_posix() for p in python_files(tmp_path)] == [
        "ecamp_bench/a.py", "setup.py", "tests/sub/b.py"]
