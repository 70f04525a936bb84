"""`geovr evaluate` end to end on tiny checkpoints and a real synthetic clip set."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from geovr.artifacts import checkpoint_fingerprint
from geovr.errors import GeoVRError
from geovr.eval.evaluate import run_evaluation
from geovr.model import GeoVRConfig, GeoVRModel, HeadWidths, build_tiny_student, save_student
from geovr.model.config import teacher_feature_dim
from tests.geovr_data import make_geovr_data

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_geovr_data(tmp_path_factory.mktemp("eval_data"))


def _checkpoint(path, targets, objectives):
    student, processor = build_tiny_student("qwen3_vl")
    config = GeoVRConfig(
        objectives=objectives,
        widths=HeadWidths.tiny(),
        teacher_feature_dim=teacher_feature_dim(targets),
    )
    return save_student(GeoVRModel(student, config), path, processor)


@pytest.fixture(scope="module")
def geovr_checkpoint(data, tmp_path_factory):
    return _checkpoint(
        tmp_path_factory.mktemp("ckpt") / "geovr",
        data[1],
        ("lm", "cam", "depth", "scale", "distill"),
    )


def test_evaluation_writes_every_output(data, geovr_checkpoint, tmp_path):
    clips, targets = data
    summary = run_evaluation(
        str(geovr_checkpoint),
        str(clips),
        tmp_path / "eval",
        targets=str(targets),
        splits=("val", "test"),
        progress=False,
    )
    out = tmp_path / "eval"
    metrics = json.loads((out / "metrics.json").read_text())
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    qa = [json.loads(line) for line in (clips / "qa.jsonl").read_text().splitlines()]
    val_test = {
        r["clip_id"]
        for r in map(json.loads, (clips / "manifest.jsonl").read_text().splitlines())
        if r["split"] in ("val", "test")
    }
    assert len(rows) == sum(q["scene_name"] in val_test for q in qa) == summary["questions"]
    assert {"id", "question_type", "prediction", "ground_truth"} <= set(rows[0])
    assert metrics["vsi"]["overall"] == summary["vsi_overall"] and metrics["vsi"]["per_task"]
    assert {"depth_absrel", "depth_delta1", "pose_auc30", "scale_rel_err", "feat_cos_mean"} <= set(
        metrics["probes"]
    )
    assert (
        metrics["counts"] == {"questions": len(rows), "clips": 2, "probed_clips": 2}
        and metrics["eval_set"]
    )
    html = (out / "report.html").read_text()
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', html)) >= 3
    assert not re.search(r'(src|href)="https?://', html), "the report must be self-contained"
    assert json.loads((out / "meta.json").read_text())["schema"] == "geovr.evaluation/1"
    assert metrics["blank_frames"] is False
    # what was evaluated, by content: the registry checks it against what it registers
    assert metrics["checkpoint_sha256"] == checkpoint_fingerprint(geovr_checkpoint)


def test_sft_checkpoint_has_no_probes_and_the_cli_prints_the_summary(data, tmp_path):
    clips, targets = data
    sft = _checkpoint(tmp_path / "sft", targets, ("lm",))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "geovr",
            "evaluate",
            "--checkpoint",
            str(sft),
            "--clips",
            str(clips),
            "--targets",
            str(targets),
            "--out",
            str(tmp_path / "eval"),
            "--max-questions",
            "3",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["probes"] == {} and summary["questions"] == 3


def test_no_question_in_the_splits_is_a_clear_error_and_writes_nothing(
    data, geovr_checkpoint, tmp_path
):
    clips, targets = data
    with pytest.raises(GeoVRError, match="no question in splits nosuchsplit"):
        run_evaluation(
            str(geovr_checkpoint),
            str(clips),
            tmp_path / "eval",
            targets=str(targets),
            splits=("nosuchsplit",),
            progress=False,
        )
    assert list(tmp_path.iterdir()) == []


def test_a_failure_midway_leaves_no_partial_output(data, geovr_checkpoint, tmp_path, monkeypatch):
    clips, targets = data
    import geovr.eval.evaluate as evaluate

    def broken_report(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(evaluate, "build_report", broken_report)
    with pytest.raises(RuntimeError, match="disk full"):
        run_evaluation(
            str(geovr_checkpoint),
            str(clips),
            tmp_path / "eval",
            targets=str(targets),
            progress=False,
        )
    assert list(tmp_path.iterdir()) == []


def test_blank_frames_answer_without_the_video_and_cannot_be_registered(
    data, geovr_checkpoint, tmp_path, monkeypatch
):
    clips, targets = data
    import geovr.eval.evaluate as evaluate
    from geovr.errors import ArtifactError
    from geovr.registry.inputs import read_metrics

    seen = []

    def recording(student, processor, frames, *args, **kwargs):
        seen.append(frames)
        return real(student, processor, frames, *args, **kwargs)

    real = evaluate.generate_answers
    monkeypatch.setattr(evaluate, "generate_answers", recording)
    summary = run_evaluation(
        str(geovr_checkpoint),
        str(clips),
        tmp_path / "blank",
        targets=str(targets),
        max_questions=3,
        progress=False,
        blank_frames=True,
    )
    metrics = json.loads((tmp_path / "blank" / "metrics.json").read_text())
    assert summary["questions"] == 3 and metrics["blank_frames"] is True
    assert seen and all(f.shape[0] > 0 and not f.any() for f in seen), "frames must be black"
    assert metrics["probes"] == {}, "probes of black frames would mean nothing"
    with pytest.raises(ArtifactError, match="blank frames"):
        read_metrics(tmp_path / "blank")
