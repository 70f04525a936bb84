"""Where the train step keeps its resumable checkpoints on the shared volume: one folder per
KFP run, so a retry resumes and the next scheduled run does not. The first test replaces
run_training with a recorder (the step's choice of folder, retries and by-hand runs included);
the second trains for real under kfp.local, two pipeline runs on one work dir.

    .venv/bin/pytest -q components/train/tests/test_work_dir.py
"""

import tempfile
from pathlib import Path
from typing import NamedTuple

import pytest
from kfp import dsl, local

import geovr.train.run
from components.train.component import train
from components.train.tests.test_component import TINY_CPU_TRAINING
from tests.geovr_data import make_geovr_data


def _train_step(monkeypatch, tmp_path, **kwargs) -> list[str]:
    used = []

    def recorder(clips, targets, out, **options):
        used.append(out)
        checkpoint = tempfile.mkdtemp(dir=tmp_path)
        return {
            "checkpoint": checkpoint,
            "steps": 1,
            "objectives": ["lm"],
            "mlflow_run_id": "",
        }

    monkeypatch.setattr(geovr.train.run, "run_training", recorder)
    artifact = {"metadata": {}}
    train.python_func(
        clips=dsl.Dataset(name="clips", uri=str(tmp_path / "clips"), **artifact),
        targets=dsl.Dataset(name="targets", uri=str(tmp_path / "targets"), **artifact),
        checkpoint=dsl.Model(name="checkpoint", uri=str(tmp_path / "out"), **artifact),
        launcher="local",
        **kwargs,
    )
    return used


def test_each_kfp_run_gets_its_own_folder_under_the_work_dir(monkeypatch, tmp_path):
    volume = str(tmp_path / "volume")
    first = _train_step(monkeypatch, tmp_path, work_dir=volume, kfp_run_id="run-a")
    retry = _train_step(monkeypatch, tmp_path, work_dir=volume, kfp_run_id="run-a")
    scheduled = _train_step(monkeypatch, tmp_path, work_dir=volume, kfp_run_id="run-b")
    assert first == retry == [f"{volume}/run-a"]
    assert scheduled == [f"{volume}/run-b"]
    by_hand = _train_step(monkeypatch, tmp_path, work_dir=volume)  # no KFP run: the folder given
    assert by_hand == [volume]


class Trained(NamedTuple):
    checkpoint: dsl.Model
    summary: dict


@dsl.pipeline(name="train-in-a-work-dir")
def train_in_work_dir(clips_uri: str, targets_uri: str, work_dir: str, kfp_run_id: str) -> Trained:
    clips = dsl.importer(artifact_uri=clips_uri, artifact_class=dsl.Dataset)
    targets = dsl.importer(artifact_uri=targets_uri, artifact_class=dsl.Dataset)
    task = train(
        clips=clips.output,
        targets=targets.output,
        **TINY_CPU_TRAINING,
        objectives="lm,cam",
        cpu_ranks=1,
        work_dir=work_dir,
        checkpoint_every=1,
        kfp_run_id=kfp_run_id,
    )
    task.set_caching_options(False)
    return Trained(task.outputs["checkpoint"], task.outputs["Output"])


def _tree(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*")}


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:You may be attemping to run a task:RuntimeWarning")
def test_a_kfp_run_trains_in_its_own_folder_and_the_next_run_starts_fresh(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clips, targets = make_geovr_data(tmp_path)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    volume = tmp_path / "volume"
    data = {"clips_uri": str(clips), "targets_uri": str(targets), "work_dir": str(volume)}
    first = train_in_work_dir(**data, kfp_run_id="run-a").outputs["summary"]
    assert (first["resumed_from"], first["steps"]) == (0, 2)
    assert sorted(p.name for p in volume.iterdir()) == ["run-a"]
    assert {p.name for p in (volume / "run-a" / "checkpoints").iterdir()} >= {"step-2"}
    run_a = _tree(volume / "run-a")

    second = train_in_work_dir(**data, kfp_run_id="run-b").outputs["summary"]
    assert (second["resumed_from"], second["steps"]) == (0, 2), "resumed another run's state"
    assert sorted(p.name for p in volume.iterdir()) == ["run-a", "run-b"]
    assert {p.name for p in (volume / "run-b" / "checkpoints").iterdir()} >= {"step-2"}
    assert _tree(volume / "run-a") == run_a, "the next run touched the previous run's folder"
