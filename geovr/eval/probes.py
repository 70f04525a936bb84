"""Geometry probes: run the training-only heads on evaluation clips and score them against the
teacher targets (docs/protocol.md, "Geometry probes").

    probe = ClipProbe.from_predictions("scene_0003", preds, targets)   # one clip
    metrics = aggregate([probe, ...])   # {"depth_absrel", "depth_delta1", "pose_rra5", ...,
                                        #  "pose_auc30", "scale_rel_err", "feat_cos_<layer>", ...}

Depth: AbsRel / delta1 after one median scale per clip, averaged over clips. Pose: relative
errors of every frame pair, pooled over clips, then RRA/RTA at 5/15/30 degrees and AUC@30
(VGGT/CO3D). Scale: mean relative error. Features: mean cosine per layer. A head the checkpoint
does not have gives no key (absent, never zero).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from geovr.eval import geometry


@dataclass(frozen=True)
class ClipProbe:
    """One clip's head outputs and teacher targets (numpy; any part may be missing)."""

    clip_id: str
    depth_pred: np.ndarray | None = None
    depth_target: np.ndarray | None = None
    pose_pred: np.ndarray | None = None
    pose_target: np.ndarray | None = None
    pose_valid: bool = True
    scale_pred: float | None = None
    scale_target: float | None = None
    scale_valid: bool = True
    features_pred: Mapping[str, np.ndarray] | None = None
    features_target: Mapping[str, np.ndarray] | None = None

    @classmethod
    def from_predictions(cls, clip_id: str, preds: Mapping[str, Any], targets: Any) -> ClipProbe:
        """`preds`: GeoVRModel.predict of a one-clip batch; `targets`: geovr.teachers Targets."""

        def array(value: Any) -> np.ndarray:
            return (
                value.detach().float().cpu().numpy()
                if hasattr(value, "detach")
                else np.asarray(value)
            )

        features = preds.get("features")
        return cls(
            clip_id=clip_id,
            depth_pred=array(preds["depth"]) if "depth" in preds else None,
            depth_target=np.asarray(targets.depth, np.float32),
            pose_pred=array(preds["pose_enc"]) if "pose_enc" in preds else None,
            pose_target=np.asarray(targets.pose_enc, np.float64),
            pose_valid=bool(np.asarray(targets.pose_valid).reshape(-1)[0]),
            scale_pred=float(array(preds["metric_scale"]).reshape(-1)[0])
            if "metric_scale" in preds
            else None,
            scale_target=float(targets.metric_scale),
            scale_valid=bool(np.asarray(targets.scale_valid).reshape(-1)[0]),
            features_pred={k: array(v) for k, v in features.items()} if features else None,
            features_target={k: np.asarray(v, np.float32) for k, v in targets.features.items()}
            if features
            else None,
        )


def _depth(probes: Sequence[ClipProbe]) -> dict[str, float]:
    per_clip = [
        geometry.depth_metrics(p.depth_pred, p.depth_target)
        for p in probes
        if p.depth_pred is not None and (p.depth_target > 0).any()
    ]
    if not per_clip:
        return {}
    return {
        key: float(np.mean([m[key] for m in per_clip])) for key in ("depth_absrel", "depth_delta1")
    }


def _pose(probes: Sequence[ClipProbe]) -> dict[str, float]:
    pairs = [
        geometry.relative_pose_errors(p.pose_pred, p.pose_target)
        for p in probes
        if p.pose_pred is not None and p.pose_valid and len(p.pose_target) >= 2
    ]
    if not pairs:
        return {}
    rot, trans = (np.concatenate(errors) for errors in zip(*pairs, strict=True))
    return geometry.pose_metrics_from_errors(rot, trans)


def _scale(probes: Sequence[ClipProbe]) -> dict[str, float]:
    errors = [
        geometry.scale_rel_error(p.scale_pred, p.scale_target)
        for p in probes
        if p.scale_pred is not None and p.scale_valid and p.scale_target > 0
    ]
    return {"scale_rel_err": float(np.mean(errors))} if errors else {}


def _features(probes: Sequence[ClipProbe]) -> dict[str, float]:
    per_clip = [
        geometry.feature_cosine(p.features_pred, p.features_target)
        for p in probes
        if p.features_pred is not None
    ]
    if not per_clip:
        return {}
    return {key: float(np.mean([m[key] for m in per_clip])) for key in per_clip[0]}


def aggregate(probes: Sequence[ClipProbe]) -> dict[str, float]:
    """The probe metrics of a set of clips (keys only for the heads that ran)."""
    return {**_depth(probes), **_pose(probes), **_scale(probes), **_features(probes)}
