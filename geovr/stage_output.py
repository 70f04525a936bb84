"""Where a stage may write, and one writer at a time (docs/decisions.md, "Stage outputs").

    @writes_output("evaluate", inputs=("checkpoint", "clips"), marker=False)
    def run_evaluation(checkpoint, clips, out, ...): ...

    with claimed_output("runs/targets", "distill", identity={"teacher": "oracle"}) as out:
        ...                                   # checked, locked and marked for the block

The rule, the same for every stage: `--out` must be absent, empty, or an output of that same
stage. The stage that wrote a directory is named by its output marker (`.geovr-output.json`,
written when an in-place stage claims the directory), else by the `stage` of its meta.json,
else by the dataset.json that `geovr data synth` writes. Anything else is refused before a
byte is written or deleted. A claim also takes the output's lock (`.geovr.lock`: holder pid,
host and start time), which refuses a second writer and is released on exit; a lock left by
a dead process on this host is taken over. Object-store outputs get the same checks through
fsspec but no lock (a bucket has no exclusive create that fsspec exposes).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import filelock
import fsspec

from geovr.artifacts import META_FILE, atomic_write_json, is_remote
from geovr.errors import GeoVRError

OUTPUT_MARKER = ".geovr-output.json"
LOCK_FILE = ".geovr.lock"
SYNTH_STAGE = "data synth"
# Files the claim itself writes: a directory holding only these is empty for the rule.
BOOKKEEPING = frozenset({OUTPUT_MARKER, LOCK_FILE})

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def _read_record(fs: Any, path: str) -> dict[str, Any] | None:
    try:
        record = json.loads(fs.cat_file(path))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def output_record(out: str | os.PathLike) -> dict[str, Any] | None:
    """The record naming the stage that wrote `out` ({"stage": ..., ...}), or None."""
    fs, root = fsspec.core.url_to_fs(str(out))
    for name in (OUTPUT_MARKER, META_FILE):
        record = _read_record(fs, f"{root}/{name}")
        if record is not None and "stage" in record:
            return record
    dataset = _read_record(fs, f"{root}/dataset.json")
    if dataset is not None and "generator" in dataset:  # what synth writes (bytes pinned by DVC)
        return {"stage": SYNTH_STAGE}
    return None


def _contents(fs: Any, root: str) -> list[str]:
    """Names in `root` other than the claim's own files ([] for an absent directory)."""
    if not fs.exists(root):
        return []
    if not fs.isdir(root):
        raise GeoVRError(f"--out {root} is a file, not a directory")
    names = (Path(entry.rstrip("/")).name for entry in fs.ls(root, detail=False))
    return sorted(name for name in names if name not in BOOKKEEPING)


def check_output(
    out: str | os.PathLike,
    stage: str,
    identity: Mapping[str, Any] | None = None,
    inputs: Iterable[str | os.PathLike] = (),
) -> None:
    """Refuse `out` unless it is absent, empty, or an output of `stage` with the same
    `identity` (e.g. the teacher of a targets directory); never writes."""
    _check_inputs_outside(out, inputs)
    fs, root = fsspec.core.url_to_fs(str(out))
    contents = _contents(fs, root)
    if not contents:
        return
    record = output_record(out)
    if record is None:
        shown = ", ".join(contents[:3]) + (", ..." if len(contents) > 3 else "")
        raise GeoVRError(
            f"--out {out} is not empty ({shown}) and is not a `geovr {stage}` output; "
            "refusing to write there: choose an absent or empty directory"
        )
    if record["stage"] != stage:
        raise GeoVRError(
            f"--out {out} is a `geovr {record['stage']}` output, not a `geovr {stage}` one; "
            "refusing to write there: choose another directory"
        )
    for key, value in (identity or {}).items():
        if key in record and record[key] != value:
            raise GeoVRError(
                f"--out {out} holds the {stage} output of {key} {record[key]!r}, not {value!r}; "
                "choose another directory"
            )


def _check_inputs_outside(out: str | os.PathLike, inputs: Iterable[str | os.PathLike]) -> None:
    """A stage's output must not contain one of its inputs (replacing it would destroy it), nor
    lie inside an input or another stage's output (a rerun of that stage replaces its output
    whole, and a checkpoint's fingerprint covers every file in it)."""
    if is_remote(out):
        return
    target = Path(out).resolve()
    for source in inputs:
        if is_remote(source):
            continue
        if Path(source).resolve().is_relative_to(target):
            raise GeoVRError(
                f"--out {out} is or contains the input {source}; choose another directory"
            )
        if target.is_relative_to(Path(source).resolve()):
            raise GeoVRError(f"--out {out} is inside the input {source}; choose another directory")
    for parent in target.parents:
        if (record := output_record(parent)) is not None:
            raise GeoVRError(
                f"--out {out} is inside {parent}, a `geovr {record['stage']}` output "
                "that a rerun would replace; choose another directory"
            )


def _holder(lock_path: Path) -> str:
    """'pid N on HOST since TIME' from a lock file.

    The file's first lines are the holder's pid and host.
    """
    try:
        lines = lock_path.read_text().splitlines()
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(lock_path.stat().st_mtime))
    except OSError:
        return "another process (it has just released it)"
    pid, host = (lines + ["?", "?"])[:2]
    return f"pid {pid} on {host} since {since}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def output_lock(out: Path, stage: str) -> Iterator[None]:
    """Hold `out`'s one-writer lock for the block; refuse (one line, naming the holder) if a
    live process holds it; take over the lock of a process that died on this host."""
    lock_path = out / LOCK_FILE
    lock = filelock.SoftFileLock(str(lock_path), timeout=0)
    previous = lock.pid
    try:
        lock.acquire()
    except filelock.Timeout:
        raise GeoVRError(
            f"--out {out} is being written by another geovr process ({_holder(lock_path)}); "
            "wait for it to finish or choose another directory"
        ) from None
    if previous is not None and previous != os.getpid() and not _pid_alive(previous):
        log.warning(
            "geovr: took over the lock of %s left by pid %d on %s, which is no longer running",
            out,
            previous,
            socket.gethostname(),
        )
    try:
        yield
    finally:
        lock.release()


def _unmark_if_unused(out: Path) -> None:
    """After a run that wrote nothing, drop the marker: `out` is left as it was found."""
    if out.is_dir() and all(p.name in BOOKKEEPING for p in out.iterdir()):
        (out / OUTPUT_MARKER).unlink(missing_ok=True)


@contextlib.contextmanager
def claimed_output(
    out: str | os.PathLike,
    stage: str,
    identity: Mapping[str, Any] | None = None,
    inputs: Iterable[str | os.PathLike] = (),
    marker: bool = True,
) -> Iterator[Path]:
    """Check and lock `out` for the block. `marker`: record the stage (and `identity`) in
    `out` now, for stages that write in place and resume there; a stage that builds its
    output whole (geovr.artifacts.atomic_dir) is named by the meta.json it ends with."""
    check_output(out, stage, identity, inputs)
    if is_remote(out):
        yield out  # type: ignore[misc]  # object stores: checked above, not lockable
        return
    target = Path(out)
    made = _directories_to_make(target)
    target.mkdir(parents=True, exist_ok=True)
    try:
        with output_lock(target, stage):
            try:
                check_output(out, stage, identity)  # the holder we waited on may have changed it
                if marker:
                    mark_output(target, stage, identity)
                yield target
            finally:
                _unmark_if_unused(target)
    finally:
        for directory in made:  # deepest first; only an empty directory goes
            with contextlib.suppress(OSError):
                directory.rmdir()


def _directories_to_make(target: Path) -> list[Path]:
    """`target` and its missing parents, deepest first: what a run that writes nothing removes."""
    missing = []
    while not target.exists() and target != target.parent:
        missing.append(target)
        target = target.parent
    return missing


def mark_output(directory: Path, stage: str, identity: Mapping[str, Any] | None = None) -> None:
    atomic_write_json(directory / OUTPUT_MARKER, {"stage": stage, **(identity or {})})


def writes_output(
    stage: str,
    *,
    out: str = "out",
    inputs: tuple[str, ...] = (),
    identity: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None,
    marker: bool = True,
) -> Callable[[F], F]:
    """Run the decorated stage function inside `claimed_output` of its `out` argument.
    `inputs`: names of arguments holding input paths (or lists of them); `identity`: from
    the bound arguments, what must match an earlier output in `out` (e.g. the teacher)."""

    def decorate(func: F) -> F:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            given = bound.arguments
            paths = [p for name in inputs for p in _paths(given.get(name))]
            claim = identity(given) if identity else None
            with claimed_output(given[out], stage, claim, paths, marker):
                return func(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate


def _paths(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | os.PathLike):
        return [str(value)]
    return [str(v) for v in value]
