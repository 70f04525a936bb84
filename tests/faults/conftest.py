"""Session fixtures of the fault tests: a real clip set + oracle targets (made by the CLI
stages) and a tiny checkpoint saved the way a hub release is."""

from __future__ import annotations

import pytest

from geovr.model import build_tiny_student, save_student
from tests.geovr_data import make_geovr_data
from tests.teachers.conftest import tiny_depth_anything  # noqa: F401  (a second real teacher)


@pytest.fixture(scope="session")
def stage_data(tmp_path_factory):
    """(clips, targets) under one root."""
    return make_geovr_data(tmp_path_factory.mktemp("fault_data"))


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    student, processor = build_tiny_student("qwen3_vl")
    return save_student(student, tmp_path_factory.mktemp("fault_ckpt") / "student", processor)
