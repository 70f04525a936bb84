"""The geometry-free base mix (issue 22): every answer recomputed from its definition, the
formats the metric tasks use, and correct letters spread evenly over the option positions."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from geovr.data.synth.base_qa import (
    BASE_MIX_TYPES,
    BASE_QUESTION_TYPES,
    CHANNELS,
    LetterCycle,
    base_mix,
    base_questions,
)
from geovr.data.synth.qa import LETTERS
from geovr.data.synth.scene import Scene, SceneObject, sample_scene


def box(name: str, color: tuple[int, int, int]) -> SceneObject:
    return SceneObject(name, name.rsplit("_", 1)[0], (1.0, 0.5, 1.0), (0.5, 1.0, 0.5), color)


# three chairs (never unique), one table, lamp and tv; chair_3 never seen
ROOM = Scene(
    "scene_9999",
    (5.0, 3.0, 5.0),
    (
        box("chair_1", (170, 90, 40)),
        box("chair_2", (160, 80, 50)),
        box("chair_3", (150, 70, 60)),
        box("table_1", (120, 75, 45)),
        box("lamp_1", (235, 210, 90)),
        box("tv_1", (25, 25, 30)),
    ),
)
FIRST_VISIBLE = {"chair_1": 1, "chair_2": 4, "chair_3": -1, "table_1": 0, "lamp_1": 3, "tv_1": 5}


def option_text(row: dict) -> str:
    return row["options"][LETTERS.index(row["ground_truth"])].split(". ", 1)[1]


def expected(row: dict, scene: Scene, first_visible: dict[str, int]) -> str:
    """The answer recomputed from the definitions in base_qa's docstring, from the question."""
    counts = Counter(o.category for o in scene.objects)
    question = row["question"]
    if row["question_type"] == "colour_component":
        channel, category = re.match(
            r"What is the (\w+) component .* of the (.+)'s", question
        ).groups()
        (obj,) = [o for o in scene.objects if o.category == category]
        assert first_visible[obj.name] >= 0
        return str(obj.color[CHANNELS.index(channel)])
    if row["question_type"] == "category_share":
        category = re.search(r"are (.+)\(s\)\?", question).group(1)
        return str(round(100 * counts[category] / len(scene.objects), 1))
    if row["question_type"] == "objects_per_category":
        return str(round(len(scene.objects) / len(counts), 1))
    if row["question_type"] in ("first_of_two", "first_of_three"):
        named = re.findall(r"the ([a-z ]+?)(?= or |\?)", question.split(": ", 1)[1])
        objects = [o for o in scene.objects if o.category in named]
        assert len(objects) == len(named) == len(row["options"])  # unique, named once
        frames = sorted(first_visible[o.name] for o in objects)
        assert frames[0] >= 0 and frames[0] < frames[1]  # the first is seen before the others
        return min(objects, key=lambda o: first_visible[o.name]).category
    if row["question_type"] == "present_category":
        listed = question.split(": ", 1)[1].rstrip("?").split(", ")
        visible = {o.category for o in scene.objects if first_visible[o.name] >= 0}
        (shown,) = [c for c in listed if c in counts]
        assert len(listed) == 4 and shown in visible
        return shown
    if row["question_type"] == "absent_category":
        listed = question.split(": ", 1)[1].rstrip("?").split(", ")
        visible = {o.category for o in scene.objects if first_visible[o.name] >= 0}
        (missing,) = [c for c in listed if c not in counts]
        assert len(listed) == 4 and all(c in visible for c in listed if c != missing)
        return missing
    raise AssertionError(f"unexpected question type {row['question_type']}")


def answer_of(row: dict) -> str:
    return row["ground_truth"] if row["options"] is None else option_text(row)


def random_rooms(n: int):
    """Sampled rooms with every object first seen at a random frame of 8 (or never)."""
    rng = np.random.default_rng(1)
    for i in range(n):
        scene = sample_scene(np.random.default_rng([5, i]), f"scene_{i:04d}")
        yield scene, {o.name: int(rng.integers(-1, 8)) for o in scene.objects}


def test_every_answer_of_a_hand_built_room_follows_its_definition():
    rows = base_questions(
        ROOM, FIRST_VISIBLE, np.random.default_rng(0), LetterCycle(np.random.default_rng(0))
    )
    assert {r["question_type"] for r in rows} == set(BASE_QUESTION_TYPES)
    for row in rows:
        assert answer_of(row) == expected(row, ROOM, FIRST_VISIBLE), row
    by_type = {r["question_type"]: r for r in rows}
    assert by_type["objects_per_category"]["ground_truth"] == "1.5"  # 6 objects, 4 categories
    assert option_text(by_type["first_of_three"]) == "table"  # table 0, lamp 3, tv 5
    assert option_text(by_type["absent_category"]) not in {"chair", "table", "lamp", "tv"}


def test_answers_of_sampled_rooms_follow_their_definitions_in_the_metric_formats():
    seen = Counter()
    for scene, first_visible in random_rooms(300):
        for row in base_questions(
            scene, first_visible, np.random.default_rng(0), LetterCycle(np.random.default_rng(0))
        ):
            assert answer_of(row) == expected(row, scene, first_visible), row
            seen[row["question_type"]] += 1
            if row["question_type"] == "colour_component":  # integers, as object sizes in cm
                assert re.fullmatch(r"[1-9]\d{0,2}", row["ground_truth"])
            elif row["options"] is None:  # one decimal, as distances and room areas
                assert re.fullmatch(r"\d{1,3}\.\d", row["ground_truth"])
    assert set(seen) == set(BASE_QUESTION_TYPES) and min(seen.values()) >= 50, seen


def test_correct_letters_are_spread_evenly_over_the_options():
    letters, rng = LetterCycle(np.random.default_rng(0)), np.random.default_rng(0)
    answers: dict[str, Counter] = {}
    for scene, first_visible in random_rooms(300):
        for row in base_questions(scene, first_visible, rng, letters):
            if row["options"] is not None:
                answers.setdefault(row["question_type"], Counter())[row["ground_truth"]] += 1
    sizes = {"first_of_two": 2, "first_of_three": 3, "absent_category": 4, "present_category": 4}
    assert set(answers) == set(sizes)
    for qtype, counts in answers.items():
        assert set(counts) == set(LETTERS[: sizes[qtype]]), qtype
        assert max(counts.values()) - min(counts.values()) <= 1, (qtype, counts)


def test_the_mix_keeps_one_counting_question_and_the_order_question():
    own = [{"question_type": "object_counting", "id": f"scene_9999-q00{i}"} for i in range(4)] + [
        {"question_type": "object_abs_distance", "id": "scene_9999-q004"}
    ]
    order = {"question_type": "obj_appearance_order", "id": "scene_9999-q005"}
    rng = np.random.default_rng(0)
    rows = base_mix(ROOM, FIRST_VISIBLE, [*own, order], rng, LetterCycle(rng))
    types = Counter(r["question_type"] for r in rows)
    assert types["object_counting"] == 1 and types["obj_appearance_order"] == 1
    assert set(types) <= set(BASE_MIX_TYPES) and "object_abs_distance" not in types
    assert len({r["id"] for r in rows}) == len(rows)


def test_a_room_of_one_category_asks_only_counting_numbers_and_presence():
    # no unique object to name, one category seen: no colour, order or absence question
    scene = Scene("s", (5.0, 3.0, 5.0), tuple(box(f"sofa_{i}", (9, 9, 9)) for i in (1, 2, 3)))
    rng = np.random.default_rng(0)
    rows = base_questions(scene, {o.name: 0 for o in scene.objects}, rng, LetterCycle(rng))
    types = ["category_share", "objects_per_category", "present_category"]
    assert [r["question_type"] for r in rows] == types
    assert [r["ground_truth"] for r in rows[:2]] == ["100.0", "3.0"]
    assert option_text(rows[2]) == "sofa"
