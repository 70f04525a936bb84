"""Representation probes (issue 22): does a frozen student's visual-token state encode 3D
geometry, linearly? What GeoVR's objectives claim to change, measured on any checkpoint (base,
SFT or GeoVR alike: no head is used).

    found = probe_representations("runs/train/checkpoint", "runs/clips")
    found["r2"]["2"]["depth"]            # held-out R^2 of per-patch log depth at hidden state 2
    found["supervised"]                  # the hidden-state indices GeoVR's heads read

Per clip of the probed splits (ground truth depth and extrinsics needed): the student's
hidden states at its visual tokens, at every layer GeoVR's depth/distill heads read plus the
language model's input (index 0, which no head reads); ridge probes fitted on the `fit`
splits' clips and scored on the `test` splits' (other scenes) for
- depth: each token's state -> its patch's mean log depth;
- motion_direction / motion_angle: two consecutive frames' mean states, side by side -> the
  relative translation direction (unit 3-vector) / rotation angle (degrees).
The per-clip R^2 sums are returned too, so that R^2 can be bootstrapped over held-out clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from geovr.artifacts import read_jsonl
from geovr.data.shards import ShardReader
from geovr.eval import linear_probes as lp
from geovr.eval.probing import PROBE_QUESTION
from geovr.model import collate, make_example
from geovr.model.checkpoint import load_geovr
from geovr.model.config import GeoVRConfig

TARGETS = ("depth", "motion_direction", "motion_angle")


def _clip_samples(states: list[np.ndarray], arrays: dict) -> dict[str, list]:
    """{target: [(features per layer, target values)]} of one clip."""
    frames, gh, gw, _ = states[0].shape
    depth = lp.patch_log_depth(arrays["depth"], (gh, gw)).reshape(-1)
    valid = np.isfinite(depth)
    motion = lp.relative_motion(arrays["extrinsics"])
    pairs = [np.concatenate([s.mean((1, 2))[:-1], s.mean((1, 2))[1:]], -1) for s in states]
    return {
        "depth": ([s.reshape(frames * gh * gw, -1)[valid] for s in states], depth[valid]),
        "motion_direction": (pairs, motion[:, :3]),
        "motion_angle": (pairs, motion[:, 3:]),
    }


def clip_visual_states(
    geo, processor, frames, layers: Sequence[int], timestamps=None, max_side: int | None = None
) -> list[np.ndarray]:
    """One clip's visual-token states [N, gh, gw, C] at each of `layers`, as the plain student
    holds them when asked the fixed probe prompt."""
    example = make_example(
        processor,
        frames,
        PROBE_QUESTION,
        timestamps=timestamps,
        max_side=max_side,
        with_answer=False,
    )
    batch = collate([example], processor.tokenizer.pad_token_id)
    with torch.no_grad():
        return [s.float().numpy() for s in geo.visual_states(batch, list(layers))]


def collect_states(
    checkpoint: str | Path, clips: str | Path, splits: Sequence[str], max_side: int | None = None
) -> tuple[list[int], list[int], dict[str, list[dict]]]:
    """(probed hidden-state indices, the supervised ones, {split: per-clip samples})."""
    geo, processor = load_geovr(checkpoint, config=GeoVRConfig(objectives=("lm",)))
    geo.eval()
    supervised = sorted(set(geo.layers))
    layers = sorted({0, *supervised})
    reader = ShardReader(str(clips))
    found: dict[str, list[dict]] = {split: [] for split in splits}
    for clip in read_jsonl(f"{clips}/manifest.jsonl"):
        if clip["split"] not in found:
            continue
        arrays = reader.get(clip["clip_id"])[0]
        if "depth" not in arrays or "extrinsics" not in arrays:
            raise ValueError(f"clip {clip['clip_id']} has no ground truth depth/extrinsics")
        states = clip_visual_states(
            geo, processor, arrays["frames"], layers, clip.get("timestamps"), max_side
        )
        found[clip["split"]].append(_clip_samples(states, arrays))
    return layers, supervised, found


def _stack(samples: list[dict], target: str, layer: int) -> tuple[np.ndarray, ...]:
    x = [s[target][0][layer] for s in samples]
    y = [s[target][1] for s in samples]
    groups = np.concatenate([np.full(len(v), i) for i, v in enumerate(y)])
    return np.concatenate(x), np.concatenate(y), groups


def probe_representations(
    checkpoint: str | Path,
    clips: str | Path,
    fit: Sequence[str] = ("train",),
    test: Sequence[str] = ("val", "test"),
    max_side: int | None = None,
) -> dict:
    """Held-out R^2 per probed layer and target, and the per-clip sums behind each."""
    layers, supervised, found = collect_states(checkpoint, clips, (*fit, *test), max_side)
    train = [s for split in fit for s in found[split]]
    held = [s for split in test for s in found[split]]
    if not train or not held:
        raise ValueError(f"{clips}: probes need clips in splits {list(fit)} and {list(test)}")
    r2, sums = {}, {}
    for position, layer in enumerate(layers):
        r2[str(layer)], sums[str(layer)] = {}, {}
        for target in TARGETS:
            x, y, groups = _stack(train, target, position)
            probe = lp.fit_ridge(x, y, groups)
            x, y, groups = _stack(held, target, position)
            per_clip = lp.r2_sums(probe(x), y, groups)
            r2[str(layer)][target] = lp.r2_from_sums(per_clip)
            sums[str(layer)][target] = per_clip.tolist()
    return {
        "layers": layers,
        "supervised": supervised,
        "clips": {"fit": len(train), "test": len(held)},
        "r2": r2,
        "sums": sums,
    }
