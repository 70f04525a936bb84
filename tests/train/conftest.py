"""A real clip set + oracle targets, made by the CLI stages themselves (synth -> ingest -> distill)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def geovr(*args: str, cwd) -> None:
    subprocess.run(
        [sys.executable, "-m", "geovr", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=300,
    )


@pytest.fixture(scope="session")
def geovr_data(tmp_path_factory):
    """4 synthetic scenes, 4 frames at 64 px (2 train, 1 val, 1 test) -> (clips, targets)."""
    root = tmp_path_factory.mktemp("geovr_data")
    geovr(
        "data",
        "synth",
        "--out",
        "data",
        "--scenes",
        "4",
        "--frames",
        "4",
        "--size",
        "64",
        "--seed",
        "0",
        cwd=root,
    )
    geovr(
        "ingest",
        "--data",
        "data",
        "--out",
        "clips",
        "--frames",
        "4",
        "--max-side",
        "64",
        "--no-progress",
        cwd=root,
    )
    geovr(
        "distill",
        "--clips",
        "clips",
        "--teacher",
        "oracle",
        "--out",
        "targets",
        "--no-progress",
        cwd=root,
    )
    return root / "clips", root / "targets"
