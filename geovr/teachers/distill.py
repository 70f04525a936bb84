"""The distill stage: teacher targets for every clip of a clip set, cached and resumable.

    geovr distill --clips CLIPS --teacher oracle --out TARGETS [--shard-range 0:4] [--batch-size 8]
    # the paper's pair:
    geovr distill --clips CLIPS --teacher vggt --scale-teacher da3-metric --out TARGETS
    geovr distill-merge --parts T0 T1 ... --out TARGETS

    summary = run_distill("runs/clips", "oracle", "runs/targets")

Output (docs/contracts.md section 3): TARGETS/meta.json (schema geovr.targets/1, written last,
removed first, so a half-done directory is never read as complete), index.json (clip_id ->
record location), quarantine.jsonl, and the chunk cache of geovr.teachers.cache. A rerun
into the same TARGETS computes only clips without a finished chunk. `--shard-range` picks a
slice of the clip set's shards (sorted by name) so several tasks (one GPU each) can run in
parallel, each into its own directory; `geovr.teachers.merge.merge_targets` joins their outputs.
Stored clips without a metric scale (their scale loss is masked) are counted in the summary and
meta.json (`clips_without_scale`); a run where no stored clip has one fails, writing no meta.json.
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from geovr.artifacts import (
    META_FILE,
    atomic_write_json,
    make_meta,
    read_jsonl,
    read_meta,
    sha256_file,
    write_jsonl,
    write_meta,
)
from geovr.config.presets import run_record
from geovr.config.stages import DistillConfig
from geovr.data.shards import INDEX_FILE, ShardReader
from geovr.errors import GeoVRError
from geovr.stage_output import check_output, writes_output
from geovr.teachers.base import (
    ClipRejected,
    GroundTruth,
    Targets,
    Teacher,
    build_scale_teacher,
    build_teacher,
    teacher_hash,
    teacher_names,
)
from geovr.teachers.cache import ClipOutcome, TargetCache, cache_key, outcome_for
from geovr.teachers.merge import QUARANTINE_FILE
from geovr.teachers.pair import TeacherPair, pair_name

PREFETCH = 2  # clips loaded ahead in a background thread while the teacher runs


@dataclass(frozen=True)
class ClipInput:
    frames: np.ndarray  # [T,H,W,3] uint8
    intrinsics: np.ndarray | None
    gt: GroundTruth | None


def parse_shard_range(text: str | None, n_shards: int) -> slice:
    """'START:END' (END exclusive, either side may be empty) over the sorted clip shards."""
    if not text:
        return slice(0, n_shards)
    try:
        start_text, end_text = text.split(":")
        start = int(start_text) if start_text else 0
        end = int(end_text) if end_text else n_shards
    except ValueError:
        raise GeoVRError(f"--shard-range {text!r}: expected START:END, e.g. 0:4") from None
    if not 0 <= start < end <= n_shards:
        raise GeoVRError(f"--shard-range {text!r}: the clip set has shards 0..{n_shards - 1}")
    return slice(start, end)


def select_clips(clips_dir: str, shard_range: str | None) -> tuple[dict, list[dict], ShardReader]:
    """The clip set's meta, the manifest rows in the shard range, and a reader."""
    meta = read_meta(clips_dir, "clipset")
    rows = read_jsonl(f"{clips_dir}/manifest.jsonl")
    reader = ShardReader(clips_dir)
    missing = [row["clip_id"] for row in rows if row["clip_id"] not in reader]
    if missing:
        raise GeoVRError(f"{clips_dir}: manifest clips missing from {INDEX_FILE}: {missing[:5]}")
    shards = reader.shards()
    chosen = set(shards[parse_shard_range(shard_range, len(shards))])
    return meta, [row for row in rows if reader.index[row["clip_id"]]["shard"] in chosen], reader


def load_clip(reader: ShardReader, row: dict) -> ClipInput:
    arrays, _ = reader.get(row["clip_id"])
    if not row.get("has_gt"):
        return ClipInput(arrays["frames"], None, None)
    try:
        gt = GroundTruth(arrays["depth"], arrays["intrinsics"], arrays["extrinsics"])
    except KeyError as e:
        raise ClipRejected(f"has_gt is true but the record has no {e.args[0]!r}") from e
    return ClipInput(arrays["frames"], gt.intrinsics, gt)


def _prefetch(
    items: list[dict], load: Callable[[dict], ClipInput]
) -> Iterator[tuple[dict, ClipInput | str]]:
    """Yield (row, loaded clip or rejection reason), loading PREFETCH clips ahead in a thread."""

    def safe_load(row: dict) -> ClipInput | str:
        try:
            return load(row)
        except ClipRejected as e:
            return str(e)

    with ThreadPoolExecutor(max_workers=1) as pool:
        queue: deque = deque()
        rows = iter(items)
        for row in rows:
            queue.append((row, pool.submit(safe_load, row)))
            if len(queue) > PREFETCH:
                head, future = queue.popleft()
                yield head, future.result()
        while queue:
            head, future = queue.popleft()
            yield head, future.result()


def compute_targets(teacher: Teacher, clip: ClipInput) -> Targets | str:
    """Run the teacher on one clip; a rejection or bad output becomes a quarantine reason.
    (Inference mode and precision are the teacher's: see `geovr.teachers.torch_ops.inference`.)"""
    try:
        targets = teacher.targets(clip.frames, clip.intrinsics, clip.gt)
    except ClipRejected as e:
        return str(e)
    return targets.problem() or targets


@writes_output(
    "distill",
    out="out_dir",
    inputs=("clips_dir",),
    identity=lambda a: {"teacher": a["teacher"].name},
)
def distill(
    clips_dir: str,
    teacher: Teacher,
    out_dir: str,
    shard_range: str | None = None,
    clips_per_shard: int = 16,
    progress: bool = True,
    run_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compute the missing targets of the selected clips into `out_dir`; returns the summary.
    `run_config` (geovr.config.presets.run_record) goes into meta.json as it is."""
    clip_meta, rows, reader = select_clips(clips_dir, shard_range)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / META_FILE).unlink(missing_ok=True)  # incomplete until the end of this run
    thash = teacher_hash(teacher)
    cache = TargetCache(out, teacher.name, thash)
    keys = {row["clip_id"]: cache_key(row, teacher.name, thash) for row in rows}
    known = cache.scan()
    pending = _missing(rows, keys, known)
    shas = _shas(rows, keys)
    started = time.perf_counter()
    bar = tqdm(
        total=len(pending),
        unit="clip",
        desc=f"distill {teacher.name}",
        file=sys.stderr,
        disable=not progress,
    )
    with bar:
        batch: list[tuple[str, Targets | str, ClipOutcome]] = []
        for done, (row, result) in enumerate(_results(teacher, reader, pending, bar), 1):
            key, frames = keys[row["clip_id"]], len(row["frame_indices"])
            batch.append((key, result, outcome_for(row["clip_id"], result, frames)))
            # A chunk is written as soon as it is full: the unit of resume.
            if len(batch) >= clips_per_shard or done == len(pending):
                known.update(cache.write_chunk(batch, shas))
                batch = []
    seconds = time.perf_counter() - started
    outcomes = {row["clip_id"]: known[keys[row["clip_id"]]] for row in rows}
    without_scale = _check_scale(teacher, out, outcomes)
    config = {"teacher": teacher.name, "teacher_config": teacher.config, "shard_range": shard_range}
    inputs = {
        "clips": sha256_file(f"{clips_dir}/manifest.jsonl"),
        "clipset_config": clip_meta.get("config_hash", ""),
    }
    write_targets(
        out,
        rows,
        keys,
        outcomes,
        make_meta(
            "targets",
            "distill",
            config,
            inputs,
            **_teacher_meta(teacher, thash),
            clips_without_scale=without_scale,
            run_config=run_config or {},
        ),
    )
    summary = summarise(out, outcomes, computed=len(pending), seconds=seconds)
    return {**summary, "clips_without_scale": without_scale}


def _check_scale(teacher: Teacher, out: Path, outcomes: dict[str, ClipOutcome]) -> int:
    """How many stored clips lack a metric scale; fails if all do (the scale objective would
    be masked on every clip, silently)."""
    stored = [o for o in outcomes.values() if o.entry is not None]
    without = sum(not o.scale_valid for o in stored)
    if stored and without == len(stored):
        why = (
            "no pixel passed the scale fit"
            if isinstance(teacher, TeacherPair)
            else "no ground-truth depth and no --scale-teacher, e.g. da3-metric"
        )
        raise GeoVRError(
            f"teacher {teacher.name!r}: none of the {len(stored)} stored clips got a metric scale "
            f"({why}); {out} is left incomplete (no {META_FILE})"
        )
    return without


def _results(
    teacher: Teacher, reader: ShardReader, rows: list[dict], bar: tqdm
) -> Iterator[tuple[dict, Targets | str]]:
    """(row, targets or quarantine reason) for each row, in order; ticks the progress bar."""
    for row, clip in _prefetch(rows, lambda r: load_clip(reader, r)):
        result = clip if isinstance(clip, str) else compute_targets(teacher, clip)
        bar.update()
        yield row, result


def _missing(rows: list[dict], keys: dict[str, str], known: dict[str, ClipOutcome]) -> list[dict]:
    """Rows whose key has no finished chunk, one per key.

    Two clip ids may share a key (the same video and sampling).
    """
    seen, pending = set(known), []
    for row in rows:
        if keys[row["clip_id"]] not in seen:
            seen.add(keys[row["clip_id"]])
            pending.append(row)
    return pending


def _shas(rows: list[dict], keys: dict[str, str]) -> dict[str, str]:
    return {keys[row["clip_id"]]: row["sha256"] for row in rows}


def _teacher_meta(teacher: Teacher, thash: str) -> dict[str, Any]:
    return {"teacher": teacher.name, "teacher_hash": thash, "layers": list(teacher.layers)}


def write_targets(
    out: Path, rows: list[dict], keys: dict[str, str], outcomes: dict[str, ClipOutcome], meta: dict
) -> None:
    """index.json + quarantine.jsonl, then meta.json (with feature shapes) last."""
    index, quarantine = {}, []
    for row in rows:
        outcome = outcomes[row["clip_id"]]
        if outcome.entry is None:
            quarantine.append(
                {"input": row["clip_id"], "clip_id": row["clip_id"], "reason": outcome.reason}
            )
        else:
            index[row["clip_id"]] = {
                **outcome.entry,
                "key": keys[row["clip_id"]],
                "clip_sha256": row["sha256"],
            }
    shapes = next((o.feature_shapes for o in outcomes.values() if o.feature_shapes), {})
    atomic_write_json(out / INDEX_FILE, index)
    write_jsonl(out / QUARANTINE_FILE, quarantine)
    write_meta(
        out, {**meta, "clips": len(index), "quarantined": len(quarantine), "feature_shapes": shapes}
    )


def summarise(
    out: Path, outcomes: dict[str, ClipOutcome], computed: int, seconds: float
) -> dict[str, Any]:
    """The stage summary: counts, speed, and the feature cache size against raw fp32."""
    stored = [o for o in outcomes.values() if o.entry is not None]
    frames = sum(o.frames for o in stored)
    feature_bytes = sum(o.feature_bytes for o in stored)
    raw_bytes = sum(o.raw_feature_bytes for o in stored)
    return {
        "stage": "distill",
        "out": str(out),
        "clips": len(outcomes),
        "computed": computed,
        "reused": len(outcomes) - computed,
        "quarantined": len(outcomes) - len(stored),
        "seconds": round(seconds, 3),
        "clips_per_s": round(computed / seconds, 3) if computed and seconds > 0 else 0.0,
        "feature_bytes_per_frame": round(feature_bytes / frames, 1) if frames else 0,
        "raw_fp32_feature_bytes_per_frame": round(raw_bytes / frames, 1) if frames else 0,
        "feature_cache_ratio": round(feature_bytes / raw_bytes, 4) if raw_bytes else 0,
    }


def options_from_json(text: str) -> dict[str, Any]:
    """Teacher options given as one JSON object (the pipeline's `teacher_options`); "" = none."""
    if not text.strip():
        return {}
    try:
        options = json.loads(text)
    except json.JSONDecodeError as e:
        raise GeoVRError(f"teacher options {text!r}: not JSON ({e.msg})") from None
    if not isinstance(options, dict):
        raise GeoVRError(
            f'teacher options {text!r}: expected a JSON object, e.g. {{"input_size": 518}}'
        )
    return options


def run_distill(
    clips: str,
    teacher: str,
    out: str,
    shard_range: str | None = None,
    weights: str | None = None,
    batch_size: int = 8,
    device: str = "auto",
    clips_per_shard: int = 16,
    options: dict[str, Any] | None = None,
    progress: bool = True,
    scale_teacher: str | None = None,
    scale_weights: str | None = None,
    preset: str = "",
) -> dict[str, Any]:
    """Build the teacher by name and run the stage (what the CLI and the KFP component call).
    `device` "auto" is resolved by a teacher that runs a model; the oracle needs none.
    `scale_teacher` names a metric-scale source paired with it (geovr.teachers.pair).
    meta.json records these settings and the `preset` they were resolved from."""
    cfg = DistillConfig(  # checks the settings before any teacher is built
        teacher=teacher,
        weights=weights or "",
        scale_teacher=scale_teacher or "",
        scale_weights=scale_weights or "",
        teacher_options=json.dumps(options or {}, sort_keys=True),
        batch_size=batch_size,
        device=device,
        clips_per_shard=clips_per_shard,
    )
    if teacher in teacher_names():  # (an unknown name is build_teacher's error)
        name = pair_name(teacher, scale_teacher)
        check_output(out, "distill", {"teacher": name}, [clips])  # before loading weights
    kwargs = {**(options or {}), "batch_size": batch_size, "device": device}
    if weights:
        kwargs["weights"] = weights
    model = build_teacher(teacher, **kwargs)
    if scale_teacher:
        scale_kwargs = {"device": device, **({"weights": scale_weights} if scale_weights else {})}
        model = TeacherPair(model, build_scale_teacher(scale_teacher, **scale_kwargs))
    record = run_record(preset, "distill", cfg)
    del record["distill"]["tasks"]  # the pipeline's fan-out, not a setting of this call
    summary = distill(clips, model, out, shard_range, clips_per_shard, progress, record)
    return {
        **summary,
        "teacher": model.name,
        "teacher_hash": teacher_hash(model),
        "device": getattr(model, "device", "cpu"),
    }
