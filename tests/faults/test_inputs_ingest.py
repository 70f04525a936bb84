"""Ingest faults: invalid questions are quarantined row by row, an all-bad dataset fails
keeping its full report, a decoder process killed by SIGKILL costs only its clip.

Every case runs the real `geovr ingest` on videos rendered by `geovr data synth`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from geovr.artifacts import read_jsonl
from tests.faults.inputs_support import assert_refused, fingerprint, geovr

# (question row overrides, the reason fragment quarantine.jsonl must give)
BAD_QUESTIONS = [
    ({"question_type": "object_weight"}, "unknown question_type 'object_weight'"),
    ({"ground_truth": "two"}, "'two' is not a number"),
    ({"ground_truth": "0"}, "'0' must be a finite number > 0"),
    ({"ground_truth": "-3.5"}, "'-3.5' must be a finite number > 0"),
    ({"ground_truth": "nan"}, "'nan' must be a finite number > 0"),
    ({"ground_truth": "inf"}, "'inf' must be a finite number > 0"),
    ({"ground_truth": True}, "must be a number or a numeric string"),
    ({"question": None}, "missing field(s) question"),
    ({"question": "  "}, "question must be a non-empty string"),
    (
        {
            "question_type": "route_planning",
            "options": ["A. left", "B. right"],
            "ground_truth": "C",
        },
        "'C' is not one of the option letters A, B",
    ),
    (
        {"question_type": "route_planning", "options": None, "ground_truth": "A"},
        "needs a non-empty options list",
    ),
    (
        {"question_type": "route_planning", "options": ["left", "right"], "ground_truth": "A"},
        "option 'left' does not read 'A. text'",
    ),
]


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    proc = geovr(
        "data",
        "synth",
        "--out",
        "data",
        "--scenes",
        "4",
        "--frames",
        "4",
        "--size",
        "64",
        "--seed",
        "0",
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr
    return root / "data"


def _copy(data: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    return copy


def _ingest(data: Path, out: Path, *extra: str):
    return geovr(
        "ingest",
        "--data",
        data,
        "--out",
        out,
        "--frames",
        "4",
        "--max-side",
        "64",
        "--no-progress",
        *extra,
        cwd=out.parent,
    )


@pytest.mark.slow
def test_every_invalid_question_is_quarantined_with_its_id_and_reason(synth_data, tmp_path):
    data = _copy(synth_data, tmp_path)
    good = read_jsonl(data / "qa.jsonl")
    template = next(row for row in good if row["question_type"] == "object_counting")
    bad = [
        {**template, **override, "id": f"bad-{i}"} for i, (override, _) in enumerate(BAD_QUESTIONS)
    ]
    with (data / "qa.jsonl").open("a") as f:
        f.write("".join(json.dumps(row) + "\n" for row in bad))

    proc = _ingest(data, tmp_path / "clips")

    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert (summary["qa_kept"], summary["qa_dropped"]) == (len(good), len(BAD_QUESTIONS))
    report = {row["question_id"]: row for row in read_jsonl(tmp_path / "clips/quarantine.jsonl")}
    held = 0
    for i, (_, reason) in enumerate(BAD_QUESTIONS):
        row = report[f"bad-{i}"]
        assert reason in row["reason"], (row, reason)
        assert (row["input"], row["clip_id"]) == (
            f"qa.jsonl:{len(good) + i + 1}",
            template["scene_name"],
        )
        held += 1
    kept = {row["id"] for row in read_jsonl(tmp_path / "clips/qa.jsonl")}
    assert kept == {row["id"] for row in good}
    print(f"bad questions tried {len(BAD_QUESTIONS)}, quarantined with their reason {held}")


@pytest.mark.parametrize("what", ["clips", "questions"])
def test_an_all_bad_dataset_fails_naming_where_its_full_report_is(synth_data, tmp_path, what):
    data = _copy(synth_data, tmp_path)
    if what == "clips":  # every video truncated to its first 100 bytes
        for video in (data / "videos").glob("*.mp4"):
            video.write_bytes(video.read_bytes()[:100])
    else:  # every question has an answer that is not a number
        rows = [
            {**row, "question_type": "object_counting", "options": None, "ground_truth": "?"}
            for row in read_jsonl(data / "qa.jsonl")
        ]
        (data / "qa.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    expected = len(list((data / "videos").glob("*.mp4"))) if what == "clips" else len(rows)
    faulty = "videos/" if what == "clips" else "qa.jsonl:"
    before = fingerprint(data)
    # a user's file where the report would go is kept: the report takes the next free name
    taken = tmp_path / "clips.quarantine.jsonl"
    taken.write_text("the user's own notes\n")

    proc = _ingest(data, tmp_path / "clips")

    report = tmp_path / "clips.quarantine.1.jsonl"
    assert_refused(proc, str(report))
    assert taken.read_text() == "the user's own notes\n"
    rejected = [row for row in read_jsonl(report) if row["input"].startswith(faulty)]
    assert len(rejected) == expected  # every rejection, not only the first
    assert not (tmp_path / "clips").exists()
    assert fingerprint(data) == before


def _kill_workers_reading(
    ingest: psutil.Process, victim: Path, stop: threading.Event, kills: list[int]
) -> None:
    """SIGKILL every child of `ingest` that has `victim` open: what the OOM killer does to the
    decoder that holds the biggest clip."""
    while not stop.is_set():
        for child in ingest.children(recursive=True):
            try:
                if any(Path(f.path) == victim for f in child.open_files()):
                    os.kill(child.pid, signal.SIGKILL)
                    kills.append(child.pid)
            except psutil.Error:
                continue
        stop.wait(0.005)


@pytest.mark.slow
def test_a_killed_decoder_quarantines_its_clip_and_the_stage_finishes(synth_data, tmp_path):
    data = _copy(synth_data, tmp_path)
    victim_id = read_jsonl(data / "clips.jsonl")[1]["clip_id"]
    victim = (data / "videos" / f"{victim_id}.mp4").resolve()
    # A large file keeps the worker reading it (hashing) long enough to be seen and killed.
    with victim.open("ab") as f:
        f.write(os.urandom(64 << 20))
    out = tmp_path / "clips"
    cmd = [
        "ingest",
        "--data",
        data,
        "--out",
        out,
        "--frames",
        "4",
        "--max-side",
        "64",
        "--no-progress",
        "--workers",
        "2",
    ]
    stop, kills = threading.Event(), []
    with subprocess.Popen(
        [sys.executable, "-m", "geovr", *map(str, cmd)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as popen:
        killer = threading.Thread(
            target=_kill_workers_reading, args=(psutil.Process(popen.pid), victim, stop, kills)
        )
        killer.start()
        try:
            stdout, stderr = popen.communicate(timeout=300)
        finally:
            stop.set()
            killer.join()

    assert len(kills) >= 2, "the victim's worker was not killed twice (first run and retry)"
    assert popen.returncode == 0, stderr
    assert "Traceback" not in stderr
    [row] = [r for r in read_jsonl(out / "quarantine.jsonl") if r["input"].startswith("videos/")]
    assert row["clip_id"] == victim_id and "killed" in row["reason"]
    manifest = {r["clip_id"] for r in read_jsonl(out / "manifest.jsonl")}
    every = {r["clip_id"] for r in read_jsonl(data / "clips.jsonl")}
    assert manifest == every - {victim_id}
    summary = json.loads(stdout.splitlines()[-1])
    assert (summary["valid"], summary["quarantined"]) == (len(every) - 1, 1)
