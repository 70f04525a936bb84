"""Evidence that GeoVR works (issue 22): warm start, then SFT vs GeoVR, paired statistics.

    python -m bench evidence [--seeds 0 1 2 3 4] [--base-steps 2000] [--steps 500]
                             [--scenes 160] [--frames 8] [--size 128] [--student tiny] [--quick]

Per seed: (1) pre-train one base student (language loss only; its vision tower trains too,
since the tiny student's starts random) on the geometry-free base mix
(every VSI answer format, no metric geometry: geovr/data/synth/base_qa.py) of the train split's
scenes, disjoint from the scored val + test scenes (bench/base_clips.py: the same clips, other
questions); its answers to every held-out question say whether the answer formats are learned
(FORMAT_CRITERION). (2) Fine-tune SFT-only and GeoVR from that same base on the full
train questions: same data, order, steps and schedule. (3) Score both on the held-out scenes and
pair their answers by question and seed: GeoVR minus SFT, overall (VSI's mean over tasks) and
per task, with bootstrap 95% intervals over seeds and questions (`paired_bootstrap`).
(4) Probe every student (base, SFT, GeoVR) frozen: linear probes of its visual-token states
to per-patch log depth and relative camera motion, fitted on the train scenes and scored
(R^2) on the held-out ones; GeoVR minus SFT paired by seed and clip (bench/evidence_probes.py).
Each run's checkpoint, scores and probes are kept in runs/bench/evidence-runs/ and reused by a
rerun of the same setup.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from bench.ablation import VARIANTS, score_checkpoint, train_variant
from bench.base_clips import base_clip_set, mix_sha256
from bench.common import add_results_option, bench_data, result_stem, write_result
from bench.evidence_probes import kept_probes, probe_summary
from geovr.data.shards import ShardReader
from geovr.data.synth.base_qa import BASE_MIX_TYPES
from geovr.data.vsi_tasks import CHOICE_TASKS, NUMERIC_TASKS, REL_DIRECTION, REL_DIRECTION_LEVELS
from geovr.eval.answering import AnswerSettings, answer_questions
from geovr.eval.evaluate import questions_by_clip
from geovr.eval.vsi import extract_answer, score_row, to_number
from geovr.model import GeoVRConfig, load_geovr
from geovr.model.dataset import load_items

# answer formats are learned when nearly every numeric answer parses as a number, nearly every
# choice answer is one of its question's option letters, and no one letter is most of them
# (the held-out choice questions have 2-4 options, their answers spread over A-D)
FORMAT_CRITERION = {
    "numeric_parse_rate_min": 0.95,
    "choice_letter_rate_min": 0.95,
    "top_letter_share_max": 0.5,
}
OPTION_LETTER = re.compile(r"^([A-Z])\. ", re.MULTILINE)
# the form of each numeric task's ground truth (reported beside the criterion, not part of it:
# the base never sees these question texts, so this is format transfer to unseen templates)
INTEGER, ONE_DECIMAL = re.compile(r"\d+"), re.compile(r"\d+\.\d")
NUMERIC_FORMATS = {
    "object_counting": INTEGER,
    "object_size_estimation": INTEGER,
    "object_abs_distance": ONE_DECIMAL,
    "room_size_estimation": ONE_DECIMAL,
}
BOOTSTRAP_REPLICATES = 2000


def task_of(question_type: str) -> str:
    return REL_DIRECTION if question_type in REL_DIRECTION_LEVELS else question_type


def paired_bootstrap(
    deltas: np.ndarray,
    question_types: list[str],
    overall: bool = True,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = 0,
) -> dict:
    """deltas [seeds, questions]: one question's score difference under one seed. The
    statistic is VSI's aggregation of the deltas (mean over seeds; per question type the mean,
    the rel-direction levels a third each; `overall`: then the mean over tasks, which always
    counts object_rel_direction, as VSI's overall does); each replicate resamples the seeds
    and, within each question type, the questions, with replacement."""
    types = np.asarray(question_types)
    strata = [np.flatnonzero(types == t) for t in sorted(set(question_types))]
    tasks = {task_of(t) for t in question_types} | ({REL_DIRECTION} if overall else set())
    weights = [
        (1 / len(REL_DIRECTION_LEVELS) if task_of(t) == REL_DIRECTION else 1.0) / len(tasks)
        for t in sorted(set(question_types))
    ]
    rng = np.random.default_rng(seed)
    n_seeds = deltas.shape[0]

    def statistic(seeds: np.ndarray, columns: list[np.ndarray]) -> float:
        means = [deltas[np.ix_(seeds, c)].mean() for c in columns]
        return float(np.dot(weights, means))

    point = statistic(np.arange(n_seeds), strata)
    draws = [
        statistic(
            rng.integers(0, n_seeds, n_seeds), [s[rng.integers(0, len(s), len(s))] for s in strata]
        )
        for _ in range(replicates)
    ]
    low, high = np.percentile(draws, [2.5, 97.5])
    excludes_zero = bool(low > 0 or high < 0)
    return {"delta": point, "ci95": [float(low), float(high)], "excludes_zero": excludes_zero}


def scores_by_question(predictions: Path) -> dict[str, tuple[str, float]]:
    """{question id: (question type, score in points)} of one run's kept answers."""
    rows = [json.loads(line) for line in predictions.read_text().splitlines() if line.strip()]
    return {r["id"]: (r["question_type"], 100.0 * score_row(r)) for r in rows}


def paired_deltas(kept: Path, seeds: list[int]) -> dict:
    """GeoVR minus SFT, paired by question and seed: overall and per task, with intervals."""
    runs = {
        v: [scores_by_question(kept / f"{v}-seed{s}.jsonl") for s in seeds]
        for v in ("sft", "geovr")
    }
    ids = sorted(runs["sft"][0])
    types = [runs["sft"][0][q][0] for q in ids]
    deltas = np.array(
        [[g[q][1] - s[q][1] for q in ids] for s, g in zip(runs["sft"], runs["geovr"], strict=True)]
    )
    per_task = {}
    for task in sorted({task_of(t) for t in types}):
        columns = [i for i, t in enumerate(types) if task_of(t) == task]
        per_task[task] = paired_bootstrap(
            deltas[:, columns], [types[i] for i in columns], overall=False
        )
    return {"overall": paired_bootstrap(deltas, types), "per_task": per_task, "questions": len(ids)}


def format_figures(numeric: list[dict], choices: list[dict], form_of) -> dict:
    """Answer-format figures of prediction rows and whether FORMAT_CRITERION is met;
    `form_of(row)`: the pattern a numeric answer of that row must match."""
    answers = [extract_answer(r["prediction"]).upper() for r in choices]
    letters = Counter(answers)
    parsed = sum(to_number(extract_answer(r["prediction"])) is not None for r in numeric)
    parse_rate = parsed / max(len(numeric), 1)
    in_form = sum(
        form_of(r).fullmatch(extract_answer(r["prediction"])) is not None for r in numeric
    )
    # the scorer compares case-blind, so a lower-case letter counts
    pairs = zip(answers, choices, strict=True)
    offered = sum(answer in OPTION_LETTER.findall(row["prompt"]) for answer, row in pairs)
    letter_rate = offered / max(len(choices), 1)
    top_share = max(letters.values()) / len(answers) if answers else 1.0
    met = (
        parse_rate >= FORMAT_CRITERION["numeric_parse_rate_min"]
        and letter_rate >= FORMAT_CRITERION["choice_letter_rate_min"]
        and top_share <= FORMAT_CRITERION["top_letter_share_max"]
    )
    return {
        "numeric_parse_rate": parse_rate,
        "numeric_format_rate": in_form / max(len(numeric), 1),
        "choice_letter_rate": letter_rate,
        "letters": dict(sorted(letters.items())),
        "top_letter_share": top_share,
        "criterion": FORMAT_CRITERION,
        "met": met,
    }


def answer_formats(predictions: Path) -> dict:
    """The base's format figures on the held-out VSI questions (FORMAT_CRITERION)."""
    rows = [json.loads(line) for line in predictions.read_text().splitlines() if line.strip()]
    numeric = [r for r in rows if r["question_type"] in NUMERIC_TASKS]
    # CHOICE_TASKS names the rel-direction levels, as the rows do
    choices = [r for r in rows if r["question_type"] in CHOICE_TASKS]
    return format_figures(numeric, choices, lambda r: NUMERIC_FORMATS[r["question_type"]])


def own_mix_formats(where: Path, setup: dict, checkpoint: str, held_out: Path) -> dict:
    """A base's answers to its own mix's question forms on the held-out scenes (`held_out`:
    base_clip_set of the val + test splits): format figures as answer_formats, and per
    question type the share answered exactly; cached in where/own_mix.json for `setup`."""
    done = where / "own_mix.json"
    if done.is_file() and json.loads(done.read_text())["setup"] == setup:
        return json.loads(done.read_text())["found"]
    geo, processor = load_geovr(checkpoint, config=GeoVRConfig(objectives=("lm",)))
    groups = questions_by_clip(load_items(str(held_out), ("val", "test")), None)
    settings = AnswerSettings(progress=False)
    reader = ShardReader(str(held_out))
    rows = answer_questions(geo.eval().student, processor, reader, groups, settings)
    choices = [r for r in rows if OPTION_LETTER.search(r["prompt"])]
    numeric = [r for r in rows if not OPTION_LETTER.search(r["prompt"])]
    # a numeric answer's form is its ground truth's: an integer, or one decimal
    found = format_figures(
        numeric, choices, lambda r: ONE_DECIMAL if "." in r["ground_truth"] else INTEGER
    )
    exact: dict[str, list[bool]] = {}
    for r in rows:
        hit = extract_answer(r["prediction"]).lower() == str(r["ground_truth"]).lower()
        exact.setdefault(r["question_type"], []).append(hit)
    found["exact_per_type"] = {t: sum(v) / len(v) for t, v in sorted(exact.items())}
    done.write_text(json.dumps({"setup": setup, "found": found}))
    return found


def kept_run(where: Path, setup: dict, answers: Path, scored: tuple[Path, Path], **train) -> dict:
    """One run trained (`train` goes to train_variant) into where/train and scored on the
    held-out `scored` (clips, targets), its answers in `answers`, its scores in
    where/scores.json. A finished run of the same setup is reused, so a long experiment
    continues where it stopped; anything else in `where` (this experiment's own directory) is
    an unfinished or other-setup run, redone."""
    done = where / "scores.json"
    if done.is_file() and answers.is_file() and json.loads(done.read_text())["setup"] == setup:
        return json.loads(done.read_text())
    if where.exists():
        shutil.rmtree(where)
    trained = train_variant(out=where / "train", **train)
    scores = score_checkpoint(trained["checkpoint"], *scored, where / "score", answers)
    scores["final_losses"] = trained["final_losses"]
    kept = {"setup": setup, "checkpoint": trained["checkpoint"], "scores": scores}
    done.write_text(json.dumps(kept, indent=1))
    return kept


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench evidence")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--base-steps", type=int, default=2000, help="warm-start pre-training")
    parser.add_argument("--steps", type=int, default=500, help="each fine-tune")
    parser.add_argument("--scenes", type=int, default=160, help="80%% train, 20%% scored")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument(
        "--size", type=int, default=128, help="frame side in pixels (the student's tokens: 32)"
    )
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--student", default="tiny", help="tiny[:FAMILY[:HIDDENxLAYERS]]")
    parser.add_argument(
        "--base-freeze-vision",
        action="store_true",
        help="keep the vision tower frozen in pre-training too (default: the base trains it, "
        "as a real MLLM's vision was trained; the fine-tunes always keep it frozen)",
    )
    add_results_option(parser)
    parser.add_argument("--quick", action="store_true", help="completeness only: 2 seeds, 2 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.base_steps, args.steps, args.scenes = [0, 1], 2, 2, 6
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    clips, targets, data = bench_data(args.scenes, args.frames, args.size, cache=args.results)
    base_clips = base_clip_set(clips, data)
    base_held_out = base_clip_set(clips, data, splits=("val", "test"))
    stem = result_stem("evidence", args.quick)
    kept, runs_dir = args.results / f"{stem}-predictions", args.results / f"{stem}-runs"
    setup = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if k not in ("seeds", "results")
    }
    # a base trained from the tiny student keeps its tiny heads when passed by path
    widths = {"head_widths": "tiny"} if args.student.startswith("tiny") else {}
    runs: dict[str, list[dict]] = {"base": [], "sft": [], "geovr": []}
    probes: dict[str, list[dict]] = {"base": [], "sft": [], "geovr": []}
    own_mix: list[dict] = []
    for seed in args.seeds:
        fit = {"seed": seed, "batch": args.batch, "lr": args.lr}
        base = kept_run(
            runs_dir / f"base-seed{seed}",
            {**setup, "base_tasks": list(BASE_MIX_TYPES), "base_mix": mix_sha256(base_clips)},
            kept / f"base-seed{seed}.jsonl",
            (clips, targets),
            clips=base_clips,
            targets=None,
            objectives=("lm",),
            steps=args.base_steps,
            student=args.student,
            freeze_vision=args.base_freeze_vision,
            **fit,
        )
        done = {"base": base}
        for name in ("sft", "geovr"):
            done[name] = kept_run(
                runs_dir / f"{name}-seed{seed}",
                {**setup, "base_losses": base["scores"]["final_losses"]},
                kept / f"{name}-seed{seed}.jsonl",
                (clips, targets),
                clips=clips,
                targets=targets,
                objectives=VARIANTS[name],
                steps=args.steps,
                student=base["checkpoint"],
                **fit,
                **widths,
            )
        own_mix.append(
            own_mix_formats(
                runs_dir / f"base-seed{seed}", base["setup"], base["checkpoint"], base_held_out
            )
        )
        for name, run in done.items():
            runs[name].append(run["scores"])
            where = runs_dir / f"{name}-seed{seed}"
            probes[name].append(kept_probes(where, run["setup"], run["checkpoint"], clips))
    formats = [answer_formats(kept / f"base-seed{s}.jsonl") for s in args.seeds]
    for seed, found in zip(args.seeds, formats, strict=True):
        print(
            f"base seed {seed}: answer formats {'learned' if found['met'] else 'NOT learned'} "
            f"(numeric parse rate {found['numeric_parse_rate']:.2f}, in the task's digits and "
            f"decimals {found['numeric_format_rate']:.2f}, choice answers that are an "
            f"option letter {found['choice_letter_rate']:.2f}, top answer "
            f"{found['top_letter_share']:.2f} of them; criterion {FORMAT_CRITERION})",
            file=sys.stderr,
        )
    result = {
        "setup": {**setup, "seeds": args.seeds, "base_tasks": list(BASE_MIX_TYPES)},
        "base_formats": formats,
        "formats_learned": all(f["met"] for f in formats),
        "base_own_mix_formats": own_mix,
        "vsi_overall": {name: [r["vsi_overall"] for r in rs] for name, rs in runs.items()},
        "geovr_minus_sft": paired_deltas(kept, args.seeds),
        "representations": probe_summary(probes),
        "runs": runs,
    }
    write_result("evidence", result, quick=args.quick, results=args.results)
    return result
