"""The distill components run for real by kfp.local (SubprocessRunner, this interpreter):
an importer brings a synthetic clip set in, two distill tasks fan out over clip-shard
ranges (ParallelFor), the merge joins them; a second run reuses the cache directory.

    .venv/bin/pytest -q components/distill
"""

import os
from pathlib import Path
from typing import NamedTuple

import pytest
from kfp import dsl, local

from components.distill.component import distill, distill_merge
from geovr.teachers.store import TargetStore
from tests.teachers.synth import make_clip, write_clipset

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings(
        "ignore:You may be attemping to run a task:RuntimeWarning"
    ),  # the image is ours
]


class Outputs(NamedTuple):
    targets: dsl.Dataset
    clips: int


@dsl.pipeline(name="distill-fan-out")
def distill_fan_out(clips_uri: str, cache_dir: str) -> Outputs:
    clips = dsl.importer(artifact_uri=clips_uri, artifact_class=dsl.Dataset)
    with dsl.ParallelFor(["0:1", "1:3"], parallelism=1) as shard_range:
        task = distill(
            clips=clips.output,
            teacher="oracle",
            scale_teacher="",  # the ground truth's scale, not the paper's default DA3-metric
            shard_range=shard_range,
            cache_dir=cache_dir,
        )
        task.set_caching_options(False)
    merged = distill_merge(parts=dsl.Collected(task.outputs["targets"]))
    merged.set_caching_options(False)
    return Outputs(merged.outputs["targets"], merged.outputs["Output"])


def test_fan_out_merge_and_cache_reuse(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    clips = write_clipset(
        tmp_path / "clips", {f"c{i}": make_clip(i, frames=2) for i in range(5)}, no_gt=("c4",)
    )
    cache = tmp_path / "cache"

    run = distill_fan_out(clips_uri=str(clips), cache_dir=str(cache))
    assert run.outputs["clips"] == 4  # c4 has no ground truth: quarantined by the oracle
    store = TargetStore(run.outputs["targets"].path)
    assert sorted(store.clip_ids()) == ["c0", "c1", "c2", "c3"]
    assert [q["clip_id"] for q in store.quarantine()] == ["c4"]
    assert store.get("c0").features["4"].dtype.name == "float16"

    chunks = sorted(p.parent for p in cache.glob("*/cache/*/*/index.json"))
    assert len(chunks) == 2  # one chunk per task (up to 16 clips per chunk)
    stamps = [p.joinpath("index.json").stat().st_mtime_ns for p in chunks]
    again = distill_fan_out(clips_uri=str(clips), cache_dir=str(cache))
    assert again.outputs["clips"] == 4
    assert [
        p.joinpath("index.json").stat().st_mtime_ns for p in chunks
    ] == stamps  # nothing recomputed


FAKE_PACKAGES = Path(__file__).resolve().parents[3] / "tests" / "teachers" / "fake_packages"


@dsl.pipeline(name="distill-pair")
def distill_pair(clips_uri: str) -> dsl.Dataset:
    clips = dsl.importer(artifact_uri=clips_uri, artifact_class=dsl.Dataset)
    task = distill(
        clips=clips.output,
        teacher="oracle",
        scale_teacher="da3-metric",
        scale_weights="fake/DA3METRIC",
        teacher_options='{"n_freq": 2}',
    )
    task.set_caching_options(False)
    return task.outputs["targets"]


def test_scale_teacher_and_teacher_options_reach_the_stage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # the task's subprocess imports the stand-in depth-anything-3 package (a flat world)
    monkeypatch.setenv("PYTHONPATH", f"{FAKE_PACKAGES}:{os.environ.get('PYTHONPATH', '')}")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    clips = write_clipset(tmp_path / "clips", {f"c{i}": make_clip(i, frames=2) for i in range(2)})

    targets = distill_pair(clips_uri=str(clips)).output
    assert (targets.metadata["teacher"], targets.metadata["clips_without_scale"]) == (
        "oracle+da3-metric",
        0,
    )
    store = TargetStore(targets.path)
    assert store.get("c0").features["4"].shape[-1] == 8 + 6 * 2  # n_freq=2 reached the oracle
