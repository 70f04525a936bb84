"""`geovr evaluate` as a library call: answer the evaluation questions with the trained student,
score them with the VSI-Bench rules, probe the geometry heads, write metrics + report.

    from geovr.eval.evaluate import run_evaluation
    summary = run_evaluation(
        "runs/train/checkpoint", "runs/clips", "runs/eval", targets="runs/targets"
    )

`out` (absent, empty or an earlier evaluation; written whole or not at all): `metrics.json`
(docs/contracts.md section 5: `eval_set`, `vsi` per task and overall, `vsi_blind`, `probes`
and their `probe_references`, `leakage`, `counts`),
`predictions.jsonl` (one line per question, with the exact prompt and the frame indices),
`predictions_blind.jsonl` (with --blind-baseline), `report.html` (self-contained),
`meta.json`. Answers come from the plain student (no GeoVR token or head), prompted with
VSI-Bench's official text (geovr/model/prompt.py) and greedy decoding (geovr/eval/answering.py).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

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
from geovr.config.presets import run_record
from geovr.config.stages import EvaluateConfig
from geovr.data.leakage import leakage_report
from geovr.data.shards import ShardReader
from geovr.devices import resolve_device
from geovr.errors import ArtifactError, GeoVRError
from geovr.eval import probes as probe_metrics
from geovr.eval.answering import AnswerSettings, answer_questions
from geovr.eval.probing import has_trained_heads, probe_clips
from geovr.eval.report import build_report
from geovr.eval.tracking import log_evaluation
from geovr.eval.vsi import score_predictions
from geovr.model import GeoVRConfig, load_geovr
from geovr.model.dataset import Item, load_items
from geovr.stage_output import writes_output
from geovr.teachers.store import TargetStore


def questions_by_clip(
    items: Sequence[Item], max_questions: int | None
) -> list[tuple[dict, list[dict]]]:
    """[(clip row, [qa, ...])] in manifest order, at most `max_questions` questions in all."""
    grouped: dict[str, tuple[dict, list[dict]]] = {}
    for item in items[:max_questions] if max_questions else items:
        grouped.setdefault(item.clip["clip_id"], (item.clip, []))[1].append(item.qa)
    return list(grouped.values())


def benchmark_name(groups: Sequence[tuple[dict, list[dict]]]) -> str:
    """The question table the rows come from (import-vsibench labels them), else "custom"."""
    names = sorted({qa.get("benchmark") or "custom" for _, questions in groups for qa in questions})
    return "+".join(names)


def eval_set_id(
    clips_meta: dict, splits: Sequence[str], rows: Sequence[dict], frames: int | None = None
) -> str:
    """Same clip set, splits, questions and frame budget -> same id (the gate compares only
    within one); without a budget the id is the one of earlier versions."""
    identity = {
        "clips": clips_meta["config_hash"],
        "inputs": clips_meta.get("inputs", {}),
        "splits": sorted(splits),
        "questions": sorted(r["id"] for r in rows),
    }
    return config_hash({**identity, "frames": frames} if frames else identity)


def _checkpoint_meta(checkpoint: str) -> dict[str, Any] | None:
    has_meta = (Path(checkpoint) / "meta.json").is_file()
    return read_meta(checkpoint, "checkpoint") if has_meta else None


def vsi_metrics(rows: list[dict], blind_rows: list[dict], debiased: set[str]) -> dict[str, Any]:
    """`vsi`; `vsi_debiased` when the questions carry VSI-Bench-Debiased membership; with the
    vision-disabled baseline `vsi_blind` and what vision adds."""
    vsi = {"vsi": score_predictions(rows)}
    if debiased:
        vsi["vsi_debiased"] = score_predictions(r for r in rows if r["id"] in debiased)
    if blind_rows:
        vsi["vsi_blind"] = score_predictions(blind_rows)
        vsi["vision_gain"] = vsi["vsi"]["overall"] - vsi["vsi_blind"]["overall"]
    return vsi


def debiased_ids(groups: Sequence[tuple[dict, list[dict]]]) -> set[str]:
    """Ids of the questions import-vsibench marked as part of VSI-Bench-Debiased."""
    return {qa["id"] for _, questions in groups for qa in questions if qa.get("in_debiased")}


@writes_output("evaluate", inputs=("checkpoint", "clips", "targets"), marker=False)
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
    frames: int | None = None,
    blind_baseline: bool = False,
    report_examples: int = 2,
    tracking_uri: str | None = None,
    experiment: str = "geovr-eval",
    kfp_run_id: str = "",
    progress: bool = True,
    blank_frames: bool = False,
    preset: str = "",
) -> dict[str, Any]:
    """Evaluate `checkpoint` on the `splits` of the clip set; return the summary.

    `frames`: a uniform frame budget per clip (16/32/64/128 in published tables; None: every
    stored frame). `blind_baseline` also answers every question without the video (VSI-Bench's
    vision-disabled baseline) and reports it as `vsi_blind`. `blank_frames` answers with black
    frames instead of the video (a diagnostic): such metrics say `"blank_frames": true`, have
    no probes, and the registry refuses them. A checkpoint without trained GeoVR heads (base
    model, SFT baseline) gets VSI scores and no probes. Probes always see every stored frame:
    the teacher targets are per stored frame, whatever the answering budget. meta.json and the
    MLflow run record these settings and the `preset` they were resolved from."""
    start = time.perf_counter()
    record = run_record(
        preset,
        "evaluate",
        EvaluateConfig(  # checks the settings before the model is loaded
            splits=",".join(splits),
            max_questions=max_questions or 0,
            max_new_tokens=max_new_tokens,
            max_side=max_side,
            frames=frames,
            device=device,
            experiment=experiment,
        ),
    )
    if not (Path(checkpoint) / "config.json").is_file():
        raise ArtifactError(f"{checkpoint} is not a checkpoint directory (no config.json)")
    clips_meta = read_meta(clips, "clipset")
    items = [i for i in load_items(clips, tuple(splits)) if i.qa.get("ground_truth") is not None]
    if not items:
        raise GeoVRError(f"{clips}: no question in splits {', '.join(splits)}")
    torch_device = torch.device(resolve_device(device))
    with_heads = has_trained_heads(checkpoint)
    # No heads to restore: build none, rather than fresh ones that would be probed.
    geo, processor = load_geovr(
        checkpoint, config=None if with_heads else GeoVRConfig(objectives=("lm",))
    )
    geo.to(torch_device).eval()
    reader = ShardReader(clips)
    groups = questions_by_clip(items, max_questions)
    settings = AnswerSettings(
        max_new_tokens, max_side, frames, "blank" if blank_frames else "video", progress
    )
    rows = answer_questions(geo.student, processor, reader, groups, settings)
    blind_rows = (
        answer_questions(
            geo.student, processor, reader, groups, dataclasses.replace(settings, vision="none")
        )
        if blind_baseline
        else []
    )
    clip_probes, examples, references = [], [], {}
    if targets and with_heads and not blank_frames:
        clip_probes, examples, references = probe_clips(
            geo,
            processor,
            reader,
            TargetStore(targets),
            [c for c, _ in groups],
            torch_device,
            max_side,
        )
    checkpoint_meta = _checkpoint_meta(checkpoint)
    metrics = {
        "eval_set": eval_set_id(clips_meta, splits, rows, frames),
        # what was evaluated, by content: registration refuses metrics of another checkpoint
        "checkpoint_sha256": checkpoint_fingerprint(checkpoint),
        "splits": ",".join(splits),
        "benchmark": benchmark_name(groups),
        "frame_budget": frames or 0,  # 0: every stored frame
        **vsi_metrics(rows, blind_rows, debiased_ids(groups)),
        "probes": probe_metrics.aggregate(clip_probes),
        "probe_references": references,
        "heads": with_heads,
        "leakage": leakage_report(checkpoint_meta, [c for c, _ in groups]),
        "counts": {"questions": len(rows), "clips": len(groups), "probed_clips": len(clip_probes)},
        "objectives": ",".join(geo.config.objectives),
        "blank_frames": blank_frames,
    }
    out = Path(out)
    with atomic_dir(out) as staging:
        atomic_write_json(staging / "metrics.json", metrics)
        write_jsonl(staging / "predictions.jsonl", rows)
        if blind_rows:
            write_jsonl(staging / "predictions_blind.jsonl", blind_rows)
        build_report(metrics, examples[:report_examples], staging / "report.html")
        inputs = {
            "checkpoint": config_hash(checkpoint_meta) if checkpoint_meta else "",
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
                    "frames": frames,
                    "blind_baseline": blind_baseline,
                },
                inputs,
                run_config=record,
            ),
        )
    tracking = (
        log_evaluation(out, metrics, tracking_uri, experiment, kfp_run_id, record)
        if tracking_uri
        else None
    )
    return {
        "out": str(out),
        "vsi_overall": metrics["vsi"]["overall"],
        **{
            f"{key}_overall": metrics[key]["overall"]
            for key in ("vsi_debiased", "vsi_blind")
            if key in metrics
        },
        "probes": metrics["probes"],
        "questions": len(rows),
        "clips": len(groups),
        "eval_set": metrics["eval_set"],
        "leakage_overlapping_clips": metrics["leakage"]["overlapping_clips"],
        "tracking": tracking,
        "seconds": round(time.perf_counter() - start, 2),
    }
