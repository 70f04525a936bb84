"""Write the synthetic dataset (layout: docs/contracts.md section 1).

    from geovr.data.synth.generate import synthesize
    synthesize("data", scenes=24, frames=16, size=128, seed=0)
    synthesize("data", scenes=24, frames=(16, 64, 128), size=128, seed=0)  # scene i: frames[i % 3]

Same arguments, same bytes: every random draw comes from a generator seeded by
(seed, scene index), videos are encoded bit-exactly, JSON is written with sorted keys.
Scenes render in parallel worker processes; results are written in scene order.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tqdm import tqdm

from geovr.artifacts import SCHEMAS, atomic_dir, canonical_json
from geovr.data.synth.qa import generate_qa
from geovr.data.synth.render import render
from geovr.data.synth.scene import intrinsics, sample_scene, sample_trajectory
from geovr.data.video import encode_video
from geovr.errors import GeoVRError
from geovr.stage_output import SYNTH_STAGE, writes_output


def split_of(index: int, n_scenes: int) -> str:
    """Deterministic split by scene: the last ~10% test, the ~10% before them val."""
    n_held = max(1, round(n_scenes * 0.1)) if n_scenes >= 3 else 0
    if index >= n_scenes - n_held:
        return "test"
    if index >= n_scenes - 2 * n_held:
        return "val"
    return "train"


def _make_scene(args: tuple[int, int, int, int, int, Path]) -> dict:
    index, seed, frames, size, fps, root = args
    rng = np.random.default_rng([seed, index])
    clip_id = f"scene_{index:04d}"
    scene = sample_scene(rng, clip_id)
    extrinsics = sample_trajectory(rng, scene, frames)
    K = intrinsics(size)
    rendered = [render(scene, K, extrinsic, size, size) for extrinsic in extrinsics]
    ids = np.stack([f.ids for f in rendered])
    visible = np.stack(
        [(ids == i).reshape(frames, -1).sum(axis=1) for i in range(len(scene.objects))], axis=1
    )
    encode_video(root / "videos" / f"{clip_id}.mp4", np.stack([f.rgb for f in rendered]), fps=fps)
    save_file(
        {
            "depth": np.stack([f.depth for f in rendered]).astype(np.float32),
            "intrinsics": np.repeat(K[None], frames, axis=0).astype(np.float32),
            "extrinsics": extrinsics.astype(np.float32),
        },
        str(root / "gt" / f"{clip_id}.safetensors"),
        metadata={"units": "m"},
    )
    scene_json = {
        **scene.to_json(),
        "first_visible_frame": {
            o.name: int(v) for o, v in zip(scene.objects, _first(visible), strict=True)
        },
    }
    (root / "scenes" / f"{clip_id}.json").write_text(
        json.dumps(scene_json, indent=1, sort_keys=True) + "\n"
    )
    return {"clip_id": clip_id, "qa": generate_qa(scene, visible, rng)}


def _first(visible: np.ndarray) -> np.ndarray:
    from geovr.data.synth.qa import first_appearance

    return first_appearance(visible)


@writes_output(SYNTH_STAGE, marker=False)
def synthesize(
    out: str | os.PathLike,
    scenes: int,
    frames: int | Sequence[int],
    size: int,
    seed: int,
    fps: int = 8,
    workers: int = 2,
) -> dict:
    """`frames` per scene, or a cycle of counts (scene i gets frames[i % len(frames)]): videos of
    different lengths, as real data has."""
    counts = [frames] if isinstance(frames, int) else list(frames)
    if scenes < 1 or not counts or min(counts) < 2 or size < 16 or size % 2:
        raise GeoVRError(
            f"need scenes >= 1, frames >= 2 and an even size >= 16 (got {scenes}, {frames}, {size})"
        )
    start = time.perf_counter()
    generator = {
        "scenes": scenes,
        "frames": frames if isinstance(frames, int) else counts,
        "size": size,
        "seed": seed,
        "fps": fps,
    }
    with atomic_dir(out) as root:
        for sub in ("videos", "gt", "scenes"):
            (root / sub).mkdir()
        jobs = [(i, seed, counts[i % len(counts)], size, fps, root) for i in range(scenes)]
        # One fresh spawned process per scene: an encoder run after another one in the same
        # process was seen to give different bytes under load (state left behind in
        # FFmpeg/x264), and same arguments must give the same bytes (data.dvc).
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=max(1, workers), mp_context=context, max_tasks_per_child=1
        ) as pool:
            results = list(
                tqdm(
                    pool.map(_make_scene, jobs),
                    total=scenes,
                    desc="synth",
                    unit="scene",
                    disable=None,
                )
            )
        clips = [
            {
                "clip_id": r["clip_id"],
                "video": f"videos/{r['clip_id']}.mp4",
                "split": split_of(i, scenes),
                "gt": f"gt/{r['clip_id']}.safetensors",
                "scene": f"scenes/{r['clip_id']}.json",
                "source": "synthetic",
            }
            for i, r in enumerate(results)
        ]
        (root / "clips.jsonl").write_text("".join(canonical_json(c) + "\n" for c in clips))
        qa = [q for r in results for q in r["qa"]]
        (root / "qa.jsonl").write_text("".join(canonical_json(q) + "\n" for q in qa))
        dataset = {
            "schema": SCHEMAS["dataset"],
            "name": "geovr-synthetic-rooms",
            "generator": generator,
        }
        (root / "dataset.json").write_text(json.dumps(dataset, indent=2, sort_keys=True) + "\n")
        n_bytes = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return {
        "out": str(out),
        "scenes": scenes,
        "frames": frames,
        "size": size,
        "questions": len(qa),
        "bytes": n_bytes,
        "seconds": round(time.perf_counter() - start, 2),
    }
