"""Issue 18 part A, destructive --out: every stage refuses an --out that is not absent,
empty or its own earlier output, with a one-line error, and changes no byte anywhere.
Each case runs the real CLI; on the old code each of them deleted or overwrote data."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from geovr.data.video import encode_video

from .faults import assert_refused, precious_dir, run_geovr, tree_hash

NOT_OURS = r"--out .* is not empty \(.*\) and is not a `geovr {}` output; refusing"
OTHER_STAGE = r"--out .* is a `geovr {}` output, not a `geovr {}` one; refusing"


def vsibench_root(root):
    """A two-question VSI-Bench download: the question table + <dataset>/<scene>.mp4."""
    rows = [
        {
            "id": i,
            "dataset": "scannet",
            "scene_name": f"scene{i}",
            "question_type": "object_counting",
            "question": "How many chair(s) are in this room?",
            "options": None,
            "ground_truth": "2",
        }
        for i in range(2)
    ]
    (root / "scannet").mkdir(parents=True)
    frames = np.random.default_rng(0).integers(0, 255, (4, 32, 48, 3), dtype=np.uint8)
    for row in rows:
        encode_video(root / "scannet" / f"{row['scene_name']}.mp4", frames)
    (root / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _checked(tmp_path, data_root, args, pattern):
    """Run `geovr ARGS` in tmp_path; assert the refusal and that no byte changed anywhere."""
    before = tree_hash(tmp_path), tree_hash(data_root)
    assert_refused(run_geovr(*args, cwd=tmp_path), pattern)
    assert (tree_hash(tmp_path), tree_hash(data_root)) == before


@pytest.mark.slow
def test_distill_refuses_a_clip_set_and_a_users_directory(stage_data, tmp_path):
    clips, _ = stage_data
    home = precious_dir(tmp_path / "home")
    mine = shutil.copytree(clips, tmp_path / "clips")  # the victims are copies: on the old code
    other = shutil.copytree(clips, tmp_path / "other")  # they were overwritten
    distill = ["distill", "--teacher", "oracle", "--no-progress", "--clips"]
    _checked(
        tmp_path,
        clips.parent,
        [*distill, str(mine), "--out", str(mine)],
        "is or contains the input",
    )
    _checked(
        tmp_path,
        clips.parent,
        [*distill, str(mine), "--out", str(other)],
        OTHER_STAGE.format("ingest", "distill"),
    )
    _checked(
        tmp_path,
        clips.parent,
        [*distill, str(mine), "--out", str(home)],
        NOT_OURS.format("distill"),
    )


def test_an_out_inside_an_input_or_another_stages_output_is_refused(stage_data, tmp_path):
    clips, _ = stage_data
    mine = shutil.copytree(clips, tmp_path / "clips")
    other = shutil.copytree(clips, tmp_path / "other")
    distill = ["distill", "--teacher", "oracle", "--no-progress", "--clips"]
    # a rerun of ingest into `other` would replace it whole, deleting what was nested there
    _checked(
        tmp_path,
        clips.parent,
        [*distill, str(mine), "--out", str(mine / "targets")],
        "is inside the input",
    )
    _checked(
        tmp_path,
        clips.parent,
        [*distill, str(mine), "--out", str(other / "targets")],
        "a `geovr ingest` output that a rerun would replace",
    )
    assert not (mine / "targets").exists() and not (other / "targets").exists()


def test_distill_merge_refuses_a_clip_set(stage_data, tmp_path):
    clips, targets = stage_data
    victim = shutil.copytree(clips, tmp_path / "clips-copy")
    args = ["distill-merge", "--parts", str(targets), "--out", str(victim)]
    _checked(tmp_path, clips.parent, args, OTHER_STAGE.format("ingest", "distill-merge"))


@pytest.mark.slow  # the old code answered every question before replacing the directory
def test_evaluate_refuses_its_checkpoint_a_clip_set_and_a_users_directory(
    stage_data, checkpoint, tmp_path
):
    clips, _ = stage_data
    home = precious_dir(tmp_path / "home")
    victim = shutil.copytree(clips, tmp_path / "clips-copy")
    checkpoint = shutil.copytree(checkpoint, tmp_path / "checkpoint")
    evaluate = [
        "evaluate",
        "--checkpoint",
        str(checkpoint),
        "--clips",
        str(clips),
        "--max-questions",
        "1",
        "--no-progress",
        "--out",
    ]
    _checked(tmp_path, clips.parent, [*evaluate, str(checkpoint)], "is or contains the input")
    _checked(
        tmp_path, clips.parent, [*evaluate, str(victim)], OTHER_STAGE.format("ingest", "evaluate")
    )
    _checked(tmp_path, clips.parent, [*evaluate, str(home)], NOT_OURS.format("evaluate"))


def test_train_refuses_a_users_directory(stage_data, tmp_path):
    clips, targets = stage_data
    home = precious_dir(tmp_path / "home")
    args = [
        "train",
        "--clips",
        str(clips),
        "--targets",
        str(targets),
        "--objectives",
        "lm",
        "--steps",
        "1",
        "--out",
        str(home),
    ]
    _checked(tmp_path, clips.parent, args, NOT_OURS.format("train"))


def test_dataset_writers_refuse_a_users_directory(tmp_path):
    root = vsibench_root(tmp_path / "VSI-Bench")
    home = precious_dir(tmp_path / "home")
    table = str(root / "questions.jsonl")
    args = ["data", "import-vsibench", "--root", str(root), "--table", table, "--out", str(home)]
    _checked(tmp_path, root, args, NOT_OURS.format("data import-vsibench"))
    args = ["data", "synth", "--scenes", "1", "--frames", "2", "--size", "16", "--out", str(home)]
    _checked(tmp_path, root, args, NOT_OURS.format("data synth"))


def test_rerunning_a_stage_into_its_own_output_still_works(tmp_path):
    root = vsibench_root(tmp_path / "VSI-Bench")
    args = [
        "data",
        "import-vsibench",
        "--root",
        str(root),
        "--table",
        str(root / "questions.jsonl"),
        "--out",
        "vsi",
    ]
    first = run_geovr(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = run_geovr(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert sorted(p.name for p in (tmp_path / "vsi").iterdir()) == [
        ".geovr-output.json",
        "clips.jsonl",
        "qa.jsonl",
        "videos",
    ]
