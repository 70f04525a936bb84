"""Geometry-free questions in every VSI answer format: the warm-start base mix (issue 22).

    letters = LetterCycle(np.random.default_rng(0))
    rows = base_mix(scene, first_visible, full_rows, rng, letters)   # one train scene's mix

A base student pre-trained on these learns how each task type is answered (a number with the
digits and decimals the metric tasks use; the letter of one of 2, 3 or 4 options) from what
needs no metric geometry: presence, counts, colours and first appearance. Each format and the
metric task whose format it mirrors:
- integer, 2-3 digits (object_size_estimation's centimetres): colour_component, one channel
  (0-255) of a unique visible object's colour;
- one decimal, 1-2 integer digits (room_size_estimation's square metres):
  category_share, the percentage of the room's objects that are of a category;
- one decimal, one integer digit (object_abs_distance's metres): objects_per_category, the
  room's objects per category present;
- 2 options (object_rel_direction_easy): first_of_two, which of two objects appears first
  (the answer seen strictly before the others);
- 3 options (object_rel_direction_medium): first_of_three;
- 4 category options (object_rel_distance; rel_direction_hard has 4 too): absent_category,
  which of four categories is not in the room (three of them seen), and present_category,
  which is (the other three in no corner of it).
From the scene's own questions (geovr/data/synth/qa.py) the mix keeps one counting question
(integer, one digit; counting is the bulk of the full set and 60% of its answers are 1, the
prior a base trained on all of them answered everything with) and the appearance-order
question (4 comma-list options).

The correct option's position cycles through the letters per question type (LetterCycle), so
over a mix each letter is the answer equally often, to within one question; the other options
fill the remaining places in random order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from geovr.data.synth.qa import choice_row, numeric_row, unique_objects
from geovr.data.synth.scene import CATEGORIES, Scene

BASE_QUESTION_TYPES = (
    "colour_component",
    "category_share",
    "objects_per_category",
    "first_of_two",
    "first_of_three",
    "absent_category",
    "present_category",
)
# every question type a base mix holds: two of the synthetic set's own, then the ones above
BASE_MIX_TYPES = ("object_counting", "obj_appearance_order", *BASE_QUESTION_TYPES)
COUNTING_PER_SCENE = 1
CHANNELS = ("red", "green", "blue")


class LetterCycle:
    """Places the correct option of each question: per question type at positions 0, 1, ...,
    n - 1, 0, ... in turn, the distractors around it in random order."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.asked = rng, Counter()

    def arrange(self, qtype: str, correct: str, distractors: Sequence[str]) -> list[str]:
        position = self.asked[qtype] % (len(distractors) + 1)
        self.asked[qtype] += 1
        others = [distractors[i] for i in self.rng.permutation(len(distractors))]
        return [*others[:position], correct, *others[position:]]


def base_questions(
    scene: Scene, first_visible: Mapping[str, int], rng: np.random.Generator, letters: LetterCycle
) -> list[dict]:
    """The geometry-free questions of one scene; `first_visible`: each object's first frame
    with enough visible pixels (-1: never), as scenes/<id>.json stores it."""
    rows: list[dict] = []
    cid = scene.clip_id
    next_id = lambda: f"{cid}-b{len(rows):03d}"  # noqa: E731  (apart from qa.py's -qNNN)
    counts = Counter(o.category for o in scene.objects)
    seen = [o for o in unique_objects(scene) if first_visible[o.name] >= 0]
    if seen:
        obj, channel = seen[int(rng.integers(len(seen)))], int(rng.integers(len(CHANNELS)))
        if obj.color[channel] > 0:  # numeric answers are positive (VSI's relative accuracy)
            question = (
                f"What is the {CHANNELS[channel]} component (0 to 255) of the "
                f"{obj.category}'s colour?"
            )
            rows.append(
                numeric_row(next_id(), cid, "colour_component", question, obj.color[channel])
            )
    category = sorted(counts)[int(rng.integers(len(counts)))]
    share = round(100 * counts[category] / len(scene.objects), 1)
    question = f"What percentage of the objects in this room are {category}(s)?"
    rows.append(numeric_row(next_id(), cid, "category_share", question, share))
    question = "On average, how many objects of each category are in this room?"
    per_category = round(len(scene.objects) / len(counts), 1)
    rows.append(numeric_row(next_id(), cid, "objects_per_category", question, per_category))

    frame = {o.name: first_visible[o.name] for o in seen}
    for qtype, k in (("first_of_two", 2), ("first_of_three", 3)):
        # the answer: an object first seen before at least k - 1 others, drawn among those
        firsts = [o for o in seen if sum(frame[p.name] > frame[o.name] for p in seen) >= k - 1]
        if not firsts:
            continue
        first = firsts[int(rng.integers(len(firsts)))]
        later = [p for p in seen if frame[p.name] > frame[first.name]]
        others = [later[i].category for i in rng.choice(len(later), k - 1, replace=False)]
        named = [[first.category, *others][i] for i in rng.permutation(k)]
        question = (
            "Which of these objects appears first in the video: "
            f"{' or '.join(f'the {name}' for name in named)}?"
        )
        options = letters.arrange(qtype, first.category, others)
        rows.append(choice_row(next_id(), cid, qtype, question, options, first.category))

    visible = sorted({o.category for o in scene.objects if first_visible[o.name] >= 0})
    absent = sorted(set(CATEGORIES) - set(counts))
    if len(visible) >= 3 and absent:
        present = [visible[i] for i in rng.choice(len(visible), 3, replace=False)]
        missing = absent[int(rng.integers(len(absent)))]
        listed = ", ".join(sorted([*present, missing]))
        question = f"Which of these categories is not in this room: {listed}?"
        options = letters.arrange("absent_category", missing, present)
        rows.append(choice_row(next_id(), cid, "absent_category", question, options, missing))
    if visible and len(absent) >= 3:
        shown = visible[int(rng.integers(len(visible)))]
        decoys = [absent[i] for i in rng.choice(len(absent), 3, replace=False)]
        listed = ", ".join(sorted([shown, *decoys]))
        question = f"Which of these categories is in this room: {listed}?"
        options = letters.arrange("present_category", shown, decoys)
        rows.append(choice_row(next_id(), cid, "present_category", question, options, shown))
    return rows


def base_mix(
    scene: Scene,
    first_visible: Mapping[str, int],
    scene_rows: Sequence[dict],
    rng: np.random.Generator,
    letters: LetterCycle,
) -> list[dict]:
    """One scene's base questions: COUNTING_PER_SCENE of its counting questions (drawn), its
    appearance-order question, and base_questions."""
    counting = [r for r in scene_rows if r["question_type"] == "object_counting"]
    drawn = sorted(rng.choice(len(counting), min(COUNTING_PER_SCENE, len(counting)), replace=False))
    order = [r for r in scene_rows if r["question_type"] == "obj_appearance_order"]
    return [
        *(counting[i] for i in drawn),
        *order,
        *base_questions(scene, first_visible, rng, letters),
    ]
