"""Artifact contracts between stages: the `meta.json` every artifact carries, content
hashes, and atomic writes (temporary name, then rename) so that no stage ever reads a
half-written file. Which directories a stage may write into, and the one-writer lock:
geovr.stage_output.

Paths may be local or any fsspec URL (s3://bucket/key); local writes are atomic through
os.replace, object-store writes are atomic per object by nature.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import fsspec

from geovr import __version__
from geovr.errors import ArtifactError

META_FILE = "meta.json"

# Every artifact kind and the schema version this code reads and writes.
SCHEMAS = {
    "dataset": "geovr.dataset/1",
    "clipset": "geovr.clipset/1",
    "targets": "geovr.targets/1",
    "checkpoint": "geovr.checkpoint/1",
    "evaluation": "geovr.evaluation/1",
}


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal objects give equal strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(config: Any) -> str:
    """Short stable hash of a JSON-able config (16 hex chars)."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with fsspec.open(str(path), "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_fingerprint(directory: str | os.PathLike) -> str:
    """sha256 naming a checkpoint by content: every file (weights, config, heads, processor)
    by relative path and sha256, except meta.json (provenance, not content) and hidden files.

    Evaluation writes it into metrics.json and registration recomputes it, so metrics can
    only back the checkpoint they were measured on, wherever it was copied to.
    """
    root = Path(directory)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if relative.as_posix() == META_FILE or any(s.startswith(".") for s in relative.parts):
            continue
        digest.update(f"{relative.as_posix()}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def is_remote(path: str | os.PathLike) -> bool:
    return "://" in str(path) and not str(path).startswith("file://")


def inside(root: str | os.PathLike, relative: Any, what: str) -> str:
    """`root/relative` for a path read from a manifest, index or table, refusing one that
    leaves `root` (absolute, a URL, or climbing out with ..). Lexical, so that it holds for
    object-store roots too; symlinks a user placed inside a root stay the user's choice."""
    text = str(relative) if isinstance(relative, str | os.PathLike) else ""
    normal = posixpath.normpath(text.replace("\\", "/")) if text else ""
    if (
        not normal
        or "://" in text
        or posixpath.isabs(normal)
        or normal == ".."
        or normal.startswith("../")
    ):
        raise ArtifactError(f"{what} {relative!r} leaves {root}; refusing to read or write it")
    return f"{str(root).rstrip('/')}/{normal}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **storage_options) -> Iterator[Any]:
    """Open `path` for writing so that readers see either the old file or the whole new one."""
    path = str(path)
    if is_remote(path):
        with fsspec.open(path, mode, **storage_options) as f:
            yield f
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts are shared
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str, **storage_options) -> None:
    with atomic_open(path, "w", **storage_options) as f:
        f.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any, **storage_options) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n", **storage_options)


def write_jsonl(path: str | os.PathLike, rows: list[Mapping[str, Any]], **storage_options) -> None:
    text = "".join(canonical_json(row) + "\n" for row in rows)
    atomic_write_text(path, text, **storage_options)


def read_jsonl(path: str | os.PathLike, **storage_options) -> list[dict[str, Any]]:
    with fsspec.open(str(path), "r", **storage_options) as f:
        return [json.loads(line) for line in f if line.strip()]


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Build a local directory under a temporary sibling name and move it into place whole.

    An existing directory at `path` is replaced only after the new one is complete.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700; artifacts are shared
    try:
        yield staging
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def make_meta(
    kind: str, stage: str, config: Any, inputs: Mapping[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    """The meta record every artifact carries (docs/contracts.md): schema, producing stage,
    config hash, input hashes."""
    return {
        "schema": SCHEMAS[kind],
        "stage": stage,
        "config_hash": config_hash(config),
        "config": config,
        "inputs": dict(inputs or {}),
        "geovr_version": __version__,
        **extra,
    }


def write_meta(directory: str | os.PathLike, meta: Mapping[str, Any], **storage_options) -> None:
    atomic_write_json(f"{directory}/{META_FILE}", dict(meta), **storage_options)


def read_meta(directory: str | os.PathLike, kind: str, **storage_options) -> dict[str, Any]:
    """Read and check an artifact's meta; refuse unknown or missing schemas clearly."""
    path = f"{directory}/{META_FILE}"
    try:
        with fsspec.open(path, "r", **storage_options) as f:
            meta = json.load(f)
    except FileNotFoundError as e:
        raise ArtifactError(f"{directory} is not a {kind} artifact: {META_FILE} is missing") from e
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{path} is not valid JSON: {e}") from e
    expected = SCHEMAS[kind]
    if meta.get("schema") != expected:
        raise ArtifactError(
            f"{directory}: schema {meta.get('schema')!r} is not {expected!r}; "
            f"this geovr {__version__} reads only {expected}"
        )
    return meta


def flatten_metrics(tree: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested dict as {"a.b.c": value}; text, lists and booleans are
    skipped because MLflow metrics are numbers."""
    flat: dict[str, float] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat
