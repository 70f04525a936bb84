"""What a served GeoVR student is logged with: its code, its typed request schema and an
example, so `mlflow models serve` checks requests and documents them.

    log_served_model("student", checkpoint_dir, requirements)        # in an active run
    mlflow.pyfunc.save_model(path, **served_model(checkpoint_dir, requirements))

Request columns: `question` (required, checked by the model), `options`, `video`, `video_b64`,
`frames`, `timestamps`
(geovr/registry/student_model.py says what each means); params `max_new_tokens`, `do_sample`,
`temperature`, `top_p` (greedy by default, as evaluation decodes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
from mlflow.models import Model, ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema
from mlflow.types.schema import AnyType

# geovr/model/clip_inputs.py and the two siblings it imports (standard library, numpy, PIL)
CODE_FILES = ("model/prompt.py", "data/sampling.py", "model/clip_inputs.py")
GEOVR_ROOT = Path(__file__).resolve().parents[1]
STUDENT_CODE = Path(__file__).with_name("student_model.py")
INPUT_EXAMPLE = [{"question": "How many chairs are in this room?"}]


def code_paths() -> list[str]:
    """The preprocessing files the pyfunc imports (evaluation's own code, not a copy)."""
    return [str(GEOVR_ROOT / name) for name in CODE_FILES]


def signature() -> ModelSignature:
    # MLflow checks a request against this schema before the model sees it, and answers a
    # failed check with a multi-line message that repeats the request. So every column is
    # optional and the lists are Any: the model checks presence and types itself and answers
    # in one line (student_model.py). Strings stay typed: MLflow's check of them never fails.
    inputs = Schema(
        [
            ColSpec(DataType.string, "question", required=False),
            ColSpec(AnyType(), "options", required=False),
            ColSpec(DataType.string, "video", required=False),
            ColSpec(DataType.string, "video_b64", required=False),
            ColSpec(AnyType(), "frames", required=False),
            ColSpec(AnyType(), "timestamps", required=False),
        ]
    )
    params = ParamSchema(
        [
            ParamSpec("max_new_tokens", DataType.long, 16),
            ParamSpec("do_sample", DataType.boolean, False),
            ParamSpec("temperature", DataType.double, 1.0),
            ParamSpec("top_p", DataType.double, 1.0),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec(DataType.string)]), params=params)


def served_model(checkpoint: str | Path, requirements: list[str]) -> dict[str, Any]:
    """Keyword arguments of `mlflow.pyfunc.log_model` / `save_model` for one checkpoint."""
    return {
        "python_model": str(STUDENT_CODE),
        "artifacts": {"checkpoint": str(checkpoint)},
        "code_paths": code_paths(),
        "signature": signature(),
        "input_example": (INPUT_EXAMPLE, {"max_new_tokens": 16}),
        "pip_requirements": requirements,
    }


class _PyfuncSavedAsIs:
    """The pyfunc flavor for `Model.log`, taking its `validate_serving_input` switch: with it
    on, MLflow loads the model and answers the input example in the logging process (a
    multi-GB student in the light register step); `mlflow.pyfunc.log_model` has no switch. The
    example is still checked against the signature by `save_model`."""

    __name__ = "mlflow.pyfunc"

    @staticmethod
    def save_model(validate_serving_input: bool = True, **kwargs: Any) -> None:
        mlflow.pyfunc.save_model(**kwargs)


def log_served_model(name: str, checkpoint: str | Path, requirements: list[str]) -> ModelInfo:
    """Log the served model of `checkpoint` in the active run (what pyfunc.log_model does)."""
    return Model.log(
        artifact_path=None,
        name=name,
        flavor=_PyfuncSavedAsIs,
        validate_serving_input=False,
        **served_model(checkpoint, requirements),
    )
