"""The distill stage: summary, cache reuse, resume after kill -9, quarantine, fan-out + merge."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from geovr.artifacts import META_FILE, make_meta, read_jsonl, write_meta
from geovr.cli import main
from geovr.errors import ArtifactError, GeoVRError
from geovr.teachers.base import build_teacher, register_teacher
from geovr.teachers.distill import distill, run_distill
from geovr.teachers.merge import merge_targets
from geovr.teachers.oracle import OracleTeacher
from geovr.teachers.store import TargetStore

from .slow_teacher import SlowOracle

HERE = Path(__file__).parent


class PoisonedOracle(OracleTeacher):
    """Yields NaN depth on its second call (the second clip computed)."""

    name = "poisoned-oracle"

    def __init__(self, **options):
        super().__init__(**options)
        self.calls = 0

    def targets(self, frames, intrinsics=None, gt=None):
        self.calls += 1
        targets = super().targets(frames, intrinsics, gt)
        if self.calls == 2:
            targets.depth[0, 0, 0] = np.nan
        return targets


def test_oracle_distill_summary_reuse_and_quarantine(clipset, tmp_path):
    out = tmp_path / "targets"
    summary = run_distill(str(clipset), "oracle", str(out), progress=False)
    assert (summary["clips"], summary["computed"], summary["reused"], summary["quarantined"]) == (
        5,
        5,
        0,
        1,
    )
    assert (
        summary["feature_bytes_per_frame"] == 4 * 2 * 2 * 32 * 2
    )  # 4 layers, 2x2 grid, C=32, fp16
    assert summary["raw_fp32_feature_bytes_per_frame"] == 8 * summary["feature_bytes_per_frame"]
    assert summary["clips_per_s"] > 0 and summary["device"] == "cpu"
    [row] = read_jsonl(out / "quarantine.jsonl")
    assert row["clip_id"] == "c4" and "ground-truth" in row["reason"]
    store = TargetStore(str(out))
    assert sorted(store.clip_ids()) == ["c0", "c1", "c2", "c3"] and store.teacher == "oracle"
    manifest = {r["clip_id"]: r for r in read_jsonl(clipset / "manifest.jsonl")}
    t = store.get("c2", sha256=manifest["c2"]["sha256"])
    assert t.pose_enc.shape == (4, 9) and t.features["23"].dtype == np.float16
    with pytest.raises(ArtifactError, match="another video"):
        store.get("c2", sha256="0" * 64)
    again = run_distill(str(clipset), "oracle", str(out), progress=False)
    assert (again["computed"], again["reused"], again["quarantined"]) == (0, 5, 1)
    changed = run_distill(str(clipset), "oracle", str(out), options={"n_freq": 2}, progress=False)
    assert changed["computed"] == 5  # another teacher config: other cache keys


def test_resume_after_kill_recomputes_no_finished_clip(tmp_path):
    from .synth import make_clip, write_clipset

    clips = write_clipset(tmp_path / "clips", {f"k{i}": make_clip(i, frames=2) for i in range(6)})
    out = tmp_path / "targets"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "slow_teacher.py"), str(clips), str(out), "0.5"]
    )
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob("cache/*/*/index.json")):
            assert proc.poll() is None and time.monotonic() < deadline, (
                "distill ended before its first chunk"
            )
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = {p.parent: p.stat().st_mtime_ns for p in out.glob("cache/*/*/index.json")}
    assert 1 <= len(finished) < 6 and not (out / META_FILE).exists()
    with pytest.raises(ArtifactError):
        TargetStore(str(out))  # a killed run is never read as complete
    summary = distill(str(clips), SlowOracle(), str(out), clips_per_shard=1, progress=False)
    assert (summary["computed"], summary["reused"]) == (6 - len(finished), len(finished))
    assert {
        p: p.joinpath("index.json").stat().st_mtime_ns for p in finished
    } == finished  # untouched
    assert len(TargetStore(str(out)).clip_ids()) == 6


def test_oracle_distill_never_imports_torch(clipset, tmp_path):
    """A model-free teacher's task starts without torch (seconds per pipeline task); device
    "auto" is for teachers that place a model."""
    code = (
        "import sys\n"
        "from geovr.teachers.distill import run_distill\n"
        "s = run_distill(sys.argv[1], 'oracle', sys.argv[2], device='auto', progress=False)\n"
        "assert (s['computed'], s['device']) == (5, 'cpu'), s\n"
        "assert 'torch' not in sys.modules\n"
    )
    args = [str(clipset), str(tmp_path / "t")]
    subprocess.run([sys.executable, "-c", code, *args], check=True, timeout=120)


def test_nan_output_goes_to_quarantine(clipset, tmp_path):
    register_teacher("poisoned-oracle", PoisonedOracle)
    summary = run_distill(str(clipset), "poisoned-oracle", str(tmp_path / "t"), progress=False)
    assert summary["quarantined"] == 2  # c1 (NaN) and c4 (no ground truth)
    reasons = {r["clip_id"]: r["reason"] for r in read_jsonl(tmp_path / "t" / "quarantine.jsonl")}
    assert reasons["c1"].startswith("non-finite teacher output: 1 of") and "depth" in reasons["c1"]
    assert "c1" not in TargetStore(str(tmp_path / "t"))


@pytest.mark.slow
def test_nan_in_a_real_model_goes_to_quarantine(clipset, tiny_depth_anything, tmp_path):
    teacher = build_teacher("depth-anything", weights=str(tiny_depth_anything), input_size=56)
    with torch.no_grad():
        teacher.model.head.conv3.bias.fill_(float("nan"))
    summary = distill(str(clipset), teacher, str(tmp_path / "t"), progress=False)
    assert summary["quarantined"] == 5
    assert all(
        "predicted_depth" in r["reason"] for r in read_jsonl(tmp_path / "t" / "quarantine.jsonl")
    )


def test_shard_range_fan_out_and_merge(clipset, tmp_path):
    parts = [tmp_path / "p0", tmp_path / "p1"]
    first = run_distill(str(clipset), "oracle", str(parts[0]), shard_range="0:1", progress=False)
    second = run_distill(str(clipset), "oracle", str(parts[1]), shard_range="1:", progress=False)
    assert (first["clips"], second["clips"]) == (2, 3)
    merged = merge_targets([str(p) for p in parts], str(tmp_path / "all"))
    assert (merged["clips"], merged["quarantined"]) == (4, 1)
    whole = tmp_path / "whole"
    run_distill(str(clipset), "oracle", str(whole), progress=False)
    store, reference = TargetStore(str(tmp_path / "all")), TargetStore(str(whole))
    assert sorted(store.clip_ids()) == sorted(reference.clip_ids())
    np.testing.assert_array_equal(
        store.get("c3").features["11"], reference.get("c3").features["11"]
    )
    with pytest.raises(GeoVRError, match="more than one part"):
        merge_targets([str(parts[0]), str(parts[0])], str(tmp_path / "twice"))
    with pytest.raises(GeoVRError, match="shards 0..2"):
        run_distill(str(clipset), "oracle", str(tmp_path / "x"), shard_range="2:5", progress=False)


def test_unknown_clipset_schema_is_refused(clipset, tmp_path, capsys):
    write_meta(clipset, {**make_meta("clipset", "ingest", {}), "schema": "geovr.clipset/99"})
    with pytest.raises(ArtifactError, match="geovr.clipset/99"):
        run_distill(str(clipset), "oracle", str(tmp_path / "t"), progress=False)
    assert (
        main(
            [
                "distill",
                "--clips",
                str(clipset),
                "--teacher",
                "oracle",
                "--out",
                str(tmp_path / "t"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "geovr.clipset/99" in err[0]


def test_cli_prints_the_summary_last(clipset, tmp_path, capsys):
    out = tmp_path / "t"
    assert (
        main(
            [
                "distill",
                "--clips",
                str(clipset),
                "--teacher",
                "oracle",
                "--out",
                str(out),
                "--shard-range",
                "0:2",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["stage"] == "distill" and summary["computed"] == 4
    assert main(["distill-merge", "--parts", str(out), "--out", str(tmp_path / "m")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["clips"] == 4
    assert main(["distill", "--clips", str(clipset), "--teacher", "nope", "--out", str(out)]) == 2
    assert "unknown teacher 'nope'" in capsys.readouterr().err
