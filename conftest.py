"""Session-wide guard: tests write only under pytest's temporary directories.

The repository's working tree (tracked, untracked and ignored files alike) must be the same
after the test session as before it; a test that writes into the repository fails the
session, naming the paths it changed. The same holds for the user's DVC store
(`~/.cache/geovr`, the default remote every checkout pushes to): a test that runs
`geovr data ensure` or `make run` in a clone must point HOME at a temporary directory.
The caches of the tools themselves (interpreter, pytest, ruff, hypothesis, the virtual
environment) are not the tests' doing and are left out.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
TOOL_CACHES = (".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "*.egg-info")


def _is_work_tree() -> bool:
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
    )
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def worktree_state() -> dict[str, tuple[str, int, int]]:
    """path -> (git status, mtime ns, size) of every changed, untracked or ignored path."""
    excluded = [f":(exclude,glob)**/{name}/**" for name in TOOL_CACHES]
    out = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain=v1", "-z", "--ignored", "-uall"]
        + ["--", ".", *excluded],
        capture_output=True,
        check=True,
    ).stdout.decode()
    state = {}
    entries = iter(out.split("\0"))
    for entry in entries:
        if not entry:
            continue
        status, path = entry[:2], entry[3:]
        if status[0] in "RC":
            next(entries)  # a rename's second field is its old path
        try:
            info = (ROOT / path).lstat()
            state[path] = (status, info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            state[path] = (status, 0, 0)
    return state


@pytest.fixture(scope="session", autouse=True)
def nothing_written_into_the_repository():
    if not _is_work_tree():  # an unpacked sdist: there is no working tree to compare
        yield
        return
    before = worktree_state()
    yield
    after = worktree_state()
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert not changed, (
        f"the test session wrote into the repository (write under tmp_path instead): "
        f"{', '.join(changed[:20])}{' ...' if len(changed) > 20 else ''}"
    )


USER_STORE = Path.home() / ".cache" / "geovr"


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (mtime ns, size) of every file under root (empty if root is absent)."""
    if not root.is_dir():
        return {}
    return {
        str(path.relative_to(root)): (path.lstat().st_mtime_ns, path.lstat().st_size)
        for path in root.rglob("*")
    }


@pytest.fixture(scope="session", autouse=True)
def nothing_written_into_the_users_store():
    before = tree_state(USER_STORE)
    yield
    after = tree_state(USER_STORE)
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert not changed, (
        f"the test session wrote into {USER_STORE} (set HOME to a tmp dir for the clone): "
        f"{', '.join(changed[:20])}{' ...' if len(changed) > 20 else ''}"
    )
