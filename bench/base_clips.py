"""The warm-start base's clip set, derived from the benchmark's full clip set (issue 22).

    base = base_clip_set(clips, data)   # <clips>/../base-clips: same clips, the base mix's qa

The same ingested clips (shards hard-linked, not copied or synthesised again) with the train
split's questions replaced by the geometry-free base mix (geovr/data/synth/base_qa.py) and no
question of a val or test scene, so the base never sees the scenes it is scored on. The mix is
made from the raw set's scenes/<id>.json (objects, colours, first visible frames) and the
full set's own rows; a fixed generator makes it the same on every call. The mix's digest
(`mix_sha256` in meta.json) keys the reuse: an edit of base_qa.py or new full clips make a
new twin, and `bench evidence` keys its base runs on the digest too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np

from geovr.artifacts import atomic_dir, read_jsonl, read_meta, write_jsonl, write_meta
from geovr.data.ingest import MANIFEST_FILE, QA_FILE
from geovr.data.synth.base_qa import LetterCycle, base_mix
from geovr.data.synth.scene import Scene

BASE_MIX_SEED = 0


def base_clip_set(clips: Path, data: Path, splits: tuple[str, ...] = ("train",)) -> Path:
    """`clips`'s base-mix twin beside it, asking the scenes of `splits` (a finished one with the
    same mix is reused). The val + test twin checks a base's formats on its own question forms."""
    out = clips.parent / (
        "base-clips" if splits == ("train",) else f"base-clips-{'+'.join(splits)}"
    )
    rows = _mix_rows(clips, data, splits)
    digest = mix_digest(rows)
    if (out / "meta.json").is_file() and mix_sha256(out) == digest:
        return out
    meta = read_meta(clips, "clipset")
    with atomic_dir(out) as staging:
        # hard links share the shards' bytes; the two files rewritten below are unlinked
        # first, so the full set's own never change
        shutil.copytree(clips, staging, copy_function=os.link, dirs_exist_ok=True)
        for name in (QA_FILE, "meta.json"):
            (staging / name).unlink()
        write_jsonl(staging / QA_FILE, rows)
        meta["counts"] = {**meta.get("counts", {}), "qa_kept": len(rows)}
        meta["questions"] = {
            "derived_from": str(clips),
            "mix": f"geometry-free base mix of the {'+'.join(splits)} scenes (base_qa.py)",
            "seed": BASE_MIX_SEED,
            "mix_sha256": digest,
        }
        write_meta(staging, meta)
    return out


def mix_digest(rows: list[dict]) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def mix_sha256(base_clips: Path) -> str | None:
    """The digest of the mix a base clip set asks (None for one made before digests)."""
    return read_meta(base_clips, "clipset").get("questions", {}).get("mix_sha256")


def _mix_rows(clips: Path, data: Path, splits: tuple[str, ...]) -> list[dict]:
    asked = [r["clip_id"] for r in read_jsonl(clips / MANIFEST_FILE) if r["split"] in splits]
    by_clip = defaultdict(list)
    for row in read_jsonl(clips / QA_FILE):
        by_clip[row["scene_name"]].append(row)
    rng = np.random.default_rng(BASE_MIX_SEED)
    letters = LetterCycle(rng)
    rows = []
    for clip_id in asked:
        described = json.loads((data / "scenes" / f"{clip_id}.json").read_text())
        scene = Scene.from_json(described)
        rows += base_mix(scene, described["first_visible_frame"], by_clip[clip_id], rng, letters)
    return rows
