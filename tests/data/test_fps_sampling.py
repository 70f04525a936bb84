"""The paper's frame sampling at ingest (`--sampling fps`): frames at a target fps within a
minimum and maximum count, on real H.264 videos of different lengths; the manifest records
the rule and the timestamps, and training examples carry those timestamps.

    .venv/bin/pytest -q tests/data/test_fps_sampling.py
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from clip_builders import qa_row, write_clip, write_jsonl

from geovr.artifacts import read_jsonl, read_meta
from geovr.cli import main
from geovr.config.ingest import IngestConfig
from geovr.data.ingest import ingest
from geovr.data.sampling import fps_frame_count, sample_indices
from geovr.errors import GeoVRError

LENGTHS = {"short": 8, "mid": 24, "long": 80, "still": 3}  # frames at 8 fps: 1 s, 3 s, 10 s


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fps") / "data"
    root.mkdir()
    (root / "dataset.json").write_text(json.dumps({"schema": "geovr.dataset/1", "name": "fps"}))
    lines = [write_clip(root, name, n, seed=i) for i, (name, n) in enumerate(LENGTHS.items())]
    write_jsonl(root / "clips.jsonl", lines)
    write_jsonl(root / "qa.jsonl", [qa_row(i, name) for i, name in enumerate(LENGTHS)])
    return root


def test_fps_frame_count_follows_the_duration_within_the_bounds():
    # the defaults (2 fps, 4..32): 10 s of 30 fps -> 20 frames; 1 s -> 4; 60 s -> 32
    assert [fps_frame_count(n, 30.0, 2.0, 4, 32) for n in (300, 30, 1800)] == [20, 4, 32]
    assert fps_frame_count(75, 30.0, 2.0, 4, 32) == 5  # 2.5 s -> 5 (round half up)
    assert fps_frame_count(3, 1.0, 2.0, 2, 32) == 3  # never more than the clip has


def test_fps_rule_samples_each_clip_by_its_length_and_records_it(dataset, tmp_path):
    cfg = IngestConfig(sampling="fps", fps=2, min_frames=4, max_frames=8, max_side=32, workers=1)
    summary = ingest(dataset, tmp_path / "clips", cfg, progress=False)
    assert (summary["valid"], summary["quarantined"]) == (3, 1)
    rows = {r["clip_id"]: r for r in read_jsonl(tmp_path / "clips" / "manifest.jsonl")}
    rule = {"rule": "fps", "fps": 2.0, "min_frames": 4, "max_frames": 8}
    for name, count in (("short", 4), ("mid", 6), ("long", 8)):  # 1 s -> min, 3 s, 10 s -> max
        row = rows[name]
        assert row["frame_indices"] == sample_indices(LENGTHS[name], count)
        assert row["timestamps"] == [round(i / 8, 6) for i in row["frame_indices"]]
        assert row["sampling"] == rule
    reasons = {r["input"]: r["reason"] for r in read_jsonl(tmp_path / "clips" / "quarantine.jsonl")}
    assert reasons["videos/still.mp4"] == "3 frames, fewer than --min-frames 4"
    config = read_meta(tmp_path / "clips", "clipset")["config"]
    assert {k: config[k] for k in rule if k != "rule"} == {k: rule[k] for k in rule if k != "rule"}
    assert config["sampling"] == "fps" and "frames" not in config


def test_count_rule_is_recorded_and_keeps_its_config(dataset, tmp_path):
    cfg = IngestConfig(frames=3, max_side=32, workers=1)
    ingest(dataset, tmp_path / "clips", cfg, progress=False)
    rows = read_jsonl(tmp_path / "clips" / "manifest.jsonl")
    assert all(r["sampling"] == {"rule": "count", "frames": 3} for r in rows) and len(rows) == 4
    assert set(read_meta(tmp_path / "clips", "clipset")["config"]) == {
        "frames",
        "max_side",
        "min_valid_fraction",
        "clips_per_shard",
        "limits",
    }  # as before


def test_cli_fps_options_and_their_one_line_errors(dataset, tmp_path, capsys):
    args = [
        "ingest",
        "--data",
        str(dataset),
        "--out",
        str(tmp_path / "c"),
        "--max-side",
        "32",
        "--workers",
        "1",
        "--no-progress",
        "--sampling",
        "fps",
    ]
    assert main([*args, "--max-frames", "6"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["valid"] == 3
    rows = read_jsonl(tmp_path / "c" / "manifest.jsonl")
    assert [len(r["frame_indices"]) for r in rows] == [4, 6, 6]
    assert main([*args, "--min-frames", "9", "--max-frames", "6"]) == 2
    assert "--min-frames <= --max-frames" in capsys.readouterr().err
    with pytest.raises(GeoVRError, match="--fps must be a positive number"):
        IngestConfig(sampling="fps", fps=float("nan"))


@pytest.mark.slow
def test_training_examples_carry_the_recorded_timestamps(dataset, tmp_path):
    from geovr.model.dataset import ClipQADataset
    from geovr.model.tiny import build_processor

    cfg = IngestConfig(sampling="fps", fps=2, min_frames=4, max_frames=8, max_side=32, workers=1)
    ingest(dataset, tmp_path / "clips", cfg, progress=False)
    processor = build_processor("qwen3_vl")
    data = ClipQADataset(str(tmp_path / "clips"), processor, splits=("train",))
    rows = {r["clip_id"]: r for r in read_jsonl(tmp_path / "clips" / "manifest.jsonl")}
    for index, item in enumerate(data.items):
        text = processor.tokenizer.decode(data[index]["input_ids"])
        shown = [float(t) for t in re.findall(r"<([\d.]+) seconds>", text)]
        expected = rows[item.clip["clip_id"]]["timestamps"]
        assert shown == pytest.approx(expected, abs=0.051)  # Qwen3-VL prints 1 decimal


@pytest.mark.slow
@pytest.mark.integration
def test_a_batch_of_clips_with_different_frame_counts_trains(dataset, tmp_path):
    """The fps rule gives clips 4, 6 and 8 frames; oracle distill and a real torchrun step
    take them in one batch."""
    from geovr.teachers.distill import run_distill
    from geovr.train.run import run_training

    cfg = IngestConfig(sampling="fps", fps=2, min_frames=4, max_frames=8, max_side=32, workers=1)
    clips, targets = tmp_path / "clips", tmp_path / "targets"
    ingest(dataset, clips, cfg, progress=False)
    assert sorted(len(r["frame_indices"]) for r in read_jsonl(clips / "manifest.jsonl")) == [
        4,
        6,
        8,
    ]
    assert run_distill(str(clips), "oracle", str(targets), progress=False)["quarantined"] == 0
    summary = run_training(
        str(clips),
        str(targets),
        tmp_path / "train",
        nproc=1,
        steps=1,
        batch_size=3,
        lr_model=1e-3,
        lr_heads=1e-3,
        num_workers=0,
        timeout=600,
    )
    assert summary["steps"] == 1
    assert set(summary["final_losses"]) == {"lm", "cam", "depth", "scale", "distill", "total"}
    assert all(math.isfinite(v) for v in summary["final_losses"].values())


@pytest.mark.slow
def test_token_lengths_from_the_manifest_rank_items_as_their_sequences(dataset, tmp_path):
    """Length grouping's key, computed without decoding: it orders clips of 4, 6 and 8 frames
    as their real sequences and leaves out only tokens (the template's and the timestamps')."""
    from geovr.model.dataset import ClipQADataset
    from geovr.model.tiny import build_processor

    cfg = IngestConfig(sampling="fps", fps=2, min_frames=4, max_frames=8, max_side=64, workers=1)
    ingest(dataset, tmp_path / "clips", cfg, progress=False)
    data = ClipQADataset(str(tmp_path / "clips"), build_processor("qwen3_vl"), splits=("train",))
    estimates = data.token_lengths()
    real = [len(data[i]["input_ids"]) for i in range(len(data))]
    assert len(set(real)) == 3
    assert sorted(range(3), key=estimates.__getitem__) == sorted(range(3), key=real.__getitem__)
    assert all(e < r for e, r in zip(estimates, real, strict=True))
