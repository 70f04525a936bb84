"""Issue 18 part A, one writer per output and contained paths, through the real CLI: a
second writer is refused naming the holder, a dead holder's lock is taken over, a distill
of another teacher is refused, and paths read from an index or a table never leave their
root. On the old code every case below wrote, replaced or read outside its output."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .faults import assert_refused, hold_lock, run_geovr, tree_hash, wait_for
from .test_outputs import vsibench_root

DISTILL = ["distill", "--teacher", "oracle", "--no-progress"]
# the real CLI with the test teacher that sleeps per clip registered
SLOW_CLI = (
    "import sys, tests.teachers.slow_teacher; from geovr.cli import main; "
    "sys.exit(main(sys.argv[1:]))"
)
REPO_ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def _copy(source, dest):
    return shutil.copytree(source, dest, symlinks=True)


@pytest.mark.parametrize("stage", ["distill", "ingest", "evaluate", "train"])  # holder: any stage
def test_a_second_writer_is_refused_naming_the_holder(stage_data, checkpoint, tmp_path, stage):
    clips, targets = stage_data
    out = tmp_path / "out"
    holder = hold_lock(out, stage, "oracle" if stage == "distill" else None)
    try:
        before = tree_hash(tmp_path)
        args = {
            "distill": [*DISTILL, "--clips", str(clips)],
            "ingest": ["ingest", "--data", str(clips.parent / "data"), "--no-progress"],
            "evaluate": [
                "evaluate",
                "--checkpoint",
                str(checkpoint),
                "--clips",
                str(clips),
                "--no-progress",
            ],
            "train": [
                "train",
                "--clips",
                str(clips),
                "--targets",
                str(targets),
                "--steps",
                "1",
                "--objectives",
                "lm",
            ],
        }[stage]
        line = assert_refused(
            run_geovr(*args, "--out", str(out), cwd=tmp_path),
            rf"--out .*out is being written by another geovr process \(pid {holder.pid} on "
            rf"{socket.gethostname()} since \d{{4}}-\d\d-\d\dT[\d:]+Z\); wait for it",
        )
        assert tree_hash(tmp_path) == before, line
    finally:
        holder.kill()
        holder.wait()


def test_two_distills_into_one_out_the_second_is_refused_while_the_first_runs(stage_data, tmp_path):
    clips, _ = stage_data
    out = tmp_path / "targets"
    args = [
        "distill",
        "--clips",
        str(clips),
        "--teacher",
        "slow-oracle",
        "-o",
        "delay=3",
        "--clips-per-shard",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    first = subprocess.Popen(
        [sys.executable, "-c", SLOW_CLI, *args], env=REPO_ENV, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: (out / "cache").exists())  # the first writer is computing
        second = subprocess.run(
            [sys.executable, "-c", SLOW_CLI, *args], env=REPO_ENV, capture_output=True, text=True
        )
        assert_refused(second, rf"being written by another geovr process \(pid {first.pid} on ")
        assert first.wait(timeout=300) == 0, first.stderr.read()
    finally:
        first.kill()
        first.wait()
    assert not (out / ".geovr.lock").exists()  # released on exit
    assert json.loads((out / "meta.json").read_text())["clips"] == 4


def test_a_dead_writers_lock_is_taken_over_and_the_run_completes(stage_data, tmp_path):
    clips, _ = stage_data
    out = tmp_path / "targets"
    holder = hold_lock(out, "distill", "oracle")
    os.kill(holder.pid, signal.SIGKILL)  # what the OOM killer does: no cleanup runs
    holder.wait()
    result = run_geovr(*DISTILL, "--clips", str(clips), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"took over the lock of {out} left by pid {holder.pid}" in result.stderr
    assert not (out / ".geovr.lock").exists()  # released on exit
    assert json.loads((out / "meta.json").read_text())["clips"] == 4


def test_a_distill_of_another_teacher_into_the_same_out_is_refused(
    stage_data, tiny_depth_anything, tmp_path
):
    clips, targets = stage_data
    mine = _copy(targets, tmp_path / "targets")
    before = tree_hash(tmp_path)
    args = [
        "distill",
        "--clips",
        str(clips),
        "--teacher",
        "depth-anything",
        "--weights",
        str(tiny_depth_anything),
        "--no-progress",
        "--out",
        str(mine),
    ]
    assert_refused(
        run_geovr(*args, cwd=tmp_path),
        r"--out .*targets holds the distill output of teacher 'oracle', not 'depth-anything'",
    )
    assert tree_hash(tmp_path) == before


def test_a_shard_path_in_index_json_never_leaves_the_clip_set(stage_data, tmp_path):
    clips, _ = stage_data
    mine = _copy(clips, tmp_path / "clips")
    index = json.loads((mine / "index.json").read_text())
    outside = tmp_path / "elsewhere.tar"
    shard = next(iter(index.values()))["shard"]
    shutil.copyfile(mine / shard, outside)  # a readable shard, so only the check can stop it
    for entry in index.values():
        entry["shard"] = "../elsewhere.tar" if entry["shard"] == shard else entry["shard"]
    (mine / "index.json").write_text(json.dumps(index))
    before = tree_hash(tmp_path)
    result = run_geovr(*DISTILL, "--clips", str(mine), "--out", "targets", cwd=tmp_path)
    assert_refused(result, r"index.json: shard '\.\./elsewhere\.tar' leaves .*clips; refusing")
    assert tree_hash(tmp_path) == before


@pytest.mark.parametrize(("column", "value"), [("scene_name", "../../x"), ("dataset", "..")])
def test_a_vsibench_row_never_leaves_its_roots(tmp_path, column, value):
    root = vsibench_root(tmp_path / "VSI-Bench")
    # a readable video where the row points, outside the root: only the check can stop it
    outside = "scene0.mp4" if column == "dataset" else "x.mp4"
    shutil.copyfile(root / "scannet" / "scene0.mp4", tmp_path / outside)
    rows = [json.loads(line) for line in (root / "questions.jsonl").read_text().splitlines()]
    rows[0][column] = value
    (root / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = tree_hash(tmp_path)
    args = [
        "data",
        "import-vsibench",
        "--root",
        str(root),
        "--table",
        str(root / "questions.jsonl"),
        "--out",
        "sub/vsi",
    ]
    assert_refused(
        run_geovr(*args, cwd=tmp_path),
        rf"questions.jsonl: question 0 has {column} '{value}', not a plain name; refusing",
    )
    assert tree_hash(tmp_path) == before
