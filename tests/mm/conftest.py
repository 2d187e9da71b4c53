"""Where the OpenMMLab stack is required (CI, ``make test``), a skipped OpenMMLab test is a failure.

The tests here skip with a reason when mmcv's ops, mmdet or mmseg cannot be imported, which is right on a
developer's machine that has not run ``scripts/install_openmmlab.sh``. Under ``CI=true`` or
``ECAMP_BENCH_REQUIRE_OPENMMLAB=1`` (the Makefile's ``test`` target sets it) every such skip, at collection
or at run time, is turned into a failure that keeps the skip's reason, so a missing stack cannot pass silently.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_ENV = "ECAMP_BENCH_REQUIRE_OPENMMLAB"


def openmmlab_required() -> bool:
    """True when a skip for a missing OpenMMLab stack must fail instead (``CI=true`` or ``$REQUIRE_ENV=1``)."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get(REQUIRE_ENV, "") == "1"


def _fail_instead_of_skip(report) -> None:
    if report.skipped and openmmlab_required() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"OpenMMLab test skipped where the stack is required (CI=true or {REQUIRE_ENV}=1): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_instead_of_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_instead_of_skip(outcome.get_result())
