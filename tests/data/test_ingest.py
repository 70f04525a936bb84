"""The ingest stage: sampling and resizing, the clip set it writes, every kind of bad input
going to quarantine, the all-or-nothing failure, determinism and the CLI.

    .venv/bin/pytest -q tests/data/test_ingest.py
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from clip_builders import (
    add_corrupt_inputs,
    frames_for,
    ground_truth,
    make_dataset,
    tree_bytes,
    write_clip,
    write_gt,
    write_jsonl,
)

from geovr.artifacts import read_jsonl, read_meta
from geovr.cli import main
from geovr.config.ingest import IngestConfig, VideoLimits
from geovr.data.ingest import ingest
from geovr.data.sampling import (
    resize_depth,
    resize_frames,
    sample_indices,
    scale_intrinsics,
    target_size,
)
from geovr.data.shards import ShardReader
from geovr.data.validate import Rejected, check_scene, video_problem
from geovr.data.video import VideoInfo, decode_frames
from geovr.errors import GeoVRError

CFG = IngestConfig(frames=6, max_side=32, workers=1)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("ds") / "data", n_clips=4, frames=8)


def quarantine(out: Path) -> dict[str, str]:
    return {row["input"]: row["reason"] for row in read_jsonl(out / "quarantine.jsonl")}


# ---- sampling ---------------------------------------------------------------------------


def test_sample_indices_are_uniform_distinct_and_keep_both_ends():
    assert sample_indices(8, 8) == list(range(8))
    assert sample_indices(12, 5) == [0, 3, 6, 8, 11]
    assert sample_indices(300, 2) == [0, 299]
    for n in range(2, 60):
        for count in range(2, n + 1):
            idx = sample_indices(n, count)
            assert (
                idx[0] == 0
                and idx[-1] == n - 1
                and all(a < b for a, b in zip(idx, idx[1:], strict=False))
            )
    with pytest.raises(ValueError):
        sample_indices(4, 5)


def test_target_size_keeps_aspect_even_and_within_the_limit():
    assert target_size(1920, 1080, 504) == (504, 282)
    assert target_size(48, 32, 32) == (32, 20)
    assert target_size(48, 32, 504) == (48, 32)  # never upscaled
    assert target_size(33, 17, 504) == (32, 16)  # odd sides lose a pixel
    for w, h, m in [(1000, 999, 505), (17, 4000, 64), (640, 480, 100)]:
        tw, th = target_size(w, h, m)
        assert tw % 2 == th % 2 == 0 and max(tw, th) <= m


def test_depth_resize_is_nearest_and_intrinsics_follow_the_size():
    depth = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    small = resize_depth(depth, (3, 2))
    np.testing.assert_array_equal(small[0], depth[0][[1, 3]][:, [1, 3, 5]])  # source values only
    k = np.array([[[40.0, 0, 24], [0, 40, 16], [0, 0, 1]]], np.float32)
    np.testing.assert_allclose(
        scale_intrinsics(k, (48, 32), (32, 20))[0],
        [[40 * 32 / 48, 0, 16], [0, 40 * 20 / 32, 10], [0, 0, 1]],
        rtol=1e-6,
    )
    frames = frames_for(0, 2)
    assert resize_frames(frames, (32, 20)).shape == (2, 20, 32, 3)


# ---- the clip set -----------------------------------------------------------------------


def test_ingest_writes_the_clip_set(dataset, tmp_path):
    out = tmp_path / "clips"
    summary = ingest(dataset, out, CFG, progress=False)
    assert {
        k: summary[k]
        for k in ("clips_in", "valid", "quarantined", "qa_kept", "qa_dropped", "shards")
    } == {"clips_in": 4, "valid": 4, "quarantined": 0, "qa_kept": 4, "qa_dropped": 0, "shards": 1}
    assert summary["bytes_written"] == sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    meta = read_meta(out, "clipset")
    assert meta["stage"] == "ingest" and meta["inputs"]["dataset"] == summary["dataset_hash"]
    assert meta["config"]["frames"] == 6 and "workers" not in meta["config"]

    rows = read_jsonl(out / "manifest.jsonl")
    assert [r["clip_id"] for r in rows] == ["c0", "c1", "c2", "c3"]
    row = rows[1]
    assert row["frame_indices"] == sample_indices(8, 6) == [0, 1, 3, 4, 6, 7]
    assert row["timestamps"] == [i / 8 for i in row["frame_indices"]]
    assert (row["width"], row["height"], row["src_width"], row["src_height"]) == (32, 20, 48, 32)
    assert (row["fps"], row["n_frames"], row["has_gt"], row["split"], row["source"]) == (
        8.0,
        8,
        True,
        "train",
        "test",
    )
    assert row["shard"] == "shards/shard-00000.tar"

    arrays, metadata = ShardReader(out).get("c1")
    assert metadata == {"clip_id": "c1", "sha256": row["sha256"]}
    expected = resize_frames(
        decode_frames(dataset / "videos/c1.mp4", row["frame_indices"]), (32, 20)
    )
    np.testing.assert_array_equal(arrays["frames"], expected)
    original = resize_frames(frames_for(1, 8)[row["frame_indices"]], (32, 20)).astype(float)
    assert np.abs(arrays["frames"] - original).mean() < 8  # the right frames, in order
    gt = ground_truth(8, seed=1)
    idx = row["frame_indices"]
    np.testing.assert_array_equal(arrays["depth"], resize_depth(gt["depth"][idx], (32, 20)))
    np.testing.assert_array_equal(
        arrays["intrinsics"], scale_intrinsics(gt["intrinsics"][idx], (48, 32), (32, 20))
    )
    np.testing.assert_array_equal(arrays["extrinsics"], gt["extrinsics"][idx])
    assert arrays["frames"].dtype == np.uint8 and arrays["depth"].dtype == np.float32

    assert [q["id"] for q in read_jsonl(out / "qa.jsonl")] == ["q0", "q1", "q2", "q3"]
    assert read_jsonl(out / "quarantine.jsonl") == []


def test_every_corrupt_input_is_quarantined_and_the_good_clips_kept(tmp_path):
    root = make_dataset(tmp_path / "data", n_clips=4, frames=8)
    expected = add_corrupt_inputs(root, frames=8)
    out = tmp_path / "clips"
    summary = ingest(
        root,
        out,
        IngestConfig(frames=8, max_side=32, min_valid_fraction=0.25, workers=1),
        progress=False,
    )
    found = quarantine(out)
    for where, fragment in expected.items():
        assert fragment in found.pop(where), where
    assert found == {}  # nothing else was rejected: the good clips went through
    assert [r["clip_id"] for r in read_jsonl(out / "manifest.jsonl")] == ["c0", "c1", "c2", "c3"]
    assert (summary["clips_in"], summary["valid"], summary["quarantined"]) == (13, 4, 9)
    assert (summary["qa_kept"], summary["qa_dropped"]) == (4, 1)


@pytest.mark.parametrize(
    "case, reason",
    [
        ("rotation", "extrinsics rotation is not orthonormal with det +1 at frame 2"),
        ("negative", "depth has negative values (first at frame 0)"),
        ("no_depth", "ground truth has no 'depth' tensor"),
        ("wrong_size", "depth has shape [8, 16, 48], expected [8, 32, 48]"),
        ("garbage", "ground truth is not a readable safetensors file"),
    ],
)
def test_ground_truth_checks(tmp_path, case, reason):
    root = make_dataset(tmp_path / "data", n_clips=1, frames=8)
    gt = ground_truth(8)
    if case == "rotation":
        gt["extrinsics"][2, :, :3] *= 1.1
    elif case == "negative":
        gt["depth"][0, 5, 5] = -1.0
    elif case == "no_depth":
        del gt["depth"]
    elif case == "wrong_size":
        gt["depth"] = gt["depth"][:, :16]
    write_gt(root, "c0", gt)
    if case == "garbage":
        (root / "gt/c0.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    ingest(
        root,
        tmp_path / "clips",
        IngestConfig(frames=8, min_valid_fraction=0, workers=1),
        progress=False,
    )
    assert reason in quarantine(tmp_path / "clips")["gt/c0.safetensors"]


def test_video_limits_and_scene_checks(tmp_path):
    info = VideoInfo(codec="h264", fps=8.0, n_frames=8, width=48, height=32, duration_s=1.0)
    limits = VideoLimits()
    assert video_problem(info, limits, 8) is None
    assert video_problem(info, limits, 9) == "8 frames, fewer than the 9 to sample (--frames)"
    assert "frame rate 500 fps" in video_problem(
        VideoInfo("h264", 500.0, 8, 48, 32, 0.016), limits, 8
    )
    assert "resolution 48x32" in video_problem(info, VideoLimits(max_side=40), 8)
    assert "duration 7200 s" in video_problem(
        VideoInfo("h264", 8.0, 57600, 48, 32, 7200.0), limits, 8
    )
    scene = tmp_path / "s.json"
    scene.write_text(json.dumps({"clip_id": "other"}))
    with pytest.raises(Rejected, match="scene is for clip 'other', not 'c0'"):
        check_scene(scene, "scenes/c0.json", "c0")


def test_same_input_same_bytes_whatever_the_workers_or_location(tmp_path):
    root = make_dataset(tmp_path / "a" / "data", n_clips=4, frames=8)
    add_corrupt_inputs(root, frames=8)
    moved = tmp_path / "b" / "elsewhere"
    shutil.copytree(root, moved, symlinks=True)
    cfg = IngestConfig(frames=6, max_side=32, min_valid_fraction=0.2, clips_per_shard=3, workers=1)
    ingest(root, tmp_path / "one", cfg, progress=False)
    ingest(moved, tmp_path / "two", dataclasses.replace(cfg, workers=2), progress=False)
    first = tree_bytes(tmp_path / "one")
    assert first == tree_bytes(tmp_path / "two")
    assert {name for name in first if name.startswith("shards/")} == {
        "shards/shard-00000.tar",
        "shards/shard-00001.tar",
    }


def test_without_clips_jsonl_videos_are_discovered(tmp_path):
    root = make_dataset(tmp_path / "data", n_clips=3, frames=8)
    (root / "clips.jsonl").unlink()
    summary = ingest(root, tmp_path / "clips", CFG, progress=False)
    assert summary["valid"] == 3
    rows = read_jsonl(tmp_path / "clips" / "manifest.jsonl")
    assert all(r["has_gt"] and r["source"] == "unknown" for r in rows)


# ---- failure, safety, CLI ---------------------------------------------------------------


def test_too_few_valid_clips_exit_non_zero_and_write_nothing(tmp_path, capsys):
    root = make_dataset(tmp_path / "data", n_clips=1, frames=8)
    for name in ("x", "y"):
        (root / "videos" / f"{name}.mp4").write_text("not a video")
    with (root / "clips.jsonl").open("a") as f:
        f.write(
            "".join(json.dumps({"clip_id": n, "video": f"videos/{n}.mp4"}) + "\n" for n in "xy")
        )
    out = tmp_path / "clips"
    assert (
        main(["ingest", "--data", str(root), "--out", str(out), "--frames", "8", "--no-progress"])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("geovr: error: only 1 of 3 clips are valid (33% <")
    assert "videos/x.mp4: is a text file, not a video" in err[0]
    assert not out.exists() and list(tmp_path.glob(".clips*")) == []
    # A failed rerun leaves an earlier clip set where it was, untouched.
    ingest(make_dataset(tmp_path / "good", n_clips=2), out, CFG, progress=False)
    before = tree_bytes(out)
    with pytest.raises(GeoVRError, match="only 1 of 3"):
        ingest(root, out, IngestConfig(frames=8, workers=1), progress=False)
    assert tree_bytes(out) == before


def test_out_that_is_not_a_clip_set_is_never_replaced(dataset, tmp_path):
    with pytest.raises(GeoVRError, match="is or contains the input"):
        ingest(dataset, dataset.parent, CFG, progress=False)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(
        GeoVRError, match="is not empty .notes.txt. and is not a `geovr ingest` output"
    ):
        ingest(dataset, precious, CFG, progress=False)
    assert (precious / "notes.txt").read_text() == "keep me"
    with pytest.raises(GeoVRError, match="--frames must be >= 2"):
        IngestConfig(frames=1)


@pytest.mark.slow
def test_cli_prints_the_summary_last(dataset, tmp_path):
    geovr = Path(sys.executable).parent / "geovr"
    out = tmp_path / "clips"
    proc = subprocess.run(
        [
            str(geovr),
            "ingest",
            "--data",
            str(dataset),
            "--out",
            str(out),
            "--frames",
            "4",
            "--max-side",
            "32",
            "--clips-per-shard",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["clips_in"], summary["valid"], summary["quarantined"], summary["shards"]) == (
        4,
        4,
        0,
        2,
    )
    assert summary["bytes_written"] > 0 and summary["seconds"] > 0
    assert "ingest: 100%" in proc.stderr  # the progress bar goes to stderr
    assert len(read_jsonl(out / "manifest.jsonl")) == 4


def test_qa_of_a_quarantined_clip_is_dropped_with_its_reason(tmp_path):
    root = make_dataset(tmp_path / "data", n_clips=2, frames=8)
    write_clip(root, "c1", n_frames=3, seed=1, gt=False)  # now too short for --frames 8
    write_jsonl(
        root / "qa.jsonl",
        [
            {
                "id": "a",
                "scene_name": "c0",
                "question_type": "object_counting",
                "question": "?",
                "options": None,
                "ground_truth": "1",
            },
            {
                "id": "b",
                "clip_id": "c1",
                "question_type": "object_counting",
                "question": "?",
                "options": None,
                "ground_truth": "1",
            },
        ],
    )
    (root / "gt/c1.safetensors").unlink()
    lines = read_jsonl(root / "clips.jsonl")
    lines[1]["gt"] = None
    write_jsonl(root / "clips.jsonl", lines)
    ingest(root, tmp_path / "clips", IngestConfig(frames=8, workers=1), progress=False)
    assert quarantine(tmp_path / "clips") == {
        "videos/c1.mp4": "3 frames, fewer than the 8 to sample (--frames)",
        "qa.jsonl:2": "question names quarantined clip 'c1'",
    }
