"""`--resume` continues a run only under the configuration its checkpoints were made with.

Everything that shapes the result (learning rates and schedule, seed, batch, accumulation,
objectives, loss weights, ranks, the clip set and targets, the student, total steps, which
sets the cosine schedule) must equal what `<out>/task.json` recorded when the run started;
only the options in SAFE_TO_CHANGE may differ. Torch-free, like geovr.train.run.

    check_resume(out, options)   # GeoVRError naming every differing field, or None
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from geovr.errors import GeoVRError

# Where metrics go, how often and how many checkpoints are kept, how fast data is loaded, and
# whether activations are recomputed: none changes a weight.
SAFE_TO_CHANGE = (
    "tracking_uri",
    "experiment",
    "kfp_run_id",
    "checkpoint_every",
    "keep_last",
    "log_every",
    "num_workers",
    "prefetch",
    "gradient_checkpointing",
    "storage_options",
)
# Paths may move; the content hashes of the clip set and targets (inputs.*) are compared. How
# the ranks are launched is not compared, the number of ranks it gives (`ranks`) is.
LAUNCH_FIELDS = ("launcher", "num_nodes", "gpus_per_node", "cpu_ranks")
_NOT_COMPARED = (
    *SAFE_TO_CHANGE,
    *LAUNCH_FIELDS,
    "clips",
    "targets",
    "checkpoint_meta",
    "tiny_seed",
)


def result_config(options: dict[str, Any]) -> dict[str, Any]:
    """The flat {field: value} that determines the trained weights, from task.json's options."""
    meta = options["checkpoint_meta"]
    fields = {**meta["config"]["train"], **meta["config"]["task"]}
    fields.update({f"inputs.{k}": v for k, v in meta["inputs"].items()})
    fields.update(
        ranks=meta.get("ranks"),
        student_base=meta.get("student_base"),
        data_version=meta.get("data_version"),
    )
    return {k: v for k, v in fields.items() if k not in _NOT_COMPARED}


def check_resume(out: Path, options: dict[str, Any]) -> None:
    """Refuse to resume `out` with `options` that differ from the run's in a result field."""
    recorded = out / "task.json"
    if not recorded.is_file():
        raise GeoVRError(
            f"--resume: {recorded} is missing, so the checkpoints' configuration "
            "cannot be checked; start a new --out"
        )
    # compared as JSON, the form task.json holds (tuples read back as lists)
    old = result_config(json.loads(recorded.read_text()))
    new = result_config(json.loads(json.dumps(options)))
    changed = [
        f"{k} {old.get(k)!r} -> {new.get(k)!r}"
        for k in sorted(old.keys() | new.keys())
        if old.get(k) != new.get(k)
    ]
    if changed:
        raise GeoVRError(
            f"--resume: the configuration differs from the checkpoints' in "
            f"{'; '.join(changed)} (only {', '.join(SAFE_TO_CHANGE)} may change)"
        )
