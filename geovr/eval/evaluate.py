"""`geovr evaluate` as a library call: answer the evaluation questions with the trained student,
score them with the VSI-Bench rules, probe the geometry heads, write metrics + report.

    from geovr.eval.evaluate import run_evaluation
    summary = run_evaluation("runs/train/checkpoint", "runs/clips", "runs/eval", targets="runs/targets")

`out` (written whole or not at all): `metrics.json` (contract 4: `eval_set`, `vsi` per task and
overall, `probes`, `counts`), `predictions.jsonl` (one line per question), `report.html`
(self-contained), `meta.json`. Answers come from the plain student (no GeoVR token or head),
prompted with the frames and chat template of training (geovr/model/inputs.py).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from geovr.artifacts import (
    atomic_dir,
    atomic_write_json,
    checkpoint_fingerprint,
    config_hash,
    make_meta,
    read_meta,
    write_jsonl,
    write_meta,
)
from geovr.data.shards import ShardReader
from geovr.errors import ArtifactError, GeoVRError
from geovr.eval import probes as probe_metrics
from geovr.eval.report import ReportExample, build_report
from geovr.eval.tracking import log_evaluation
from geovr.eval.vsi import score_predictions
from geovr.model import collate, generate_answers, load_geovr, make_example, to_device
from geovr.model.dataset import Item, load_items
from geovr.teachers.store import TargetStore

QUESTIONS_PER_CALL = 8  # questions about one clip answered in one batched generate


def resolve_device(device: str) -> torch.device:
    return (
        torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if device == "auto"
        else torch.device(device)
    )


def questions_by_clip(
    items: Sequence[Item], max_questions: int | None
) -> list[tuple[dict, list[dict]]]:
    """[(clip row, [qa, ...])] in manifest order, at most `max_questions` questions in all."""
    grouped: dict[str, tuple[dict, list[dict]]] = {}
    for item in items[:max_questions] if max_questions else items:
        grouped.setdefault(item.clip["clip_id"], (item.clip, []))[1].append(item.qa)
    return list(grouped.values())


def answer(
    geo,
    processor,
    reader: ShardReader,
    groups,
    *,
    max_new_tokens: int,
    max_side: int | None,
    progress: bool,
    blank_frames: bool = False,
) -> list[dict[str, Any]]:
    """Prediction rows (`id, clip_id, question_type, question, prediction, ground_truth`).
    `blank_frames`: every frame black, same size, so only the pixels differ from a real run."""
    rows = []
    bar = tqdm(
        total=sum(len(q) for _, q in groups),
        desc="questions",
        file=sys.stderr,
        disable=not progress,
    )
    for clip, questions in groups:
        frames = reader.get(clip["clip_id"])[0]["frames"]
        if blank_frames:
            frames = np.zeros_like(frames)
        for start in range(0, len(questions), QUESTIONS_PER_CALL):
            chunk = questions[start : start + QUESTIONS_PER_CALL]
            answers = generate_answers(
                geo.student,
                processor,
                frames,
                chunk,
                timestamps=clip.get("timestamps"),
                max_side=max_side,
                max_new_tokens=max_new_tokens,
            )
            rows += [
                {
                    "id": qa["id"],
                    "clip_id": clip["clip_id"],
                    "question_type": qa["question_type"],
                    "question": qa["question"],
                    "prediction": text.strip(),
                    "ground_truth": qa["ground_truth"],
                }
                for qa, text in zip(chunk, answers, strict=True)
            ]
            bar.update(len(chunk))
    bar.close()
    return rows


def probe(
    geo,
    processor,
    reader: ShardReader,
    store: TargetStore,
    clips: Sequence[dict],
    device,
    max_side: int | None,
) -> tuple[list[probe_metrics.ClipProbe], list[ReportExample]]:
    """Run the heads on every clip; return per-clip probes and report pictures' inputs."""
    found, examples = [], []
    for clip in clips:
        frames = reader.get(clip["clip_id"])[0]["frames"]
        targets = store.get(clip["clip_id"], sha256=clip["sha256"])
        qa = {"question": "Describe the room.", "options": None, "ground_truth": None}
        example = make_example(
            processor,
            frames,
            qa,
            targets,
            timestamps=clip.get("timestamps"),
            max_side=max_side,
            layers=store.layers,
            with_answer=False,
        )
        batch = to_device(collate([example], processor.tokenizer.pad_token_id), device)
        preds = geo.predict(batch, layer_names=list(store.layers))
        one = probe_metrics.ClipProbe.from_predictions(clip["clip_id"], preds, targets)
        found.append(one)
        if one.depth_pred is not None and one.pose_pred is not None:
            examples.append(
                ReportExample(
                    clip["clip_id"],
                    frames,
                    one.depth_pred,
                    one.depth_target,
                    one.pose_pred,
                    one.pose_target,
                )
            )
    return found, examples


def eval_set_id(clips_meta: dict, splits: Sequence[str], rows: Sequence[dict]) -> str:
    """Same clip set, splits and questions -> same id (the gate compares only within one)."""
    return config_hash(
        {
            "clips": clips_meta["config_hash"],
            "inputs": clips_meta.get("inputs", {}),
            "splits": sorted(splits),
            "questions": sorted(r["id"] for r in rows),
        }
    )


def run_evaluation(
    checkpoint: str,
    clips: str,
    out: str | Path,
    *,
    targets: str | None = None,
    splits: Sequence[str] = ("val", "test"),
    max_questions: int | None = None,
    max_new_tokens: int = 16,
    device: str = "auto",
    max_side: int | None = None,
    report_examples: int = 2,
    tracking_uri: str | None = None,
    experiment: str = "geovr-eval",
    kfp_run_id: str = "",
    progress: bool = True,
    blank_frames: bool = False,
) -> dict[str, Any]:
    """Evaluate `checkpoint` on the `splits` of the clip set; return the summary.

    `blank_frames` answers every question with black frames instead of the video (VSI-Bench's
    "vision disabled" comparison): the score a model reaches from the question and its priors
    alone. Such metrics say `"blank_frames": true`, have no probes, and the registry refuses
    them."""
    start = time.perf_counter()
    if not (Path(checkpoint) / "config.json").is_file():
        raise ArtifactError(f"{checkpoint} is not a checkpoint directory (no config.json)")
    clips_meta = read_meta(clips, "clipset")
    items = [i for i in load_items(clips, tuple(splits)) if i.qa.get("ground_truth") is not None]
    if not items:
        raise GeoVRError(f"{clips}: no question in splits {', '.join(splits)}")
    torch_device = resolve_device(device)
    geo, processor = load_geovr(checkpoint)
    geo.to(torch_device).eval()
    reader = ShardReader(clips)
    groups = questions_by_clip(items, max_questions)
    rows = answer(
        geo,
        processor,
        reader,
        groups,
        max_new_tokens=max_new_tokens,
        max_side=max_side,
        progress=progress,
        blank_frames=blank_frames,
    )
    clip_probes, examples = [], []
    if targets and geo.config.geometry and not blank_frames:
        clip_probes, examples = probe(
            geo,
            processor,
            reader,
            TargetStore(targets),
            [c for c, _ in groups],
            torch_device,
            max_side,
        )
    metrics = {
        "eval_set": eval_set_id(clips_meta, splits, rows),
        # what was evaluated, by content: registration refuses metrics of another checkpoint
        "checkpoint_sha256": checkpoint_fingerprint(checkpoint),
        "splits": ",".join(splits),
        "vsi": score_predictions(rows),
        "probes": probe_metrics.aggregate(clip_probes),
        "counts": {"questions": len(rows), "clips": len(groups), "probed_clips": len(clip_probes)},
        "objectives": ",".join(geo.config.objectives),
        "blank_frames": blank_frames,
    }
    out = Path(out)
    with atomic_dir(out) as staging:
        atomic_write_json(staging / "metrics.json", metrics)
        write_jsonl(staging / "predictions.jsonl", rows)
        build_report(metrics, examples[:report_examples], staging / "report.html")
        inputs = {
            "checkpoint": config_hash(read_meta(checkpoint, "checkpoint"))
            if (Path(checkpoint) / "meta.json").is_file()
            else "",
            "clips": clips_meta["config_hash"],
            "targets": config_hash(read_meta(targets, "targets")) if targets else "",
        }
        write_meta(
            staging,
            make_meta(
                "evaluation",
                "evaluate",
                {
                    "splits": list(splits),
                    "max_questions": max_questions,
                    "max_new_tokens": max_new_tokens,
                    "blank_frames": blank_frames,
                },
                inputs,
            ),
        )
    tracking = (
        log_evaluation(out, metrics, tracking_uri, experiment, kfp_run_id) if tracking_uri else None
    )
    return {
        "out": str(out),
        "vsi_overall": metrics["vsi"]["overall"],
        "probes": metrics["probes"],
        "questions": len(rows),
        "clips": len(groups),
        "eval_set": metrics["eval_set"],
        "tracking": tracking,
        "seconds": round(time.perf_counter() - start, 2),
    }
