"""The train component run for real by kfp.local (SubprocessRunner, this interpreter): importers
bring a synthetic clip set and its oracle targets in, torchrun trains 2 gloo ranks.

    .venv/bin/pytest -q components/train
"""

import json

import pytest
from kfp import dsl, local

from components.train.component import plan_launcher, train
from geovr.registry.inputs import read_checkpoint
from tests.geovr_data import make_geovr_data

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore:You may be attemping to run a task:RuntimeWarning"
    ),  # the image is ours
]


# Not the paper's 2B default: the embedded student, offline, two steps on CPU ranks.
TINY_CPU_TRAINING = {
    "student": "tiny",
    "steps": 2,
    "batch_size": 1,
    "grad_accum": 1,
    "parallelism": "ddp",
    "gpus_per_node": 0,
    "launcher": "local",
}


@dsl.pipeline(name="train-only")
def train_only(clips_uri: str, targets_uri: str) -> dsl.Model:
    clips = dsl.importer(artifact_uri=clips_uri, artifact_class=dsl.Dataset)
    targets = dsl.importer(artifact_uri=targets_uri, artifact_class=dsl.Dataset)
    task = train(
        clips=clips.output,
        targets=targets.output,
        **TINY_CPU_TRAINING,
        pack_tokens=4096,  # not the paper's 16384: shows the parameter reaches the workers
        cpu_ranks=2,
        dvc_md5="md5.dir",
        git_rev="abc123",
        kfp_run_id="run-1",
    )
    task.set_caching_options(False)
    return task.outputs["checkpoint"]


def test_trains_two_ranks_and_outputs_the_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clips, targets = make_geovr_data(tmp_path)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    model = train_only(clips_uri=str(clips), targets_uri=str(targets)).output
    info = read_checkpoint(model.path)
    assert (info.dvc_md5, info.git_rev, info.student_base) == ("md5.dir", "abc123", "tiny")
    assert (
        model.metadata["steps"] == 2
        and model.metadata["objectives"] == "lm,cam,depth,scale,distill"
    )
    saved = json.loads((info.path / "geovr_config.json").read_text())
    assert saved["geovr"]["objectives"] == ["lm", "cam", "depth", "scale", "distill"]
    meta = json.loads((info.path / "meta.json").read_text())
    assert meta["run_config"]["train"]["pack_tokens"] == 4096


@pytest.mark.parametrize(
    ("launcher", "num_nodes", "planned"),
    [
        ("auto", 1, "local"),
        ("auto", 2, "trainjob"),
        ("trainjob", 1, "trainjob"),
        ("local", 1, "local"),
    ],
)
def test_plan_launcher_picks_who_runs_the_workers(tmp_path, launcher, num_nodes, planned):
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    assert plan_launcher(launcher=launcher, num_nodes=num_nodes).output == planned


@pytest.mark.parametrize(
    ("launcher", "num_nodes", "reason"),
    [("local", 2, "runs on one node"), ("slurm", 1, "choose auto, local or trainjob")],
)
def test_plan_launcher_refuses_what_no_launcher_can_run(
    tmp_path, capfd, launcher, num_nodes, reason
):
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "root"),
        raise_on_error=True,
    )
    with pytest.raises(RuntimeError, match="plan-launcher"):
        plan_launcher(launcher=launcher, num_nodes=num_nodes)
    captured = capfd.readouterr()
    assert reason in captured.out + captured.err
