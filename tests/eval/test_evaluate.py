"""`geovr evaluate` end to end on tiny checkpoints and a real synthetic clip set."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from geovr.artifacts import checkpoint_fingerprint
from geovr.config.train import TrainConfig
from geovr.errors import GeoVRError
from geovr.eval.evaluate import run_evaluation
from geovr.model import (
    GeoVRConfig,
    GeoVRModel,
    HeadWidths,
    build_tiny_student,
    load_student,
    save_student,
)
from geovr.model.clip_inputs import prompt
from geovr.model.config import teacher_feature_dim
from geovr.train.run import checkpoint_meta, task_options
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
    manifest = {r["clip_id"]: r for r in map(json.loads, (clips / "manifest.jsonl").open())}
    processor = load_student(str(geovr_checkpoint))[1]
    by_id = {q["id"]: q for q in qa}
    for row in rows:  # each row says exactly what the student was shown
        assert row["prompt"] == prompt(processor, by_id[row["id"]])
        assert row["frame_indices"] == manifest[row["clip_id"]]["frame_indices"]
    assert metrics["probe_references"]["depth"] == {"ground_truth": 2}  # synthetic clips have gt
    assert metrics["probe_references"]["features"] == {"teacher": 2}
    assert {"pose_auc30", "pose_auc3"} <= set(metrics["probes"]) and metrics["heads"] is True
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
    # the resolved settings and their preset (the CLI's default, embedded) are recorded
    record = json.loads((tmp_path / "eval" / "meta.json").read_text())["run_config"]
    assert record["preset"] == "embedded" and record["evaluate"]["max_questions"] == 3


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
    import geovr.eval.answering as answering
    from geovr.errors import ArtifactError
    from geovr.registry.inputs import read_metrics

    seen = []

    def recording(processor, frames, *args, **kwargs):
        seen.append(frames)
        return real(processor, frames, *args, **kwargs)

    real = answering.encode_video_prompt
    monkeypatch.setattr(answering, "encode_video_prompt", recording)
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


def _evaluate_cli(checkpoint, clips, targets, out, *extra):
    """`geovr evaluate` in a fresh process: (exit code, stderr, the summary line or None)."""
    command = [sys.executable, "-m", "geovr", "evaluate", "--checkpoint", str(checkpoint)]
    command += ["--clips", str(clips), "--targets", str(targets), "--out", str(out)]
    proc = subprocess.run(
        [*command, "--no-progress", *extra], capture_output=True, text=True, timeout=300
    )
    lines = proc.stdout.strip().splitlines()
    return proc.returncode, proc.stderr, json.loads(lines[-1]) if lines else None


@pytest.mark.slow
def test_a_frame_budget_and_the_blind_baseline_are_recorded_and_scored(
    data, geovr_checkpoint, tmp_path
):
    clips, targets = data
    code, stderr, summary = _evaluate_cli(
        geovr_checkpoint, clips, targets, tmp_path / "eval", "--frames", "2", "--blind-baseline"
    )
    assert code == 0, stderr[-2000:]
    out = tmp_path / "eval"
    metrics = json.loads((out / "metrics.json").read_text())
    rows = [json.loads(line) for line in (out / "predictions.jsonl").open()]
    blind = [json.loads(line) for line in (out / "predictions_blind.jsonl").open()]
    manifest = {r["clip_id"]: r for r in map(json.loads, (clips / "manifest.jsonl").open())}
    # 2 of 4 stored frames, uniformly: positions linspace(0, 3, 2) -> 0 and 3
    for row in rows:
        stored = manifest[row["clip_id"]]["frame_indices"]
        assert row["frame_indices"] == [stored[0], stored[3]] and row["vision"] == "video"
    assert [b["id"] for b in blind] == [r["id"] for r in rows]
    assert all(b["frame_indices"] == [] and "<|video_pad|>" not in b["prompt"] for b in blind)
    assert metrics["frame_budget"] == 2 and summary["vsi_blind_overall"] == pytest.approx(
        metrics["vsi_blind"]["overall"]
    )
    assert metrics["vision_gain"] == pytest.approx(
        metrics["vsi"]["overall"] - metrics["vsi_blind"]["overall"]
    )
    assert "VSI-Bench, vision disabled" in (out / "report.html").read_text()

    code, stderr, _ = _evaluate_cli(
        geovr_checkpoint, clips, targets, tmp_path / "too_many", "--frames", "5"
    )
    assert code == 2 and "Traceback" not in stderr
    assert "--frames 5 exceeds the 4 frames stored per clip" in stderr
    assert not (tmp_path / "too_many").exists()


@pytest.mark.slow
def test_a_base_model_with_targets_gets_vsi_scores_and_no_probes(data, tmp_path):
    clips, targets = data
    student, processor = build_tiny_student("qwen3_vl")
    # Saved the way a hub release is: plain save_pretrained, no GeoVR heads or config.
    student.save_pretrained(tmp_path / "base")
    processor.save_pretrained(tmp_path / "base")
    code, stderr, summary = _evaluate_cli(
        tmp_path / "base", clips, targets, tmp_path / "eval", "--max-questions", "2"
    )
    assert code == 0, stderr[-2000:]
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert summary["probes"] == {} and metrics["heads"] is False and metrics["vsi"]["per_task"]
    assert metrics["leakage"]["training_clips"] == -1  # nothing recorded: overlap unknown


def test_leakage_counts_the_evaluated_clips_the_checkpoint_was_trained_on(data, tmp_path):
    clips, targets = data
    student, processor = build_tiny_student("qwen3_vl")
    options = task_options(str(clips), None, ("lm",), student="tiny", splits=("train", "val"))
    meta = checkpoint_meta(options, TrainConfig(), "tiny", None)  # what training writes
    checkpoint = save_student(
        GeoVRModel(student, GeoVRConfig(objectives=("lm",))),
        tmp_path / "ckpt",
        processor,
        meta=meta,
    )
    manifest = [json.loads(line) for line in (clips / "manifest.jsonl").open()]
    val = [r["clip_id"] for r in manifest if r["split"] == "val"]
    assert {c["scene_name"] for c in meta["training_clips"]} == {
        r["clip_id"] for r in manifest if r["split"] in ("train", "val")
    }
    run_evaluation(str(checkpoint), str(clips), tmp_path / "eval", max_questions=20, progress=False)
    leakage = json.loads((tmp_path / "eval" / "metrics.json").read_text())["leakage"]
    # evaluated: val + test; trained on: train + val -> the val clip overlaps
    assert leakage == {"training_clips": 3, "overlapping_clips": len(val), "overlap": val}


def test_questions_marked_debiased_are_also_scored_alone():
    from geovr.eval.evaluate import debiased_ids, vsi_metrics

    # qa rows as import-vsibench + ingest write them beside test_debiased.parquet
    qa = [
        {"id": "0", "question_type": "object_counting", "ground_truth": "4", "in_debiased": False},
        {"id": "1", "question_type": "object_counting", "ground_truth": "4", "in_debiased": True},
    ]
    rows = [
        {"id": "0", "question_type": "object_counting", "prediction": "4", "ground_truth": "4"},
        {"id": "1", "question_type": "object_counting", "prediction": "2", "ground_truth": "4"},
    ]
    metrics = vsi_metrics(rows, [], debiased_ids([({"clip_id": "s"}, qa)]))
    # question 1: |2 - 4| / 4 = 0.5 passes t = .50 only: 0.1
    # full: counting (1.0 + 0.1) / 2 = 0.55 -> overall (0.55 + 0 rel_direction) / 2 = 27.5;
    # debiased: question 1 alone: (0.1 + 0) / 2 = 5
    assert metrics["vsi"]["overall"] == pytest.approx(27.5)
    assert metrics["vsi_debiased"]["overall"] == pytest.approx(5.0)
    assert "vsi_debiased" not in vsi_metrics(rows, [], debiased_ids([({}, qa[:1])]))
