"""Session fixtures of the training tests."""

from __future__ import annotations

import pytest

from tests.geovr_data import make_geovr_data


@pytest.fixture(scope="session")
def geovr_data(tmp_path_factory):
    """(clips, targets): 4 synthetic scenes, 4 frames at 64 px (2 train, 1 val, 1 test)."""
    return make_geovr_data(tmp_path_factory.mktemp("geovr_data"))
