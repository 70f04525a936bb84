"""Dataset layout (contracts section 1): what load_dataset accepts and what it rejects.

No video is decoded here: the layout only checks index files and paths.

    .venv/bin/pytest -q tests/data/test_layout.py
"""

from __future__ import annotations

import json
import os

import pytest
from clip_builders import qa_row, write_jsonl

from geovr.data.layout import Rejection, content_hash, hash_split, load_dataset
from geovr.errors import GeoVRError


@pytest.fixture
def root(tmp_path):
    """A dataset whose files exist (contents irrelevant to the layout)."""
    root = tmp_path / "data"
    for rel in (
        "videos/a.mp4",
        "videos/b.mp4",
        "videos/c.mp4",
        "gt/a.safetensors",
        "scenes/a.json",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    return root


def reasons(rejections):
    return {r.input: r.reason for r in rejections}


def test_clips_jsonl_entries_and_defaults(root):
    write_jsonl(
        root / "clips.jsonl",
        [
            {
                "clip_id": "a",
                "video": "videos/a.mp4",
                "split": "val",
                "gt": "gt/a.safetensors",
                "scene": "scenes/a.json",
                "source": "synthetic",
            },
            {"clip_id": "b", "video": "videos/b.mp4"},
        ],
    )
    ds = load_dataset(root)
    a, b = ds.clips
    assert (a.clip_id, a.split, a.source) == ("a", "val", "synthetic")
    assert a.gt.rel == "gt/a.safetensors" and a.gt.path == (root / "gt/a.safetensors").resolve()
    assert (b.split, b.source, b.gt, b.scene) == (hash_split("b"), "unknown", None, None)
    assert ds.clip_rejections == [] and ds.n_clips == 2
    assert set(ds.file_hashes) == {"clips.jsonl"}


def test_without_clips_jsonl_every_mp4_is_a_clip(root):
    ds = load_dataset(root)
    assert [c.clip_id for c in ds.clips] == ["a", "b", "c"]
    assert ds.clips[0].gt.rel == "gt/a.safetensors" and ds.clips[0].scene.rel == "scenes/a.json"
    assert ds.clips[1].gt is None
    assert all(c.split == hash_split(c.clip_id) for c in ds.clips)


def test_hash_split_is_stable_and_roughly_80_10_10():
    splits = [hash_split(f"scene_{i:05d}") for i in range(2000)]
    assert splits == [hash_split(f"scene_{i:05d}") for i in range(2000)]
    assert 0.75 < splits.count("train") / 2000 < 0.85
    assert 0.07 < splits.count("val") / 2000 < 0.13


def test_bad_entries_go_to_quarantine_with_their_reason(root, tmp_path):
    (tmp_path / "secret.mp4").write_bytes(b"outside")
    os.symlink(tmp_path / "secret.mp4", root / "videos" / "link_out.mp4")
    os.symlink(root / "videos" / "a.mp4", root / "videos" / "link_in.mp4")
    write_jsonl(
        root / "clips.jsonl",
        [
            {"clip_id": "a", "video": "videos/a.mp4"},
            {"clip_id": "a", "video": "videos/b.mp4"},  # 2 duplicate id
            {"clip_id": "up", "video": "../secret.mp4"},  # 3 escapes
            {"clip_id": "abs", "video": str(tmp_path / "secret.mp4")},  # 4 absolute
            {"clip_id": "sym", "video": "videos/link_out.mp4"},  # 5 symlink out
            {"clip_id": "gone", "video": "videos/gone.mp4"},  # 6 missing
            {"clip_id": "nogt", "video": "videos/c.mp4", "gt": "gt/nogt.safetensors"},  # 7
            {"clip_id": "bad/id", "video": "videos/c.mp4"},  # 8
            "{not json",  # 9
            {"clip_id": "dir", "video": "videos"},  # 10
            {"clip_id": "split", "video": "videos/c.mp4", "split": "holdout"},  # 11
            {"clip_id": "ok_link", "video": "videos/link_in.mp4"},  # 12 symlink inside: fine
            {"clip_id": "novideo"},  # 13
        ],
    )
    ds = load_dataset(root)
    assert [c.clip_id for c in ds.clips] == ["a", "ok_link"]
    assert reasons(ds.clip_rejections) == {
        "clips.jsonl:2": "duplicate clip_id (first defined at clips.jsonl:1)",
        "clips.jsonl:3": "video path '../secret.mp4' escapes the data root",
        "clips.jsonl:4": f"video path '{tmp_path / 'secret.mp4'}' is absolute; "
        "paths must be relative to the data root",
        "clips.jsonl:5": "video path 'videos/link_out.mp4' resolves through a symlink "
        "to outside the data root",
        "clips.jsonl:6": "video file 'videos/gone.mp4' is missing",
        "clips.jsonl:7": "gt file 'gt/nogt.safetensors' is missing",
        "clips.jsonl:8": "clip_id 'bad/id' is not 1-80 characters of [A-Za-z0-9._-]",
        "clips.jsonl:9": "not valid JSON (Expecting property name enclosed in double quotes)",
        "clips.jsonl:10": "video path 'videos' is not a regular file",
        "clips.jsonl:11": "split 'holdout' is not one of train, val, test",
        "clips.jsonl:13": "video path must be a non-empty string, got None",
    }
    assert ds.n_clips == 13


def test_symlinked_video_outside_is_rejected_without_clips_jsonl(root, tmp_path):
    (tmp_path / "secret.mp4").write_bytes(b"outside")
    os.symlink(tmp_path / "secret.mp4", root / "videos" / "evil.mp4")
    ds = load_dataset(root)
    assert [c.clip_id for c in ds.clips] == ["a", "b", "c"]
    assert reasons(ds.clip_rejections) == {
        "videos/evil.mp4": "video path 'videos/evil.mp4' resolves through a symlink "
        "to outside the data root"
    }


def test_qa_schema_checks(root):
    write_jsonl(
        root / "qa.jsonl",
        [
            qa_row(1, "a"),
            {**qa_row(1, "b")},  # 2 duplicate id
            {k: v for k, v in qa_row(3, "a").items() if k != "question"},  # 3
            {**qa_row(4, "a"), "options": "A. chair"},  # 4
            "[1, 2]",  # 5
            {
                **{k: v for k, v in qa_row(6, "x").items() if k != "scene_name"},
                "clip_id": "b",
            },  # alias
        ],
    )
    ds = load_dataset(root)
    assert [where for where, _ in ds.qa] == ["qa.jsonl:1", "qa.jsonl:6"]
    assert reasons(ds.qa_rejections) == {
        "qa.jsonl:2": "duplicate question id 'q1'",
        "qa.jsonl:3": "missing field(s) question",
        "qa.jsonl:4": "options must be a list or null",
        "qa.jsonl:5": "expected a JSON object, got list",
    }


def test_unreadable_datasets_raise(tmp_path, root):
    with pytest.raises(GeoVRError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")
    (root / "dataset.json").write_text(json.dumps({"schema": "geovr.dataset/9"}))
    with pytest.raises(GeoVRError, match="geovr.dataset/9"):
        load_dataset(root)
    (root / "dataset.json").write_text("{")
    with pytest.raises(GeoVRError, match="not valid JSON"):
        load_dataset(root)


def test_content_hash_covers_files_and_unread_inputs(root):
    ds = load_dataset(root)
    base = content_hash({"videos/a.mp4": "1"}, ds.clip_rejections)
    assert base == content_hash({"videos/a.mp4": "1"}, ds.clip_rejections)
    assert base != content_hash({"videos/a.mp4": "2"}, ds.clip_rejections)
    assert base != content_hash({"videos/b.mp4": "1"}, ds.clip_rejections)
    refused = [Rejection("clips.jsonl:2", "x", "video file 'videos/x.mp4' is missing")]
    assert base != content_hash({"videos/a.mp4": "1"}, refused)
