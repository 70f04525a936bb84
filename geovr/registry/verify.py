"""Is a checkpoint whole and loadable? Checked before it is uploaded and, on the copy MLflow
stores, before it is registered: a truncated or mismatched file never becomes a version.

    verify_checkpoint(Path("runs/train/checkpoint"))   # ArtifactError naming the bad file
    verify_uploaded(model_uri, info)                   # the stored copy is byte-identical

Weights are checked by their safetensors headers (the header must cover the whole file, and
a sharded checkpoint's index must match its shards) without reading tensors; config and
processor are loaded with transformers in a child process, so the registering process never
imports torch (see student_model.py) and a loader crash is one line of error.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
from safetensors import SafetensorError, safe_open

from geovr.artifacts import checkpoint_fingerprint
from geovr.errors import ArtifactError
from geovr.registry.inputs import CheckpointInfo
from geovr.registry.loading import checkpoint_dir_of

INDEX_FILE = "model.safetensors.index.json"
LOAD_TIMEOUT_S = 600.0
# Loads what a consumer needs besides the weights; the processor falls back to a tokenizer
# as in student_model.load_student (a text-only student has no processor config).
LOAD_SCRIPT = """
import sys, transformers
root = sys.argv[1]
transformers.AutoConfig.from_pretrained(root)
try:
    transformers.AutoProcessor.from_pretrained(root)
except (OSError, ValueError):
    transformers.AutoTokenizer.from_pretrained(root)
"""


def tensor_names(file: Path) -> set[str]:
    """The tensors a safetensors file holds; ArtifactError if its header is bad or does not
    cover the file (a truncated copy)."""
    try:
        with safe_open(str(file), framework="numpy") as opened:
            return set(opened.keys())
    except (SafetensorError, OSError) as e:
        raise ArtifactError(f"checkpoint file {file} does not open: {e}") from e


def _check_index(root: Path) -> None:
    try:
        weight_map = json.loads((root / INDEX_FILE).read_text())["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ArtifactError(f"{root / INDEX_FILE} is not a safetensors index: {e}") from e
    for shard in sorted(set(weight_map.values())):
        if not (root / shard).is_file():
            raise ArtifactError(f"{root / INDEX_FILE} names {shard}, which is missing")
        held = tensor_names(root / shard)
        expected = {name for name, file in weight_map.items() if file == shard}
        if held != expected:
            missing, extra = sorted(expected - held), sorted(held - expected)
            raise ArtifactError(
                f"{root / shard} does not match {INDEX_FILE}: missing {missing[:3]}, "
                f"not indexed {extra[:3]}"
            )


def verify_weights(root: Path) -> None:
    """Every safetensors file opens whole; a sharded checkpoint matches its index."""
    for file in sorted(root.glob("*.safetensors")):
        tensor_names(file)
    if (root / INDEX_FILE).is_file():
        _check_index(root)


def verify_loads(root: Path, timeout_s: float = LOAD_TIMEOUT_S) -> None:
    """The config and the processor load with transformers (in a child process)."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", LOAD_SCRIPT, str(root)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as e:
        raise ArtifactError(
            f"checkpoint {root}: loading its config took over {timeout_s:g} s"
        ) from e
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no error output"])[-1]
        raise ArtifactError(f"checkpoint {root}: config or processor does not load: {last}")


def verify_checkpoint(root: Path) -> None:
    verify_weights(root)
    verify_loads(root)


def verify_uploaded(model_uri: str, info: CheckpointInfo) -> None:
    """Download what MLflow stored under `model_uri`: its checkpoint must be the one that was
    verified (same fingerprint), so it loads as that one did."""
    with tempfile.TemporaryDirectory(prefix="geovr-verify-") as scratch:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=scratch))
        stored = checkpoint_dir_of(local)
        verify_weights(stored)
        fingerprint = checkpoint_fingerprint(stored)
    if fingerprint != info.fingerprint:
        raise ArtifactError(
            f"the uploaded copy of {info.path} differs from it (sha256 {fingerprint[:12]} vs "
            f"{info.fingerprint[:12]}): nothing was registered"
        )
