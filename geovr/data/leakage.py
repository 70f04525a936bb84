"""Train/eval leakage: which clips a checkpoint was trained on, and how many of the evaluated
clips are among them. Torch-free (the training launcher writes the record).

    meta["training_clips"] = training_clips("runs/clips", ("train",))   # at training time
    leakage_report(read_meta(ckpt, "checkpoint"), evaluated_manifest_rows)
    # {"training_clips": 240, "overlapping_clips": 0, "overlap": []}

A clip overlaps when its video content hash (sha256 of the source file) or its scene name
(the clip id; VSI-Bench's scene_name) is among the training clips': a re-encoded copy of a
training scene still counts by name, a renamed copy by content.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from geovr.artifacts import read_jsonl

OVERLAP_LISTED = 20  # clip ids shown in metrics.json; the count is always complete


def training_clips(clips: str, splits: Sequence[str]) -> list[dict[str, str]]:
    """`{"scene_name", "sha256"}` of every clip of the clip set in the training `splits`."""
    return [
        {"scene_name": row["clip_id"], "sha256": row["sha256"]}
        for row in read_jsonl(f"{clips}/manifest.jsonl")
        if row["split"] in splits
    ]


def leakage_report(
    checkpoint_meta: Mapping[str, Any] | None, evaluated: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """metrics.json's `leakage`: `training_clips` recorded by the checkpoint (-1: it records
    none, e.g. a base model, so the overlap is unknown), `overlapping_clips`, `overlap` (ids)."""
    recorded = (checkpoint_meta or {}).get("training_clips")
    if recorded is None:
        return {"training_clips": -1, "overlapping_clips": -1, "overlap": []}
    names = {clip["scene_name"] for clip in recorded}
    hashes = {clip["sha256"] for clip in recorded}
    overlap = sorted(
        row["clip_id"] for row in evaluated if row["clip_id"] in names or row["sha256"] in hashes
    )
    return {
        "training_clips": len(recorded),
        "overlapping_clips": len(overlap),
        "overlap": overlap[:OVERLAP_LISTED],
    }
