"""Join the targets of parallel distill tasks into one targets directory.

    geovr distill-merge --parts T0 T1 ... --out TARGETS
    summary = merge_targets(["runs/t0", "runs/t1"], "runs/targets")

Finished chunks are hard-linked (else copied), the indexes and quarantines concatenated, and
meta.json written last. Imports neither torch nor a teacher: the merge task starts fast.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from geovr.artifacts import (
    META_FILE,
    atomic_write_json,
    make_meta,
    read_jsonl,
    read_meta,
    write_jsonl,
    write_meta,
)
from geovr.data.shards import INDEX_FILE, ShardReader
from geovr.errors import GeoVRError
from geovr.stage_output import writes_output

QUARANTINE_FILE = "quarantine.jsonl"


@writes_output("distill-merge", inputs=("parts",))
def merge_targets(parts: Iterable[str], out: str) -> dict[str, Any]:
    """Join the outputs of parallel distill tasks (same teacher) into one targets directory."""
    start = time.perf_counter()
    parts = [str(p) for p in parts]
    if not parts:
        raise GeoVRError("distill-merge: no --parts given")
    metas = [read_meta(p, "targets") for p in parts]
    hashes = {(m["teacher"], m["teacher_hash"]) for m in metas}
    if len(hashes) != 1:
        raise GeoVRError(f"distill-merge: parts come from different teachers {sorted(hashes)}")
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    (target / META_FILE).unlink(missing_ok=True)
    index, quarantine = {}, []
    for part in parts:
        part_index = ShardReader(part).index
        clash = sorted(set(part_index) & set(index))
        if clash:
            raise GeoVRError(f"distill-merge: clips {clash[:5]} appear in more than one part")
        for entry in part_index.values():
            _link_chunk(Path(part), target, Path(entry["shard"]).parent.parent)
        index.update(part_index)
        quarantine += read_jsonl(f"{part}/{QUARANTINE_FILE}")
    atomic_write_json(target / INDEX_FILE, index)
    write_jsonl(target / QUARANTINE_FILE, quarantine)
    first = metas[0]
    config = {
        "teacher": first["teacher"],
        "teacher_config": first["config"]["teacher_config"],
        "parts": len(parts),
    }
    inputs = {f"part{i}": m["config_hash"] for i, m in enumerate(metas)}
    extra = {k: first[k] for k in ("teacher", "teacher_hash", "layers")}
    shapes = next((m["feature_shapes"] for m in metas if m.get("feature_shapes")), {})
    without_scale = sum(m.get("clips_without_scale", 0) for m in metas)
    meta = make_meta(
        "targets", "distill-merge", config, inputs, **extra, clips_without_scale=without_scale
    )
    write_meta(
        target,
        {**meta, "clips": len(index), "quarantined": len(quarantine), "feature_shapes": shapes},
    )
    return {
        "stage": "distill-merge",
        "out": str(target),
        "parts": len(parts),
        "clips": len(index),
        "quarantined": len(quarantine),
        "clips_without_scale": without_scale,
        "seconds": round(time.perf_counter() - start, 3),
    }


def _link_chunk(part: Path, target: Path, chunk_rel: Path) -> None:
    """Hard-link (else copy) one finished chunk into the merged directory; chunks are immutable."""
    source, dest = part / chunk_rel, target / chunk_rel
    if (dest / INDEX_FILE).is_file():
        return
    files = [f for f in sorted(source.rglob("*")) if f.is_file() and f.name != INDEX_FILE]
    for file in [*files, source / INDEX_FILE]:  # the done marker last, as in the cache itself
        out_file = dest / file.relative_to(source)
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.unlink(missing_ok=True)
        try:
            os.link(file, out_file)
        except OSError:
            out_file.write_bytes(file.read_bytes())
