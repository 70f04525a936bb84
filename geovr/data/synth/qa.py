"""VSI-Bench-style questions whose answers follow exactly from the scene geometry.

Every answer function takes the scene description (what `scenes/<id>.json` stores) and,
for appearance order, the per-frame object visibility; tests recompute answers from the
saved files with these same definitions. Questions that would be ambiguous (near ties,
directions near a boundary) are skipped rather than asked.

Definitions:
- object_counting: number of objects of a category.
- object_abs_distance: distance between the two objects' box centres, metres, 1 decimal.
- object_size_estimation: longest box side in centimetres, rounded to an integer.
- room_size_estimation: floor area X*Z in square metres, 1 decimal.
- object_rel_distance: which of 4 candidates has the nearest centre to the reference
  (runner-up at least 15% farther).
- object_rel_direction_*: standing at A's centre facing B's centre (floor plane), where is C.
- obj_appearance_order: order of first frames with >= MIN_VISIBLE_PIXELS of each object.
route_planning is not generated: a sound route needs a free-space planner and a
turn-by-turn answer format this renderer has no ground truth for.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np

from geovr.data.synth.scene import Scene, SceneObject

LETTERS = "ABCD"
MIN_VISIBLE_PIXELS = 20
ANGLE_MARGIN_DEG = 15.0


def unique_objects(scene: Scene) -> list[SceneObject]:
    """Objects whose category occurs once: a question can name them unambiguously."""
    counts = Counter(o.category for o in scene.objects)
    return [o for o in scene.objects if counts[o.category] == 1]


def center_distance(a: SceneObject, b: SceneObject) -> float:
    return float(np.linalg.norm(np.array(a.center) - np.array(b.center)))


def direction_angle(a: SceneObject, b: SceneObject, c: SceneObject) -> float:
    """Angle of C seen from A when facing B, in degrees in (-180, 180]; positive = to the right.

    Floor plane (x, z), world y up: facing f, the right-hand side is f x up.
    """
    f = np.array(b.center)[[0, 2]] - np.array(a.center)[[0, 2]]
    v = np.array(c.center)[[0, 2]] - np.array(a.center)[[0, 2]]
    right = np.array([-f[1], f[0]])  # (f x y_up) projected on (x, z)
    return float(np.degrees(np.arctan2(v @ right, v @ f)))


def direction_label(angle: float, level: str) -> str | None:
    """The answer for a difficulty level, or None when the angle is too close to a boundary."""
    near = lambda boundary: abs(abs(angle) - boundary) < ANGLE_MARGIN_DEG  # noqa: E731
    side = "right" if angle > 0 else "left"
    if near(0) or near(180):
        return None
    if level == "easy":
        return side
    if level == "medium":
        if near(90):
            return None
        return "back" if abs(angle) > 90 else side
    if near(90):
        return None
    return f"{'back' if abs(angle) > 90 else 'front'}-{side}"


DIRECTION_OPTIONS = {
    "easy": ["left", "right"],
    "medium": ["left", "right", "back"],
    "hard": ["front-left", "front-right", "back-left", "back-right"],
}


def first_appearance(visible_pixels: np.ndarray) -> np.ndarray:
    """First frame index where each object has enough visible pixels ([T,N] counts -> [N];
    -1: never)."""
    seen = visible_pixels >= MIN_VISIBLE_PIXELS
    return np.where(seen.any(axis=0), seen.argmax(axis=0), -1)


def _choice(
    rng, question_id, clip_id, qtype, question, correct: str, distractors: list[str]
) -> dict:
    options = [correct, *distractors]
    order = rng.permutation(len(options))
    return choice_row(question_id, clip_id, qtype, question, [options[i] for i in order], correct)


def choice_row(question_id, clip_id, qtype, question, ordered: list[str], correct: str) -> dict:
    """A multiple-choice row of `ordered` options lettered A, B, ...; the answer: the letter of
    `correct`."""
    return {
        "id": question_id,
        "scene_name": clip_id,
        "question_type": qtype,
        "question": question,
        "options": [f"{LETTERS[i]}. {text}" for i, text in enumerate(ordered)],
        "ground_truth": LETTERS[ordered.index(correct)],
    }


def numeric_row(question_id, clip_id, qtype, question, answer) -> dict:
    return {
        "id": question_id,
        "scene_name": clip_id,
        "question_type": qtype,
        "question": question,
        "options": None,
        "ground_truth": str(answer),
    }


def generate_qa(scene: Scene, visible_pixels: np.ndarray, rng: np.random.Generator) -> list[dict]:
    """All questions for one scene; `visible_pixels` is [T, n_objects] pixel counts."""
    qa: list[dict] = []
    cid = scene.clip_id
    next_id = lambda: f"{cid}-q{len(qa):03d}"  # noqa: E731
    for category, count in sorted(Counter(o.category for o in scene.objects).items()):
        qa.append(
            numeric_row(
                next_id(),
                cid,
                "object_counting",
                f"How many {category}(s) are in this room?",
                count,
            )
        )
    unique = unique_objects(scene)
    for a, b in itertools.combinations(unique[:4], 2):
        question = (
            f"What is the distance between the centers of the {a.category} "
            f"and the {b.category} (in meters)?"
        )
        qa.append(
            numeric_row(
                next_id(), cid, "object_abs_distance", question, round(center_distance(a, b), 1)
            )
        )
    for obj in unique[:3]:
        question = (
            "What is the length of the longest dimension (length, width, or height) "
            f"of the {obj.category}, measured in centimeters?"
        )
        qa.append(
            numeric_row(
                next_id(), cid, "object_size_estimation", question, int(round(max(obj.size) * 100))
            )
        )
    area = round(scene.room[0] * scene.room[2], 1)
    qa.append(
        numeric_row(
            next_id(),
            cid,
            "room_size_estimation",
            "What is the size of this room (in square meters)?",
            area,
        )
    )
    if len(unique) >= 4:  # a reference and 3-4 candidates
        ref, *candidates = unique[:5]
        distances = sorted((center_distance(ref, c), c.category) for c in candidates)
        if distances[1][0] >= 1.15 * distances[0][0]:
            names = ", ".join(c.category for c in candidates)
            qa.append(
                _choice(
                    rng,
                    next_id(),
                    cid,
                    "object_rel_distance",
                    f"Measuring between object centers, which of these objects ({names}) "
                    f"is the closest to the {ref.category}?",
                    distances[0][1],
                    [d[1] for d in distances[1:]],
                )
            )
    for level, (a, b, c) in zip(
        ("easy", "medium", "hard"), itertools.permutations(unique[:4], 3), strict=False
    ):
        label = direction_label(direction_angle(a, b, c), level)
        if label is None:
            continue
        question = (
            f"If I am standing by the {a.category} and facing the {b.category}, "
            f"is the {c.category} to my {' or '.join(DIRECTION_OPTIONS[level])}?"
        )
        qa.append(
            _choice(
                rng,
                next_id(),
                cid,
                f"object_rel_direction_{level}",
                question,
                label,
                [o for o in DIRECTION_OPTIONS[level] if o != label],
            )
        )
    qa.extend(_appearance_question(scene, unique, visible_pixels, rng, next_id()))
    return qa


def _appearance_question(scene, unique, visible_pixels, rng, question_id) -> list[dict]:
    first = first_appearance(visible_pixels)
    index = {o.name: i for i, o in enumerate(scene.objects)}
    seen = sorted(
        (int(first[index[o.name]]), o.category) for o in unique if first[index[o.name]] >= 0
    )
    frames = [f for f, _ in seen[:4]]
    if len(seen) < 3 or len(set(frames)) < len(frames):  # ties make the order ambiguous
        return []
    order = [c for _, c in seen[:4]]
    distractors = []
    for perm in itertools.permutations(order):
        if list(perm) != order and len(distractors) < 3 and rng.random() < 0.5:
            distractors.append(", ".join(perm))
    while len(distractors) < 3:  # the random pass may pick fewer than three
        perm = ", ".join(str(c) for c in rng.permutation(order))
        if perm != ", ".join(order) and perm not in distractors:
            distractors.append(perm)
    question = (
        "What will be the first-time appearance order of the following categories "
        f"in the video: {', '.join(sorted(order))}?"
    )
    return [
        _choice(
            rng,
            question_id,
            scene.clip_id,
            "obj_appearance_order",
            question,
            ", ".join(order),
            distractors,
        )
    ]
