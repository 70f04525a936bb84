"""The registered champion served by `mlflow models serve` answers a video FILE and a question
exactly as `geovr evaluate` did, on the questions whose answers change when the video is
replaced by black frames (so an ignored video would fail here)."""

from __future__ import annotations

import base64
import json
import os

import pytest
import requests
from mlflow import MlflowClient

from geovr.eval.evaluate import run_evaluation
from geovr.registry import promote, register_checkpoint
from geovr.train.run import run_training
from tests.geovr_data import geovr

from .servers import BIN, free_port, running

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVE_START_S = 300.0  # `mlflow models serve` imports torch and loads the model before /ping
TRAIN = dict(
    steps=2,
    lr_model=1e-4,
    batch_size=4,
    num_workers=1,
    checkpoint_every=1000,
    objectives="lm",
    splits=("train", "val", "test"),
    timeout=600,
)
SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Videos of 8 frames sampled to 4 (so sampling matters), a student trained on them, and
    its evaluation with the video and with black frames."""
    root = tmp_path_factory.mktemp("serving")
    geovr(
        "data",
        "synth",
        "--out",
        "data",
        "--scenes",
        "4",
        "--frames",
        "8",
        "--size",
        "64",
        "--seed",
        "0",
        cwd=root,
    )
    geovr(
        "ingest",
        "--data",
        "data",
        "--out",
        "clips",
        "--frames",
        "4",
        "--max-side",
        "48",
        "--no-progress",
        cwd=root,
    )
    summary = run_training(str(root / "clips"), None, root / "train", **TRAIN)
    evaluations = {}
    for name, blank in (("video", False), ("blank", True)):
        run_evaluation(
            summary["checkpoint"],
            str(root / "clips"),
            root / name,
            splits=SPLITS,
            progress=False,
            blank_frames=blank,
        )
        evaluations[name] = [
            json.loads(line) for line in (root / name / "predictions.jsonl").open()
        ]
    return root, summary["checkpoint"], evaluations


def _video_dependent(evaluations) -> list[dict]:
    blank = {row["id"]: row["prediction"] for row in evaluations["blank"]}
    return [row for row in evaluations["video"] if row["prediction"] != blank[row["id"]]]


def test_served_champion_answers_a_video_file_as_evaluation_did(trained, tmp_path, monkeypatch):
    root, checkpoint, evaluations = trained
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    metrics = root / "video" / "metrics.json"
    registration = register_checkpoint(checkpoint, metrics, "geovr-served", tracking_uri=uri)
    # evaluated on the clips it was trained on (to have video-dependent questions), so the gate
    # rightly refuses it: promoted by hand, as an operator would
    assert not registration.decision.promote
    promote(MlflowClient(uri), "geovr-served", registration.version, why="serving test")
    qa = {q["id"]: q for q in map(json.loads, (root / "clips" / "qa.jsonl").open())}
    asked = _video_dependent(evaluations)
    assert len(asked) >= 3, "too few questions depend on the video to test anything"

    port = free_port()
    cmd = [
        str(BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        "models:/geovr-served@champion",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    # `mlflow models serve` execs `uvicorn` by name: the venv's bin must be on PATH
    # (as in the image)
    env = {
        "MLFLOW_TRACKING_URI": uri,
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    url = f"http://127.0.0.1:{port}"
    with running(cmd, f"{url}/ping", tmp_path / "serve.log", SERVE_START_S, env):

        def ask(record: dict, **params) -> requests.Response:
            body = {"inputs": [record], "params": {"max_new_tokens": 16, **params}}
            return requests.post(f"{url}/invocations", json=body, timeout=120)

        agree = 0
        for row in asked:
            item = qa[row["id"]]
            video = str(root / "data" / "videos" / f"{row['clip_id']}.mp4")
            record = {"video": video, "question": item["question"]}
            if item.get("options"):
                record["options"] = item["options"]
            response = ask(record)
            assert response.status_code == 200, response.text
            agree += response.json()["predictions"][0] == row["prediction"]
        print(f"served vs evaluate on video-dependent questions: {agree} of {len(asked)}")
        assert agree == len(asked)

        first = asked[0]
        video_bytes = (root / "data" / "videos" / f"{first['clip_id']}.mp4").read_bytes()
        b64 = {
            "video_b64": base64.b64encode(video_bytes).decode(),
            "question": qa[first["id"]]["question"],
            "options": qa[first["id"]].get("options") or [],
        }
        response = ask(b64)
        assert response.json()["predictions"][0] == first["prediction"]

        for bad, reason in (
            ({"question": "How many?", "video": str(tmp_path / "none.mp4")}, "does not exist"),
            ({"question": "How many?", "video_b64": "not base64!"}, "not base64"),
            ({"question": "How many?", "video": str(metrics)}, "not a readable video"),
        ):
            response = ask(bad)
            assert response.status_code == 400, response.text
            message = response.json()["message"]
            assert reason in message and "Traceback" not in response.text, message
