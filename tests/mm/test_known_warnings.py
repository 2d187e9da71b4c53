"""Known OpenMMLab warnings are hidden only around our model builds; the filter matches the real message."""

from __future__ import annotations

import warnings

import pytest

from ecamp_bench.mm.runtime import known_openmmlab_warnings_ignored

BUILD_LOSS = "``build_loss`` would be deprecated soon, please use ``mmseg.registry.MODELS.build()`` "


def test_known_warnings_are_hidden_inside_the_block_only():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with known_openmmlab_warnings_ignored():
            warnings.warn(BUILD_LOSS)
            warnings.warn("an unknown warning")
        warnings.warn(BUILD_LOSS)
    assert [str(w.message) for w in seen] == ["an unknown warning", BUILD_LOSS]


@pytest.mark.mm
def test_the_filter_matches_what_mmseg_really_warns_when_it_builds_a_decode_head():
    try:
        import mmcv.ops  # noqa: F401
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    except ImportError as error:  # pragma: no cover - depends on the machine
        pytest.skip(f"OpenMMLab stack not installed ({error}); run scripts/install_openmmlab.sh")
    register_all_modules(init_default_scope=False)
    head = {"type": "mmseg.FCNHead", "in_channels": 8, "channels": 8, "num_convs": 1, "num_classes": 2,
            "loss_decode": {"type": "mmseg.CrossEntropyLoss"}}

    def messages_while_building(filtered: bool) -> list[str]:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            with known_openmmlab_warnings_ignored() if filtered else warnings.catch_warnings():
                MODELS.build(dict(head))
        return [str(w.message) for w in seen]

    assert any("build_loss" in m for m in messages_while_building(filtered=False))
    assert not any("build_loss" in m for m in messages_while_building(filtered=True))
