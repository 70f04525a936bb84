"""A rank's resume state (scheduler, step, data position, RNG states) as safetensors + JSON.

    save_rank_state(path, {"step": 40, "rng": rng_state(), "scheduler": sched.state_dict()})
    state = load_rank_state(path)      # equal values, tuples and arrays as they were saved

Tensors and numpy arrays go into the safetensors body, everything else into one JSON
document in its metadata; tuples are tagged so that `random.setstate` gets a tuple back.
Only data is read: unlike a pickle, a file planted on the shared volume cannot run code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from geovr.errors import ArtifactError

STATE_KEY = "geovr.rank_state"
SCHEMA = "geovr.rank_state/1"
# JSON tags for the values JSON has no type for
TENSOR, ARRAY, TUPLE = "__tensor__", "__ndarray__", "__tuple__"


def _encode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor | np.ndarray):
        key = f"t{len(tensors)}"
        is_tensor = isinstance(value, torch.Tensor)
        tensors[key] = (value if is_tensor else torch.from_numpy(value)).detach().cpu().contiguous()
        return {TENSOR if is_tensor else ARRAY: key}
    if isinstance(value, dict):
        return {str(k): _encode(v, tensors) for k, v in value.items()}
    if isinstance(value, tuple):
        return {TUPLE: [_encode(v, tensors) for v in value]}
    if isinstance(value, list):
        return [_encode(v, tensors) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if TENSOR in value:
        return tensors[value[TENSOR]]
    if ARRAY in value:
        return tensors[value[ARRAY]].numpy()
    if TUPLE in value:
        return tuple(_decode(v, tensors) for v in value[TUPLE])
    return {k: _decode(v, tensors) for k, v in value.items()}


def save_rank_state(path: Path, state: dict[str, Any]) -> None:
    tensors: dict[str, torch.Tensor] = {}
    document = json.dumps({"schema": SCHEMA, "state": _encode(state, tensors)})
    save_file(tensors, str(path), metadata={STATE_KEY: document})


def load_rank_state(path: Path) -> dict[str, Any]:
    try:
        with safe_open(str(path), framework="pt") as f:
            document = json.loads((f.metadata() or {})[STATE_KEY])
        tensors = load_file(str(path))
    except (OSError, KeyError, ValueError, SafetensorError) as e:
        raise ArtifactError(f"{path}: not a GeoVR rank state ({e})") from None
    if document.get("schema") != SCHEMA:
        raise ArtifactError(f"{path}: rank state schema {document.get('schema')!r} is not {SCHEMA}")
    return _decode(document["state"], tensors)
