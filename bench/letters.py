"""Can a random-init student learn to answer by letter? What blocks the warm start (issue 22).

    python -m bench letters [--steps 1000] [--tasks name letter text_letter] [--quick]

Every choice question (the base mix's and VSI's) is answered with the letter of an option, so
the student must find the option that matches what it sees and copy the letter before it. Three
tasks on the same frames (a coloured square on grey in about half of 8 frames, one of 4
colours, random place and size), each trained from the same random-init tiny student:
- `name`: "What colour is the object in this video?" -> the colour's word;
- `letter`: "Which of these colours is in the video?", the 4 colours as options in random
  order -> the letter of the square's colour;
- `text_letter`: grey frames, "Which of these colours is <colour>?", options as above -> the
  letter of the colour the question names (no vision needed: the copy alone).
Each is trained on fresh samples (real processor, make_example and collate; AdamW at a constant
learning rate, clipped gradients, the vision tower trained: not `geovr train`'s schedule) and
scored every --eval-every steps on --held-out (128) samples of another random stream: the share
whose answer's first token is the most likely of the task's candidates (the 4 colour words or
letters; chance 0.25), and how often the most chosen one is chosen. `text_letter` has only 96
distinct prompts (4 colours x 24 option orders), so its scored prompts are ones it trains on:
there the score is how well it fits them.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch

from bench.common import add_results_option, write_result
from geovr.model import collate, make_example
from geovr.model.tiny import build_tiny_student

COLOURS = {
    "red": (200, 30, 30),
    "green": (30, 180, 40),
    "blue": (40, 60, 200),
    "yellow": (230, 210, 40),
}
LETTERS = "ABCD"
TASKS = ("name", "letter", "text_letter")


def square_frames(rng: np.random.Generator, colour: str, side: int = 64) -> np.ndarray:
    """8 grey frames, the first and about half the others with a square of `colour`."""
    frames = np.full((8, side, side, 3), 128, np.uint8)
    for t in range(8):
        if t == 0 or rng.random() < 0.5:
            size = int(rng.integers(side // 6, side // 3))
            y, x = rng.integers(0, side - size, 2)
            frames[t, y : y + size, x : x + size] = COLOURS[colour]
    return frames


def task_sample(task: str, rng: np.random.Generator) -> tuple[np.ndarray, dict, int]:
    """(frames, question row, index of the right candidate) of one sample of `task`."""
    names = list(COLOURS)
    k = int(rng.integers(len(names)))
    frames = square_frames(rng, names[k])
    if task == "name":
        question = "What colour is the object in this video?"
        return frames, {"question": question, "options": None, "ground_truth": names[k]}, k
    order = [names[i] for i in rng.permutation(len(names))]
    options = [f"{letter}. {name}" for letter, name in zip(LETTERS, order, strict=True)]
    if task == "text_letter":
        frames[:] = 128
        question = f"Which of these colours is {names[k]}?"
    else:
        question = "Which of these colours is in the video?"
    right = order.index(names[k])
    return frames, {"question": question, "options": options, "ground_truth": LETTERS[right]}, right


def batch_of(task: str, processor, rng: np.random.Generator, n: int) -> tuple[dict, torch.Tensor]:
    """n samples of `task` as the model's inputs (no teacher targets: only what the student
    takes), and each one's right candidate."""
    samples = [task_sample(task, rng) for _ in range(n)]
    examples = [make_example(processor, frames, qa) for frames, qa, _ in samples]
    inputs = collate(examples, processor.tokenizer.pad_token_id)
    return inputs, torch.tensor([right for _, _, right in samples])


def chosen_candidates(logits: torch.Tensor, labels: torch.Tensor, candidates: list[int]):
    """Per sample the candidate whose answer token is likeliest: read at the position before
    the first labelled token, which predicts it."""
    at = (labels != -100).float().argmax(1) - 1
    return logits[torch.arange(len(labels)), at][:, candidates].argmax(-1)


def candidate_ids(tokenizer, words: list[str]) -> list[int]:
    """Each word's first token; the words must start with distinct tokens."""
    ids = [tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in words]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{words} do not start with distinct tokens: {ids}")
    return ids


def train_task(task: str, args: argparse.Namespace, student_dir: str) -> dict:
    """One task from the random-init student: per scored step the held-out accuracy, the share
    of the most chosen candidate (1.0: one answer for every input) and the mean training loss
    since the last score (answer token and end of turn)."""
    model, processor = build_tiny_student("qwen3_vl", out_dir=student_dir)
    model.train()  # built for inference; no dropout in the tiny config, so scoring in it is exact
    words = list(COLOURS) if task == "name" else list(LETTERS)
    candidates = candidate_ids(processor.tokenizer, words)
    rng, held_rng = np.random.default_rng(0), np.random.default_rng(1)
    held = [batch_of(task, processor, held_rng, 32) for _ in range(args.held_out // 32)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)

    def scored() -> dict:
        with torch.no_grad():
            chosen = torch.cat(
                [chosen_candidates(model(**x).logits, x["labels"], candidates) for x, _ in held]
            )
        right = torch.cat([r for _, r in held])
        top = torch.bincount(chosen, minlength=len(words)).max()
        return {
            "accuracy": float((chosen == right).float().mean()),
            "top_share": float(top) / len(chosen),
        }

    curve, losses = {0: scored()}, []
    for step in range(1, args.steps + 1):
        inputs, _ = batch_of(task, processor, rng, args.batch)
        loss = model(**inputs).loss
        loss.backward()
        losses.append(loss.item())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        if step % args.eval_every == 0 or step == args.steps:
            curve[step] = {**scored(), "train_loss": float(np.mean(losses))}
            losses = []
    return {"scored": curve, "final": curve[args.steps]["accuracy"], "chance": 1 / len(words)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench letters")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--held-out", type=int, default=128, help="scored samples (a multiple of 32)"
    )
    add_results_option(parser)
    parser.add_argument(
        "--quick", action="store_true", help="completeness only: 4 steps, 32 scored samples"
    )
    args = parser.parse_args(argv)
    if args.held_out < 32 or args.held_out % 32:
        parser.error("--held-out must be a positive multiple of 32")
    if args.quick:
        args.steps, args.eval_every, args.held_out = 4, 2, 32
    with tempfile.TemporaryDirectory() as tmp:
        found = {task: train_task(task, args, f"{tmp}/{task}") for task in args.tasks}
    result = {"setup": {k: v for k, v in vars(args).items() if k != "results"}, "tasks": found}
    write_result("letters", result, quick=args.quick, results=args.results)
    return result


if __name__ == "__main__":
    main()
