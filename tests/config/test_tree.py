"""The config tree itself: every field documented, presets valid, base layer only."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import geovr.config
from geovr.config import IngestConfig, TrainConfig, preset
from geovr.config.fields import field_docs, undocumented_fields
from geovr.config.presets import EMBEDDED, PRESETS, with_values
from geovr.errors import GeoVRError

CONFIG_CLASSES = [
    type(getattr(config, f.name))
    for config in (EMBEDDED,)
    for f in dataclasses.fields(config)
    if dataclasses.is_dataclass(getattr(config, f.name))
] + [geovr.config.VideoLimits]


@pytest.mark.parametrize("cls", CONFIG_CLASSES, ids=lambda c: c.__name__)
def test_every_field_has_a_docstring(cls):
    assert undocumented_fields(cls) == []


def test_field_docs_reads_the_literal_under_each_field():
    assert field_docs(TrainConfig)["grad_accum"] == "Micro-steps per optimizer step."
    assert field_docs(IngestConfig)["max_side"].startswith("Longest stored side in px")


def test_the_config_package_imports_nothing_above_the_base_layer():
    for path in Path(geovr.config.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("geovr"):
                assert node.module.startswith(("geovr.config", "geovr.errors", "geovr.devices")), (
                    f"{path.name} imports {node.module}"
                )


def test_presets_are_valid_and_named():
    assert set(PRESETS) == {"embedded", "paper"}
    paper = preset("paper")
    assert (paper.train.batch_size, paper.train.grad_accum, paper.train.gpus_per_node) == (2, 4, 4)
    assert (paper.ingest.sampling, paper.ingest.fps, paper.ingest.max_side) == ("fps", 2.0, 504)
    with pytest.raises(GeoVRError, match="choose embedded or paper"):
        preset("huge")


def test_with_values_replaces_nested_fields_and_validates():
    changed = with_values(EMBEDDED, {"train.steps": 5, "ingest.limits.min_side": 32})
    assert (changed.train.steps, changed.ingest.limits.min_side) == (5, 32)
    assert changed.ingest.frames == EMBEDDED.ingest.frames
    with pytest.raises(ValueError, match="steps must be >= 1"):
        with_values(EMBEDDED, {"train.steps": 0})
