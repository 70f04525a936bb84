"""Data path throughput (issue 9, benchmark 3).

    python -m bench data_path [--quick]

a. Loader vs trainer: samples/s of the training DataLoader (2 worker processes decoding
   shards, running the processor, collating) vs samples/s the tiny student's training step
   consumes. Goal >= 5x.
b. Video decode: frames/s of geovr.data.video.decode_frames (PyAV -> RGB arrays) vs the same
   files decoded by libav alone (PyAV's decode loop without conversion, what `ffmpeg -f null -`
   measures). Goal >= 0.8x. The ffmpeg command-line tool is not installed here, so the libav
   loop stands in for it (same decoder library).
c. Teacher feature cache: bytes per frame stored vs raw fp32 features. Goal <= 0.125.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import av
import torch

from bench.common import add_results_option, bench_data, geovr, interleaved, timed, write_result
from geovr.data.sampling import sample_indices
from geovr.data.video import decode_frames
from geovr.model import GeoVRConfig, GeoVRModel, HeadWidths, build_tiny_student, collate
from geovr.model.config import teacher_feature_dim
from geovr.model.dataset import ClipQADataset


def loader_vs_step(batch_size: int, batches: int, results: Path) -> dict:
    clips, targets, _ = bench_data(cache=results)
    student, processor = build_tiny_student("qwen3_vl")
    geo = GeoVRModel(
        student,
        GeoVRConfig(widths=HeadWidths.tiny(), teacher_feature_dim=teacher_feature_dim(targets)),
    )
    optimizer = torch.optim.AdamW([p for p in geo.parameters() if p.requires_grad], lr=1e-5)
    data = ClipQADataset(str(clips), processor, str(targets), splits=("train", "val", "test"))
    pad = processor.tokenizer.pad_token_id
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=batch_size,
        shuffle=True,
        num_workers=2,
        collate_fn=lambda s: collate(s, pad),
        prefetch_factor=4,
        persistent_workers=True,
    )
    stream = iter(loader)
    next(stream)  # workers up
    load_s = timed(lambda: [next(stream) for _ in range(batches)])
    batch = collate([data[i] for i in range(batch_size)], pad)

    def step():
        geo(batch)["total"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    step_s = timed(lambda: [step() for _ in range(batches)])
    loader_rate, step_rate = batch_size * batches / load_s, batch_size * batches / step_s
    return {
        "loader_samples_per_s": loader_rate,
        "step_samples_per_s": step_rate,
        "ratio": loader_rate / step_rate,
        "goal": ">= 5",
    }


def _libav_decode(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def decode_speed(repeats: int, results: Path, sampled: int = 16) -> dict:
    """All frames to RGB, and what ingest does (`sampled` evenly spaced frames to RGB), each
    against libav decoding every frame without conversion; on 64-frame 256 px videos."""
    _, _, data = bench_data(scenes=3, frames=64, size=256, cache=results)
    videos = sorted((data / "videos").glob("*.mp4"))
    counts = {v: _libav_decode(v) for v in videos}
    picks = {v: sample_indices(n, min(sampled, n)) for v, n in counts.items()}
    result = {
        "frames": sum(counts.values()),
        "goal": ">= 0.8",
        "ffmpeg_cli": shutil.which("ffmpeg")
        or "not installed: libav decode loop used as the reference",
    }
    for name, decode in (
        ("all_frames_rgb", lambda: [decode_frames(v) for v in videos]),
        ("ingest_sampled_rgb", lambda: [decode_frames(v, picks[v]) for v in videos]),
    ):
        timing = interleaved(
            {name: decode, "libav_only": lambda: [_libav_decode(v) for v in videos]}, repeats
        )
        # same clips, same frames decoded: the fps ratio is the inverse time ratio
        result[name] = {
            "fps_ratio": 1 / timing["ratio"],
            "fps_ratio_min": 1 / timing["ratio_max"],
            "fps_ratio_max": 1 / timing["ratio_min"],
            "median_s": timing["median_s"],
        }
    return result


def cache_ratio(results: Path) -> dict:
    """Distil the benchmark clips afresh and read the stage's own byte counts."""
    clips, _, _ = bench_data(cache=results)
    with tempfile.TemporaryDirectory() as tmp:
        summary = json.loads(
            geovr(
                "distill",
                "--clips",
                str(clips),
                "--teacher",
                "oracle",
                "--out",
                "targets",
                "--no-progress",
                cwd=Path(tmp),
            )
        )
    return {
        "stored_bytes_per_frame": summary["feature_bytes_per_frame"],
        "raw_fp32_bytes_per_frame": summary["raw_fp32_feature_bytes_per_frame"],
        "ratio": summary["feature_cache_ratio"],
        "goal": "<= 0.125",
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench data_path")
    parser.add_argument("--quick", action="store_true")
    add_results_option(parser)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = {
        "loader_vs_step": loader_vs_step(2, 4 if args.quick else 12, args.results),
        "decode": decode_speed(2 if args.quick else 7, args.results),
        "feature_cache": cache_ratio(args.results),
    }
    result["seconds"] = time.perf_counter() - start
    write_result("data_path", result, quick=args.quick, results=args.results)
    return result
