"""Sharded array storage shared by the clip set and the teacher targets.

A shard is a plain POSIX tar of `<key>.safetensors` members (many clips per shard), so it
streams front to back through fsspec (local or s3://) and `tar tf` can inspect it. An
`index.json` beside the shards maps each key to (shard, byte offset, size): random access
by clip is one ranged read. Shards are written under a temporary name and renamed.

    writer = ShardWriter(out_dir, clips_per_shard=16)
    writer.add("scene_0001", {"frames": frames_uint8}, {"fps": "8"})
    index = writer.close()            # also writes index.json
    reader = ShardReader(out_dir)
    arrays, metadata = reader.get("scene_0001")
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from geovr.artifacts import atomic_open, atomic_write_json, inside
from geovr.errors import ArtifactError

INDEX_FILE = "index.json"
SHARD_DIR = "shards"


def encode_record(arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None) -> bytes:
    """One record = one safetensors blob; metadata values must be strings (safetensors rule)."""
    blob = save_safetensors(
        {k: np.ascontiguousarray(v) for k, v in arrays.items()},
        metadata={k: str(v) for k, v in (metadata or {}).items()},
    )
    return _canonical_header(blob)


def _canonical_header(blob: bytes) -> bytes:
    """Rewrite a safetensors header with sorted keys.

    safetensors serialises `__metadata__` from a Rust hash map, in an order that changes from
    call to call: equal records would give different bytes (and shards, and hashes). The
    tensor data and its offsets are untouched; the header stays space-padded to 8 bytes.
    """
    header_len = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + header_len])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + blob[8 + header_len :]


def decode_record(blob: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    header_len = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + header_len])
    return load_safetensors(blob), header.get("__metadata__", {})


class ShardWriter:
    """Append records to numbered tar shards under `root/shards/`; `close()` writes the index."""

    def __init__(self, root: str | Path, clips_per_shard: int = 16, prefix: str = "shard"):
        self.root = Path(root)
        self.clips_per_shard = clips_per_shard
        self.prefix = prefix
        self.index: dict[str, dict[str, Any]] = {}
        self._pending: list[tuple[str, bytes]] = []
        self._shard_no = 0
        (self.root / SHARD_DIR).mkdir(parents=True, exist_ok=True)

    def add(
        self, key: str, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any] | None = None
    ) -> None:
        if key in self.index or any(k == key for k, _ in self._pending):
            raise ValueError(f"duplicate key {key!r}")
        self._pending.append((key, encode_record(arrays, metadata)))
        if len(self._pending) >= self.clips_per_shard:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        name = f"{SHARD_DIR}/{self.prefix}-{self._shard_no:05d}.tar"
        with (
            atomic_open(self.root / name, "wb") as f,
            tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT) as tar,
        ):
            for key, blob in self._pending:
                info = tarfile.TarInfo(f"{key}.safetensors")
                info.size, info.mtime, info.mode = len(blob), 0, 0o644
                # addfile() copies `info`, so the data offset is computed from the header size.
                offset = tar.offset + len(info.tobuf(tar.format, tar.encoding, tar.errors))
                tar.addfile(info, io.BytesIO(blob))
                self.index[key] = {"shard": name, "offset": offset, "size": info.size}
        self._pending.clear()
        self._shard_no += 1

    def close(self) -> dict[str, dict[str, Any]]:
        self._flush()
        atomic_write_json(self.root / INDEX_FILE, self.index)
        return self.index


class ShardReader:
    """Random access (`get`) and streaming (`iter_shard`) over a sharded artifact, local or
    remote."""

    def __init__(self, root: str | Path, **storage_options: Any):
        self.root = str(root).rstrip("/")
        self.storage_options = storage_options
        try:
            with fsspec.open(f"{self.root}/{INDEX_FILE}", "r", **storage_options) as f:
                self.index: dict[str, dict[str, Any]] = json.load(f)
        except FileNotFoundError as e:
            raise ArtifactError(
                f"{self.root}: {INDEX_FILE} missing (not a sharded artifact, or half-written)"
            ) from e
        # index.json is data: a shard path in it must not point outside the artifact
        self._shard_paths = {
            shard: inside(self.root, shard, f"{self.root}/{INDEX_FILE}: shard")
            for shard in self.shards()
        }

    def keys(self) -> list[str]:
        return list(self.index)

    def shards(self) -> list[str]:
        return sorted({entry["shard"] for entry in self.index.values()})

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def get(self, key: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        try:
            entry = self.index[key]
        except KeyError as e:
            raise KeyError(f"{key!r} is not in {self.root}") from e
        with fsspec.open(self._shard_paths[entry["shard"]], "rb", **self.storage_options) as f:
            f.seek(entry["offset"])
            blob = f.read(entry["size"])
        return decode_record(blob)

    def iter_shard(self, shard: str) -> Iterator[tuple[str, dict[str, np.ndarray], dict[str, str]]]:
        """Stream one shard front to back (one sequential read, no seeks)."""
        path = inside(self.root, shard, "shard")
        with (
            fsspec.open(path, "rb", **self.storage_options) as f,
            tarfile.open(fileobj=f, mode="r|") as tar,
        ):
            for member in tar:
                blob = tar.extractfile(member).read()
                arrays, metadata = decode_record(blob)
                yield member.name.removesuffix(".safetensors"), arrays, metadata
