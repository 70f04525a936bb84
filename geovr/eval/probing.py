"""Run the geometry heads on evaluation clips and pair each output with its reference: the
clip's ground truth where ingest stored one (depth, camera extrinsics), the teacher targets
otherwise; features only ever have the teacher.

    probes, examples, references = probe_clips(geo, processor, reader, store, clips, device, None)
    references   # {"depth": {"ground_truth": 2}, "pose": {...}, "scale": {...},
                 #  "features": {"teacher": 2}}

A checkpoint without trained heads is never probed (see has_trained_heads): freshly
initialised heads would give numbers that mean nothing.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from geovr.data.shards import ShardReader
from geovr.eval import probes as probe_metrics
from geovr.eval.report import ReportExample
from geovr.geometry.scale import lstsq_scale
from geovr.model import collate, make_example, to_device
from geovr.model.checkpoint import HEADS_FILE, read_geovr_config
from geovr.teachers.store import TargetStore

GROUND_TRUTH, TEACHER = "ground_truth", "teacher"
PROBE_QUESTION = {"question": "Describe the room.", "options": None, "ground_truth": None}


def has_trained_heads(checkpoint: str | Path) -> bool:
    """True for a GeoVR checkpoint with geometry objectives and saved heads; False for a base
    model or an SFT baseline (objectives `lm` only)."""
    meta = read_geovr_config(checkpoint) if Path(checkpoint).is_dir() else None
    if meta is None or not (Path(checkpoint) / HEADS_FILE).is_file():
        return False
    return any(o != "lm" for o in meta["geovr"].get("objectives", ()))


def ground_truth_scale(gt_depth: np.ndarray, teacher_depth: np.ndarray) -> float | None:
    """The metric scale the teacher depth should have had: <m, d> / <d, d> over the pixels
    where both are positive (the least-squares fit of training's scale target)."""
    valid = (gt_depth > 0) & (teacher_depth > 0) & np.isfinite(gt_depth)
    fit = lstsq_scale(gt_depth, teacher_depth, valid)
    return fit.scale if fit.n_valid else None


def _against_ground_truth(
    probe: probe_metrics.ClipProbe, arrays: dict, teacher_depth: np.ndarray
) -> probe_metrics.ClipProbe:
    scale = ground_truth_scale(arrays["depth"], teacher_depth)
    return dataclasses.replace(
        probe,
        depth_target=np.asarray(arrays["depth"], np.float32),
        pose_target=np.asarray(arrays["extrinsics"], np.float64),
        pose_valid=True,
        scale_target=scale if scale is not None else probe.scale_target,
        scale_valid=scale is not None or probe.scale_valid,
    )


def _references(probe: probe_metrics.ClipProbe, reference: str) -> dict[str, str]:
    parts = {
        "depth": probe.depth_pred is not None,
        "pose": probe.pose_pred is not None,
        "scale": probe.scale_pred is not None,
    }
    found = {part: reference for part, ran in parts.items() if ran}
    if probe.features_pred is not None:
        found["features"] = TEACHER
    return found


def probe_clips(
    geo,
    processor,
    reader: ShardReader,
    store: TargetStore,
    clips: Sequence[dict],
    device,
    max_side: int | None,
) -> tuple[list[probe_metrics.ClipProbe], list[ReportExample], dict[str, dict[str, int]]]:
    """Per-clip probes, the report pictures' inputs, and per part the clips of each reference."""
    found, examples, counts = [], [], {}
    for clip in clips:
        arrays = reader.get(clip["clip_id"])[0]
        targets = store.get(clip["clip_id"], sha256=clip["sha256"])
        with_gt = "depth" in arrays and "extrinsics" in arrays
        example = make_example(
            processor,
            arrays["frames"],
            PROBE_QUESTION,
            targets,
            timestamps=clip.get("timestamps"),
            max_side=max_side,
            layers=store.layers,
            with_answer=False,
        )
        batch = to_device(collate([example], processor.tokenizer.pad_token_id), device)
        depth_size = tuple(arrays["depth"].shape[-2:]) if with_gt else None
        preds = geo.predict(batch, depth_size=depth_size, layer_names=list(store.layers))
        one = probe_metrics.ClipProbe.from_predictions(clip["clip_id"], preds, targets)
        if with_gt:
            one = _against_ground_truth(one, arrays, np.asarray(targets.depth))
        for part, reference in _references(one, GROUND_TRUTH if with_gt else TEACHER).items():
            counts.setdefault(part, Counter())[reference] += 1
        found.append(one)
        if one.depth_pred is not None and one.pose_pred is not None:
            examples.append(
                ReportExample(
                    clip["clip_id"],
                    arrays["frames"],
                    one.depth_pred,
                    one.depth_target,
                    one.pose_pred,
                    one.pose_target,
                )
            )
    return found, examples, {part: dict(c) for part, c in counts.items()}
