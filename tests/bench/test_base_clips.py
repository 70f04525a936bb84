"""The base's clip set derived from the benchmark's full one (issue 22): the same clips, shards
shared, only the train scenes' base-mix questions, the full set untouched."""

from __future__ import annotations

import json
import os

import pytest

from bench.base_clips import base_clip_set, mix_sha256
from bench.common import bench_data
from geovr.artifacts import read_jsonl
from geovr.data.synth.base_qa import BASE_MIX_TYPES
from geovr.model.dataset import load_items


@pytest.mark.slow
@pytest.mark.integration
def test_base_clip_set_shares_the_clips_and_asks_only_train_scenes_the_base_mix(tmp_path):
    clips, _, data = bench_data(scenes=6, frames=4, size=32, cache=tmp_path)
    full_qa = (clips / "qa.jsonl").read_bytes()
    base = base_clip_set(clips, data)
    assert (clips / "qa.jsonl").read_bytes() == full_qa
    assert (base / "manifest.jsonl").read_bytes() == (clips / "manifest.jsonl").read_bytes()
    for shard in (clips / "shards").iterdir():
        assert os.path.samefile(shard, base / "shards" / shard.name)
    split = {r["clip_id"]: r["split"] for r in read_jsonl(clips / "manifest.jsonl")}
    rows = read_jsonl(base / "qa.jsonl")
    assert rows and {split[r["scene_name"]] for r in rows} == {"train"}
    assert {r["question_type"] for r in rows} <= set(BASE_MIX_TYPES)
    assert any(r["options"] for r in rows) and any(r["options"] is None for r in rows)
    kept = {r["id"]: r for r in read_jsonl(clips / "qa.jsonl")}
    assert all(r == kept[r["id"]] for r in rows if r["id"] in kept)  # its own rows, as they were
    # the trainer's loader reads it: every train clip, only base questions
    items = load_items(str(base), ("train",))
    assert {i.clip["clip_id"] for i in items} == {c for c, s in split.items() if s == "train"}
    assert [i.qa for i in items] == rows
    meta = json.loads((base / "meta.json").read_text())
    assert meta["counts"]["qa_kept"] == len(rows)
    assert meta["questions"]["derived_from"] == str(clips)
    made = (base / "qa.jsonl").stat().st_mtime_ns
    assert base_clip_set(clips, data) == base  # the same mix: reused
    assert (base / "qa.jsonl").stat().st_mtime_ns == made
    # a twin made from another mix (an edited base_qa.py) is made again, not reused
    stale = {**meta, "questions": {**meta["questions"], "mix_sha256": "0" * 64}}
    (base / "meta.json").write_text(json.dumps(stale))
    assert base_clip_set(clips, data) == base
    assert mix_sha256(base) == meta["questions"]["mix_sha256"] != "0" * 64
    assert read_jsonl(base / "qa.jsonl") == rows
    held_out = read_jsonl(base_clip_set(clips, data, splits=("val", "test")) / "qa.jsonl")
    assert held_out and {split[r["scene_name"]] for r in held_out} == {"val", "test"}
