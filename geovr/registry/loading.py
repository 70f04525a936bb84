"""Getting a registered student back: the Hugging Face directory of the version an alias
points at, ready for plain `from_pretrained`.

    from geovr.registry import load_champion
    champion = load_champion("geovr-student", "http://mlflow:5000", dst="/tmp/champion")
    model = AutoModelForImageTextToText.from_pretrained(champion.checkpoint_dir)

The same version also loads as a pyfunc (a video file or URI + a question in, the answer out;
geovr/registry/student_model.py): `mlflow.pyfunc.load_model("models:/geovr-student@champion")`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.models import Model

from geovr.errors import GeoVRError
from geovr.registry.connection import RetryBudget, connect
from geovr.registry.promotion import CHAMPION, alias_holder


@dataclass(frozen=True)
class LoadedVersion:
    """A downloaded model version: its number and the Hugging Face checkpoint directory."""

    model_name: str
    version: str
    model_dir: Path
    checkpoint_dir: Path


def alias_uri(model_name: str, alias: str = CHAMPION) -> str:
    return f"models:/{model_name}@{alias}"


def checkpoint_dir_of(model_dir: Path) -> Path:
    """Where a downloaded pyfunc keeps its `checkpoint` artifact (named after the directory
    that was logged, so it is read from the MLmodel file rather than guessed)."""
    flavor = Model.load(str(model_dir / "MLmodel")).flavors.get("python_function", {})
    try:
        return model_dir / flavor["artifacts"]["checkpoint"]["path"]
    except KeyError as e:
        raise GeoVRError(
            f"{model_dir} is not a GeoVR student model (no checkpoint artifact)"
        ) from e


def load_champion(
    model_name: str,
    tracking_uri: str | None = None,
    alias: str = CHAMPION,
    dst: str | Path | None = None,
    retry: RetryBudget | None = None,
) -> LoadedVersion:
    """Download the version `alias` points at into `dst` (a new temporary dir if None)."""
    client = connect(tracking_uri, retry)
    holder = alias_holder(client, model_name, alias)
    if holder is None:
        raise GeoVRError(f"model {model_name!r} has no {alias!r} alias")
    # Download the resolved version, not the alias, so a concurrent promotion cannot mix two.
    target = Path(dst) if dst else Path(tempfile.mkdtemp(prefix=f"{model_name}-{alias}-"))
    target.mkdir(parents=True, exist_ok=True)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{model_name}/{holder.version}", dst_path=str(target)
    )
    model_dir = Path(local)
    return LoadedVersion(model_name, str(holder.version), model_dir, checkpoint_dir_of(model_dir))
