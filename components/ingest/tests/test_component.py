"""The ingest component run for real by kfp.local (SubprocessRunner, this interpreter) on a
tiny dataset with one bad clip, imported into the pipeline with dsl.importer.

    .venv/bin/pytest -q components/ingest
"""

import json
from pathlib import Path
from typing import NamedTuple

import pytest
from kfp import dsl, local

from components.ingest.component import ingest
from geovr.artifacts import read_jsonl, read_meta
from geovr.data.shards import ShardReader
from tests.data.clip_builders import make_dataset

pytestmark = [
    pytest.mark.integration,
    # The project image is not used by the SubprocessRunner: this interpreter is.
    pytest.mark.filterwarnings("ignore:You may be attemping:RuntimeWarning"),
]


class Outputs(NamedTuple):
    clips: dsl.Dataset
    summary: dsl.Metrics


@dsl.pipeline(name="ingest-only")
def ingest_only(data_uri: str, min_valid_fraction: float) -> Outputs:
    data = dsl.importer(artifact_uri=data_uri, artifact_class=dsl.Dataset)
    task = ingest(
        data=data.output,
        sampling="count",
        frames=6,
        max_side=32,
        min_valid_fraction=min_valid_fraction,
        clips_per_shard=2,
    )
    return Outputs(task.outputs["clips"], task.outputs["summary"])


def test_ingest_component_writes_the_clip_set(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    data = make_dataset(tmp_path / "data", n_clips=3, frames=8)
    (data / "videos" / "broken.mp4").write_text("not a video")
    with (data / "clips.jsonl").open("a") as f:
        f.write(json.dumps({"clip_id": "broken", "video": "videos/broken.mp4"}) + "\n")

    run = ingest_only(data_uri=str(data), min_valid_fraction=0.5)
    clips = Path(run.outputs["clips"].path)
    assert read_meta(clips, "clipset")["counts"]["valid"] == 3
    assert [r["clip_id"] for r in read_jsonl(clips / "manifest.jsonl")] == ["c0", "c1", "c2"]
    assert read_jsonl(clips / "quarantine.jsonl") == [
        {"input": "videos/broken.mp4", "clip_id": "broken", "reason": "is a text file, not a video"}
    ]
    assert ShardReader(clips).get("c2")[0]["frames"].shape == (6, 20, 32, 3)
    assert (
        run.outputs["clips"].metadata["dataset_hash"]
        == read_meta(clips, "clipset")["inputs"]["dataset"]
    )
    metrics = run.outputs["summary"].metadata
    assert {
        k: metrics[k] for k in ("clips_in", "valid", "quarantined", "qa_kept", "qa_dropped")
    } == {"clips_in": 4, "valid": 3, "quarantined": 1, "qa_kept": 3, "qa_dropped": 0}


def test_ingest_component_fails_when_too_few_clips_survive(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    data = make_dataset(tmp_path / "data", n_clips=2, frames=8)
    (data / "videos" / "c0.mp4").write_bytes(b"")
    with pytest.raises(RuntimeError, match="FAILURE"):
        ingest_only(data_uri=str(data), min_valid_fraction=0.9)
    assert "GeoVRError: only 1 of 2 clips are valid" in "".join(capfd.readouterr())
    assert list((tmp_path / "root").rglob("manifest.jsonl")) == []  # nothing half-written
