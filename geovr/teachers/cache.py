"""The resumable target cache inside a targets directory.

    TARGETS/cache/<teacher>-<teacher_hash>/<chunk>/
        shards/targets-00000.tar   the chunk's records (ShardWriter),
                                   member = <cache key>.safetensors
        chunk.json                 per key: clip id, frame count, feature bytes, quarantine reason
        index.json                 written LAST by ShardWriter.close(): the chunk's done marker

A chunk holds up to `clips_per_shard` clips and is written as soon as they are computed.
Chunks without index.json (a run killed while writing one) are ignored and recomputed; the
tar itself is written atomically. The chunk name is a hash of its cache keys, so a rerun of
the same clips writes the same name and never collides with another chunk.

Cache key of a clip = hash(video sha256, sampled frame indices, stored frame size, teacher
name, teacher config hash): a rerun computes only clips whose key has no finished chunk,
and changing the teacher's weights, layers or input size invalidates exactly its own entries.
Quarantined clips are cached too (teachers are deterministic), with their reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from geovr.artifacts import atomic_write_json, canonical_json
from geovr.data.shards import INDEX_FILE, ShardWriter
from geovr.teachers.base import Targets

CACHE_DIR = "cache"
CHUNK_FILE = "chunk.json"
FP32_BYTES = 4


def cache_key(row: Mapping[str, Any], teacher: str, teacher_hash: str) -> str:
    """The identity of one clip's targets (hex, tar-member safe)."""
    ident = {
        "clip_sha256": row["sha256"],
        "frame_indices": list(row["frame_indices"]),
        "size": [row["height"], row["width"]],
        "teacher": teacher,
        "teacher_hash": teacher_hash,
    }
    return hashlib.sha256(canonical_json(ident).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ClipOutcome:
    """What the cache knows about one key: stored targets (entry) or a quarantine reason."""

    clip_id: str
    frames: int
    feature_bytes: int = 0  # float16, pooled, as stored
    raw_feature_bytes: int = 0  # float32 at the unpooled patch grid (2h x 2w)
    feature_shapes: dict[str, list[int]] | None = None  # layer -> [h, w, C] pooled
    reason: str | None = None  # quarantine reason; None if stored
    scale_valid: bool = True  # stored targets with a metric scale (False: that loss is masked)
    entry: dict[str, Any] | None = None  # {shard (relative to TARGETS), offset, size}


def outcome_for(clip_id: str, result: Targets | str, frames: int) -> ClipOutcome:
    """Summarise a computed clip (Targets) or a rejected one (reason string)."""
    if isinstance(result, str):
        return ClipOutcome(clip_id, frames, reason=result)
    feats = result.features.values()
    return ClipOutcome(
        clip_id,
        result.frames,
        feature_bytes=sum(f.size * 2 for f in feats),
        raw_feature_bytes=sum(f.size * 4 * FP32_BYTES for f in feats),
        feature_shapes={name: list(f.shape[1:]) for name, f in result.features.items()},
        scale_valid=bool(result.scale_valid),
    )


class TargetCache:
    """The finished chunks of one teacher (name + config hash) under a targets directory."""

    def __init__(self, root: str | Path, teacher: str, teacher_hash: str):
        self.root = Path(root)
        self.rel = f"{CACHE_DIR}/{teacher}-{teacher_hash}"
        self.teacher, self.teacher_hash = teacher, teacher_hash

    def scan(self) -> dict[str, ClipOutcome]:
        """key -> outcome for every clip in a finished chunk."""
        found: dict[str, ClipOutcome] = {}
        base = self.root / self.rel
        for chunk in sorted(base.iterdir()) if base.is_dir() else []:
            if (chunk / INDEX_FILE).is_file() and (chunk / CHUNK_FILE).is_file():
                found.update(self._read_chunk(chunk))
        return found

    def _read_chunk(self, chunk: Path) -> dict[str, ClipOutcome]:
        index = json.loads((chunk / INDEX_FILE).read_text())
        clips = json.loads((chunk / CHUNK_FILE).read_text())["clips"]
        rel = f"{self.rel}/{chunk.name}"
        out = {}
        for key, info in clips.items():
            entry = index.get(key)
            if entry is not None:
                entry = {**entry, "shard": f"{rel}/{entry['shard']}"}
            elif info.get("reason") is None:
                continue  # listed but not stored: treat as missing
            out[key] = ClipOutcome(**{**info, "entry": entry})
        return out

    def write_chunk(
        self,
        results: Sequence[tuple[str, Targets | str, ClipOutcome]],
        clip_sha256: Mapping[str, str],
    ) -> dict[str, ClipOutcome]:
        """Store one chunk: `results` = (key, Targets or quarantine reason, outcome).

        Returns key -> outcome.
        """
        keys = sorted(key for key, _, _ in results)
        name = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
        chunk = self.root / self.rel / name
        writer = ShardWriter(chunk, clips_per_shard=len(results) + 1, prefix="targets")
        meta = {"teacher": self.teacher, "teacher_hash": self.teacher_hash}
        for key, result, outcome in results:
            if not isinstance(result, str):
                writer.add(
                    key,
                    result.to_record(),
                    {**meta, "clip_id": outcome.clip_id, "clip_sha256": clip_sha256[key]},
                )
        info = {
            key: {k: v for k, v in asdict(outcome).items() if k != "entry"}
            for key, _, outcome in results
        }
        atomic_write_json(chunk / CHUNK_FILE, {"clips": info})
        writer.close()  # index.json last: the chunk's done marker
        return self._read_chunk(chunk)
