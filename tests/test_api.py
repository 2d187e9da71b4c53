"""The public facade exposes every name plugin authors need, lazily for the heavy ones."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ecamp_bench.api as api


@pytest.mark.parametrize("name", api.__all__)
def test_every_public_name_resolves(name):
    assert getattr(api, name) is not None


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        api.nope  # noqa: B018


def test_importing_the_facade_does_not_import_torch():
    code = "import sys, ecamp_bench.api; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
