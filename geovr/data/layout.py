"""Read a dataset directory laid out as in docs/contracts.md section 1.

    DATA/dataset.json (optional)  clips.jsonl (optional)  videos/<id>.mp4
    gt/<id>.safetensors (optional)  scenes/<id>.json (optional)  qa.jsonl (optional)

`load_dataset(DATA)` returns the clips to ingest plus a `Rejection` for every input that
is refused before any video is opened: unparsable lines, bad or duplicate clip ids, paths
that escape DATA (`../`, absolute paths, symlinks pointing outside), missing files. Only a
dataset that cannot be read at all (no directory, bad dataset.json) raises `GeoVRError`.

    ds = load_dataset("data")
    ds.clips[0].video.path, ds.clip_rejections, ds.qa, ds.file_hashes
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from geovr.artifacts import SCHEMAS, canonical_json, sha256_file
from geovr.data.questions import question_problem
from geovr.errors import GeoVRError

DATASET_FILE = "dataset.json"
CLIPS_FILE = "clips.jsonl"
QA_FILE = "qa.jsonl"
SPLITS = ("train", "val", "test")
# Clip ids become tar member names (`<id>.safetensors`, USTAR keeps names <= 100 bytes)
# and file names downstream: a conservative alphabet and length keep both safe.
CLIP_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


class PathRejected(Exception):
    """A path from the dataset that must not or cannot be read; the message is the reason."""


@dataclass(frozen=True)
class Rejection:
    """One quarantine.jsonl line: the input at fault (a file, or `file:line`), the clip if
    known and, for a question, its id."""

    input: str
    clip_id: str | None
    reason: str
    question_id: str | int | None = None

    def row(self) -> dict[str, Any]:
        row = {"input": self.input, "clip_id": self.clip_id, "reason": self.reason}
        return row if self.question_id is None else {**row, "question_id": self.question_id}


@dataclass(frozen=True)
class DataFile:
    rel: str  # as named in the dataset, relative to DATA (the name used in hashes and reports)
    path: Path  # resolved, guaranteed inside DATA


@dataclass(frozen=True)
class ClipSource:
    clip_id: str
    split: str
    source: str
    video: DataFile
    gt: DataFile | None
    scene: DataFile | None


@dataclass
class Dataset:
    root: Path
    info: dict[str, Any]
    clips: list[ClipSource]
    clip_rejections: list[Rejection]
    qa: list[tuple[str, dict[str, Any]]]  # (input "qa.jsonl:N", row) with a well-formed schema
    qa_rejections: list[Rejection]
    file_hashes: dict[str, str] = field(default_factory=dict)  # the index files read here

    @property
    def n_clips(self) -> int:
        """Clip inputs seen, accepted or not (the denominator of the valid fraction)."""
        return len(self.clips) + len(self.clip_rejections)


def hash_split(clip_id: str) -> str:
    """80/10/10 train/val/test from a hash of the id: stable across runs and machines."""
    bucket = int(hashlib.sha256(clip_id.encode()).hexdigest()[:8], 16) % 100
    return "train" if bucket < 80 else "val" if bucket < 90 else "test"


def resolve_inside(root: Path, rel: Any, what: str) -> DataFile:
    """The file `rel` names under the resolved `root`, or PathRejected saying why not."""
    if not isinstance(rel, str) or not rel:
        raise PathRejected(f"{what} path must be a non-empty string, got {rel!r}")
    if PurePosixPath(rel).is_absolute() or re.match(r"[A-Za-z]:[\\/]", rel):
        raise PathRejected(
            f"{what} path {rel!r} is absolute; paths must be relative to the data root"
        )
    candidate = root / rel
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root):
        how = (
            "escapes"
            if ".." in PurePosixPath(rel).parts
            else "resolves through a symlink to outside"
        )
        raise PathRejected(f"{what} path {rel!r} {how} the data root")
    if not resolved.exists():
        raise PathRejected(f"{what} file {rel!r} is missing")
    if not resolved.is_file():
        raise PathRejected(f"{what} path {rel!r} is not a regular file")
    return DataFile(rel, resolved)


def _read_lines(path: Path) -> list[tuple[int, Any]]:
    """(line number, parsed JSON or the JSONDecodeError) for each non-blank line."""
    out: list[tuple[int, Any]] = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                out.append((number, json.loads(line)))
            except json.JSONDecodeError as e:
                out.append((number, e))
    return out


def _read_info(root: Path) -> dict[str, Any]:
    path = root / DATASET_FILE
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GeoVRError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(info, dict):
        raise GeoVRError(f"{path} must hold a JSON object")
    if info.get("schema", SCHEMAS["dataset"]) != SCHEMAS["dataset"]:
        raise GeoVRError(f"{path}: schema {info['schema']!r} is not {SCHEMAS['dataset']!r}")
    return info


def _optional_file(root: Path, line: dict[str, Any], key: str) -> DataFile | None:
    rel = line.get(key)
    return None if rel is None else resolve_inside(root, rel, key)


def _clip_from_line(root: Path, line: Any) -> ClipSource:
    """One clips.jsonl object as a ClipSource; PathRejected names what is wrong with it."""
    if not isinstance(line, dict):
        raise PathRejected(f"expected a JSON object, got {type(line).__name__}")
    clip_id = line.get("clip_id")
    if not isinstance(clip_id, str) or not CLIP_ID_RE.fullmatch(clip_id):
        raise PathRejected(f"clip_id {clip_id!r} is not 1-80 characters of [A-Za-z0-9._-]")
    split = line.get("split") or hash_split(clip_id)
    if split not in SPLITS:
        raise PathRejected(f"split {split!r} is not one of {', '.join(SPLITS)}")
    source = line.get("source") or "unknown"
    video = resolve_inside(root, line.get("video"), "video")
    return ClipSource(
        clip_id,
        split,
        str(source),
        video,
        _optional_file(root, line, "gt"),
        _optional_file(root, line, "scene"),
    )


def _clips_from_jsonl(root: Path) -> tuple[list[ClipSource], list[Rejection]]:
    clips: list[ClipSource] = []
    rejections: list[Rejection] = []
    first_line: dict[str, int] = {}
    for number, line in _read_lines(root / CLIPS_FILE):
        where = f"{CLIPS_FILE}:{number}"
        if isinstance(line, json.JSONDecodeError):
            rejections.append(Rejection(where, None, f"not valid JSON ({line.msg})"))
            continue
        clip_id = line.get("clip_id") if isinstance(line, dict) else None
        clip_id = clip_id if isinstance(clip_id, str) else None
        # First definition wins: a concatenated or re-appended clips.jsonl must not lose
        # every clip, and the later duplicates are reported, not dropped silently.
        if clip_id in first_line:
            reason = f"duplicate clip_id (first defined at {CLIPS_FILE}:{first_line[clip_id]})"
            rejections.append(Rejection(where, clip_id, reason))
            continue
        if clip_id is not None:
            first_line[clip_id] = number
        try:
            clips.append(_clip_from_line(root, line))
        except PathRejected as e:
            rejections.append(Rejection(where, clip_id, str(e)))
    return clips, rejections


def _clips_from_videos(root: Path) -> tuple[list[ClipSource], list[Rejection]]:
    """Without clips.jsonl: every videos/*.mp4, sorted, with gt/scene found by clip id."""
    clips: list[ClipSource] = []
    rejections: list[Rejection] = []
    for path in sorted((root / "videos").glob("*.mp4")):
        rel = f"videos/{path.name}"
        clip_id = path.stem
        if not CLIP_ID_RE.fullmatch(clip_id):
            rejections.append(
                Rejection(
                    rel,
                    None,
                    f"clip_id {clip_id!r} (the file name) is not 1-80 characters of [A-Za-z0-9._-]",
                )
            )
            continue
        line = {"clip_id": clip_id, "video": rel}
        for key, folder, suffix in (("gt", "gt", ".safetensors"), ("scene", "scenes", ".json")):
            candidate = f"{folder}/{clip_id}{suffix}"
            if (root / candidate).exists() or (root / candidate).is_symlink():
                line[key] = candidate
        try:
            clips.append(_clip_from_line(root, line))
        except PathRejected as e:
            rejections.append(Rejection(rel, clip_id, str(e)))
    return clips, rejections


def _qa_rows(root: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[Rejection]]:
    """Schema checks only; whether the named clip survives is decided by ingest."""
    path = root / QA_FILE
    if not path.is_file():
        return [], []
    kept: list[tuple[str, dict[str, Any]]] = []
    rejections: list[Rejection] = []
    seen: set[Any] = set()
    for number, row in _read_lines(path):
        where = f"{QA_FILE}:{number}"
        reason = _qa_problem(row, seen)
        if reason:
            rejections.append(_qa_rejection(where, row, reason))
            continue
        seen.add(row["id"])
        kept.append((where, row))
    return kept, rejections


def _qa_rejection(where: str, row: Any, reason: str) -> Rejection:
    """The quarantine entry of a refused question, with its clip and id where it has them."""
    if not isinstance(row, dict):
        return Rejection(where, None, reason)
    clip, question_id = row.get("scene_name", row.get("clip_id")), row.get("id")
    return Rejection(
        where,
        clip if isinstance(clip, str) else None,
        reason,
        question_id if isinstance(question_id, str | int) else None,
    )


def _qa_problem(row: Any, seen: set[Any]) -> str | None:
    if isinstance(row, json.JSONDecodeError):
        return f"not valid JSON ({row.msg})"
    if not isinstance(row, dict):
        return f"expected a JSON object, got {type(row).__name__}"
    if row.get("options") is not None and not isinstance(row["options"], list):
        return "options must be a list or null"
    if reason := question_problem(row):
        return reason
    if row["id"] in seen:
        return f"duplicate question id {row['id']!r}"
    return None


def load_dataset(root: str | Path) -> Dataset:
    """Read DATA's index files; see the module docstring for what is rejected and why."""
    root = Path(root)
    if not root.is_dir():
        raise GeoVRError(f"dataset directory {root} does not exist")
    root = root.resolve()
    info = _read_info(root)
    has_index = (root / CLIPS_FILE).is_file()
    clips, clip_rejections = _clips_from_jsonl(root) if has_index else _clips_from_videos(root)
    qa, qa_rejections = _qa_rows(root)
    hashes = {
        name: sha256_file(root / name)
        for name in (DATASET_FILE, CLIPS_FILE, QA_FILE)
        if (root / name).is_file()
    }
    return Dataset(root, info, clips, clip_rejections, qa, qa_rejections, hashes)


def content_hash(file_hashes: dict[str, str], rejections: list[Rejection]) -> str:
    """The dataset's content hash: over every file ingest read ({relative path: sha256}) and
    the inputs refused unread (their names and reasons), so equal hashes mean equal inputs."""
    payload = {"files": file_hashes, "unread": [r.row() for r in rejections]}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()
