"""Can a student see the rooms' categories? The visual bottleneck of the miniature (issue 22).

    python -m bench presence [--sizes 128 256] [--scenes 160] [--frames 8] [--checkpoints DIR ...]

The base mix asks which categories a room holds; a base can only learn that if its visual
tokens carry it. Per frame size, each clip's label is the set of categories seen in it (an
object with a first visible frame, as the mix's questions use), and ridge probes
(geovr/eval/linear_probes.py) are fitted on the train scenes' clips and scored on the held-out
(val + test) ones, as held-out ROC AUC per category, from
- `frames`: a colour histogram of the frames at full resolution (the information the video has);
- `tokens`: the same histogram of the frames pooled to the student's token footprint (patch x
  merge pixels a side: 32 for the tiny Qwen3-VL), what a token can at best keep of colour;
- `student` (a random-init tiny student) and each of `--checkpoints`: the mean and max over
  the visual tokens of the language model's input (hidden state 0, the merged vision tokens).
All on the same clips in one run; AUC 0.5 is chance, 1.0 perfect.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from bench.common import add_results_option, bench_data, write_result
from geovr.artifacts import read_jsonl
from geovr.data.shards import ShardReader
from geovr.data.synth.scene import CATEGORIES
from geovr.eval import linear_probes as lp
from geovr.eval.representations import clip_visual_states
from geovr.model.checkpoint import load_geovr
from geovr.model.clip_inputs import resize_factor
from geovr.model.config import GeoVRConfig
from geovr.model.tiny import build_tiny_student

BINS = 6  # per colour channel: 216 joint bins


def seen_categories(data: Path, clip_id: str) -> np.ndarray:
    """[categories] bool: the categories of the objects seen in the clip."""
    scene = json.loads((data / "scenes" / f"{clip_id}.json").read_text())
    seen = {name.rsplit("_", 1)[0] for name, f in scene["first_visible_frame"].items() if f >= 0}
    return np.array([c in seen for c in CATEGORIES])


def colour_histogram(frames: np.ndarray, footprint: int = 1) -> np.ndarray:
    """log(1 + count) of each joint colour bin over the pixels of `frames` [T, H, W, 3],
    after averaging footprint x footprint blocks."""
    f = frames.astype(np.float64) / 256
    t, h, w, _ = f.shape
    f = f[:, : h - h % footprint, : w - w % footprint]
    f = f.reshape(t, h // footprint, footprint, w // footprint, footprint, 3).mean((2, 4))
    q = np.minimum((f.reshape(-1, 3) * BINS).astype(int), BINS - 1)
    return np.log1p(np.bincount((q[:, 0] * BINS + q[:, 1]) * BINS + q[:, 2], minlength=BINS**3))


def token_features(checkpoint: str | Path, reader: ShardReader, clips: list[dict]) -> np.ndarray:
    """[clips, 2C]: mean and max of each clip's visual tokens at the language model's input."""
    geo, processor = load_geovr(checkpoint, config=GeoVRConfig(objectives=("lm",)))
    geo.eval()
    rows = []
    for clip in clips:
        frames = reader.get(clip["clip_id"])[0]["frames"]
        (states,) = clip_visual_states(geo, processor, frames, [0], clip.get("timestamps"))
        tokens = states.reshape(-1, states.shape[-1])
        rows.append(np.concatenate([tokens.mean(0), tokens.max(0)]))
    return np.stack(rows)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counted half (Mann-Whitney)."""
    pos, neg = scores[labels], scores[~labels]
    wins = (pos[:, None] > neg).sum() + 0.5 * (pos[:, None] == neg).sum()
    return float(wins / pos.size / neg.size)


def held_out_auc(x: np.ndarray, labels: np.ndarray, train: np.ndarray) -> dict:
    """A ridge probe x -> every category's label fitted on `train` rows; per category (both
    labels present in train and held-out rows) the held-out AUC, and their mean (None when no
    category has both)."""
    probe = lp.fit_ridge(x[train], labels[train].astype(np.float64))
    scores, held = probe(x[~train]), labels[~train]
    per = {
        c: roc_auc(scores[:, k], held[:, k])
        for k, c in enumerate(CATEGORIES)
        if 0 < labels[train, k].sum() < train.sum() and 0 < held[:, k].sum() < len(held)
    }
    return {"mean": float(np.mean(list(per.values()))) if per else None, "per_category": per}


def measure(size: int, args: argparse.Namespace, student: Path, processor) -> dict:
    """Every feature set's held-out AUC on the `size` px clips; `processor`: the random-init
    `student`'s (its patch x merge is the token footprint)."""
    clips_dir, _, data = bench_data(args.scenes, args.frames, size, cache=args.results)
    clips = list(read_jsonl(clips_dir / "manifest.jsonl"))
    reader = ShardReader(str(clips_dir))
    labels = np.stack([seen_categories(data, c["clip_id"]) for c in clips])
    train = np.array([c["split"] == "train" for c in clips])
    frames = [reader.get(c["clip_id"])[0]["frames"] for c in clips]
    footprint = resize_factor(processor)
    features = {
        "frames": np.stack([colour_histogram(f) for f in frames]),
        "tokens": np.stack([colour_histogram(f, footprint) for f in frames]),
        "student": token_features(student, reader, clips),
        **{str(c): token_features(c, reader, clips) for c in args.checkpoints},
    }
    found = {name: held_out_auc(x, labels, train) for name, x in features.items()}
    return {
        "footprint_px": footprint,
        "clips": {"train": int(train.sum()), "held_out": int((~train).sum())},
        "prevalence": dict(zip(CATEGORIES, labels.mean(0).round(3).tolist(), strict=True)),
        "auc": found,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench presence")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--scenes", type=int, default=160)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--checkpoints", nargs="*", default=[], help="students to probe too")
    add_results_option(parser)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        _, processor = build_tiny_student("qwen3_vl", out_dir=f"{tmp}/student")
        student = Path(tmp) / "student"
        result = {str(s): measure(s, args, student, processor) for s in args.sizes}
    write_result("presence", result, results=args.results)
    return result


if __name__ == "__main__":
    main()
