"""Shards: round trip, random access, streaming, deterministic bytes, atomic writes.

.venv/bin/pytest -q tests/data/test_shards.py
"""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
from clip_builders import tree_bytes

from geovr.data import shards
from geovr.data.shards import INDEX_FILE, ShardReader, ShardWriter
from geovr.errors import ArtifactError


def records(n: int) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return {
        f"clip{i:02d}": {
            "frames": rng.integers(0, 256, (3, 4 + i, 6, 3), dtype=np.uint8),
            "depth": rng.random((3, 4 + i, 6), dtype=np.float32),
        }
        for i in range(n)
    }


def write(root, data, per_shard=2):
    writer = ShardWriter(root, clips_per_shard=per_shard)
    for key, arrays in data.items():
        writer.add(key, arrays, {"clip_id": key, "n": len(key)})
    return writer.close()


def test_round_trip_and_random_access(tmp_path):
    data = records(5)
    index = write(tmp_path, data)
    assert json.loads((tmp_path / INDEX_FILE).read_text()) == index
    reader = ShardReader(tmp_path)
    assert reader.keys() == list(data)
    assert reader.shards() == [f"shards/shard-0000{i}.tar" for i in range(3)]
    for key in reversed(list(data)):  # any order: each get is one ranged read
        arrays, metadata = reader.get(key)
        assert metadata == {"clip_id": key, "n": str(len(key))}  # safetensors keeps strings
        for name, value in data[key].items():
            np.testing.assert_array_equal(arrays[name], value)
            assert arrays[name].dtype == value.dtype
    assert "clip03" in reader and "nope" not in reader
    with pytest.raises(KeyError, match="nope"):
        reader.get("nope")


def test_streaming_reads_each_shard_in_order(tmp_path):
    data = records(5)
    write(tmp_path, data)
    reader = ShardReader(tmp_path)
    streamed = [
        (key, arrays) for shard in reader.shards() for key, arrays, _ in reader.iter_shard(shard)
    ]
    assert [key for key, _ in streamed] == list(data)
    for key, arrays in streamed:
        np.testing.assert_array_equal(arrays["frames"], data[key]["frames"])
    # Plain tar: standard tools see one safetensors member per record.
    with tarfile.open(tmp_path / reader.shards()[0]) as tar:
        assert tar.getnames() == ["clip00.safetensors", "clip01.safetensors"]


def test_same_records_give_the_same_bytes(tmp_path):
    write(tmp_path / "a", records(3))
    write(tmp_path / "b", records(3))
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")


def test_duplicate_key_is_refused(tmp_path):
    writer = ShardWriter(tmp_path, clips_per_shard=4)
    writer.add("a", {"x": np.zeros(2)})
    with pytest.raises(ValueError, match="duplicate key 'a'"):
        writer.add("a", {"x": np.ones(2)})


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(ArtifactError, match="index.json missing"):
        ShardReader(tmp_path)


def test_failed_shard_write_leaves_no_partial_file(tmp_path, monkeypatch):
    writer = ShardWriter(tmp_path, clips_per_shard=2)
    writer.add("a", {"x": np.zeros(2)})

    def broken_addfile(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(shards.tarfile.TarFile, "addfile", broken_addfile)
    with pytest.raises(OSError, match="disk full"):
        writer.add("b", {"x": np.ones(2)})
    assert list((tmp_path / "shards").iterdir()) == []  # no shard, no temporary left behind
    assert not (tmp_path / INDEX_FILE).exists()


def test_record_bytes_do_not_depend_on_metadata_order():
    # safetensors writes its metadata map in a random order; records must not.
    metadata = {f"key{i}": str(i) for i in range(8)}
    blobs = {shards.encode_record({"x": np.arange(3)}, metadata) for _ in range(10)}
    assert len(blobs) == 1
    arrays, decoded = shards.decode_record(blobs.pop())
    assert decoded == metadata and arrays["x"].tolist() == [0, 1, 2]
