"""`geovr score-vsi` through the installed console script, in a subprocess.

.venv/bin/pytest -q tests/eval/test_score_vsi_cli.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from geovr.eval.vsi import score_predictions

GEOVR = str(Path(sys.executable).with_name("geovr"))

ROWS = [
    {"id": "1", "question_type": "object_counting", "prediction": "1.5", "ground_truth": "1"},
    {
        "id": "2",
        "question_type": "object_rel_distance",
        "prediction": "B. sofa",
        "ground_truth": "B",
    },
    {
        "id": "3",
        "question_type": "object_rel_direction_hard",
        "prediction": "C",
        "ground_truth": "A",
    },
]


def _score_vsi(tmp_path: Path, lines: list[str]) -> tuple[subprocess.CompletedProcess, Path]:
    predictions, out = tmp_path / "preds.jsonl", tmp_path / "sub" / "scores.json"
    predictions.write_text("".join(line + "\n" for line in lines))
    result = subprocess.run(
        [GEOVR, "score-vsi", "--predictions", str(predictions), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, out


def test_scores_written_and_summary_is_last_line(tmp_path):
    result, out = _score_vsi(tmp_path, [json.dumps(row) for row in ROWS] + [""])
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {
        "overall": pytest.approx((10 + 100 + 0) / 3, abs=0.01),
        "questions": 3,
        "tasks": 3,
        "out": str(out),
    }
    assert json.loads(out.read_text()) == json.loads(json.dumps(score_predictions(ROWS)))
    assert not [p for p in out.parent.iterdir() if p.name != "scores.json"]  # no temporary left


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        (["{not json"], "preds.jsonl:1: not valid JSON"),
        (
            [json.dumps(ROWS[0]), json.dumps({"id": "9", "prediction": "A"})],
            "preds.jsonl:2: missing question_type, ground_truth",
        ),
        (
            [json.dumps(dict(ROWS[0], question_type="object_colour"))],
            "unknown question_type 'object_colour'",
        ),
        ([], "no predictions"),
    ],
)
def test_bad_input_exits_2_with_one_line_reason(tmp_path, lines, reason):
    result, out = _score_vsi(tmp_path, lines)
    assert result.returncode == 2
    assert reason in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
