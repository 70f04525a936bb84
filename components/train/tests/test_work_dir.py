"""Where the train step keeps its resumable checkpoints on the shared volume: one folder per
KFP run, so a retry resumes and the next scheduled run does not (run_training is replaced by a
recorder: what is checked is the step's choice of folder, not training).

    .venv/bin/pytest -q components/train/tests/test_work_dir.py
"""

import tempfile

from kfp import dsl

import geovr.train.run
from components.train.component import train


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
