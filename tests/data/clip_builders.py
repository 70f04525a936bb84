"""Tiny datasets in the layout of docs/contracts.md section 1 for the ingest tests (built
here with encode_video + safetensors, independent of `geovr data synth`), plus the corrupt
inputs ingest must quarantine.

    root = make_dataset(tmp_path / "data", n_clips=4, frames=8)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from safetensors.numpy import save_file

from geovr.data.video import encode_video

SIZE = (48, 32)  # (width, height) of the test videos
FOCAL = 40.0


def frames_for(seed: int, n_frames: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """Smooth gradients with a moving bright square: compresses well, decodes stably."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    out = np.empty((n_frames, height, width, 3), np.uint8)
    for t in range(n_frames):
        out[t, ..., 0] = (x * 4 + seed * 30) % 256
        out[t, ..., 1] = (y * 6 + t * 10) % 256
        out[t, ..., 2] = 80 + seed * 10
        top, left = (2 * t) % max(1, height - 8), (3 * t + seed) % max(1, width - 8)
        out[t, top : top + 8, left : left + 8] = 250
    return out


def ground_truth(
    n_frames: int, size: tuple[int, int] = SIZE, seed: int = 0
) -> dict[str, np.ndarray]:
    """Depth, centred intrinsics and a camera turning about the vertical axis."""
    width, height = size
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.5, 6.0, (n_frames, height, width)).astype(np.float32)
    depth[:, :2, :2] = 0.0  # "no hit" pixels, as the contract allows
    k = np.array([[FOCAL, 0, width / 2], [0, FOCAL, height / 2], [0, 0, 1]], np.float32)
    extrinsics = []
    for t in range(n_frames):
        a = 0.05 * t
        rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        extrinsics.append(np.concatenate([rot, [[0.1 * t], [0.0], [0.02 * t]]], axis=1))
    return {
        "depth": depth,
        "intrinsics": np.repeat(k[None], n_frames, 0),
        "extrinsics": np.stack(extrinsics).astype(np.float32),
    }


def write_clip(
    root: Path,
    clip_id: str,
    n_frames: int = 8,
    size: tuple[int, int] = SIZE,
    seed: int = 0,
    gt: bool = True,
    split: str | None = "train",
) -> dict:
    """Write videos/<id>.mp4 (+ gt, scene); return its clips.jsonl line."""
    (root / "videos").mkdir(parents=True, exist_ok=True)
    encode_video(root / "videos" / f"{clip_id}.mp4", frames_for(seed, n_frames, size))
    line = {
        "clip_id": clip_id,
        "video": f"videos/{clip_id}.mp4",
        "split": split,
        "gt": None,
        "scene": None,
        "source": "test",
    }
    if gt:
        write_gt(root, clip_id, ground_truth(n_frames, size, seed))
        line["gt"] = f"gt/{clip_id}.safetensors"
    (root / "scenes").mkdir(exist_ok=True)
    (root / "scenes" / f"{clip_id}.json").write_text(
        json.dumps({"clip_id": clip_id, "objects": []})
    )
    line["scene"] = f"scenes/{clip_id}.json"
    return line


def write_gt(root: Path, clip_id: str, arrays: dict[str, np.ndarray]) -> None:
    (root / "gt").mkdir(exist_ok=True)
    save_file(arrays, str(root / "gt" / f"{clip_id}.safetensors"), metadata={"units": "m"})


def qa_row(i: int, clip_id: str) -> dict:
    return {
        "id": f"q{i}",
        "scene_name": clip_id,
        "question_type": "object_counting",
        "question": "How many chairs are in the room?",
        "options": None,
        "ground_truth": "2",
    }


def write_jsonl(path: Path, rows: list) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def make_dataset(
    root: Path, n_clips: int = 4, frames: int = 8, size: tuple[int, int] = SIZE, gt: bool = True
) -> Path:
    """n_clips good clips c0..c{n-1} with ground truth, a scene each and one question each."""
    root.mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps({"schema": "geovr.dataset/1", "name": "tiny"}))
    lines = [write_clip(root, f"c{i}", frames, size, seed=i, gt=gt) for i in range(n_clips)]
    write_jsonl(root / "clips.jsonl", lines)
    write_jsonl(root / "qa.jsonl", [qa_row(i, f"c{i}") for i in range(n_clips)])
    return root


def add_corrupt_inputs(root: Path, frames: int = 8) -> dict[str, str]:
    """Append every kind of bad input to a make_dataset() dataset; returns
    {quarantine input: expected reason fragment}."""
    videos = root / "videos"
    good = (videos / "c0.mp4").read_bytes()
    (videos / "empty.mp4").write_bytes(b"")
    (videos / "truncated.mp4").write_bytes(good[: len(good) // 2])
    (videos / "text.mp4").write_text("this is not a video\n" * 20)
    Image.fromarray(frames_for(0, 1)[0]).save(videos / "png.mp4", format="PNG")
    write_clip(root, "single", n_frames=1, gt=False)
    write_clip(root, "tiny", n_frames=frames, size=(2, 2), gt=False)
    write_clip(root, "nan", n_frames=frames, seed=5)
    nan_gt = ground_truth(frames, seed=5)
    nan_gt["depth"][3, 4, 5] = np.nan
    write_gt(root, "nan", nan_gt)
    write_clip(root, "short_gt", n_frames=frames, seed=6)
    write_gt(root, "short_gt", ground_truth(frames - 1, seed=6))
    lines = [
        {"clip_id": name, "video": f"videos/{name}.mp4", "split": "val"}
        for name in ("empty", "truncated", "text", "png", "single", "tiny")
    ]
    lines += [
        {"clip_id": name, "video": f"videos/{name}.mp4", "gt": f"gt/{name}.safetensors"}
        for name in ("nan", "short_gt")
    ]
    lines.append({"clip_id": "escape", "video": "../outside.mp4"})
    (root.parent / "outside.mp4").write_bytes(good)
    with (root / "clips.jsonl").open("a") as f:
        f.write("".join(json.dumps(line) + "\n" for line in lines))
    with (root / "qa.jsonl").open("a") as f:
        f.write(json.dumps(qa_row(100, "ghost")) + "\n")
    n_lines = len((root / "clips.jsonl").read_text().splitlines())
    return {
        "videos/empty.mp4": "empty file (0 bytes)",
        "videos/truncated.mp4": "truncated or corrupt mp4",
        "videos/text.mp4": "is a text file, not a video",
        "videos/png.mp4": "is a PNG image, not a video",
        "videos/single.mp4": "only 1 frame(s): a still image",
        "videos/tiny.mp4": "resolution 2x2 outside the limits",
        "gt/nan.safetensors": "depth has NaN/inf values (first at frame 3)",
        "gt/short_gt.safetensors": f"depth has {frames - 1} frames, the video has {frames}",
        f"clips.jsonl:{n_lines}": "video path '../outside.mp4' escapes the data root",
        f"qa.jsonl:{len((root / 'qa.jsonl').read_text().splitlines())}": (
            "question names unknown clip 'ghost'"
        ),
    }


def tree_bytes(root: Path) -> dict[str, bytes]:
    """{relative path: bytes} of every file under root."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
