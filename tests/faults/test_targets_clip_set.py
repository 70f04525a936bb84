"""Targets distilled from another sampling of the same videos (e.g. a `--sampling fps` clip set
and a uniform one of one dataset) are refused by train and evaluate before any work starts,
with one line, instead of a traceback from inside the workers or the probes."""

from __future__ import annotations

import pytest

from tests.faults.faults import assert_refused, run_geovr, tree_hash


@pytest.fixture(scope="module")
def resampled_clips(stage_data):
    """The same dataset ingested at 3 frames a clip (the targets have 4)."""
    clips, _ = stage_data
    root = clips.parent
    result = run_geovr(
        "ingest",
        "--data",
        "data",
        "--out",
        "clips-3f",
        "--frames",
        "3",
        "--max-side",
        "64",
        "--no-progress",
        cwd=root,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return root / "clips-3f"


@pytest.mark.slow
def test_train_refuses_targets_of_other_frames(stage_data, resampled_clips, tmp_path):
    _, targets = stage_data
    before = tree_hash(targets)
    result = run_geovr(
        "train",
        "--clips",
        str(resampled_clips),
        "--targets",
        str(targets),
        "--out",
        "run",
        "--steps",
        "1",
        "--num-workers",
        "0",
        cwd=tmp_path,
    )
    assert_refused(
        result, r"is not for the clip set .*clips-3f: clip .* was distilled from other frames"
    )
    assert not (tmp_path / "run" / "checkpoint").exists()
    assert tree_hash(targets) == before


@pytest.mark.slow
def test_evaluate_refuses_targets_of_other_frames(
    stage_data, resampled_clips, checkpoint, tmp_path
):
    _, targets = stage_data
    result = run_geovr(
        "evaluate",
        "--checkpoint",
        str(checkpoint),
        "--clips",
        str(resampled_clips),
        "--targets",
        str(targets),
        "--out",
        "eval",
        "--no-progress",
        cwd=tmp_path,
    )
    assert_refused(
        result, r"is not for the clip set .*clips-3f: clip .* was distilled from other frames"
    )
    assert not (tmp_path / "eval" / "metrics.json").exists()


def test_matching_targets_pass_the_check(stage_data):
    from geovr.cli._params import check_targets_match

    clips, targets = stage_data
    check_targets_match(str(clips), str(targets))  # raises on any clip distilled otherwise
