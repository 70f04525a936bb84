"""The ingest stage: dataset directory (contracts section 1) -> clip set (section 2).

Every clip's video is checked (validate.py), its frames are sampled uniformly (a fixed count,
or the paper's 2 fps within 4..32 frames) and resized (sampling.py), its ground truth is checked
and brought to the same frames and size; good
clips go to shards + manifest.jsonl, every rejected input to quarantine.jsonl with its
reason, and the QA of the valid clips to qa.jsonl. The clip set is built in a temporary
directory and moved into place whole; the same inputs give the same bytes.

    geovr ingest --data data --out runs/clips --frames 16
    geovr ingest --data data --out runs/clips --sampling fps --fps 2 --min-frames 4 --max-frames 32
    python -c "from geovr.config import IngestConfig; from geovr.data.ingest import ingest; \
        print(ingest('data', 'out', IngestConfig(frames=8)))"
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from geovr.artifacts import (
    atomic_dir,
    make_meta,
    read_jsonl,
    sha256_file,
    write_jsonl,
    write_meta,
)
from geovr.config.ingest import IngestConfig
from geovr.config.presets import run_record
from geovr.data.layout import ClipSource, Dataset, Rejection, content_hash, load_dataset
from geovr.data.sampling import (
    fps_frame_count,
    resize_depth,
    resize_frames,
    sample_indices,
    scale_intrinsics,
    target_size,
)
from geovr.data.shards import ShardWriter
from geovr.data.validate import (
    Rejected,
    check_scene,
    check_video,
    load_ground_truth,
    video_error_reason,
)
from geovr.data.video import VideoError, decode_frames
from geovr.errors import GeoVRError
from geovr.stage_output import writes_output

MANIFEST_FILE = "manifest.jsonl"
QA_FILE = "qa.jsonl"
QUARANTINE_FILE = "quarantine.jsonl"


def frame_indices(cfg: IngestConfig, n_frames: int, video_fps: float) -> list[int]:
    """The frames `cfg`'s sampling rule takes from a video of `n_frames` at `video_fps`."""
    count = cfg.frames
    if cfg.sampling == "fps":
        count = fps_frame_count(n_frames, video_fps, cfg.fps, cfg.min_frames, cfg.max_frames)
    return sample_indices(n_frames, count)


@dataclass
class ClipOutcome:
    """What a worker sends back for one clip: a manifest row and arrays, or a rejection."""

    clip_id: str
    hashes: dict[str, str]  # sha256 of each file read, for the dataset content hash
    row: dict[str, Any] | None = None
    arrays: dict[str, np.ndarray] | None = None
    rejection: Rejection | None = None


@dataclass(frozen=True)
class Counts:
    """The figures of the summary line and of meta.json (clips_in = valid + quarantined)."""

    clips_in: int
    valid: int
    quarantined: int
    qa_kept: int
    qa_dropped: int
    shards: int


def _sample_clip(clip: ClipSource, cfg: IngestConfig, sha256: str) -> tuple[dict, dict]:
    """Check, sample and resize one clip; returns (arrays, manifest row) or raises Rejected."""
    video = clip.video
    fps_rule = cfg.sampling == "fps"
    info = check_video(video.path, video.rel, cfg.limits, 2 if fps_rule else cfg.frames)
    if fps_rule and info.n_frames < cfg.min_frames:
        raise Rejected(
            video.rel, f"{info.n_frames} frames, fewer than --min-frames {cfg.min_frames}"
        )
    indices = frame_indices(cfg, info.n_frames, info.fps)
    gt = load_ground_truth(clip.gt.path, clip.gt.rel, info, indices) if clip.gt else None
    if clip.scene:
        check_scene(clip.scene.path, clip.scene.rel, clip.clip_id)
    try:
        frames = decode_frames(video.path, indices)
    except VideoError as e:
        raise Rejected(video.rel, video_error_reason(e, video.path, video.rel)) from e
    if frames.shape[1:3] != (info.height, info.width):
        raise Rejected(
            video.rel,
            f"decoded frames are {frames.shape[2]}x{frames.shape[1]}, "
            f"the header says {info.width}x{info.height}",
        )
    size = target_size(info.width, info.height, cfg.max_side)
    arrays = {"frames": resize_frames(frames, size)}
    if gt is not None:
        arrays["depth"] = resize_depth(gt.depth, size)
        arrays["intrinsics"] = scale_intrinsics(gt.intrinsics, (info.width, info.height), size)
        arrays["extrinsics"] = gt.extrinsics
    row = {
        "clip_id": clip.clip_id,
        "split": clip.split,
        "source": clip.source,
        "sha256": sha256,
        "fps": round(info.fps, 6),
        "n_frames": info.n_frames,
        "frame_indices": indices,
        # Nominal presentation times (index / fps): exact for the constant-rate videos
        # this pipeline writes and reads, and independent of container timestamp quirks.
        "timestamps": [round(i / info.fps, 6) for i in indices],
        "sampling": cfg.sampling_record(),
        "width": size[0],
        "height": size[1],
        "src_width": info.width,
        "src_height": info.height,
        "has_gt": gt is not None,
    }
    return arrays, row


def process_clip(clip: ClipSource, cfg: IngestConfig) -> ClipOutcome:
    """One clip, start to end (runs in a worker process): never raises for bad input."""
    files = [f for f in (clip.video, clip.gt, clip.scene) if f is not None]
    try:
        hashes = {f.rel: sha256_file(f.path) for f in files}
    except OSError as e:
        reason = f"cannot read {e.filename}: {e.strerror}"
        return ClipOutcome(
            clip.clip_id, {}, rejection=Rejection(clip.video.rel, clip.clip_id, reason)
        )
    try:
        arrays, row = _sample_clip(clip, cfg, hashes[clip.video.rel])
    except Rejected as e:
        return ClipOutcome(clip.clip_id, hashes, rejection=Rejection(e.input, clip.clip_id, str(e)))
    return ClipOutcome(clip.clip_id, hashes, row=row, arrays=arrays)


DECODER_KILLED = (
    "the decoding process was killed while reading this clip, and again on its "
    "retry (SIGKILL, as the out-of-memory killer sends)"
)


def _spawn_pool(workers: int) -> ProcessPoolExecutor:
    # spawn: workers start clean, inheriting no threads (tqdm's monitor) or FFmpeg state.
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def _isolated(clip: ClipSource, cfg: IngestConfig) -> ClipOutcome:
    """Retry of a clip whose pool died: alone in a fresh process, so that a second death is
    this clip's doing; it is then quarantined by name instead of ending the stage."""
    with _spawn_pool(1) as pool:
        try:
            return pool.submit(process_clip, clip, cfg).result()
        except BrokenProcessPool:
            return ClipOutcome(
                clip.clip_id, {}, rejection=Rejection(clip.video.rel, clip.clip_id, DECODER_KILLED)
            )


def _pooled(clips: deque[ClipSource], cfg: IngestConfig, workers: int) -> Iterator[ClipOutcome]:
    """Outcomes of `clips` (consumed from the left) in input order, until done or until the
    pool dies: a killed worker breaks every pending clip, which are then retried alone."""
    pool = _spawn_pool(workers)
    pending: deque[tuple[ClipSource, Future]] = deque()
    try:
        while clips or pending:
            while clips and len(pending) <= 2 * workers:
                clip = clips.popleft()
                pending.append((clip, pool.submit(process_clip, clip, cfg)))
            try:
                outcome = pending[0][1].result()
            except BrokenProcessPool:
                break
            pending.popleft()
            yield outcome
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for clip, _ in pending:
        yield _isolated(clip, cfg)


def _outcomes(clips: list[ClipSource], cfg: IngestConfig) -> Iterator[ClipOutcome]:
    """Outcomes in input order; with workers, a bounded window of clips runs ahead so that
    memory stays flat however many clips there are."""
    workers = min(cfg.workers, len(clips))
    if workers <= 1:
        yield from (process_clip(clip, cfg) for clip in clips)
        return
    queue = deque(clips)
    while queue:  # a fresh pool after each death, for the clips not yet started
        yield from _pooled(queue, cfg, workers)


def _split_qa(
    dataset: Dataset, valid: set[str], rejected: set[str]
) -> tuple[list[dict], list[Rejection]]:
    """QA rows of valid clips (with `scene_name` set), and a rejection for every other row."""
    kept: list[dict] = []
    dropped = list(dataset.qa_rejections)
    for where, row in dataset.qa:
        clip = row.get("scene_name", row.get("clip_id"))
        if clip in valid:
            kept.append({**row, "scene_name": clip})
            continue
        state = "quarantined" if clip in rejected else "unknown"
        dropped.append(Rejection(where, clip, f"question names {state} clip {clip!r}", row["id"]))
    return kept, dropped


def write_clipset(
    staging: Path, dataset: Dataset, cfg: IngestConfig, progress: bool, preset: str = ""
) -> tuple[Counts, str]:
    """Write the whole clip set under `staging` (the caller moves it into place); returns
    the counts and the dataset content hash."""
    writer = ShardWriter(staging, cfg.clips_per_shard)
    rows: list[dict] = []
    rejections = list(dataset.clip_rejections)
    hashes = dict(dataset.file_hashes)
    with tqdm(
        total=len(dataset.clips), desc="ingest", unit="clip", file=sys.stderr, disable=not progress
    ) as bar:
        for outcome in _outcomes(dataset.clips, cfg):
            hashes.update(outcome.hashes)
            if outcome.rejection is not None:
                rejections.append(outcome.rejection)
            else:
                writer.add(
                    outcome.clip_id,
                    outcome.arrays,
                    {"clip_id": outcome.clip_id, "sha256": outcome.row["sha256"]},
                )
                rows.append(outcome.row)
            bar.update()
            bar.set_postfix(quarantined=len(rejections), refresh=False)
    index = writer.close()
    for row in rows:
        row["shard"] = index[row["clip_id"]]["shard"]
    valid = {row["clip_id"] for row in rows}
    qa, qa_rejections = _split_qa(dataset, valid, {r.clip_id for r in rejections if r.clip_id})
    counts = Counts(
        dataset.n_clips,
        len(rows),
        len(rejections),
        len(qa),
        len(qa_rejections),
        len({row["shard"] for row in rows}),
    )
    write_jsonl(staging / MANIFEST_FILE, rows)
    write_jsonl(staging / QA_FILE, qa)
    write_jsonl(staging / QUARANTINE_FILE, [r.row() for r in rejections + qa_rejections])
    inputs = {"dataset": content_hash(hashes, dataset.clip_rejections)}
    record = run_record(preset, "ingest", cfg)
    del record["ingest"]["workers"]  # speed only: the bytes must not depend on it
    write_meta(
        staging,
        make_meta(
            "clipset",
            "ingest",
            cfg.recorded(),
            inputs,
            dataset_name=dataset.info.get("name"),
            counts=asdict(counts),
            run_config=record,
        ),
    )
    return counts, inputs["dataset"]


@writes_output("ingest", inputs=("data",), marker=False)
def ingest(
    data: str | Path,
    out: str | Path,
    cfg: IngestConfig | None = None,
    progress: bool = True,
    preset: str = "",
) -> dict[str, Any]:
    """Build the clip set of dataset `data` at `out` (replacing an older clip set there);
    returns the summary. meta.json records `cfg` and the `preset` it was resolved from.
    Raises GeoVRError, writing nothing, if fewer than
    `cfg.min_valid_fraction` of the clips are valid."""
    cfg = cfg or IngestConfig()
    started = time.perf_counter()
    data, out = Path(data), Path(out)
    dataset = load_dataset(data)
    if dataset.n_clips == 0:
        raise GeoVRError(f"{data}: no clips (no clips.jsonl lines, no videos/*.mp4)")
    with atomic_dir(out) as staging:
        counts, dataset_hash = write_clipset(staging, dataset, cfg, progress, preset)
        if failure := _too_few_valid(counts, dataset, cfg):
            report = write_failure_report(out, read_jsonl(staging / QUARANTINE_FILE))
            raise GeoVRError(
                f"{failure}; nothing written to {out}; every rejected input and its "
                f"reason is in {report} (first: {_first_reason(staging)})"
            )
        written = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
    return {
        "stage": "ingest",
        "out": str(out),
        **asdict(counts),
        "bytes_written": written,
        "seconds": round(time.perf_counter() - started, 3),
        "dataset_hash": dataset_hash,
    }


def write_failure_report(out: Path, rows: list[dict]) -> Path:
    """Leave a failed ingest's full quarantine report beside --out, which keeps whatever it
    held (the report must outlive the staging directory it was built in): OUT.quarantine.jsonl,
    or OUT.quarantine.N.jsonl when that name is taken, never replacing a file."""
    for n in itertools.count():
        suffix = QUARANTINE_FILE if n == 0 else QUARANTINE_FILE.replace(".jsonl", f".{n}.jsonl")
        report = out.with_name(f"{out.name}.{suffix}")
        try:
            with report.open("x") as f:  # exclusive: an existing file is never touched
                f.writelines(json.dumps(row) + "\n" for row in rows)
            return report
        except FileExistsError:
            continue


def _too_few_valid(counts: Counts, dataset: Dataset, cfg: IngestConfig) -> str | None:
    """Why the clip set must not be published, or None: too few valid clips, or questions
    given and not one of them of the schema (an evaluation set with nothing to ask)."""
    fraction = counts.valid / counts.clips_in
    if fraction < cfg.min_valid_fraction:
        return (
            f"only {counts.valid} of {counts.clips_in} clips are valid ({fraction:.0%} < "
            f"--min-valid-fraction {cfg.min_valid_fraction:g})"
        )
    if dataset.qa_rejections and not dataset.qa:
        return f"none of the {len(dataset.qa_rejections)} questions of qa.jsonl is valid"
    return None


def _first_reason(staging: Path) -> str:
    """The first quarantine reason, so that the one-line error points at the problem."""
    rows = read_jsonl(staging / QUARANTINE_FILE)
    return f"{rows[0]['input']}: {rows[0]['reason']}" if rows else "none recorded"
