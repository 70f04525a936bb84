"""Helpers of the fault-injection tests: run the real CLI, hash trees, hold an output's lock.

result = run_geovr("evaluate", "--out", str(home), ..., cwd=tmp_path)
assert_refused(result, "is not empty")       # exit 2, one line on stderr, no traceback
before = tree_hash(tmp_path); ...; assert tree_hash(tmp_path) == before
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from pathlib import Path

HOLD_LOCK = """
import sys, time
from geovr.stage_output import claimed_output
identity = {"teacher": sys.argv[3]} if len(sys.argv) > 3 else None
with claimed_output(sys.argv[1], sys.argv[2], identity):
    print("held", flush=True)
    time.sleep(600)
"""


def run_geovr(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "geovr", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_refused(result: subprocess.CompletedProcess, pattern: str) -> str:
    """Exit 2 with exactly one stderr line that matches `pattern`; returns that line."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def tree_hash(root: Path) -> dict[str, str]:
    """Relative path -> sha256 (or "dir") of everything under `root`."""
    return {
        str(p.relative_to(root)): "dir"
        if p.is_dir()
        else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
    }


def precious_dir(path: Path) -> Path:
    """A directory of a user's own files (what a typo'd --out, or $HOME, points at)."""
    (path / "notes").mkdir(parents=True)
    (path / "notes" / "thesis.txt").write_text("years of work\n")
    (path / ".bashrc").write_text("export PATH=$PATH\n")
    return path


def hold_lock(out: Path, stage: str, teacher: str | None = None) -> subprocess.Popen:
    """A process holding `out`'s lock the way a running stage does (until killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out), stage, *([teacher] if teacher else [])],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)
