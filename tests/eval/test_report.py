"""The HTML report: written whole, names every task, embeds its pictures, loads nothing from
outside.

    .venv/bin/pytest -q tests/eval/test_report.py
"""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from geovr.data.vsi_tasks import QUESTION_TYPES, TASKS
from geovr.eval.report import ReportExample, build_report
from geovr.eval.vsi import score_predictions
from geovr.geometry.camera import intrinsics_from_fov
from geovr.geometry.pose import encode_pose

PNG_URI = "data:image/png;base64,"


def example(
    name: str, frames: int = 5, hw: tuple[int, int] = (12, 16), seed: int = 0
) -> ReportExample:
    rng = np.random.default_rng(seed)
    target = rng.uniform(1, 4, size=(frames, *hw)).astype(np.float32)
    target[:, 0, 0] = 0  # a pixel without ground truth
    angles = np.linspace(0, 0.5, frames)
    rot = np.stack(
        [[[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]] for a in angles]
    )
    ext = np.concatenate([rot, np.stack([angles, 0 * angles, -angles], 1)[:, :, None]], -1)
    pose = encode_pose(ext, intrinsics_from_fov(60, hw, frames), hw)
    return ReportExample(
        name,
        rng.integers(0, 255, (frames, *hw, 3), dtype=np.uint8),
        2 * target + rng.normal(0, 0.1, target.shape),
        target,
        pose + 0.01,
        ext,
    )


@pytest.fixture
def metrics():
    answers = {
        t: ("2", "3") if t in TASKS[:4] else ("A", "A" if i % 2 else "B")
        for i, t in enumerate(QUESTION_TYPES)
    }
    rows = [
        {"id": i, "question_type": t, "prediction": answers[t][0], "ground_truth": answers[t][1]}
        for i, t in enumerate(QUESTION_TYPES)
    ]
    return {
        "vsi": score_predictions(rows),
        "eval_set": "synthetic-abc",
        "probes": {
            "depth_absrel": 0.12,
            "depth_delta1": 0.81,
            "pose_auc30": 0.4,
            "scale_rel_err": 0.2,
        },
    }


def test_report_is_self_contained(tmp_path, metrics):
    examples = [example("clip-<0>"), example("clip-1", frames=1, seed=1)]
    out = build_report(metrics, examples, tmp_path / "eval" / "report.html", title="Run 7")
    html = out.read_text()
    assert out == tmp_path / "eval" / "report.html"
    for name in (*TASKS, "depth_absrel", "pose_auc30", "synthetic-abc", "Run 7", "clip-1"):
        assert name in html
    assert "clip-&lt;0&gt;" in html and "clip-<0>" not in html  # names are escaped
    images = re.findall(r'src="(data:[^"]+)"', html)
    assert len(images) == 1 + 2 * len(examples)  # task chart + depth and trajectory per example
    assert all(image.startswith(PNG_URI) for image in images)
    assert base64.b64decode(images[0][len(PNG_URI) :])[:8] == b"\x89PNG\r\n\x1a\n"
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)  # base64 holds "//"
    assert not re.search(r"https?:|//[a-z]|url\(|@import", text, re.IGNORECASE)
    assert not re.search(r'(?:src|href)="(?!data:)', html)
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]


def test_report_without_vsi_or_examples(tmp_path):
    out = build_report({"probes": {"depth_absrel": 0.3}}, [], tmp_path / "r.html")
    html = out.read_text()
    assert "depth_absrel" in html and "VSI-Bench" not in html and PNG_URI not in html


def test_report_shows_the_debiased_table_the_blind_baseline_leakage_and_absent_probes(
    tmp_path, metrics
):
    blind = {**metrics["vsi"], "overall": 31.25}
    tree = {
        **metrics,
        "benchmark": "vsi-bench-debiased",
        "vsi_blind": blind,
        "vsi_debiased": {**metrics["vsi"], "overall": 42.5},
        "heads": False,
        "probes": {},
        "leakage": {"training_clips": 3, "overlapping_clips": 1, "overlap": ["scene-9"]},
    }
    html = build_report(tree, [], tmp_path / "r.html").read_text()
    assert "VSI-Bench-Debiased overall" in html and "VSI-Bench-Debiased, vision disabled" in html
    assert "31.2" in html and "42.5" in html  # blind and debiased overalls
    assert "<th>VSI-Bench-Debiased (%)</th>" in html  # the per-task column
    assert "1 evaluated clips were in the checkpoint's training data" in html and "scene-9" in html
    assert "Probes absent: the checkpoint has no trained GeoVR heads" in html
