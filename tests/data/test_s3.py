"""The S3 path for real, against a moto S3 server on 127.0.0.1: DVC push/pull through an s3
remote, ensure/get through it, and ShardReader over s3:// with s3fs.

    .venv/bin/pytest -q tests/data/test_s3.py          # add -s to see the push/pull seconds
"""

from __future__ import annotations

import json
import shutil
import tarfile
import time

import numpy as np
import pytest
import s3_fixtures
import s3fs
from s3_fixtures import RECIPE, dvc, free_port, git, tree_bytes, write_dummy_dataset

from geovr.data import download, dvc_commands, versioning
from geovr.data.shards import INDEX_FILE, ShardReader, ShardWriter
from geovr.data.versioning import DataVersionError

pytestmark = pytest.mark.integration

# Fixtures live in a module this file imports (no shared conftest.py); binding them here
# makes pytest see them.
dvc_repo, moto_server, moto_s3 = s3_fixtures.dvc_repo, s3_fixtures.moto_server, s3_fixtures.moto_s3


@pytest.fixture
def s3_repo(dvc_repo, moto_s3):
    """dvc_repo whose `s3` remote (committed url) points at the moto bucket via config.local."""
    dvc("remote", "add", "s3", f"s3://{moto_s3.bucket}/dvc", cwd=dvc_repo)
    dvc("remote", "modify", "--local", "s3", "endpointurl", moto_s3.endpoint_url, cwd=dvc_repo)
    write_dummy_dataset(dvc_repo / "data", {**RECIPE, "scenes": 16, "kib": 1024})
    versioning.track_data(dvc_repo, push=False)
    git("add", "-A", cwd=dvc_repo)
    git("commit", "-q", "-m", "data on s3", cwd=dvc_repo)
    assert "endpointurl" not in (dvc_repo / ".dvc" / "config").read_text()
    return dvc_repo


def _forget_data(repo):
    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".dvc" / "cache")


def test_dvc_push_pull_roundtrip_through_s3(s3_repo, moto_s3):
    original = tree_bytes(s3_repo / "data")
    start = time.perf_counter()
    dvc("push", "-r", "s3", "--jobs", "4", cwd=s3_repo)
    pushed = time.perf_counter()
    _forget_data(s3_repo)
    dvc("pull", "-r", "s3", "--jobs", "4", cwd=s3_repo)
    pulled = time.perf_counter()
    assert tree_bytes(s3_repo / "data") == original
    megabytes = sum(map(len, original.values())) / 2**20
    print(
        f"\n{megabytes:.0f} MiB in {len(original)} files: "
        f"push {pushed - start:.2f} s, pull {pulled - pushed:.2f} s"
    )
    fs = s3fs.S3FileSystem(**moto_s3.storage_options())
    assert (
        len(fs.find(f"{moto_s3.bucket}/dvc/files/md5")) == len(original) + 1
    )  # + the .dir listing


def test_ensure_pulls_from_s3_then_regenerates_when_bucket_empty(s3_repo, moto_s3):
    original = tree_bytes(s3_repo / "data")
    dvc("push", "-r", "s3", cwd=s3_repo)
    _forget_data(s3_repo)
    assert versioning.ensure_data(s3_repo, remote="s3", jobs=4)["action"] == "pulled"
    assert tree_bytes(s3_repo / "data") == original

    s3fs.S3FileSystem(**moto_s3.storage_options()).rm(f"{moto_s3.bucket}/dvc", recursive=True)
    _forget_data(s3_repo)
    summary = versioning.ensure_data(s3_repo, remote="s3", regenerate=write_dummy_dataset)
    assert summary["action"] == "regenerated" and summary["params"]["kib"] == 1024
    assert tree_bytes(s3_repo / "data") == original


def test_checkout_revision_from_s3_with_remote_config(s3_repo, moto_s3, tmp_path):
    dvc("push", "-r", "s3", cwd=s3_repo)
    rev = git("rev-parse", "HEAD", cwd=s3_repo).strip()
    expected = tree_bytes(s3_repo / "data")
    shutil.rmtree(s3_repo / ".dvc" / "cache")
    (s3_repo / ".dvc" / "config.local").unlink()  # the endpoint must come from the call
    summary = download.checkout_revision(
        s3_repo,
        rev,
        tmp_path / "v",
        remote="s3",
        remote_config={"endpointurl": moto_s3.endpoint_url},
    )
    assert summary["action"] == "downloaded" and summary["git_rev"] == rev
    assert tree_bytes(tmp_path / "v") == expected


def test_unreachable_s3_is_retried_then_reported(s3_repo, monkeypatch):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    dvc("remote", "modify", "--local", "s3", "endpointurl", dead, cwd=s3_repo)
    _forget_data(s3_repo)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries would take ~10 s each
    monkeypatch.setattr(dvc_commands, "RETRY_WAIT", 0)
    attempts = []
    real = dvc_commands.run_command
    monkeypatch.setattr(
        dvc_commands, "run_command", lambda *a, **k: attempts.append(a[0]) or real(*a, **k)
    )
    with pytest.raises(
        DataVersionError, match=r"could not pull data/.*Could not connect to the endpoint URL"
    ):
        versioning.ensure_data(s3_repo, remote="s3")
    assert len(attempts) == dvc_commands.RETRY_ATTEMPTS


def test_shard_reader_reads_s3_like_local(moto_s3, tmp_path):
    rng = np.random.default_rng(0)
    local = tmp_path / "clips"
    writer = ShardWriter(local, clips_per_shard=3)
    for i in range(7):
        arrays = {
            "frames": rng.integers(0, 255, (4, 8, 8, 3), dtype=np.uint8),
            "depth": rng.random((4, 8, 8), dtype=np.float32),
        }
        writer.add(f"clip_{i}", arrays, {"fps": "8", "i": str(i)})
    writer.close()
    _assert_index_matches_tar_headers(local)
    options = moto_s3.storage_options()
    url = f"s3://{moto_s3.bucket}/artifacts/clips"
    s3fs.S3FileSystem(**options).put(f"{local}/", url, recursive=True)

    remote, reference = ShardReader(url, **options), ShardReader(local)
    assert remote.keys() == reference.keys() and remote.shards() == reference.shards()
    for key in reversed(reference.keys()):  # random access: one ranged read per clip
        _assert_same(remote.get(key), reference.get(key))
    for shard in reference.shards():  # streaming: one sequential read per shard
        streamed = list(remote.iter_shard(shard))
        expected = list(reference.iter_shard(shard))
        assert [k for k, _, _ in streamed] == [k for k, _, _ in expected]
        for (_, *got), (_, *want) in zip(streamed, expected, strict=True):
            _assert_same(got, want)


def _assert_index_matches_tar_headers(root):
    """The writer's byte offsets must be where tar itself says each record's data starts."""
    index = json.loads((root / INDEX_FILE).read_text())
    for shard in sorted({entry["shard"] for entry in index.values()}):
        with tarfile.open(root / shard) as tar:
            for member in tar.getmembers():
                key = member.name.removesuffix(".safetensors")
                assert index[key] == {
                    "shard": shard,
                    "offset": member.offset_data,
                    "size": member.size,
                }


def _assert_same(got, want):
    (arrays, meta), (ref_arrays, ref_meta) = got, want
    assert meta == ref_meta and arrays.keys() == ref_arrays.keys()
    for name, value in arrays.items():
        assert value.dtype == ref_arrays[name].dtype
        np.testing.assert_array_equal(value, ref_arrays[name])
