"""The VSI-Bench question types and the eight reported tasks (docs/protocol.md, "Tasks").

The schema of every qa.jsonl (geovr/data/questions.py checks rows against it at ingest), the
tasks the scorer reports (geovr/eval/vsi.py) and the columns of the report.
"""

NUMERIC_TASKS = (
    "object_counting",
    "object_abs_distance",
    "object_size_estimation",
    "room_size_estimation",
)
REL_DIRECTION_LEVELS = (
    "object_rel_direction_easy",
    "object_rel_direction_medium",
    "object_rel_direction_hard",
)
CHOICE_TASKS = (
    "object_rel_distance",
    *REL_DIRECTION_LEVELS,
    "route_planning",
    "obj_appearance_order",
)
QUESTION_TYPES = NUMERIC_TASKS + CHOICE_TASKS
# The 8 reported tasks, in the order of the VSI-Bench tables.
TASKS = (
    *NUMERIC_TASKS,
    "object_rel_distance",
    "object_rel_direction",
    "route_planning",
    "obj_appearance_order",
)
REL_DIRECTION = "object_rel_direction"
