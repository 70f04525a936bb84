"""The public VSI-Bench release as a GeoVR dataset directory, so `geovr ingest` + `geovr
evaluate --splits test` score the real benchmark with the same code as the synthetic one.

    geovr data import-vsibench --root /data/VSI-Bench --out /data/vsibench-geovr
    geovr data import-vsibench --root /data/VSI-Bench --debiased --out /data/vsibench-debiased
    geovr ingest --data /data/vsibench-geovr --out runs/vsi-clips --frames 32
    geovr evaluate --checkpoint runs/train/checkpoint --clips runs/vsi-clips --splits test --out runs/vsi-eval

`out` must be absent, empty or an earlier import (geovr.stage_output). Videos are
hard-linked into `out/videos/` (copied across file systems): ingest only reads files inside
its data directory. Every clip is in split `test`; questions keep their ids.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from geovr.artifacts import atomic_dir, write_jsonl
from geovr.eval.vsi import read_vsibench
from geovr.stage_output import mark_output, writes_output

STAGE = "data import-vsibench"

QA_KEYS = ("id", "scene_name", "question_type", "question", "options", "ground_truth", "benchmark",
           "in_debiased")


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


@writes_output(STAGE, inputs=("root", "table"), marker=False)
def import_vsibench(root: str | Path, out: str | Path, table: str | Path | None = None,
                    debiased: bool = False) -> dict[str, Any]:
    """Write `out` (videos/, clips.jsonl, qa.jsonl) from a VSI-Bench download (`debiased`: its
    VSI-Bench-Debiased table); returns counts."""
    rows = read_vsibench(root, table=table, debiased=debiased)
    videos = {r["scene_name"]: (Path(r["video"]), r["dataset"]) for r in rows}
    with atomic_dir(out) as staging:
        (staging / "videos").mkdir()
        clips = []
        for scene, (video, dataset) in sorted(videos.items()):
            _link_or_copy(video, staging / "videos" / f"{scene}.mp4")
            clips.append({"clip_id": scene, "video": f"videos/{scene}.mp4", "split": "test", "source": dataset})
        write_jsonl(staging / "clips.jsonl", clips)
        write_jsonl(staging / "qa.jsonl", [{k: r[k] for k in QA_KEYS if k in r} for r in rows])
        mark_output(staging, STAGE)  # a dataset has no meta.json to name the stage
    return {"out": str(out), "clips": len(clips), "questions": len(rows), "benchmark": rows[0]["benchmark"]}
