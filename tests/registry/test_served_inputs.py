"""The served pyfunc (geovr/registry/student_model.py, loaded by MLflow from a saved model with
its logged code) turns a video FILE into exactly the frames ingest stored and the tensors
evaluation feeds the student (geovr.model.inputs); decoded frames and bad records too."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from mlflow.exceptions import MlflowException
from transformers import AutoProcessor

from geovr.config.ingest import IngestConfig
from geovr.data.ingest import ingest
from geovr.data.shards import ShardReader
from geovr.data.video import encode_video
from geovr.model.checkpoint import save_student
from geovr.model.inputs import generate_answers, generation_inputs
from geovr.model.tiny import build_tiny_student
from geovr.registry import register_checkpoint
from geovr.registry.serving import served_model
from geovr.train.run import preprocessing_record

from .builders import write_metrics

FPS_RULE = dict(sampling="fps", fps=2.0, min_frames=2, max_frames=32)
SAMPLINGS = {"count": dict(frames=5), "fps": FPS_RULE}
QA = {"question": "Which is closer to the sofa?", "options": ["A. bed", "B. tv"]}


def _clip_set(root, sampling: str):
    """A 13-frame 8 fps video (96x130) ingested by the production stage at max side 64."""
    frames = np.random.default_rng(0).integers(0, 256, (13, 96, 130, 3), dtype=np.uint8)
    (root / "data" / "videos").mkdir(parents=True)
    video = root / "data" / "videos" / "clip.mp4"
    encode_video(video, frames, fps=8)
    cfg = IngestConfig(max_side=64, workers=1, min_valid_fraction=1.0, **SAMPLINGS[sampling])
    ingest(root / "data", root / "clips", cfg, progress=False)
    row = json.loads((root / "clips" / "manifest.jsonl").read_text().splitlines()[0])
    return video, root / "clips", row


def _served(root, family: str, clips):
    """The pyfunc as `mlflow models serve` loads it: saved with its code, loaded by MLflow."""
    checkpoint = root / "checkpoint"
    student, processor = build_tiny_student(family)
    save_student(student, checkpoint, processor)  # as training saves it
    meta = {"preprocessing": preprocessing_record(str(clips), None)}
    (checkpoint / "meta.json").write_text(json.dumps(meta))
    mlflow.pyfunc.save_model(str(root / "model"), **served_model(checkpoint, []))
    return mlflow.pyfunc.load_model(str(root / "model")).unwrap_python_model()


@pytest.mark.parametrize(("family", "sampling"), [("qwen3_vl", "fps"), ("qwen2_5_vl", "count")])
def test_a_video_file_is_served_as_ingest_stored_and_evaluation_feeds_it(
    family, sampling, tmp_path
):
    video, clips, row = _clip_set(tmp_path, sampling)
    served = _served(tmp_path, family, clips)
    stored = ShardReader(clips).get("clip")[0]["frames"]

    frames, times, indices = served.preprocessing.sample(
        *served.clip_inputs.read_video(video.open("rb"))
    )
    assert indices == row["frame_indices"] and times == row["timestamps"]
    np.testing.assert_array_equal(frames, stored)

    expected = generation_inputs(served.processor, stored, [QA], timestamps=row["timestamps"])
    b64 = base64.b64encode(video.read_bytes()).decode()
    for record in (
        {"video": str(video)},
        {"video": f"file://{video}"},
        {"video_b64": b64},
        {"frames": stored, "timestamps": row["timestamps"]},
    ):
        got = served.inputs({**QA, **record})
        assert sorted(got) == sorted(expected)
        for key, value in expected.items():
            torch.testing.assert_close(got[key], value, rtol=0, atol=0, msg=key)
    assert int(got["video_grid_thw"][0, 0]) == len(row["frame_indices"])  # one grid a frame


def test_bad_records_get_one_line_reasons(tmp_path):
    video, clips, row = _clip_set(tmp_path, "count")
    served = _served(tmp_path, "qwen3_vl", clips)
    frames = np.zeros((3, 64, 64, 3), dtype=np.uint8)
    cases = [
        ({"video": str(tmp_path / "missing.mp4")}, "does not exist"),
        ({"video": str(clips / "manifest.jsonl")}, "not a readable video"),
        ({"video_b64": "%%%"}, "video_b64 is not base64"),
        ({"video": str(video), "frames": frames}, "send one of video, video_b64, frames"),
        ({"frames": frames, "timestamps": [0.0, 0.5]}, "2 timestamps for 3 frames"),
        ({"frames": np.zeros((3, 64, 64), dtype=np.uint8)}, "frames must be [F,H,W,3]"),
        ({"frames": np.zeros((0, 64, 64, 3), dtype=np.uint8)}, "frames must be [F,H,W,3]"),
        ({"frames": [[[["a", "b", "c"]]]]}, "frames must be [F,H,W,3]"),
        ({"question": " "}, "needs a non-empty question"),
    ]
    for record, reason in cases:
        with pytest.raises(MlflowException) as raised:  # the served module's own class
            served.inputs({"question": "How many chairs?", **record})
        assert reason in raised.value.message and "\n" not in raised.value.message
        assert raised.value.get_http_status_code() == 400


def test_a_failure_inside_the_model_is_one_line_too(tmp_path, monkeypatch):
    video, clips, row = _clip_set(tmp_path, "count")
    served = _served(tmp_path, "qwen3_vl", clips)

    def broken_generate(**_):
        raise RuntimeError("CUDA out of memory.\nTried to allocate 2.00 GiB")

    monkeypatch.setattr(served.model, "generate", broken_generate)
    with pytest.raises(MlflowException) as raised:
        served.predict(None, [{"question": "How many chairs?", "video": str(video)}])
    assert raised.value.message == "the model failed: RuntimeError: CUDA out of memory."
    assert raised.value.get_http_status_code() == 500
    raised.value.message = "Failed to predict data '...'. \nError: ..."  # what the server does
    assert raised.value.message == "the model failed: RuntimeError: CUDA out of memory."


README = Path(__file__).resolve().parents[2] / "README.md"
RECIPE_RUNNER = """
import json, sys
exec(sys.stdin.read())
geovr_imported = any(m.startswith("geovr") for m in sys.modules)
print(json.dumps({"answer": answer, "geovr_imported": geovr_imported}))
"""


def _readme_recipe() -> str:
    text = README.read_text()
    start = text.index("```python\n", text.index("## Serve the champion")) + len("```python\n")
    return text[start : text.index("```\n", start)]


@pytest.mark.integration  # the README recipe in a fresh interpreter
def test_the_readme_transformers_recipe_answers_as_evaluation_does(tmp_path):
    video, clips, row = _clip_set(tmp_path, "fps")
    served = _served(tmp_path, "qwen3_vl", clips)
    recipe = _readme_recipe()
    for placeholder, value in (
        ('"models:/geovr-student@champion"', tmp_path / "model"),
        ('"scene0001.mp4"', video),
    ):
        assert placeholder in recipe
        recipe = recipe.replace(placeholder, repr(str(value)))
    # A fresh interpreter without this repository on its path: transformers + the logged code.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", RECIPE_RUNNER],
        input=recipe,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not result["geovr_imported"]
    stored = ShardReader(clips).get("clip")[0]["frames"]
    qa = {"question": "Which is closer to the sofa?", "options": ["A. bed", "B. tv"]}
    expected = generate_answers(
        served.model, served.processor, stored, [qa], timestamps=row["timestamps"]
    )
    assert result["answer"] == expected[0]
    saved = AutoProcessor.from_pretrained(tmp_path / "model" / "artifacts" / "checkpoint")
    assert saved.video_processor.do_sample_frames is False  # nothing resamples the frames


@pytest.mark.slow
def test_registered_model_carries_its_code_schema_and_example(
    tiny_checkpoint, sqlite_uri, model_name, tmp_path
):
    metrics = write_metrics(tmp_path / "m.json", 40.0, of=tiny_checkpoint)
    register_checkpoint(tiny_checkpoint, metrics, model_name, sqlite_uri)
    mlflow.set_tracking_uri(sqlite_uri)
    info = mlflow.models.get_model_info(f"models:/{model_name}@champion")
    columns = {c.name: c.required for c in info.signature.inputs.inputs}
    # the question is required by the model, not the schema (geovr/registry/serving.py says why)
    assert columns == {
        "question": False,
        "options": False,
        "video": False,
        "video_b64": False,
        "frames": False,
        "timestamps": False,
    }
    assert {p.name: p.default for p in info.signature.params.params} == {
        "max_new_tokens": 16,
        "do_sample": False,
        "temperature": 1.0,
        "top_p": 1.0,
    }
    local = Path(
        mlflow.artifacts.download_artifacts(
            f"models:/{model_name}@champion", dst_path=str(tmp_path / "dl")
        )
    )
    assert sorted(p.name for p in (local / "code").iterdir()) == [
        "clip_inputs.py",
        "prompt.py",
        "sampling.py",
    ]
    example = json.loads((local / "serving_input_example.json").read_text())
    assert example["inputs"][0]["question"] and example["params"] == {"max_new_tokens": 16}
