"""Each built-in data set is one plugin module (reader, synthetic writer, counts and spec), cheap to register."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ecamp_bench.plugins import BUILTIN_PLUGINS, get_catalog

ROOT = Path(__file__).parents[2]
MODULES = {"mimic-cxr": "mimic_cxr", "chexpert": "chexpert", "rsna-pneumonia": "rsna", "siim-acr": "siim",
           "nih-cxr14": "nih_cxr14", "covidx-cxr": "covidx"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_data_set_is_one_module_holding_its_spec_reader_and_writer(name):
    module = f"ecamp_bench_plugins.layouts.{MODULES[name]}"
    catalog = get_catalog()
    spec, provider = catalog.layout(name), catalog.provider("layout", name)
    assert (f"layout-{name}", module) in BUILTIN_PLUGINS
    assert Path(provider.path) == ROOT / "plugins" / "layouts" / f"{MODULES[name]}.py"
    for function in (spec.detect, spec.read, spec.validate, spec.write_synthetic):
        assert function.__module__ == module, (function, module)
    assert spec.synthetic_counts == sys.modules[module].SYNTHETIC_COUNTS


def test_registering_the_data_set_modules_imports_no_data_library():
    script = (
        "import importlib, sys\n"
        f"specs = [s for m in {sorted(MODULES.values())!r}\n"
        "         for s in importlib.import_module('ecamp_bench_plugins.layouts.' + m).ecamp_bench_layouts()]\n"
        "heavy = sorted(m for m in ('numpy', 'pandas', 'PIL', 'pydicom', 'scipy', 'torch') if m in sys.modules)\n"
        "print('SPECS', len(specs), 'HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "SPECS 6 HEAVY []" in result.stdout, result.stdout
