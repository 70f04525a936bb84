"""The registered champion served by `mlflow models serve` answers a video FILE, an s3:// and an
http:// URL and a question exactly as `geovr evaluate` did, on the questions whose answers
change when the video is replaced by black frames (so an ignored video would fail here); a bad
request gets a 400 whose body is one line that repeats nothing of the request. The server is
started by the README's "Serve the champion" command line, and its `curl` line is sent as
printed; only the tracking URI, the port and the video are ours."""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
from mlflow import MlflowClient

from geovr.eval.evaluate import run_evaluation
from geovr.registry import promote, register_checkpoint
from geovr.train.run import run_training
from tests.geovr_data import make_clips

from .servers import BIN, MOTO_START_S, aws_test_env, free_port, moto_cmd, running

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
BUCKET = "geovr-videos"
ROOT = Path(__file__).resolve().parents[2]
README_PORT = "8080"
README_VIDEO = "s3://bucket/scene0001.mp4"
README_BUCKET = "s3://bucket/"
MODEL = "geovr-student"  # the README's name, in this test's own registry


@dataclass(frozen=True)
class ReadmeServing:
    """The section's two command lines: `mlflow models serve` with the environment it sets,
    and the `curl` request."""

    env: dict[str, str]
    serve: list[str]
    curl: list[str]


def readme_serving(port: int, tracking_uri: str, video: str, bucket: str) -> ReadmeServing:
    """The README's lines with its port, tracking URI, video and bucket (`s3://bucket/`, in
    the video and in the allowed prefixes) replaced by the test's."""
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Serve the champion\n(.*?)^## ", readme, re.S | re.M).group(1)
    block = re.search(r"^ {4}GEOVR_SERVED_VIDEO_URLS=.*?(?=\n\n)", section, re.S | re.M).group(0)
    assert block.count(README_PORT) == 2 and README_VIDEO in block, block
    block = block.replace("\\\n", " ").replace(README_PORT, str(port))
    serve_line, curl_lines = block.replace(README_VIDEO, video).split("\n    curl ", 1)
    serve = shlex.split(serve_line)
    assigned = {}  # the line's leading NAME=value words: the environment it serves with
    while re.match(r"[A-Z_]+=", serve[0]):
        name, value = serve.pop(0).split("=", 1)
        assigned[name] = value
    assert list(assigned) == ["GEOVR_SERVED_VIDEO_URLS", "MLFLOW_TRACKING_URI"], assigned
    env = {
        "GEOVR_SERVED_VIDEO_URLS": assigned["GEOVR_SERVED_VIDEO_URLS"].replace(
            README_BUCKET, bucket
        ),
        "MLFLOW_TRACKING_URI": tracking_uri,
    }
    return ReadmeServing(env, serve, shlex.split(f"curl {curl_lines}", comments=True))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Videos of 8 frames sampled to 4 (so sampling matters), a student trained on them, and
    its evaluation with the video and with black frames."""
    root = tmp_path_factory.mktemp("serving")
    make_clips(root, video_frames=8, max_side=48)
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


@contextlib.contextmanager
def _http_files(directory: Path):
    """A plain HTTP file server for `directory` on 127.0.0.1, stopped when the block ends."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass(frozen=True)
class Served:
    url: str  # of `mlflow models serve`
    videos: Path  # the clips' mp4 files, the one served video root with `unreadable`
    unreadable: Path  # a served-root directory holding a file that is not a video
    s3_endpoint: str
    http_videos: str  # URL of `videos` on a plain HTTP server
    questions: dict[str, dict]  # qa.jsonl by id
    asked: list[dict]  # evaluate's predictions on the video-dependent questions
    readme: ReadmeServing  # what started the server, and the README's request

    def ask(self, record: dict, **params) -> requests.Response:
        body = {"inputs": [record], "params": {"max_new_tokens": 16, **params}}
        return requests.post(f"{self.url}/invocations", json=body, timeout=120)

    def record(self, row: dict, video: str) -> dict:
        item = self.questions[row["id"]]
        options = {"options": item["options"]} if item.get("options") else {}
        return {"video": video, "question": item["question"], **options}


@pytest.fixture(scope="module")
def served(trained, tmp_path_factory):
    """The trained student registered, promoted by hand, and served by `mlflow models serve`
    with the venv of the image; its videos also on moto S3 and a plain HTTP server."""
    root, checkpoint, evaluations = trained
    home = tmp_path_factory.mktemp("served")
    uri = f"sqlite:///{home / 'mlflow.db'}"
    metrics = root / "video" / "metrics.json"
    registration = register_checkpoint(checkpoint, metrics, MODEL, tracking_uri=uri)
    # evaluated on the clips it was trained on (to have video-dependent questions), so the gate
    # rightly refuses it: promoted by hand, as an operator would
    assert not registration.decision.promote
    promote(
        MlflowClient(uri),
        MODEL,
        registration.version,
        why="serving test",
        allow_leaky=True,
    )
    asked = _video_dependent(evaluations)
    assert len(asked) >= 3, "too few questions depend on the video to test anything"
    videos = root / "data" / "videos"
    unreadable = home / "unreadable"
    unreadable.mkdir()
    shutil.copy(metrics, unreadable / "metrics.mp4")

    aws = aws_test_env(home)
    moto_port, port = free_port(), free_port()
    s3_endpoint = f"http://127.0.0.1:{moto_port}"
    # the served video: the first clip, from the bucket the server may read
    readme_video = f"s3://{BUCKET}/clips/{min(videos.glob('*.mp4')).name}"
    readme = readme_serving(port, uri, readme_video, f"s3://{BUCKET}/clips/")
    cmd = [str(BIN / readme.serve[0]), *readme.serve[1:]]
    # `mlflow models serve` execs `uvicorn` by name: the venv's bin must be on PATH
    # (as in the image)
    env = {
        **aws,
        "AWS_ENDPOINT_URL": s3_endpoint,  # as the cluster's config sets it for MinIO
        **readme.env,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "GEOVR_SERVED_VIDEO_ROOTS": os.pathsep.join([str(videos), str(unreadable)]),
    }
    url = f"http://127.0.0.1:{port}"
    with (
        running(
            moto_cmd(moto_port), f"{s3_endpoint}/moto-api/", home / "moto.log", MOTO_START_S, aws
        ),
        _http_files(videos) as http_videos,
        running(
            cmd,
            f"{url}/ping",
            home / "serve.log",
            SERVE_START_S,
            # the README's allowed prefix, and the test's own HTTP server for its http:// cases
            {**env, "GEOVR_SERVED_VIDEO_URLS": f"{env['GEOVR_SERVED_VIDEO_URLS']} {http_videos}/"},
        ),
    ):
        s3 = boto3.client(
            "s3",
            endpoint_url=s3_endpoint,
            aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
            region_name=aws["AWS_DEFAULT_REGION"],
        )
        s3.create_bucket(Bucket=BUCKET)
        for video in videos.glob("*.mp4"):
            s3.upload_file(str(video), BUCKET, f"clips/{video.name}")
        questions = {q["id"]: q for q in map(json.loads, (root / "clips" / "qa.jsonl").open())}
        yield Served(url, videos, unreadable, s3_endpoint, http_videos, questions, asked, readme)


def test_served_champion_answers_a_video_file_as_evaluation_did(served):
    agree = 0
    for row in served.asked:
        response = served.ask(served.record(row, str(served.videos / f"{row['clip_id']}.mp4")))
        assert response.status_code == 200, response.text
        agree += response.json()["predictions"][0] == row["prediction"]
    print(f"served vs evaluate on video-dependent questions: {agree} of {len(served.asked)}")
    assert agree == len(served.asked)

    first = served.asked[0]
    video_bytes = (served.videos / f"{first['clip_id']}.mp4").read_bytes()
    record = served.record(first, "")
    del record["video"]
    response = served.ask({**record, "video_b64": base64.b64encode(video_bytes).decode()})
    assert response.json()["predictions"][0] == first["prediction"]


def test_the_readmes_curl_line_gets_the_served_answer(served):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed: the README's request line needs it")
    proc = subprocess.run(
        [curl, *served.readme.curl[1:]], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert list(answer) == ["predictions"] and len(answer["predictions"]) == 1, answer
    printed = json.loads(served.readme.curl[served.readme.curl.index("-d") + 1])
    # the same record through the tests' client: curl's request was read as printed
    expected = served.ask(printed["inputs"][0], **printed["params"]).json()["predictions"]
    assert answer["predictions"] == expected


@pytest.mark.parametrize("where", ["s3", "http"])
def test_a_video_url_is_answered_as_evaluation_did(served, where):
    base = f"s3://{BUCKET}/clips" if where == "s3" else served.http_videos
    for row in served.asked:
        response = served.ask(served.record(row, f"{base}/{row['clip_id']}.mp4"))
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0] == row["prediction"], row["id"]


def test_a_bad_request_gets_a_one_line_reason_that_repeats_nothing(served):
    row = served.asked[0]
    video = str(served.videos / f"{row['clip_id']}.mp4")
    payload = "A" * 4000  # no error message may carry this
    cases = [
        ({"question": None, "video": video}, "each record needs a non-empty question"),
        (
            {"question": ["two", "strings"], "video": video},
            "each record needs a non-empty question",
        ),
        ({"question": None, "prompt": payload}, "send a list of records, each with a question"),
        ({"video": str(served.videos / "none.mp4")}, "does not exist"),
        ({"video": str(served.unreadable / "metrics.mp4")}, "not a readable video"),
        ({"video_b64": f"!{payload}"}, "video_b64 is not base64"),
        ({"video": video, "options": "A. bed"}, "options must be a list of strings"),
        ({"frames": [[[[0, 0, 0]]]], "timestamps": [payload]}, "timestamps must be a list"),
        ({"frames": [[[[300, 0, 0]]]]}, "frames must be [F,H,W,3] values 0-255"),
        ({"video": f"s3://{BUCKET}/clips/none.mp4"}, "does not exist"),
        ({"video": f"ftp://127.0.0.1/{row['clip_id']}.mp4"}, "send a local path, s3:// or http"),
        ({"video": f"simplecache::s3://{BUCKET}/x.mp4"}, "send a local path, s3:// or http"),
        ({"video": f"s3://{BUCKET}-private/clips/x.mp4"}, "outside the served video URLs"),
        ({"video": f"s3://{BUCKET}/clipsx/x.mp4"}, "outside the served video URLs"),
        ({"video": f"{served.http_videos}/../x.mp4"}, "outside the served video URLs"),
        ({"video": "http://169.254.169.254/latest/meta-data"}, "outside the served video URLs"),
        ({"video": "/etc/hostname"}, "outside the served video roots"),
        ({"video": "file:///etc/hostname"}, "outside the served video roots"),
        (
            {"video": f"{served.videos}/../../{row['clip_id']}.mp4"},
            "outside the served video roots",
        ),
    ]
    for bad, reason in cases:
        given = {"question": f"How many? {payload}", **bad}
        record = {key: value for key, value in given.items() if value is not None}
        response = served.ask(record)
        assert response.status_code == 400, (bad, response.text[:500])
        message = response.json()["message"]
        assert reason in message, (reason, message)
        assert "\n" not in message and payload[:100] not in message and len(message) < 400
        assert "Traceback" not in response.text and payload[:100] not in response.text
