"""Click parameter types of the stage commands: every value is checked when the command line
is parsed, before any work starts, and a bad one ends in click's one-line usage error.

    @click.option("--lr-model", type=FiniteFloat(min=0.0))      # refuses nan, inf, -1
    @click.option("--loss-weights", type=LossWeights())          # "cam=2.5,depth=1" -> dict
    @click.option("--clips", type=Artifact("clipset"))           # a clip set, local or s3://
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click
import fsspec
from safetensors import SafetensorError, safe_open

from geovr.artifacts import is_remote, read_jsonl, read_meta
from geovr.data.layout import SPLITS
from geovr.devices import device_problem
from geovr.errors import GeoVRError
from geovr.model.config import GEOMETRY_OBJECTIVES
from geovr.teachers.cache import cache_key


class FiniteFloat(click.ParamType):
    """A finite float, at least `min` (click's FloatRange lets nan through every bound)."""

    name = "number"

    def __init__(self, min: float | None = None) -> None:
        self.min = min

    def convert(self, value: Any, param, ctx) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.min is not None and number < self.min:
            self.fail(f"{value!r} is below the minimum {self.min:g}", param, ctx)
        return number


class LossWeights(click.ParamType):
    """`cam=2.5,depth=1`: a finite weight >= 0 per geometry objective."""

    name = "weights"

    def convert(self, value: Any, param, ctx) -> dict[str, float]:
        if isinstance(value, dict):
            return value
        weights: dict[str, float] = {}
        for pair in filter(None, (p.strip() for p in str(value).split(","))):
            key, sep, number = pair.partition("=")
            if not sep or key.strip() not in GEOMETRY_OBJECTIVES:
                self.fail(
                    f"{pair!r}: expected OBJECTIVE=WEIGHT with OBJECTIVE one of "
                    f"{', '.join(GEOMETRY_OBJECTIVES)} (e.g. cam=2.5,depth=1)",
                    param,
                    ctx,
                )
            weights[key.strip()] = FiniteFloat(min=0.0).convert(number, param, ctx)
        return weights


class Splits(click.ParamType):
    """`val,test`: clip-set split names, as a tuple."""

    name = "splits"

    def convert(self, value: Any, param, ctx) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        splits = tuple(s.strip() for s in str(value).split(",") if s.strip())
        unknown = [s for s in splits if s not in SPLITS]
        if unknown or not splits:
            self.fail(
                f"{value!r}: splits are a comma-separated subset of {', '.join(SPLITS)}", param, ctx
            )
        return splits


class Device(click.ParamType):
    """auto | cpu | cuda | cuda:N, and a CUDA device only where one is visible."""

    name = "device"

    def convert(self, value: Any, param, ctx) -> str:
        if problem := device_problem(value):
            self.fail(problem, param, ctx)
        return str(value)


class Artifact(click.ParamType):
    """The directory of a stage's artifact of `kind` (its meta.json says so), local or remote."""

    name = "directory"

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def convert(self, value: Any, param, ctx) -> str:
        if not is_remote(value) and not Path(value).is_dir():
            self.fail(f"{value!r} is not a directory", param, ctx)
        try:
            read_meta(value, self.kind)
        except GeoVRError as e:
            self.fail(str(e), param, ctx)
        return str(value)


def check_splits_present(clips: str, splits: tuple[str, ...]) -> None:
    """Refuse splits that select no clip of the clip set (training or evaluating nothing)."""
    present = {row["split"] for row in read_jsonl(f"{clips}/manifest.jsonl")}
    if not present & set(splits):
        raise GeoVRError(
            f"--splits {','.join(splits)}: the clip set {clips} has clips only in "
            f"{', '.join(sorted(present)) or 'no split'}"
        )


def check_targets_match(clips: str, targets: str) -> None:
    """Refuse teacher targets made for another clip set: a clip whose video differs from the
    one its target was computed on, or whose frames or frame size do (the same videos ingested
    with another --frames/--sampling/--max-side), or no clip of the clip set among the targets."""
    rows = {row["clip_id"]: row for row in read_jsonl(f"{clips}/manifest.jsonl")}
    with fsspec.open(f"{targets}/index.json", "r") as f:
        index = json.load(f)
    meta = read_meta(targets, "targets")
    shared = sorted(set(rows) & set(index))
    changed = [c for c in shared if index[c].get("clip_sha256") != rows[c]["sha256"]]
    resampled = [
        c
        for c in shared
        if index[c].get("key") != cache_key(rows[c], meta["teacher"], meta.get("teacher_hash", ""))
    ]
    if changed or resampled or not shared:
        detail = (
            f"clip {changed[0]!r} has another video there"
            if changed
            else f"clip {resampled[0]!r} was distilled from other frames there"
            if resampled
            else "none of its clips is there"
        )
        raise GeoVRError(
            f"--targets {targets} is not for the clip set {clips}: {detail}; "
            f"run geovr distill --clips {clips}"
        )


class Checkpoint(click.ParamType):
    """A model directory (config.json) whose safetensors files are whole: a truncated or
    overwritten weights file is refused here, not as a loader traceback."""

    name = "directory"

    def convert(self, value: Any, param, ctx) -> str:
        path = Path(value)
        if not (path / "config.json").is_file():
            self.fail(f"{value!r} is not a checkpoint directory (no config.json)", param, ctx)
        for weights in sorted(path.glob("*.safetensors")):
            try:  # reads the header, which must cover the file exactly
                with safe_open(str(weights), framework="numpy"):
                    pass
            except (SafetensorError, OSError) as e:
                self.fail(f"{weights} is not a readable safetensors file ({e})", param, ctx)
        return str(value)
