"""The paper's ablation in miniature (issue 9, benchmark 6).

    python -m bench ablation [--steps 500] [--seeds 0 1 2] [--scenes 160] [--frames 8]
                             [--student tiny] [--blank-frames] [--quick]

On one synthetic benchmark (train split for training, val + test questions for scoring),
train the tiny Qwen3-VL (`--student tiny:qwen3_vl:256x6` for a wider one) from the same random
initialisation with: SFT only (`lm`), GeoVR (all four objectives), and GeoVR minus each
objective; equal steps, batch, learning-rate schedule and data order per seed. Report VSI
overall and per task (mean and spread over seeds) and the geometry probes. Every run is the
real `geovr train` + `geovr evaluate`.
`--blank-frames` scores every run a second time with black frames (VSI-Bench's vision-disabled
comparison): the vision gain says how much of a score comes from the video at all.
Each run's answers are kept in runs/bench/ablation[-TAG]-predictions/VARIANT-seedN.jsonl.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.common import add_results_option, bench_data, result_stem, write_result
from geovr.eval.evaluate import run_evaluation
from geovr.eval.vsi import task_question_count
from geovr.train.run import run_training

ALL = ("lm", "cam", "depth", "scale", "distill")
VARIANTS = {
    "sft": ("lm",),
    "geovr": ALL,
    **{f"geovr-{o}": tuple(x for x in ALL if x != o) for o in ALL[1:]},
}


def train_variant(
    clips: Path,
    targets: Path | None,
    objectives: tuple[str, ...],
    seed: int,
    steps: int,
    batch: int,
    lr: float,
    student: str,
    out: Path,
    **train_options,
) -> dict:
    """The real `geovr train` of one variant on the train split, one rank, into `out`."""
    return run_training(
        str(clips),
        str(targets) if targets is not None else None,
        out,
        nproc=1,
        student=student,
        objectives=objectives,
        steps=steps,
        batch_size=batch,
        lr_model=lr,
        lr_heads=lr,
        seed=seed,
        num_workers=1,
        checkpoint_every=10_000,
        timeout=3600,
        **train_options,
    )


def run_one(
    clips: Path, targets: Path, keep_predictions: Path, blank_frames: bool = False, **train
) -> dict:
    """Train one variant on the train split (`train` goes to train_variant) and score it."""
    with tempfile.TemporaryDirectory() as tmp:
        trained = train_variant(clips, targets, out=Path(tmp) / "train", **train)
        scored = score_checkpoint(
            trained["checkpoint"], clips, targets, Path(tmp), keep_predictions, blank_frames
        )
    return {**scored, "final_losses": trained["final_losses"]}


def score_checkpoint(
    checkpoint: str,
    clips: Path,
    targets: Path,
    work: Path,
    keep_predictions: Path,
    blank_frames: bool = False,
) -> dict:
    """VSI and probe scores of a checkpoint on the scored splits; its answers kept."""
    run_evaluation(checkpoint, str(clips), work / "eval", targets=str(targets), progress=False)
    metrics = json.loads((work / "eval" / "metrics.json").read_text())
    predictions = (work / "eval" / "predictions.jsonl").read_text().splitlines()
    keep_predictions.parent.mkdir(parents=True, exist_ok=True)
    keep_predictions.write_text("\n".join(predictions) + "\n")
    extra = {}
    if blank_frames:
        blank = work / "blank"
        run_evaluation(checkpoint, str(clips), blank, blank_frames=True, progress=False)
        extra["blank_frames"] = json.loads((blank / "metrics.json").read_text())["vsi"]
    questions = Counter(json.loads(line)["question_type"] for line in predictions)
    return {
        "questions_per_task": dict(sorted(questions.items())),
        "vsi_overall": metrics["vsi"]["overall"],
        "per_task": metrics["vsi"]["per_task"],
        "probes": metrics["probes"],
        **extra,
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.pstdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench ablation")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scenes", type=int, default=160, help="80%% train, 20%% scored")
    parser.add_argument("--frames", type=int, default=8, help="frames per clip")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument(
        "--lr", type=float, default=1e-3, help="tiny random-init students need more than 2e-5"
    )
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--student", default="tiny", help="tiny[:FAMILY[:HIDDENxLAYERS]]")
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 2 variants, 1 seed, 2 steps, 6 scenes"
    )
    parser.add_argument(
        "--blank-frames",
        action="store_true",
        help="also score each run with black frames (the score without vision; vision gain)",
    )
    parser.add_argument("--tag", default="", help="write runs/bench/ablation-TAG.json instead")
    add_results_option(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.seeds, args.scenes, args.variants = 2, [0], 6, ["sft", "geovr"]
    clips, targets, _ = bench_data(scenes=args.scenes, frames=args.frames, cache=args.results)
    name_of_result = f"ablation-{args.tag}" if args.tag else "ablation"
    kept = args.results / f"{result_stem(name_of_result, args.quick)}-predictions"
    setup = {
        "steps": args.steps,
        "seeds": args.seeds,
        "scenes": args.scenes,
        "batch": args.batch,
        "lr": args.lr,
        "ranks": 1,
        "student": args.student,
        "frames": args.frames,
    }
    runs: dict[str, list[dict]] = {}
    for name in args.variants:
        runs[name] = [
            run_one(
                clips,
                targets,
                kept / f"{name}-seed{seed}.jsonl",
                blank_frames=args.blank_frames,
                objectives=VARIANTS[name],
                seed=seed,
                steps=args.steps,
                batch=args.batch,
                lr=args.lr,
                student=args.student,
            )
            for seed in args.seeds
        ]
        result = summarise(setup, runs)
        write_result(name_of_result, result, quick=args.quick, results=args.results)
    print(table(result), file=sys.stderr)
    return result


def table(result: dict) -> str:
    """VSI overall and per task as a markdown table: mean +- std over seeds (n = questions)."""
    tasks = list(next(iter(result["per_task"].values())))
    counts = result["questions_per_task"]
    n = {t: task_question_count(counts, t) for t in tasks}
    head = ["variant", "overall", *(f"{t} (n={n[t]})" for t in tasks)]
    rows = [head, ["---"] * len(head)]
    for name, overall in result["vsi_overall"].items():
        cells = [result["per_task"][name][t] for t in tasks]
        rows.append([name, *(f"{c['mean']:.1f} +- {c['std']:.1f}" for c in (overall, *cells))])
        if blank := result.get("blank_frames", {}).get(name):
            cells = [blank["vsi_overall"], *(blank["per_task"][t] for t in tasks)]
            rows.append(
                [f"{name}, blank frames", *(f"{c['mean']:.1f} +- {c['std']:.1f}" for c in cells)]
            )
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def summarise(setup: dict, runs: dict[str, list[dict]]) -> dict:
    result = {
        "setup": setup,
        "questions_per_task": next(iter(runs.values()))[0]["questions_per_task"],
        "vsi_overall": {name: _spread([r["vsi_overall"] for r in rs]) for name, rs in runs.items()},
        "per_task": {
            name: {t: _spread([r["per_task"][t] for r in rs]) for t in rs[0]["per_task"]}
            for name, rs in runs.items()
        },
        "probes": {
            name: {k: _spread([r["probes"][k] for r in rs]) for k in rs[0]["probes"]}
            for name, rs in runs.items()
        },
        "runs": runs,
    }
    if all("blank_frames" in r for rs in runs.values() for r in rs):
        # VSI-Bench's vision-enabled minus vision-disabled: how much the answers use the video
        result["blank_frames"] = {
            name: {
                "vsi_overall": _spread([r["blank_frames"]["overall"] for r in rs]),
                "vision_gain": _spread(
                    [r["vsi_overall"] - r["blank_frames"]["overall"] for r in rs]
                ),
                "per_task": {
                    t: _spread([r["blank_frames"]["per_task"][t] for r in rs])
                    for t in rs[0]["per_task"]
                },
            }
            for name, rs in runs.items()
        }
    if "sft" in runs and "geovr" in runs:
        result["geovr_minus_sft"] = (
            result["vsi_overall"]["geovr"]["mean"] - result["vsi_overall"]["sft"]["mean"]
        )
    return result
